"""`--serve`: POST /v1/ingest takes a JSON list of items ({"time", "text", "topic"}) and answers the counts
and any alerts they raised; GET /v1/trends answers load_trends(). Bad input is a 4xx with the item's index."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ...errors import TuneforgeError
from .items import parse_items
from .pipeline import Monitor
from .store import load_trends, open_store

log = logging.getLogger("tuneforge.apps.monitor")
MAX_BODY_BYTES = 8 << 20


def create_app(monitor: Monitor, max_items: int = 1000) -> FastAPI:
    open_store(monitor.db)  # fail at start, not at the first request, if the path is unusable
    app = FastAPI(title="tuneforge sentiment-risk monitor",
                  description="POST timestamped texts; negative-share surges per topic raise alerts.")

    def problem(status: int, e: TuneforgeError | str) -> JSONResponse:
        return JSONResponse({"detail": e.message() if isinstance(e, TuneforgeError) else e}, status_code=status)

    @app.post("/v1/ingest")
    async def ingest(request: Request):
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return problem(413, f"body of {len(raw)} bytes is over {MAX_BODY_BYTES}: send smaller batches")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return problem(400, f"the body is not JSON: {e}")
        try:
            items = parse_items(body, monitor.fields)
        except TuneforgeError as e:
            return problem(422, e)
        if len(items) > max_items:
            return problem(413, f"{len(items)} items in one request; at most {max_items}: send smaller batches")
        try:
            # the model call and the SQLite transaction block: off the event loop
            res = await run_in_threadpool(monitor.ingest, items)
        except TuneforgeError as e:
            return problem(422, e)
        return {"ingested": res.ingested, "negative": res.negative, "topics": res.topics, "alerts": res.alerts}

    @app.get("/v1/trends")
    async def trends():
        return await run_in_threadpool(load_trends, monitor.db)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return app


def serve(monitor: Monitor, host: str = "127.0.0.1", port: int = 8100, log_level: str = "info") -> None:
    import uvicorn
    uvicorn.run(create_app(monitor), host=host, port=port, log_level=log_level)
