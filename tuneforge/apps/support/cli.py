"""`tuneforge app support --faq FAQ.csv (--ask "..." | --serve | --candidates)`. Only argparse and stdlib at
top level: `tuneforge --help` must not import torch."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    s = sub.add_parser("support", help="FAQ assistant: BM25 + sentence-encoder retrieval, hand-off to a human "
                                       "below a confidence threshold, HTTP chat endpoint with sessions",
                       description="Answer customer messages from an FAQ (CSV: question,answer[,category]). "
                                   "Answers may hold slots: {name} or {name|default}; {{ }} for literal braces.")
    s.add_argument("--faq", required=True,
                   help="FAQ CSV/TSV with columns question,answer[,category]; or chatterbot-en / chatterbot-zh, "
                        "the packaged chatterbot-corpus FAQ (fetched into the data cache on first use)")
    mode = s.add_mutually_exclusive_group(required=True)
    mode.add_argument("--ask", metavar="MESSAGE", help="answer one message and print the reply JSON")
    mode.add_argument("--serve", action="store_true", help="HTTP chat endpoint: POST /v1/chat {message} starts a "
                                                                  "session; its reply's session_token continues it")
    mode.add_argument("--candidates", action="store_true",
                      help="print the handed-off questions logged so far (candidate FAQ entries), JSON lines")
    s.add_argument("--lang", default="auto", help="auto (from the FAQ questions) | en | zh: default encoder and "
                                                  "hand-off message")
    s.add_argument("--backbone", help="sentence encoder: minilm-l6 (default for en), multilingual-e5-small "
                                      "(default for zh), or a local model directory")
    s.add_argument("--threshold", type=float, help="cosine below which the reply is a hand-off to a human "
                                                   "(default per encoder: minilm-l6 0.5, multilingual-e5-small 0.9)")
    s.add_argument("--intents", metavar="RUN", help="text-classification run whose labels are the FAQ categories: "
                                                    "search only the predicted category when it is sure")
    s.add_argument("--intent-threshold", type=float, default=0.8, help="probability needed to route (default 0.8)")
    s.add_argument("--db", help="SQLite file or postgresql:// URL for sessions and candidates "
                                "(default: <cache>/apps/support/support.db)")
    s.add_argument("--session", help="--ask: continue this session (its id from an earlier reply; omit it to start "
                                     "one). The command line reads the database itself, so it needs no token")
    s.add_argument("--api-key-env", default="TUNEFORGE_API_KEY",
                   help="--serve: environment variable holding the operator's API key (X-API-Key: any session's "
                        "transcript, GET /v1/candidates); unset: those answer 403")
    s.add_argument("--slot", action="append", metavar="NAME=VALUE", help="--ask: a slot value for answer templates")
    s.add_argument("--handoff-message", help="the reply below the threshold (default: a short English/Chinese one)")
    s.add_argument("--top-k", type=int, default=3, help="alternatives listed in each reply (default 3)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--log-level", default="info")
    s.set_defaults(fn=cmd_support)


def cmd_support(a: argparse.Namespace) -> int:
    from .faq import parse_slots
    if a.candidates:  # reading the log needs neither the FAQ index nor a model
        from .assistant import default_db
        from .store import SupportStore
        for c in SupportStore(a.db or default_db()).candidates():
            print(json.dumps(c, ensure_ascii=False))
        return 0
    from .assistant import Assistant, AssistantOptions, check_message
    from .chatterbot import resolve_faq
    if a.ask is not None:
        check_message(a.ask, "--ask")  # before loading a model for nothing
    slots = parse_slots(a.slot)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()  # the reply JSON is the output; not weight-loading reports and progress bars
    hf_logging.disable_progress_bar()
    opts = AssistantOptions(faq=resolve_faq(a.faq), lang=a.lang, backbone=a.backbone, threshold=a.threshold,
                            intents=a.intents, intent_threshold=a.intent_threshold, db=a.db,
                            handoff_message=a.handoff_message, top_k=a.top_k)
    assistant = Assistant(opts)
    if a.serve:
        from .server import serve
        serve(assistant, host=a.host, port=a.port, log_level=a.log_level, api_key_env=a.api_key_env)
        return 0
    print(json.dumps(assistant.reply(a.ask, a.session, slots), ensure_ascii=False, indent=2))
    return 0
