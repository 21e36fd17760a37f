"""Serving: a versioned registry (registry.py, db.py), the HTTP server (app.py) with micro-batching
(batcher.py), A/B splits and shadow traffic (ab.py), Prometheus metrics (metrics.py) and the request log
(requestlog.py). `tuneforge serve`, `tuneforge registry ...` and `tuneforge ab report` are the CLI."""
