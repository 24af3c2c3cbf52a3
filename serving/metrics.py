"""Prometheus metrics of one API process, and the ASGI middleware that records requests."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

# Milliseconds matter here: the budget is 10 ms at p99.
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """`multiprocess_dir`: the folder where the workers of one server record their values (prometheus_client's
    multiprocess mode, set up by `serving.app.serve`); the exposition then merges every worker's."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Counter("movierec_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("movierec_request_seconds", "Request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.fallbacks = Counter("movierec_fallbacks", "Recommendation responses served from a fallback list, by cause",
                                 ["cause"], registry=self.registry)
        self.store_errors = Counter("movierec_store_errors", "Online store reads that failed or ran past the timeout",
                                    ["kind"], registry=self.registry)
        self.variants = Counter("movierec_variant_responses", "Recommendation responses by experiment variant and context",
                                ["variant", "context"], registry=self.registry)
        self.exposures = Counter("movierec_exposures", "Served lists written to the exposure log", registry=self.registry)
        self.exposure_errors = Counter("movierec_exposure_errors",
                                       "Exposure log flushes that failed (sink; their records are retried) and records lost (dropped)",
                                       ["kind"], registry=self.registry)

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (not the raw path: bounded labels)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(name, str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - start)
