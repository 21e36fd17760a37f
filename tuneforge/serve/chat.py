"""`POST /v1/chat/completions`: the OpenAI chat API over registered text-generation models, so the official `openai`
client (and everything built on it) talks to a tuneforge server by changing its base URL.

`model` names a registered model; its A/B split chooses the version (sticky per `user`, as `caller_id` is for
predict). Streaming (`"stream": true`) sends server-sent events, one `chat.completion.chunk` per decoded piece and
`data: [DONE]` last. The same limits as predict (--max-chars per message, --max-texts messages), the same metrics,
and the request log (the last user message, hashed).

Concurrent requests to one version are decoded together: they queue in a batcher (serve/batcher.py, as predict's
texts do) and each batch is one `generate` call in which every row stops on its own (tasks/decoding.py). A batch runs to its longest answer; a request that arrives meanwhile waits for the next batch
(no continuous batching). Not offered: several choices (`n` > 1), `stop`, tools, log-probabilities; such fields
are refused with a 422 naming them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..data.redact import redact_text
from ..tasks.decoding import Sampling
from .inputs import is_utf8

MAX_TOKENS = 2048  # the most new tokens one request may ask for


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="a registered model name (GET /v1/models)")
    messages: list[ChatMessage] = Field(description="the conversation so far; the last message is the user's")
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="most new tokens (default: the run's "
                                                                          "generate.max_new_tokens)")
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="the newer name of max_tokens")
    temperature: float | None = Field(None, ge=0, le=2, description="0: greedy (default: the run's setting)")
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=1, description="choices per request: one (several are not offered)")
    stream: bool = False
    user: str | None = Field(None, max_length=256, description="sticky A/B assignment: same user, same version")


def add_chat_routes(app: FastAPI, state) -> None:
    """The route on `app`, answering from `state` (serve/app.py's ServeState)."""

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatRequest):
        t0 = time.perf_counter()
        fail = state.failing(req.model)
        route = state.serving_route(req.model, fail)
        msgs = [m.model_dump() for m in req.messages]
        if not msgs or msgs[-1]["role"] != "user":
            fail(422, "messages must end with the user's message (the one to answer)")
        if len(msgs) > state.opts.max_texts:
            fail(413, f"{len(msgs)} messages in one request; the limit is {state.opts.max_texts}")
        for i, m in enumerate(msgs):
            if len(m["content"]) > state.opts.max_chars:
                fail(413, f"messages[{i}] has {len(m['content'])} characters; the limit is {state.opts.max_chars}")
            if not m["content"].strip() or not is_utf8(m["content"]):
                fail(422, f"messages[{i}].content is empty, only whitespace or not valid Unicode")
        if req.user is not None and not is_utf8(req.user):
            fail(422, "user is not valid Unicode (an unpaired surrogate escape)")
        version = route.choose(req.user)
        lm = state.loaded.get((req.model, version))
        if lm is None:
            fail(503, f"{req.model} v{version} is not loaded yet; retry shortly")
        run = lm.backend
        if lm.chat is None:
            fail(422, f"{req.model} is a {run.cfg.task} model: it does not write answers; ask POST "
                      f"/v1/models/{req.model}/predict")
        if getattr(run, "redacts", None):  # data.redact: the model never sees what training never showed it
            msgs = [{**m, "content": redact_text(m["content"], run.redacts)} for m in msgs]
        g = run.cfg.generate
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        job = ChatJob(msgs, req.max_completion_tokens or req.max_tokens or g.max_new_tokens,
                      Sampling(g.temperature if req.temperature is None else req.temperature,
                               g.top_p if req.top_p is None else req.top_p),
                      # called on the decoding thread: the piece travels to this request's queue on the loop
                      (lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text)) if req.stream else None)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def done(res: dict) -> None:
            dt = time.perf_counter() - t0
            v = str(version)
            state.metrics.requests.labels(req.model, v, "primary", "500" if "error" in res else "200").inc()
            if "error" in res:
                return
            state.metrics.texts.labels(req.model, v, "primary").inc()
            state.metrics.latency.labels(req.model, v, "primary").observe(dt)
            state._log(req.model, version, False, [msgs[-1]["content"]], [{}], [cid], dt * 1000)

        if not req.stream:
            res = (await lm.chat.submit([job]))[0]
            done(res)
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": req.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": res["text"]},
                             "finish_reason": res["finish_reason"]}],
                "usage": {"prompt_tokens": res["prompt_tokens"], "completion_tokens": res["completion_tokens"],
                          "total_tokens": res["prompt_tokens"] + res["completion_tokens"]}})
        answer = asyncio.ensure_future(lm.chat.submit([job]))  # queued now: no await between choosing and queueing
        answer.add_done_callback(lambda _: pieces.put_nowait(None))  # after every piece: they were queued first
        return StreamingResponse(_stream(answer, pieces, done, cid, created, req.model),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@dataclass
class ChatJob:
    """One conversation to answer, as the decoding batcher (serve/batcher.py) carries it."""
    messages: list[dict]
    limit: int  # most new tokens
    sampling: Sampling
    on_piece: Callable[[str], None] | None  # streaming: receives the answer's text as it grows

    def __len__(self) -> int:  # the batcher sorts a batch by length: similar prompts pad less
        return sum(len(m["content"]) for m in self.messages)


def chat_decoder(run, task) -> Callable[..., list[dict]]:
    """The batcher's predict function for a text-generation run: every job of a batch decoded together (rows
    with other sampling settings in a batch of their own), one result dict per job (tasks/decoding.py)."""

    def decode(jobs: list[ChatJob], batch_size: int | None = None) -> list[dict]:
        groups: dict[Sampling, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.sampling, []).append(i)
        out: list = [None] * len(jobs)
        for sampling, idx in groups.items():
            def on_piece(row: int, text: str, idx=idx) -> None:
                if jobs[idx[row]].on_piece is not None:
                    jobs[idx[row]].on_piece(text)
            results = task.chat(run.model, run.tokenizer, [jobs[i].messages for i in idx], [jobs[i].limit for i in idx],
                                sampling, run.cfg.train.max_length, run.bf16, on_piece)
            for i, res in zip(idx, results):
                out[i] = res
        return out
    return decode


async def _stream(answer: asyncio.Future, pieces: asyncio.Queue, done, cid: str, created: int, model: str):
    """Server-sent events: a role chunk, content chunks as the batch decodes them, a final chunk with the finish
    reason, then [DONE]. A failure after the headers went out can only travel as an event (OpenAI's error shape)."""

    def chunk(delta: dict, finish=None) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    first = True
    while (piece := await pieces.get()) is not None:
        if first:
            piece = piece.lstrip()  # as the whole answer is stripped
        if piece:
            yield chunk({"content": piece})
            first = False
    try:
        result = answer.result()[0]
    except Exception as e:
        result = {"error": f"generation failed: {type(e).__name__}"}
    done(result)
    if "error" in result:
        yield f"data: {json.dumps({'error': {'message': result['error'], 'type': 'server_error'}})}\n\n"
    else:
        yield chunk({}, result["finish_reason"])
    yield "data: [DONE]\n\n"
