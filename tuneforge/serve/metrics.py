"""Prometheus metrics of the server, in a registry of their own (one per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 1 ms (a short sentence on a small model) to 10 s (a full batch of long texts).
LATENCY_BUCKETS = (.001, .0025, .005, .0075, .01, .015, .025, .05, .075, .1, .25, .5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self):
        r = self.registry = CollectorRegistry()
        # role: primary (answered the caller) or shadow (a copy, logged only); version "" = never routed
        self.requests = Counter("tuneforge_requests", "Predict requests by model, version, role and HTTP status",
                                ["model", "version", "role", "status"], registry=r)
        self.texts = Counter("tuneforge_texts", "Texts predicted", ["model", "version", "role"], registry=r)
        self.latency = Histogram("tuneforge_request_latency_seconds", "Predict latency, queueing included",
                                 ["model", "version", "role"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("tuneforge_batch_size", "Texts per micro-batch handed to the model",
                                    ["model", "version"], buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("tuneforge_queue_depth", "Texts waiting for a micro-batch",
                                 ["model", "version"], registry=r)
        self.loaded = Gauge("tuneforge_model_loaded", "1 while a model version is loaded and serving",
                            ["model", "version"], registry=r)
        self.log_dropped = Gauge("tuneforge_requestlog_dropped", "Request-log rows dropped (database too slow)",
                                 registry=r)
