"""The service's Prometheus series, in a registry of their own (one per app, so that several apps in
one process, as in the tests, do not collide). With ``PROMETHEUS_MULTIPROC_DIR`` set (``serve
--workers``: several processes), every process writes its series to files there and ``render``
sums them, so any worker answers ``/metrics`` for all of them."""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's environment variable: the folder where processes share their series."""


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
        self.multiprocess = bool(os.environ.get(MULTIPROC_DIR))
        """Whether the series are shared with other worker processes through files."""
        self.queue_depth = Gauge("extractor_queue_depth", "Products waiting for the engine thread",
                                 registry=self.registry, multiprocess_mode="livesum")
        self.products = Counter("extractor_products", "Records returned, by record status", ["status"],
                                registry=self.registry)
        self.model_load = Gauge("extractor_model_load_seconds", "Seconds the engine took to build (the "
                                "slowest worker's)", registry=self.registry, multiprocess_mode="max")

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client.multiprocess import MultiProcessCollector

        every = CollectorRegistry()
        MultiProcessCollector(every)
        return generate_latest(every), CONTENT_TYPE_LATEST

    def process_ended(self) -> None:
        """Drop this process's live gauges (its queue depth) from the shared files, at shutdown."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
