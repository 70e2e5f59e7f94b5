"""The gateway's configuration file (YAML), checked whole before the server starts.

    routes:
      chat:                                  # the `model` that clients send
        strategy: failover                   # failover | weighted | fastest | cheapest
        deployments:
          - model: openai/gpt-4o-mini        # any coderouge model name
          - model: gemini/gemini-2.5-flash
            weight: 2                        # for weighted
            eu: true                         # may serve keys restricted to the EU
          - model: openai/llama3
            base_url: http://127.0.0.1:8080/v1
        quality: {task: business, margin: 0.02}   # for cheapest: measured results in the store
    redaction: {enabled: true, restore: true}
    limits: {max_body_bytes: 1048576, timeout_s: 60, retries: 2}
    breaker: {failures: 5, cooldown_s: 30}
    allow_private_base_urls: true

Every problem is reported with the file, the line and the key: an unknown key, a wrong type, a
missing value, an unknown strategy, a base URL on a loopback/private/link-local address without
`allow_private_base_urls: true`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from ..errors import TaskFileError

STRATEGIES = ("failover", "weighted", "fastest", "cheapest")


@dataclass(frozen=True)
class Deployment:
    model: str
    base_url: str | None = None
    weight: float = 1.0
    eu: bool = False

    @property
    def name(self) -> str:
        """How responses, metrics and logs name it (never a key)."""
        return f"{self.model}@{self.base_url}" if self.base_url else self.model


@dataclass(frozen=True)
class Quality:
    """What `cheapest` measures quality by: the latest `coderouge eval` score on `task` (margin: a share,
    0.02 = 2 points), or the Bradley-Terry rating of the arena's decided battles (`arena`: "all", or one
    judge's battles, e.g. "human" or a judge model; margin in rating points, 50 by default)."""

    task: str | None = None
    margin: float = 0.02
    arena: str | None = None

    @property
    def source(self) -> str:
        return f"task {self.task}" if self.task else ("arena ratings" if self.arena == "all"
                                                      else f"arena ratings (judge {self.arena})")


@dataclass(frozen=True)
class Route:
    name: str
    strategy: str
    deployments: tuple[Deployment, ...]
    quality: Quality | None = None


@dataclass(frozen=True)
class Redaction:
    enabled: bool = True
    restore: bool = True


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20
    timeout_s: float = 60.0
    retries: int = 2
    concurrency: int = 256  # requests in flight to one deployment (one account at one endpoint); more queue


@dataclass(frozen=True)
class Breaker:
    failures: int = 5
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class GatewayConfig:
    routes: dict[str, Route]
    redaction: Redaction = field(default_factory=Redaction)
    limits: Limits = field(default_factory=Limits)
    breaker: Breaker = field(default_factory=Breaker)
    allow_private_base_urls: bool = False


class _Checker:
    def __init__(self, path: str):
        self.path = path

    def fail(self, node: yaml.Node | None, problem: str) -> TaskFileError:
        return TaskFileError(self.path, node.start_mark.line + 1 if node is not None else None, problem)

    def mapping(self, node: yaml.Node, where: str, allowed: dict[str, str], required: tuple[str, ...] = ()
                ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping of keys to values")
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key not in allowed:
                raise self.fail(k, f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})")
            if key in out:
                raise self.fail(k, f"{where}.{key} is given twice")
            out[key] = v
        for r in required:
            if r not in out:
                raise self.fail(node, f"{where} needs {r!r} ({allowed[r]})")
        return out

    def scalar(self, node: yaml.Node, where: str, kind: type) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be a {kind.__name__}")
        value = yaml.safe_load(yaml.serialize(node))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(node, f"{where} must be a {kind.__name__}, got {node.value!r}")
        return value

    def positive(self, node: yaml.Node, where: str, kind: type) -> Any:
        v = self.scalar(node, where, kind)
        if v <= 0:
            raise self.fail(node, f"{where} must be greater than 0, got {v}")
        return v


def load_config(path: str | Path) -> GatewayConfig:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TaskFileError(path, None, f"cannot read the gateway configuration: {e.strerror or e}") from None
    return parse_config(text, path)


def parse_config(text: str, path: str = "<config>") -> GatewayConfig:
    c = _Checker(path)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise TaskFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    if root is None:
        raise TaskFileError(path, None, "the configuration is empty: it needs at least one route under 'routes'")
    top = c.mapping(root, "the configuration", {
        "routes": "the routes clients can ask for", "redaction": "{enabled, restore}",
        "limits": "{max_body_bytes, timeout_s, retries, concurrency}", "breaker": "{failures, cooldown_s}",
        "allow_private_base_urls": "true to allow loopback or private base URLs"}, required=("routes",))
    allow_private = c.scalar(top["allow_private_base_urls"], "allow_private_base_urls", bool) \
        if "allow_private_base_urls" in top else False
    routes_node = top["routes"]
    if not isinstance(routes_node, yaml.MappingNode) or not routes_node.value:
        raise c.fail(routes_node, "routes must map at least one route name to its deployments")
    routes: dict[str, Route] = {}
    for k, v in routes_node.value:
        name = k.value
        if name in routes:
            raise c.fail(k, f"route {name!r} is given twice")
        routes[name] = _route(c, name, v, allow_private)
    red = Redaction()
    if "redaction" in top:
        m = c.mapping(top["redaction"], "redaction", {"enabled": "true or false", "restore": "true or false"})
        red = Redaction(**{k: c.scalar(v, f"redaction.{k}", bool) for k, v in m.items()})
    lim = Limits()
    if "limits" in top:
        m = c.mapping(top["limits"], "limits", {"max_body_bytes": "bytes", "timeout_s": "seconds", "retries": "count",
                                                "concurrency": "requests in flight per deployment"})
        lim = Limits(
            max_body_bytes=c.positive(m["max_body_bytes"], "limits.max_body_bytes", int) if "max_body_bytes" in m else lim.max_body_bytes,
            timeout_s=c.positive(m["timeout_s"], "limits.timeout_s", float) if "timeout_s" in m else lim.timeout_s,
            retries=c.scalar(m["retries"], "limits.retries", int) if "retries" in m else lim.retries,
            concurrency=c.positive(m["concurrency"], "limits.concurrency", int) if "concurrency" in m else lim.concurrency)
        if lim.retries < 0:
            raise c.fail(m["retries"], "limits.retries must be 0 or more")
    brk = Breaker()
    if "breaker" in top:
        m = c.mapping(top["breaker"], "breaker", {"failures": "consecutive failures", "cooldown_s": "seconds"})
        brk = Breaker(
            failures=c.positive(m["failures"], "breaker.failures", int) if "failures" in m else brk.failures,
            cooldown_s=c.positive(m["cooldown_s"], "breaker.cooldown_s", float) if "cooldown_s" in m else brk.cooldown_s)
    return GatewayConfig(routes, red, lim, brk, allow_private)


def _route(c: _Checker, name: str, node: yaml.Node, allow_private: bool) -> Route:
    where = f"routes.{name}"
    m = c.mapping(node, where, {"strategy": "|".join(STRATEGIES), "deployments": "a list of models",
                                "quality": "{task, margin}"}, required=("deployments",))
    strategy = c.scalar(m["strategy"], f"{where}.strategy", str) if "strategy" in m else "failover"
    if strategy not in STRATEGIES:
        raise c.fail(m["strategy"], f"{where}.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    dnode = m["deployments"]
    if not isinstance(dnode, yaml.SequenceNode) or not dnode.value:
        raise c.fail(dnode, f"{where}.deployments must be a list of at least one deployment")
    deps = []
    for i, d in enumerate(dnode.value):
        dw = f"{where}.deployments[{i}]"
        dm = c.mapping(d, dw, {"model": "provider/model", "base_url": "an OpenAI-compatible URL",
                               "weight": "a number > 0", "eu": "true or false"}, required=("model",))
        model = c.scalar(dm["model"], f"{dw}.model", str)
        if "/" not in model:
            raise c.fail(dm["model"], f"{dw}.model must be written provider/model, got {model!r}")
        base_url = c.scalar(dm["base_url"], f"{dw}.base_url", str) if "base_url" in dm else None
        if base_url is not None:
            problem = _base_url_problem(base_url, allow_private)
            if problem:
                raise c.fail(dm["base_url"], f"{dw}.base_url {base_url}: {problem}")
        deps.append(Deployment(model, base_url,
                               c.positive(dm["weight"], f"{dw}.weight", float) if "weight" in dm else 1.0,
                               c.scalar(dm["eu"], f"{dw}.eu", bool) if "eu" in dm else False))
    quality = None
    if "quality" in m:
        q = c.mapping(m["quality"], f"{where}.quality",
                      {"task": "a task name", "arena": "all, or a judge's name (human, a judge model)",
                       "margin": "a share of the score (0.02), or rating points for arena (50)"})
        if ("task" in q) == ("arena" in q):
            raise c.fail(m["quality"], f"{where}.quality: give either task: TASK (eval scores) or arena: all "
                                       "(arena ratings), not both or neither")
        task = c.scalar(q["task"], f"{where}.quality.task", str) if "task" in q else None
        arena = c.scalar(q["arena"], f"{where}.quality.arena", str) if "arena" in q else None
        margin = c.scalar(q["margin"], f"{where}.quality.margin", float) if "margin" in q else (0.02 if task else 50.0)
        if margin < 0:
            raise c.fail(q["margin"], f"{where}.quality.margin must be 0 or more")
        quality = Quality(task, margin, arena)
    if strategy == "cheapest" and quality is None:
        raise c.fail(node, f"{where}: strategy cheapest needs quality: {{task: TASK, margin: 0.02}} or "
                           "{arena: all, margin: 50} (it picks the cheapest deployment whose measured quality is "
                           "within the margin of the best)")
    return Route(name, strategy, tuple(deps), quality)


def _base_url_problem(url: str, allow_private: bool) -> str | None:
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        return "must be an http:// or https:// URL with a host"
    if allow_private:
        return None
    host = u.hostname
    try:
        addrs = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            addrs = {ipaddress.ip_address(ai[4][0].split("%")[0]) for ai in socket.getaddrinfo(host, None)}
        except OSError:
            return None  # not resolvable now: the call will fail and be reported then
    for a in addrs:
        if a.is_loopback or a.is_private or a.is_link_local or a.is_unspecified or a.is_reserved:
            return ("points at a loopback, private or link-local address; set allow_private_base_urls: true "
                    "if this server is yours")
    return None
