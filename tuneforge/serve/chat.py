"""`POST /v1/chat/completions`: the OpenAI chat API over registered text-generation models, so the official `openai`
client (and everything built on it) talks to a tuneforge server by changing its base URL.

`model` names a registered model; its A/B split chooses the version (sticky per `user`, as `caller_id` is for
predict). Streaming (`"stream": true`) sends server-sent events, one `chat.completion.chunk` per decoded piece and
`data: [DONE]` last. The same limits as predict (--max-chars per message, --max-texts messages), the same metrics,
and the request log (the last user message, hashed). Not yet: batching concurrent requests into one decoding loop,
several choices (`n`), tools, log-probabilities; such fields are refused with a 422 naming them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..data.redact import redact_text
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
        if not hasattr(lm.task, "chat"):
            fail(422, f"{req.model} is a {run.cfg.task} model: it does not write answers; ask POST "
                      f"/v1/models/{req.model}/predict")
        if getattr(run, "redacts", None):  # data.redact: the model never sees what training never showed it
            msgs = [{**m, "content": redact_text(m["content"], run.redacts)} for m in msgs]
        g = run.cfg.generate
        settings = {"max_new_tokens": req.max_completion_tokens or req.max_tokens or g.max_new_tokens,
                    "temperature": g.temperature if req.temperature is None else req.temperature,
                    "top_p": g.top_p if req.top_p is None else req.top_p, "max_length": run.cfg.train.max_length,
                    "bf16": run.bf16}
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def answer(streamer=None) -> dict:
            return lm.task.chat(run.model, run.tokenizer, msgs, streamer=streamer, **settings)

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
            res = await asyncio.to_thread(answer)
            done(res)
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": req.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": res["text"]},
                             "finish_reason": res["finish_reason"]}],
                "usage": {"prompt_tokens": res["prompt_tokens"], "completion_tokens": res["completion_tokens"],
                          "total_tokens": res["prompt_tokens"] + res["completion_tokens"]}})
        return StreamingResponse(_stream(answer, done, run.tokenizer, cid, created, req.model),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _stream(answer, done, tokenizer, cid: str, created: int, model: str):
    """Server-sent events: a role chunk, content chunks as the generating thread decodes them, a final chunk with
    the finish reason, then [DONE]."""
    from transformers import TextIteratorStreamer  # here: only streaming requests need it
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    result: dict = {}

    def work():
        try:
            result.update(answer(streamer))
        except Exception as e:  # headers are sent: the failure can only travel as an event (OpenAI's error shape)
            result["error"] = f"generation failed: {type(e).__name__}"
        finally:
            streamer.end()  # the reader below stops even when generation failed

    def chunk(delta: dict, finish=None) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    yield chunk({"role": "assistant", "content": ""})
    pieces = iter(streamer)
    first = True
    while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
        if piece:
            yield chunk({"content": piece.lstrip() if first else piece})
            first = False
    await asyncio.to_thread(worker.join)  # generate() ends the streamer itself, before `answer` has returned
    done(result)
    if "error" in result:
        yield f"data: {json.dumps({'error': {'message': result['error'], 'type': 'server_error'}})}\n\n"
    else:
        yield chunk({}, result["finish_reason"])
    yield "data: [DONE]\n\n"
