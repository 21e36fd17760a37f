"""Instruction data for text generation: conversations whose last turn is the answer to learn.

Accepted, read as strictly as every other data file (bounded reading, file:line on every problem):
- JSONL, one object per line: `{"prompt": "...", "response": "..."}` (an optional `"system"`), or
  `{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}` whose last message is the
  assistant's answer (earlier turns are context, trained on by nothing but the answer).
- CSV/TSV with a header: the prompt and answer columns named by data.text_column / data.label_column; left at their
  defaults ("text", "label") and absent, `question,answer` or `prompt,response` are found by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import TuneforgeError
from .readers import ReadStats, bad_row, csv_header, csv_records, detect_format, read_text

ROLES = ("system", "user", "assistant")
PAIRS = (("question", "answer"), ("prompt", "response"), ("instruction", "output"))


@dataclass
class ChatExample:
    messages: list[dict]  # {"role", "content"}; the last is the assistant's answer
    source: str = ""

    @property
    def text(self) -> str:
        """The last user turn: what a caller would send, and the key for duplicates and split overlap."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def response(self) -> str:
        return self.messages[-1]["content"]


def _message_problem(messages) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "`messages` is not a non-empty list"
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"messages[{k}] is not {{\"role\": one of {', '.join(ROLES)}, \"content\": a string}}"
        if not m["content"].strip():
            return f"messages[{k}] has empty content"
    if messages[-1]["role"] != "assistant":
        return "the last message is not the assistant's answer"
    if not any(m["role"] == "user" for m in messages[:-1]):
        return "no user message before the answer"
    return None


def _from_object(obj: dict, text_column: str, label_column: str):
    """(messages, problem) from one JSONL object."""
    if "messages" in obj:
        problem = _message_problem(obj["messages"])
        return (None, problem) if problem else ([{"role": m["role"], "content": m["content"]}
                                                 for m in obj["messages"]], None)
    for p, r in ((text_column, label_column),) + PAIRS:
        if p in obj and r in obj:
            prompt, answer, system = obj[p], obj[r], obj.get("system")
            if not isinstance(prompt, str) or not isinstance(answer, str) or not prompt.strip() or not answer.strip():
                return None, f"{p!r} and {r!r} must be non-empty strings"
            if system is not None and (not isinstance(system, str) or not system.strip()):
                return None, "'system' must be a non-empty string"
            head = [{"role": "system", "content": system}] if system else []
            return head + [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], None
    return None, "no `messages` list and no prompt/answer pair (prompt+response, question+answer)"


def read_chat(path: Path, fmt: str | None, text_column: str, label_column: str, encoding: str = "utf-8",
              skip_bad: bool = False) -> tuple[list[ChatExample], ReadStats]:
    path = Path(path)
    fmt = detect_format(path, fmt)
    if fmt == "conll":
        raise TuneforgeError("a token-per-line file was given to a text-generation task", where=str(path),
                             fix="use JSONL (prompt/response or messages) or a CSV with question,answer columns")
    text = read_text(path, encoding)
    stats, out = ReadStats(), []
    fix = ('write one JSON object per line: {"prompt": "...", "response": "..."} or '
           '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}')
    if fmt == "jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            stats.rows += 1
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", f"not valid JSON ({e.msg})", fix)
                continue
            messages, problem = _from_object(obj, text_column, label_column) if isinstance(obj, dict) else \
                (None, "the line is not a JSON object")
            if problem:
                bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", problem, fix)
                continue
            out.append(ChatExample(messages, f"{path}:{i}"))
    else:
        header, rows = csv_header(path, text, "," if fmt == "csv" else "\t")
        pair = next(((p, r) for p, r in ((text_column, label_column),) + PAIRS if p in header and r in header), None)
        if pair is None:
            found = ", ".join(sorted(h for h in header if h)) or "none"
            raise TuneforgeError(f"no prompt and answer columns (found: {found})", where=str(path),
                                 fix="name them question,answer (or prompt,response), or set data.text_column and "
                                     "data.label_column")
        ip, ir = header.index(pair[0]), header.index(pair[1])
        for line, row in csv_records(path, header, rows, stats, skip_bad):
            stats.rows += 1
            if not row[ip].strip() or not row[ir].strip():
                bad_row(stats, skip_bad, "empty text", f"{path}:{line}", f"empty {pair[0] if not row[ip].strip() else pair[1]!r}",
                        "fill in or delete the row")
                continue
            out.append(ChatExample([{"role": "user", "content": row[ip].strip()},
                                    {"role": "assistant", "content": row[ir].strip()}], f"{path}:{line}"))
    if not out:
        raise TuneforgeError("no usable rows", where=str(path), fix=fix)
    return out, stats
