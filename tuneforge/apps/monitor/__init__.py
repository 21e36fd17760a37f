"""The sentiment-risk monitor (`tuneforge app monitor`): timestamped texts in (files, a watched directory,
HTTP), sentiment from a finished run, counts per time window and topic in SQLite, surges of negative share
against a rolling baseline, alerts (log line + webhook) carrying example texts, and a trend plot.

    items.py     reading and validating items (time, text, topic) from JSONL/CSV/TSV and HTTP bodies
    classify.py  a finished run as the classifier: which labels count as negative, an optional topic run
    detect.py    the surge detectors (z-score, EWMA) over one topic's window series
    store.py     the SQLite database: ingest(), load_trends(), processed files, alerts
    alerting.py  delivering an alert: log line + webhook POST
    watch.py     polling a directory for new files
    server.py    POST /v1/ingest, GET /v1/trends
    report.py    the trend PNG and a text summary
"""
