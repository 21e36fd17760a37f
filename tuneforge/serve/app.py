"""The HTTP server: FastAPI routes over the registry, one micro-batcher per loaded version, A/B routing,
shadow copies, Prometheus metrics and the request log.

The server keeps no state of its own beyond the registry (files + database) and the request log: any
number of replicas can share them, and each notices a change made elsewhere by polling one counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import __version__
from ..errors import TuneforgeError
from ..monitor.service import attach
from ..store.registry import Conflict, NotFound, Registry
from ..store.requestlog import LogRow, RequestLog, input_hmac, log_secret, summarize
from ..tasks.base import find_task
from .ab import Route, route_for
from .backends import load_backend
from .batcher import Batcher
from .chat import add_chat_routes, chat_decoder
from .http import BodyLimit, ErrorMessage, admin_guard, validation_error
from .inputs import check_texts, decode_images, is_utf8
from .metrics import Metrics
from .options import ServeOptions  # noqa: F401  (create_app's argument)
from .schemas import PredictRequest, PredictResponse, PromoteRequest, TrafficRequest

log = logging.getLogger("tuneforge.serve")


@dataclass
class Loaded:
    name: str
    version: int
    backend: object
    batcher: Batcher
    images: bool = False  # the model classifies images, not texts: asked of its task once, at load
    task: object = None  # its tuneforge.tasks Task (None: unknown), which summarises predictions for the log
    chat: Batcher | None = None  # a text-generation model: its conversations' decoding batcher (chat.py)

    async def stop(self) -> None:
        """Answer what is queued, then stop the batchers' threads."""
        await self.batcher.stop()
        if self.chat is not None:
            await self.chat.stop()


class ServeState:
    def __init__(self, opts: ServeOptions):
        self.opts = opts
        self.registry = Registry(opts.registry, opts.db_url)
        # the request log's hashing key (requestlog.py): read or created now, so a problem fails the start
        self.log_secret = log_secret(self.registry.root)
        self.metrics = Metrics()
        self.requestlog: RequestLog | None = None
        self.routes: dict[str, Route] = {}
        self.broken: dict[str, str] = {}  # name -> why its versions could not be loaded
        self.loaded: dict[tuple[str, int], Loaded] = {}
        self.ready = False
        self.generation = -1
        self._lock: asyncio.Lock | None = None
        self._background: set[asyncio.Task] = set()
        self._poller: asyncio.Task | None = None
        self.monitor = None  # tuneforge.monitor.service.ServerMonitor, set by create_app

    # ------------------------------------------------------------------ model loading
    async def _load(self, name: str, version: int) -> Loaded:
        if (name, version) in self.loaded:
            return self.loaded[(name, version)]
        mv = await asyncio.to_thread(self.registry.get, name, version)
        backend = await asyncio.to_thread(load_backend, mv.path)
        m, v = self.metrics, str(version)
        batcher = Batcher(backend.predict, max_batch=self.opts.max_batch, max_wait_ms=self.opts.max_wait_ms,
                          sub_batch=self.opts.sub_batch, name=f"{name}-v{version}",
                          observe_batch=m.batch_size.labels(name, v).observe,
                          set_depth=m.queue_depth.labels(name, v).set)
        batcher.start()
        task = find_task(getattr(getattr(backend, "cfg", None), "task", None))
        chat = None
        if hasattr(task, "chat") and hasattr(backend, "model"):  # a text-generation run: /v1/chat/completions
            chat = Batcher(chat_decoder(backend, task), max_batch=self.opts.max_batch, sub_batch=self.opts.max_batch,
                           max_wait_ms=self.opts.chat_max_wait_ms, name=f"{name}-v{version}-chat",
                           observe_batch=m.batch_size.labels(name, v).observe)
            chat.start()
        self.loaded[(name, version)] = lm = Loaded(name, version, backend, batcher, chat=chat,
                                                   images=task is not None and not task.takes_text, task=task)
        m.loaded.labels(name, v).set(1)
        log.info("loaded %s v%d from %s", name, version, mv.path)
        return lm

    async def ensure_loaded(self, name: str, versions) -> None:
        """Load versions before a change that needs them is committed: a version that cannot be
        loaded is refused while the registry still says what it said."""
        async with self._lock:
            for v in versions:
                try:
                    await self._load(name, int(v))
                except TuneforgeError:
                    raise
                except Exception as e:
                    raise Conflict(f"{name} v{v} cannot be loaded: {e}", where=f"registry {self.registry.root}",
                                   fix="check that the version's directory is a complete run or export") from e

    async def reload(self) -> None:
        """Make the routes match the registry: load what is now needed, then unload what no longer is."""
        async with self._lock:
            gen = await asyncio.to_thread(self.registry.generation)
            names = await asyncio.to_thread(self.registry.names)
            routes = {n: r for n in names if (r := await asyncio.to_thread(route_for, self.registry, n))}
            broken = {}
            for name, route in routes.items():
                for v in sorted(route.versions()):
                    try:
                        await self._load(name, v)
                    except Exception as e:  # one broken version must not take the other models down
                        log.exception("cannot load %s v%d", name, v)
                        broken[name] = f"{name} v{v} could not be loaded: {e}"
            for name in broken:  # keep serving the last good route of a name whose new version is broken
                if name in self.routes:
                    routes[name] = self.routes[name]
                else:
                    del routes[name]
            # Routes switch in one assignment; a request that already chose a version has already
            # queued in its batcher (no await between choosing and queueing), and stop() answers it.
            self.routes = routes
            self.broken = broken
            needed = {(n, v) for n, r in self.routes.items() for v in r.versions()}
            for key in [k for k in self.loaded if k not in needed]:
                lm = self.loaded.pop(key)
                await lm.stop()
                self.metrics.loaded.labels(key[0], str(key[1])).set(0)
                log.info("unloaded %s v%d", *key)
            self.generation = gen
            self.ready = True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.opts.poll_s)
            try:
                if await asyncio.to_thread(self.registry.generation) != self.generation:
                    await self.reload()
            except Exception:  # a database hiccup: try again next time, keep serving what is loaded
                log.exception("registry poll failed")

    async def startup(self) -> None:
        self._lock = asyncio.Lock()
        self.requestlog = await asyncio.to_thread(RequestLog, self.registry.db)
        # Models load in the background: /healthz answers at once, /readyz once they are in.
        self._spawn(self._initial_load())

    async def _initial_load(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("initial registry load failed")
        if self.opts.poll_s > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        if self.monitor:
            self.monitor.start()

    async def shutdown(self) -> None:
        # uvicorn has already drained the HTTP requests in flight; finish shadow copies, then the batchers.
        if self.monitor:
            await self.monitor.stop()
        if self._poller:
            self._poller.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for lm in list(self.loaded.values()):
            await lm.stop()
        self.loaded.clear()
        if self.requestlog:
            await asyncio.to_thread(self.requestlog.close)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)  # a strong reference, or the task may be garbage-collected mid-flight
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ predicting
    def _log(self, name: str, version: int, shadow: bool, texts, preds, ids, latency_ms: float) -> None:
        now = time.time()
        rows, lm = [], self.loaded.get((name, version))
        for text, pred, rid in zip(texts, preds, ids):
            label, conf = summarize(pred, lm.task if lm else None)
            rows.append(LogRow(now, rid, name, version, int(shadow), latency_ms, label, conf,
                               input_hmac(self.log_secret, text), len(text)))
        self.requestlog.record(rows)
        self.metrics.log_dropped.set(self.requestlog.dropped)

    async def shadow(self, name: str, version: int, texts: list[str], ids: list[str]) -> None:
        lm, v, m = self.loaded.get((name, version)), str(version), self.metrics
        if lm is None:
            return
        t0 = time.perf_counter()
        try:
            preds = await lm.batcher.submit(texts)
        except Exception:
            log.exception("shadow %s v%d failed", name, version)
            m.requests.labels(name, v, "shadow", "error").inc()
            return
        dt = time.perf_counter() - t0
        m.requests.labels(name, v, "shadow", "200").inc()
        m.texts.labels(name, v, "shadow").inc(len(texts))
        m.latency.labels(name, v, "shadow").observe(dt)
        self._log(name, version, True, texts, preds, ids, dt * 1000)

    def failing(self, name: str):
        """fail(status, message): count the refused request in the metrics (under `_unknown` for a name that is not
        served) and answer it with that status."""
        def fail(status: int, msg: str):
            self.metrics.requests.labels(name if name in self.routes else "_unknown", "", "primary", str(status)).inc()
            raise HTTPException(status, msg)
        return fail

    def serving_route(self, name: str, fail) -> Route:
        """The serving route of `name`, or the caller's 404/503 saying why there is none."""
        route = self.routes.get(name)
        if route is None:
            if name in self.broken:  # its only version(s) could not be loaded: a server-side problem
                fail(503, self.broken[name])
            if not self.ready:
                fail(503, "models are still loading; retry shortly (see /readyz)")
            fail(404, f"no model named {name!r} is being served (it needs a production version or a traffic "
                      f"split); GET /v1/models lists what is")
        return route

    async def predict(self, name: str, req: PredictRequest) -> dict:
        t0 = time.perf_counter()
        m = self.metrics
        fail = self.failing(name)
        route = self.serving_route(name, fail)
        if (req.texts is None) == (req.images is None):
            fail(422, "send either texts (a text model) or images (base64, an image model), one of the two")
        if req.images is not None:
            inputs = await decode_images(req.images, self.opts.max_images, self.opts.max_image_mb, fail)
        else:
            inputs = check_texts(req.texts, self.opts.max_texts, self.opts.max_chars, fail)
        if req.caller_id is not None and not is_utf8(req.caller_id):
            fail(422, "caller_id is not valid Unicode (an unpaired surrogate escape)")
        version = route.choose(req.caller_id)
        lm = self.loaded.get((name, version))
        if lm is None:
            fail(503, f"{name} v{version} is not loaded yet; retry shortly")
        image_model = lm.images
        if image_model != (req.images is not None):
            fail(422, f"{name} v{version} classifies {'images' if image_model else 'texts'}: send "
                      f"{'images (base64)' if image_model else 'texts'}")
        preds = await lm.batcher.submit(inputs)
        dt = time.perf_counter() - t0
        v = str(version)
        m.requests.labels(name, v, "primary", "200").inc()
        m.texts.labels(name, v, "primary").inc(len(inputs))
        m.latency.labels(name, v, "primary").observe(dt)
        ids = [uuid.uuid4().hex for _ in inputs]
        self._log(name, version, False, inputs, preds, ids, dt * 1000)
        if route.shadow is not None and route.shadow != version:
            self._spawn(self.shadow(name, route.shadow, inputs, ids))  # never awaited by the caller
        return {"model": name, "version": version, "predictions": preds}


def create_app(opts: ServeOptions | None = None, extensions=()) -> FastAPI:
    """The prediction server. `extensions`: `fn(app, state, opts)` called once the routes exist; the
    dashboard joins this way (tuneforge/server.py), so serving never imports the layers above it."""
    opts = opts or ServeOptions()
    state = ServeState(opts)  # opens the registry now: a bad --registry fails before the port is bound
    # The largest honest body: every text at the char limit, each char JSON-escaped (6 bytes), plus slack.
    max_body = max(opts.max_texts * (opts.max_chars * 6 + 8),
                   int(opts.max_images * opts.max_image_mb * 2**20 * 4 / 3)) + 4096  # or every image at its limit

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.startup()
        yield
        await state.shutdown()

    # Every 4xx body is {"detail": "<message>"}: documented once for all routes, replacing FastAPI's default
    # 422 schema (detail: a list), which this server's own validation handler does not send.
    app = FastAPI(title="tuneforge", version=__version__, lifespan=lifespan,
                  responses={"4XX": {"model": ErrorMessage, "description": "the request cannot be answered: why"}},
                  description="Predictions from registered tuneforge models, with A/B splits and shadow traffic.")
    app.state.serve = state
    admin = Depends(admin_guard(opts.api_key_env))
    state.monitor = attach(app, state, admin, opts.alerts, opts.monitor_s)  # drift gauges, alert rules, routes
    add_chat_routes(app, state)  # POST /v1/chat/completions (OpenAI-compatible) for text-generation models
    for extend in extensions:  # e.g. the web dashboard at / (composed in tuneforge/server.py, above both)
        extend(app, state, opts)

    app.add_middleware(BodyLimit, max_body=max_body)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        name = request.path_params.get("name")
        if name is not None and request.url.path.endswith("/predict"):
            state.metrics.requests.labels(name if name in state.routes else "_unknown", "", "primary", "422").inc()
        return validation_error(exc)

    @app.exception_handler(TuneforgeError)
    async def user_error(request: Request, exc: TuneforgeError):
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
        return JSONResponse({"detail": exc.message()}, status_code=status)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        # Ready: the first load is done, at least one model is served, and no model has nothing to serve (a
        # model still on its last good version counts as serving). An empty registry is not ready: a replica
        # that would answer every predict with 404 must not get traffic.
        stuck = sorted(state.broken.keys() - state.routes.keys())
        if not state.ready:
            detail = "models are still loading"
        elif stuck:
            detail = f"cannot serve {', '.join(stuck)}: its versions could not be loaded (see broken)"
        elif not state.routes:
            detail = (f"no model is being served: the registry {state.registry.root} has no production version or "
                      f"traffic split; add one with `tuneforge registry add NAME RUN_DIR --stage production`")
        else:
            detail = "ready"
        body = {"ready": detail == "ready", "detail": detail, "loading": not state.ready,
                "loaded": [f"{n}:v{v}" for n, v in sorted(state.loaded)], "broken": state.broken}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics", response_class=PlainTextResponse)  # documented as text/plain, which it is
    async def metrics():
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def list_models():
        versions = await asyncio.to_thread(state.registry.list)
        out = []
        for name in sorted({mv.name for mv in versions}):
            route = state.routes.get(name)
            out.append({"name": name, "serving": route is not None,
                        "weights": {str(v): w for v, w in route.weights} if route else {},
                        "shadow": route.shadow if route else None,
                        "versions": [{"version": mv.version, "stage": mv.stage, "created": mv.created,
                                      "loaded": (name, mv.version) in state.loaded, "metrics": mv.metrics.get("test", {})}
                                     for mv in versions if mv.name == name]})
        return {"models": out}

    @app.post("/v1/models/{name}/predict", responses={200: {"model": PredictResponse}})
    async def predict(name: str, req: PredictRequest):
        # A plain JSONResponse: the predictions are already JSON-ready, re-validating them costs time.
        return JSONResponse(await state.predict(name, req))

    @app.post("/v1/admin/models/{name}/promote", dependencies=[admin])
    async def promote(name: str, req: PromoteRequest):
        if req.stage == "production":
            await state.ensure_loaded(name, [req.version])
        mv = await asyncio.to_thread(state.registry.promote, name, req.version, req.stage)
        await state.reload()
        return {"model": name, "version": mv.version, "stage": mv.stage}

    @app.post("/v1/admin/models/{name}/rollback", dependencies=[admin])
    async def rollback(name: str):
        target = await asyncio.to_thread(state.registry.rollback_target, name)
        if target is not None:
            await state.ensure_loaded(name, [target])
        mv = await asyncio.to_thread(state.registry.rollback, name)
        await state.reload()
        return {"model": name, "version": mv.version, "stage": mv.stage}

    @app.put("/v1/admin/models/{name}/traffic", dependencies=[admin])
    async def set_traffic(name: str, req: TrafficRequest):
        weights, shadow = await asyncio.to_thread(state.registry.check_traffic, name, req.weights, req.shadow)
        # Load first: a split naming a version that cannot be loaded is refused, the old one stays.
        await state.ensure_loaded(name, [v for v, w in weights.items() if w > 0] + ([shadow] if shadow is not None else []))
        await asyncio.to_thread(state.registry.set_traffic, name, weights, shadow)
        await state.reload()
        t = state.routes.get(name)
        return {"model": name, "weights": {str(v): w for v, w in t.weights} if t else {},
                "shadow": t.shadow if t else None}

    @app.delete("/v1/admin/models/{name}/traffic", dependencies=[admin])
    async def clear_traffic(name: str):
        await asyncio.to_thread(state.registry.clear_traffic, name)
        await state.reload()
        return {"model": name, "weights": {}, "shadow": None}

    return app
