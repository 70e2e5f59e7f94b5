"""`coderouge keys create | list | revoke`: the gateway's API keys."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import Parser, positive_float, positive_int


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    k = sub.add_parser("keys", help="API keys of the gateway: create, list, revoke")
    ksub = k.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", parser_class=Parser)
    ksub.required = True
    c = ksub.add_parser("create", parents=[common], help="make a key; it is printed once and never stored")
    c.add_argument("name")
    c.add_argument("--budget-usd", type=positive_float, help="stop serving the key once it has cost this much")
    c.add_argument("--rpm", type=positive_int, help="requests per minute")
    c.add_argument("--tpm", type=positive_int, help="tokens per minute")
    c.add_argument("--eu-only", action="store_true", help="route only to deployments marked eu: true")
    c.add_argument("--routes", help="comma-separated routes the key may use (default: all)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=keys_create)
    ls = ksub.add_parser("list", parents=[common], help="every key with its limits, requests and spending")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=keys_list)
    r = ksub.add_parser("revoke", parents=[common], help="revoke a key by its id")
    r.add_argument("id")
    r.set_defaults(handler=keys_revoke)


def keys_create(args: argparse.Namespace) -> int:
    from ..gateway.keys import create_key
    from ..store import Store

    routes = [x.strip() for x in args.routes.split(",") if x.strip()] if args.routes else None
    with Store(args.store) as store:
        key, secret = create_key(store, args.name, budget_usd=args.budget_usd, rpm=args.rpm, tpm=args.tpm,
                                 eu_only=args.eu_only, routes=routes)
    if args.json:
        print(json.dumps({"id": key.id, "key": secret}))
    else:
        print(f"key {key.id} ({key.name}): {secret}\nshown once: it is stored only as a hash")
    return 0


def keys_list(args: argparse.Namespace) -> int:
    from ..gateway.keys import list_keys
    from ..report.text import render
    from ..store import Store

    with Store(args.store) as store:
        keys, usage = list_keys(store), store.gateway_usage()
    rows = []
    for k in keys:
        n, cost = usage.get(k.id, (0, 0.0))
        rows.append({"id": k.id, "name": k.name, "revoked": k.revoked_at is not None, "budget_usd": k.budget_usd,
                     "spent_usd": round(k.spent_usd, 6), "requests": n, "rpm": k.rpm, "tpm": k.tpm,
                     "eu_only": k.eu_only, "routes": list(k.routes) if k.routes else None})
    if args.json:
        print(json.dumps({"keys": rows}, indent=2))
        return 0
    if not rows:
        print("no keys yet: coderouge keys create NAME")
        return 0
    print(render(["id", "name", "status", "requests", "spent", "budget", "rpm", "tpm", "EU only", "routes"],
                 [[r["id"], r["name"], "revoked" if r["revoked"] else "active", str(r["requests"]),
                   f"${r['spent_usd']:.4f}", "—" if r["budget_usd"] is None else f"${r['budget_usd']:g}",
                   str(r["rpm"] or "—"), str(r["tpm"] or "—"), "yes" if r["eu_only"] else "no",
                   ",".join(r["routes"]) if r["routes"] else "all"] for r in rows]))
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    from ..gateway.keys import revoke_key
    from ..store import Store

    with Store(args.store) as store:
        revoke_key(store, args.id)
    print(f"key {args.id} revoked")
    return 0
