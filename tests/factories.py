"""Factories the tests share (tests/ is on sys.path: `from factories import ...`): synthetic data files, a tiny
training config, and a real uvicorn server on a loopback socket.

One word decides each synthetic label, so a 2-layer random BERT (conftest.tiny_bert) learns it in seconds."""

from __future__ import annotations

import csv
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import yaml

POS, NEG = ["good", "great", "excellent", "lovely"], ["bad", "awful", "terrible", "boring"]


def write_csv(path: Path, header: list[str], rows) -> Path:
    """A CSV file of `header` and `rows` (any iterable of lists, drawn as it is written)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_sentiment(path: Path, n: int, seed: int = 0, neg_words=("bad", "awful", "boring"), repeat: bool = False) -> Path:
    """`n` rows of `review,stars` (pos/neg, drawn at random). `repeat`: odd rows say their word twice."""
    rng = random.Random(seed)

    def rows():
        for i in range(n):
            lab = rng.choice(["pos", "neg"])
            word = rng.choice(POS if lab == "pos" else list(neg_words))
            again = ("and it is " + word if i % 2 else "") if repeat else None
            text = f"the {rng.choice(['movie', 'plot', 'cast'])} was {word} {again} {i}" if repeat else \
                f"the {rng.choice(['movie', 'plot', 'cast'])} was {word} {i}"
            yield [text, lab]
    return write_csv(path, ["review", "stars"], rows())


def write_reviews(path: Path, n: int, seed: int) -> Path:
    """`n` rows of `text,label` (pos/neg at random; the word after "was" decides): the serve, dashboard and monitor
    runs. Not write_sentiment with other columns: its draws come in another order, and the monitor tests' drift
    thresholds hold for the reference (30 validation texts) these exact reviews give; with write_sentiment's
    order the calm traffic's length PSI was 0.39, over the 0.25 alert level."""
    rng = random.Random(seed)

    def rows():
        for i in range(n):
            lab = rng.choice(["pos", "neg"])
            yield [f"the {rng.choice(['movie', 'plot', 'cast'])} was {rng.choice(POS if lab == 'pos' else NEG)} {i}", lab]
    return write_csv(path, ["text", "label"], rows())


def write_long_reviews(path: Path, n: int, seed: int, filler: str) -> Path:
    """`n` rows of `text,label` whose only sentiment word is the last one, after `filler`: invisible to a
    truncation that keeps only a text's head."""
    rng = random.Random(seed)

    def rows():
        for i in range(n):
            lab = rng.choice(["pos", "neg"])
            yield [f"{filler} {i} " + rng.choice(["great", "lovely"] if lab == "pos" else ["awful", "terrible"]), lab]
    return write_csv(path, ["text", "label"], rows())


# Multi-label: each word present adds its label; a text names one to three of them.
TOPIC_WORDS = {"music": "sound", "cast": "acting", "plot": "story"}


def write_label_sets(path: Path, n: int, seed: int, separator: str = "|") -> Path:
    """`n` rows of `text,label` where the label cell is a set (`acting|story`): every topic word in the text adds
    its label (TOPIC_WORDS), in a random order, so a label is learnable from one word."""
    rng = random.Random(seed)

    def rows():
        for i in range(n):
            words = rng.sample(sorted(TOPIC_WORDS), rng.choice([1, 1, 2, 3]))
            text = " and the ".join(f"{word} was {rng.choice(POS + NEG)}" for word in words)
            yield [f"the {text} {i}", separator.join(TOPIC_WORDS[word] for word in words)]
    return write_csv(path, ["text", "label"], rows())


# Text generation: each topic has one answer, so a 2-layer random decoder can learn to give it.
ANSWERS = {"music": "the music was lovely", "cast": "the cast was great", "plot": "the plot was boring"}


def write_qa(path: Path, n: int, seed: int) -> Path:
    """`n` JSONL rows of {"prompt", "response"}: a question naming a topic (ANSWERS) in varied words, answered
    with that topic's sentence."""
    import json
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            topic = rng.choice(sorted(ANSWERS))
            filler = " ".join(rng.sample(["john", "mary", "very", "it", "is", "not", "a"], 3))
            f.write(json.dumps({"prompt": f"{filler} the {topic} ?", "response": ANSWERS[topic]}) + "\n")
    return path


def write_ner(path: Path, n: int, seed: int = 0, scheme: str = "BMES") -> Path:
    """Character-level sentences, BMES (or BIO) tags: person names before 在, places after it."""
    rng = random.Random(seed)
    people, places = ["张三", "李四"], ["北京", "上海", "中国"]
    lines = []
    for _ in range(n):
        per, loc = rng.choice(people), rng.choice(places)
        chars = list(per) + ["在"] + list(loc) + list("的公司")
        inside = "E" if scheme == "BMES" else "I"
        tags = ["B-PER", f"{inside}-PER", "O", "B-LOC", f"{inside}-LOC", "O", "O", "O"]
        lines += [f"{c} {t}" for c, t in zip(chars, tags)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def make_config(tmp: Path, backbone: Path, task: str, data: dict, **train) -> Path:
    """A tiny full-fine-tuning config file in `tmp`, output in tmp/run; `train` overrides its train section."""
    cfg = {"task": task, "backbone": str(backbone), "output_dir": str(tmp / "run"), "data": data,
           "train": {"method": "full", "epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2,
                     "dropout": 0.0, "max_length": 32, "logging_steps": 2,
                     "bf16": "false",  # forced: quality asserts must not hang on the CPU's choice
                     "freeze_embeddings": False, **train}}  # random embeddings carry nothing: freezing them only handicaps
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


class LiveServer:
    """A real uvicorn server for `app` on an already-bound loopback socket (no port race), in a thread; ready
    when `ready()` says so (by default GET `ready_path` answers 200)."""

    def __init__(self, app, ready_path: str = "/healthz", timeout_s: float = 300):
        import uvicorn
        self.app, self.ready_path, self.timeout_s = app, ready_path, timeout_s
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # A long keep-alive: the test client shares this process's CPU, and a pooled connection closed by
        # the server just as the client reuses it would fail a POST for a reason that is not the server's.
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=120))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def ready(self) -> bool:
        return httpx.get(self.url + self.ready_path, timeout=5).status_code == 200

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + self.timeout_s  # loading models takes seconds; on a busy machine, more
        while time.time() < deadline:
            try:
                if self.ready():
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def run_cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`tuneforge ARGS...` in a fresh interpreter, as a user runs it: exit status, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "tuneforge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
