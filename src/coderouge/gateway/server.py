"""Run the gateway (uvicorn on a socket bound here, so a busy port is one clear line), and explain
its routing."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..net import listen
from ..store import Store
from .app import check_prices, create_app, measured_quality
from .config import GatewayConfig
from .routing import Latencies, cheapest_order, order


def explain(config: GatewayConfig, store: Store | None) -> str:
    """Each route's deployments in the order they are tried, and why."""
    lines = []
    for route in config.routes.values():
        lines.append(f"route {route.name}: {route.strategy}")
        if route.strategy == "cheapest":
            _, why = cheapest_order(route, measured_quality(store, route))
            lines += ["  " + w for w in why]
            continue
        deps = order(route, rng=random.Random(0), latencies=Latencies())
        note = {"failover": "in the order written", "weighted": "drawn by weight for each request (one draw shown)",
                "fastest": "by observed time to first token; none observed yet, so in the order written"}[route.strategy]
        lines.append(f"  {note}:")
        lines += [f"  {i}. {d.name}" + (f" (weight {d.weight:g})" if route.strategy == "weighted" else "")
                  + (" [eu]" if d.eu else "") for i, d in enumerate(deps, 1)]
    unpriced = check_prices(config)
    if unpriced:
        lines.append("no known price (never used for keys with a budget): " + ", ".join(unpriced))
    return "\n".join(lines)


def serve(config: GatewayConfig, store: Store, *, host: str = "127.0.0.1", port: int = 8000, require_keys: bool = True,
          say: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> None:
    import uvicorn

    app = create_app(config, store, require_keys=require_keys)
    sock, root = listen(host, port)
    say(f"coderouge gateway: {root}/v1  (routes: {', '.join(config.routes)}; store {store.location}; Ctrl-C to stop)")
    for d in check_prices(config):
        warn(f"{d} has no known price: keys with a budget are never routed to it (give prices with --prices FILE)")
    if not require_keys:
        warn("serving without API keys (--no-keys)")
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
