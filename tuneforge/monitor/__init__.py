"""Monitoring of served models: drift against the training reference (drift.py), alert rules with a
webhook (alerts.py), the server's periodic check and gauges (service.py), `tuneforge monitor report`
(report.py)."""
