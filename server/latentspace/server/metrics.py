"""Prometheus metrics of a server, on their own HTTP port (``--metrics-port``; off by default).

Every metric lives in the server's own registry (several servers in one process never clash). The
interceptor records calls, the batchers record batch sizes and queue depth, the encoder registry
model load times, the data dir snapshot and compaction durations; collection sizes are read when
scraped. The library's maths never sees any of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class _CollectionSizes(Collector):
    def __init__(self, sizes: Callable[[], dict[str, int]]) -> None:
        self._sizes = sizes

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("latentspace_collection_items", "Items in each open collection",
                                   labels=["collection"])
        for name, count in sorted(self._sizes().items()):
            family.add_metric([name], count)
        yield family


class Metrics:
    """The server's metrics; methods are the hooks the server's parts call."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("latentspace_requests", "Calls by method and status code",
                                ["method", "code"], registry=r)
        self.latency = Histogram("latentspace_request_duration_seconds", "Call latency by method",
                                 ["method"], buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("latentspace_in_flight_requests", "Calls admitted and not yet answered",
                               registry=r)
        self.rejected = Counter("latentspace_rejected_requests", "Calls refused at admission", ["reason"],
                                registry=r)
        self.queued = Gauge("latentspace_batch_queue_depth", "Work items waiting for a batch", ["batcher"],
                            registry=r)
        self.batch_size = Histogram("latentspace_batch_size", "Items (texts, images, query rows) per batch",
                                    ["batcher"], buckets=_SIZE_BUCKETS, registry=r)
        self.encoded = Counter("latentspace_encoded_items", "Texts and images encoded, by model",
                               ["model", "modality"], registry=r)
        self.model_load = Histogram("latentspace_model_load_seconds", "Time to load a model", ["model"],
                                    buckets=_DURATION_BUCKETS, registry=r)
        self.maintenance = Histogram("latentspace_maintenance_duration_seconds",
                                     "Index snapshots and compactions", ["job"],
                                     buckets=_DURATION_BUCKETS, registry=r)
        self._call_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._batch_children: dict[str, tuple[Any, Any]] = {}
        self._http: WSGIServer | None = None
        self._http_thread: threading.Thread | None = None

    def watch_collections(self, sizes: Callable[[], dict[str, int]]) -> None:
        """Report ``sizes()`` (collection name -> item count) at every scrape."""
        self.registry.register(_CollectionSizes(sizes))

    # ------------------------------------------------------------------ hooks
    def call_finished(self, method: str, code: str, seconds: float) -> None:
        children = self._call_children.get((method, code))
        if children is None:  # labels() is a locked lookup; each pair is resolved once
            children = self._call_children[(method, code)] = (self.requests.labels(method, code),
                                                               self.latency.labels(method))
        children[0].inc()
        children[1].observe(seconds)

    def batch_ran(self, batcher: str, items: int, size: int) -> None:
        self._batcher_children(batcher)[0].observe(size)

    def queue_changed(self, batcher: str, delta: int) -> None:
        self._batcher_children(batcher)[1].inc(delta)

    def _batcher_children(self, batcher: str) -> tuple[Any, Any]:
        children = self._batch_children.get(batcher)
        if children is None:  # as in call_finished: resolved once per batcher, not per batch
            children = self._batch_children[batcher] = (self.batch_size.labels(batcher),
                                                         self.queued.labels(batcher))
        return children

    def items_encoded(self, model: str, modality: str, count: int) -> None:
        self.encoded.labels(model, modality).inc(count)

    def model_loaded(self, model: str, seconds: float) -> None:
        self.model_load.labels(model).observe(seconds)

    def maintenance_ran(self, job: str, collection: str, seconds: float) -> None:
        self.maintenance.labels(job).observe(seconds)

    # ------------------------------------------------------------------ HTTP
    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 picks a free port); return the bound port."""
        self._http, self._http_thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
