"""The service's Prometheus series, in a registry of their own (one per app, so that several apps in
one process, as in the tests, do not collide)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """requests by route and status, request latency, batch sizes, queue depth, products by record
    status, and how long the model took to load."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: Any = CollectorRegistry()
        self.requests = Counter("extractor_requests", "HTTP requests by route and status code",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("extractor_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("extractor_batch_size", "Products per micro-batch run by the engine thread",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("extractor_queue_depth", "Products waiting for the engine thread",
                                 registry=self.registry)
        self.products = Counter("extractor_products", "Records returned, by record status", ["status"],
                                registry=self.registry)
        self.model_load = Gauge("extractor_model_load_seconds", "Seconds the engine took to build",
                                registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
