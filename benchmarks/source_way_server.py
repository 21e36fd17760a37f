"""BASELINE ONLY, not part of tuneforge: the source documents' way of serving, for benchmarks/serve_load.py.

The source documents wrap a fine-tuned model in an API the simplest way: load the Hugging Face model in
fp32 PyTorch and, per request, `tokenizer(text, return_tensors='pt', max_length=128, padding='max_length',
truncation=True)` then `model(**inputs)`. This server does exactly that, one request at a time
(`http.server.HTTPServer`, single-threaded, HTTP/1.0: the connection closes after each answer, so a
waiting client is never starved behind another's keep-alive connection).

Charitable where the recipe is silent, so the comparison is against its best reading, not a strawman:
`model.eval()` and `torch.no_grad()`, all texts of a request in one forward pass, and a listen backlog of
256 (the default of 5 would make clients at concurrency 32 wait on TCP SYN retries, not on the model).

    python benchmarks/source_way_server.py RUN_DIR --port 8100
    POST /v1/models/<any>/predict {"texts": [...]}   -> {"predictions": [{"label", "score"}]}   (same shape
    as `tuneforge serve`, so one load generator drives both);  GET /healthz, /readyz
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

MAX_LEN = 128  # the source documents' max_len, padded to always


class SourceWayServer(HTTPServer):
    request_queue_size = 256


def make_handler(model, tokenizer):
    id2label = model.config.id2label

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):  # one line per request would cost the baseline time it does not spend on the model
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/healthz", "/readyz"):
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"detail": "not found"})

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                texts = body["texts"]
            except (ValueError, KeyError, TypeError):
                self._send(422, {"detail": "expected {\"texts\": [...]}"})
                return
            inputs = tokenizer(texts, return_tensors="pt", max_length=MAX_LEN, padding="max_length", truncation=True)
            with torch.no_grad():
                probs = model(**inputs).logits.softmax(-1)
            conf, idx = probs.max(-1)
            self._send(200, {"predictions": [{"label": id2label[int(i)], "score": float(c)}
                                             for i, c in zip(idx, conf)]})

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    a = p.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(a.run)
    model = AutoModelForSequenceClassification.from_pretrained(a.run, dtype=torch.float32).eval()
    SourceWayServer((a.host, a.port), make_handler(model, tokenizer)).serve_forever()


if __name__ == "__main__":
    main()
