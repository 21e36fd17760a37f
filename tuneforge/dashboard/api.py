"""The dashboard's JSON endpoints (`/api/...`) and its page (`/`), as one FastAPI router.

The same router serves `tuneforge dashboard` (runs, optionally a registry and a monitor database) and
`tuneforge serve` (where the registry is the server's own and the live split is what it really serves).
Blocking work (reading files, SQLite, loading a model) runs in plain `def` endpoints, which FastAPI
runs in its thread pool, so the server's event loop and micro-batchers are never held up.

Every `/api/...` endpoint shows users' data (test-set texts, predictions, paths) or runs a model, so each
needs the dashboard's key: the header `X-API-Key: KEY`, or the session cookie a visit to `/?token=KEY` sets
(HttpOnly, SameSite=Strict; its value is derived from the key, never the key itself). The page and its
static files hold no data and stay open. With no key configured every `/api/...` answer is 403, saying how
to set one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import TuneforgeError
from ..rundir import CONFIG_FILE
from ..serve.inputs import check_texts, decode_images
from ..tasks.base import find_task
from . import runs as runlib
from . import sources

STATIC = Path(__file__).parent / "static"
MAX_TEXTS, MAX_CHARS = 16, 2000  # the playground sends one text at a time; these bound a hand-made request
MAX_IMAGES, MAX_IMAGE_MB = 4, 4.0
KEEP_LOADED = 2  # models the playground keeps in memory for runs; the oldest is dropped for a third
COOKIE = "tuneforge_dashboard"


def session_value(key: str) -> str:
    """The cookie's value: derived from the key, so a leaked cookie does not give away the key (in
    `tuneforge serve` the key also opens the admin endpoints)."""
    return hmac.new(key.encode("utf-8"), b"tuneforge dashboard session", hashlib.sha256).hexdigest()


@dataclass
class DashboardContext:
    roots: dict[str, Path]  # run id prefix -> directory searched for finished runs
    registry: object | None = None  # tuneforge.store.registry.Registry
    monitor_db: str | None = None
    state: object | None = None  # tuneforge.serve.app.ServeState when mounted in `tuneforge serve`
    key: str | None = None  # what X-API-Key or /?token= must equal; None: every /api/... answer is 403
    locked: str = "the dashboard has no key"  # the 403's message when key is None: how to set one
    login: str = "open /?token=KEY"  # the 401's hint: where the key comes from
    _models: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def predictor(self, run_id: str):
        path = runlib.resolve(self.roots, run_id)
        with self._lock:  # one load at a time: two concurrent loads of one model would double the memory
            if run_id in self._models:
                self._models.move_to_end(run_id)
                return self._models[run_id]
            from ..serve.backends import load_backend  # lazy: torch and transformers
            try:
                model = load_backend(path)
            except TuneforgeError:
                raise
            except Exception as e:  # a damaged run directory (truncated weights, a bad config): the run's fault
                raise TuneforgeError(f"cannot load the model of run {run_id!r}: {type(e).__name__}: {e}",
                                     where=str(path), fix="the run directory is damaged (a file truncated or "
                                                          "edited): train the run again") from None
            self._models[run_id] = model
            while len(self._models) > KEEP_LOADED:
                self._models.popitem(last=False)
            return model


class PlaygroundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = Field(None, description="texts for a text or NER run")
    images: list[str] | None = Field(None, description="base64 images (data: URLs accepted) for an image run")


def _classifies_images(task_name) -> bool:
    task = find_task(task_name)
    return task is not None and not task.takes_text


def _input_of(task_name) -> str | None:
    """What the task reads (text, tokens, images): the page picks its form and tables by this, not by task name."""
    task = find_task(task_name)
    return task.input_kind if task is not None else None


def _task_of(path: Path) -> str | None:
    import yaml
    try:
        return (yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8")) or {}).get("task")
    except (OSError, yaml.YAMLError, AttributeError):
        return None



@contextmanager
def _damaged(run_id: str, path: Path):
    """Reading a run's files: anything malformed in them is the run's problem (422 naming the directory),
    never a 500."""
    import yaml
    try:
        yield
    except (TuneforgeError, HTTPException):
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, yaml.YAMLError) as e:
        raise TuneforgeError(f"run {run_id!r} has a damaged file: {type(e).__name__}: {e}", where=str(path),
                             fix="the run directory is damaged (a file truncated or edited): train the run again") from None


def _guard(ctx: DashboardContext):
    def check(request: Request, x_api_key: str | None = Header(None, description="the dashboard's key")) -> None:
        if ctx.key is None:
            raise HTTPException(403, ctx.locked)
        if x_api_key is not None:
            if hmac.compare_digest(x_api_key.encode("utf-8", "replace"), ctx.key.encode("utf-8")):
                return
            raise HTTPException(403, "wrong API key")
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode("utf-8", "replace"),
                                                      session_value(ctx.key).encode("ascii")):
            return
        raise HTTPException(401, f"the dashboard needs its key: {ctx.login}, or send the header X-API-Key",
                            headers={"WWW-Authenticate": "X-API-Key"})
    return check


def make_router(ctx: DashboardContext, in_schema: bool = False) -> APIRouter:
    """in_schema: list the endpoints in the app's OpenAPI (the standalone dashboard: its own API, fuzzed);
    inside `tuneforge serve` they stay out of the server's documented API."""
    r = APIRouter(include_in_schema=in_schema)
    data = [Depends(_guard(ctx))]

    @r.get("/", response_class=HTMLResponse)
    def index(token: str | None = Query(None, description="the dashboard's key: sets the session cookie")):
        if token is not None:  # the login URL: trade the key for an HttpOnly cookie, then drop it from the URL
            if ctx.key is None:
                raise HTTPException(403, ctx.locked)
            if not hmac.compare_digest(token.encode("utf-8", "replace"), ctx.key.encode("utf-8")):
                raise HTTPException(403, "wrong token: use the login URL the server printed at start")
            out = RedirectResponse("/", status_code=303)
            out.set_cookie(COOKIE, session_value(ctx.key), httponly=True, samesite="strict", path="/")
            return out
        if not (STATIC / "index.html").is_file():
            raise HTTPException(503, f"the dashboard's page is not installed ({STATIC}); reinstall tuneforge "
                                     "with its package data (pip install -e . from a checkout)")
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @r.get("/api/info", dependencies=data)
    def info():
        return {"mode": "serve" if ctx.state is not None else "dashboard",
                "runs_roots": {k: str(v) for k, v in ctx.roots.items()},
                "registry": str(ctx.registry.root) if ctx.registry is not None else None,
                "monitor_db": ctx.monitor_db}

    @r.get("/api/runs", dependencies=data)
    def list_runs():
        return {"runs": [runlib.summary(i, p) for i, p in runlib.find_runs(ctx.roots).items()]}

    @r.get("/api/run", dependencies=data)
    def run_detail(id: str = Query(..., description="run id from /api/runs")):
        path = runlib.resolve(ctx.roots, id)
        with _damaged(id, path):
            return runlib.detail(id, path)

    @r.get("/api/run/plot", dependencies=data, response_class=FileResponse,
           responses={200: {"content": {"image/png": {}}, "description": "the PNG"}})
    def run_plot(id: str, name: str):
        if name not in runlib.PLOTS:  # only the PNGs training writes: never a path from the request
            raise HTTPException(404, f"no plot named {name!r}; one of {', '.join(runlib.PLOTS)}")
        f = runlib.resolve(ctx.roots, id) / name
        if not f.is_file():
            raise HTTPException(404, f"run {id!r} has no {name}")
        return FileResponse(f, media_type="image/png")

    @r.post("/api/run/predict", dependencies=data)
    async def run_predict(req: PlaygroundRequest, id: str = Query(...)):
        path = runlib.resolve(ctx.roots, id)
        image = _classifies_images(_task_of(path))
        if not (req.images if image else req.texts):
            raise HTTPException(422, f"send {'images (base64)' if image else 'texts'}: this run is a "
                                     f"{'image' if image else 'text'} model")

        def fail(status: int, message: str):
            raise HTTPException(status, message)
        # the server's own checks (serve/inputs.py), with the playground's smaller limits
        inputs = (await decode_images(req.images, MAX_IMAGES, MAX_IMAGE_MB, fail) if image
                  else check_texts(req.texts, MAX_TEXTS, MAX_CHARS, fail))
        predictor = await asyncio.to_thread(ctx.predictor, id)  # the first use loads the model
        return {"run": id, "predictions": await asyncio.to_thread(predictor.predict, inputs)}

    @r.get("/api/registry", dependencies=data)
    def registry():
        if ctx.registry is None:
            return {"available": False, "reason": "no registry given (tuneforge dashboard --registry DIR)"}
        st = ctx.state
        view = sources.registry_view(ctx.registry, st.routes if st is not None else None,
                                     set(st.loaded) if st is not None else None)
        for m in view["models"]:
            m["requests_24h"] = sources.ab_view(ctx.registry, m["name"])
        return {"available": True, **view}

    @r.get("/api/monitor", dependencies=data)
    def monitor():
        return {"trends": sources.monitor_trends(ctx.monitor_db),
                "drift": sources.drift_view(ctx.registry) if ctx.registry is not None else None}

    @r.get("/api/playground", dependencies=data)
    def playground():
        """What the playground can send to: models the server serves (its real predict endpoint) and runs."""
        targets = []
        if ctx.state is not None:
            for name in sorted(ctx.state.routes):
                versions = {mv.version: mv for mv in ctx.registry.list(name)}
                v = next(iter(sorted(ctx.state.routes[name].versions())), None)
                task = _task_of(versions[v].path) if v in versions else None
                if not _classifies_images(task):  # the predict endpoint takes texts
                    targets.append({"kind": "served", "id": name, "label": f"{name} (served)", "task": task,
                                    "input": _input_of(task), "url": f"/v1/models/{name}/predict"})
        for run_id, path in runlib.find_runs(ctx.roots).items():
            task = _task_of(path)
            targets.append({"kind": "run", "id": run_id, "label": f"{run_id} (run)", "task": task,
                            "input": _input_of(task), "url": "/api/run/predict?id=" + quote(run_id, safe="")})
        return {"targets": targets}

    return r

