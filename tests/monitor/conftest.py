"""A tiny trained sentiment run (with its reference.json), a webhook receiver on loopback, and texts
from inside and far outside the training distribution."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from factories import NEG, POS
from serve.conftest import (ThreadServer, free_port, fresh_postgres, postgres_url,  # noqa: F401
                            train_tiny)  # tests/serve's trainer, server and PostgreSQL: one of each


@pytest.fixture(scope="session")
def monitored_run(tmp_path_factory, tiny_bert) -> Path:
    return train_tiny(tmp_path_factory.mktemp("monitored"), tiny_bert, seed=1, epochs=3)


def in_distribution(n: int, start: int = 0) -> list[str]:
    """Texts shaped like the training reviews (16-27 characters): the same words, and the numbers spread
    over 0-299 as there (37 is coprime with 300), so the lengths follow the reference's too."""
    words = POS + NEG
    return [f"the {['movie', 'plot', 'cast'][i % 3]} was {words[i % len(words)]} {i * 37 % 300}"
            for i in range(start, start + n)]


def shifted(n: int) -> list[str]:
    """Long Chinese reviews (SnowNLP-like): 60-100 characters, far beyond every training length."""
    base = "这部电影的剧情非常精彩，演员的表演也很到位，北京上海的观众都说值得一看，公司的人民也很喜欢"
    return [(base * 3)[: 60 + (i * 7) % 40] for i in range(n)]


class Receiver:
    """A real HTTP server on loopback that records every POSTed JSON body."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                     **json.loads(body)})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r
