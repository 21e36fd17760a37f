"""Synthetic timestamped streams with known surges, a tiny trained sentiment run, a real webhook receiver,
and a real uvicorn server for the monitor's HTTP ingest."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
from factories import LiveServer

from monitor.conftest import Receiver  # noqa: F401  (tests/monitor's webhook receiver on loopback)
from factories import NEG, POS
from serve.conftest import train_tiny

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
HOUR = 3600.0


def stream(hours: int, per_hour: int = 40, base: float = 0.3, surges=(), topics=("payments", "app"),
           seed: int = 0) -> list[dict]:
    """Items with a label: per topic and hour `per_hour` texts, negative with probability `base`, or `q`
    inside a surge (topic, first hour, last hour + 1, q)."""
    rng = random.Random(seed)
    out = []
    for h in range(hours):
        for topic in topics:
            p = next((q for t, a, b, q in surges if t == topic and a <= h < b), base)
            for i in range(per_hour):
                neg = rng.random() < p
                ts = T0 + h * HOUR + rng.uniform(0, HOUR - 1)
                out.append({"time": datetime.fromtimestamp(ts, timezone.utc).isoformat() if i % 2 else ts,
                            "text": f"the {topic} was {rng.choice(NEG if neg else POS)} {h} {i}",
                            "topic": topic, "label": "negative" if neg else "positive"})
    return out


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sentiment_run(tmp_path_factory, tiny_bert) -> Path:
    """A tiny run (labels neg/pos) that learns the sentiment words of tests/factories.py's reviews."""
    return train_tiny(tmp_path_factory.mktemp("monitor-app"), tiny_bert, seed=1, epochs=3)


AppServer = LiveServer  # a real uvicorn server on a loopback socket (tests/factories.py)
