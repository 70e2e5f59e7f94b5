"""The gateway's Prometheus metrics (prometheus-client, a registry of its own): requests, errors,
latency and time-to-first-token histograms, tokens and cost, labelled by route, deployment and status."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from ..types import Usage

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("coderouge_gateway_requests", "Requests answered", ["route", "deployment", "status"],
                                registry=r)
        self.errors = Counter("coderouge_gateway_upstream_errors", "Failed upstream calls (before any failover)",
                              ["route", "deployment", "kind"], registry=r)
        self.latency = Histogram("coderouge_gateway_latency_seconds", "Whole request, as the client sees it",
                                 ["route", "deployment"], buckets=BUCKETS, registry=r)
        self.ttft = Histogram("coderouge_gateway_ttft_seconds", "Time to first token", ["route", "deployment"],
                              buckets=BUCKETS, registry=r)
        self.tokens = Counter("coderouge_gateway_tokens", "Tokens", ["route", "deployment", "kind"], registry=r)
        self.cost = Counter("coderouge_gateway_cost_usd", "Cost in USD (price table)", ["route", "deployment"],
                            registry=r)

    def request(self, route: str, deployment: str, status: int, latency_s: float) -> None:
        self.requests.labels(route, deployment, str(status)).inc()
        self.latency.labels(route, deployment).observe(latency_s)

    def success(self, route: str, deployment: str, latency_s: float, ttft_s: float | None, usage: Usage,
                cost: float | None) -> None:
        self.request(route, deployment, 200, latency_s)
        if ttft_s is not None:
            self.ttft.labels(route, deployment).observe(ttft_s)
        self.tokens.labels(route, deployment, "input").inc(usage.input_tokens)
        self.tokens.labels(route, deployment, "output").inc(usage.output_tokens)
        if cost:
            self.cost.labels(route, deployment).inc(cost)

    def failure(self, route: str, deployment: str, kind: str) -> None:
        self.errors.labels(route, deployment, kind).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
