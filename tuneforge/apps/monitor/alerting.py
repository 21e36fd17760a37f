"""Delivering a negative-surge alert: a WARNING log line (always) and a JSON POST to a webhook (if given),
through the drift monitor's sender (tuneforge/monitor/alerts.py: 5 s timeout, never raises)."""

from __future__ import annotations

import logging
import urllib.parse

from ...errors import TuneforgeError
from ...monitor.alerts import post_json

log = logging.getLogger("tuneforge.apps.monitor")


def check_webhook(url: str | None) -> str | None:
    if url is not None and not (url.startswith(("http://", "https://")) and urllib.parse.urlsplit(url).netloc):
        raise TuneforgeError(f"webhook {url!r} is not an http(s) URL", where="--webhook",
                             fix="write e.g. --webhook http://alerts.internal:9000/hook")
    return url


class Deliverer:
    """Called once per new alert; answers whether the webhook took it (None: there is no webhook)."""

    def __init__(self, webhook: str | None = None):
        self.webhook = check_webhook(webhook)
        self.sent = self.failed = 0

    def __call__(self, alert: dict) -> bool | None:
        examples = " | ".join(e[:80] for e in alert["examples"])
        log.warning("ALERT negative surge: topic %s at %s: negative share %.2f vs baseline %.2f (%d of %d texts, "
                    "%s score %.1f); e.g. %s", alert["topic"], alert["at"], alert["negative_share"], alert["baseline"],
                    alert["negative"], alert["total"], alert["method"], alert["score"], examples or "-")
        if self.webhook is None:
            return None
        why = post_json(self.webhook, alert)
        if why is None:
            self.sent += 1
            return True
        self.failed += 1
        # only the host: a webhook URL often carries a token in its path
        log.error("alert for topic %s: webhook at %s failed (%s); the alert is in this log and the database only",
                  alert["topic"], urllib.parse.urlsplit(self.webhook).netloc, why)
        return False
