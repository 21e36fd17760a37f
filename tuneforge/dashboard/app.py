"""Where the dashboard runs: inside `tuneforge serve` (`attach`) or on its own (`tuneforge dashboard`)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import TuneforgeError
from .api import STATIC, DashboardContext, make_router

RUNS_ENV, MONITOR_ENV = "TUNEFORGE_DASHBOARD_RUNS", "TUNEFORGE_MONITOR_DB"


def _mount(app: FastAPI, ctx: DashboardContext, in_schema: bool = False) -> None:
    app.include_router(make_router(ctx, in_schema))
    # Under a prefix of its own: a mount at "/" would swallow every route added after it.
    # check_dir=False: an install that left the page's files out must not stop `tuneforge serve` from starting
    app.mount("/dashboard-static", StaticFiles(directory=STATIC, check_dir=False), name="dashboard-static")


def attach(app: FastAPI, state, api_key_env: str = "TUNEFORGE_API_KEY") -> DashboardContext:
    """The dashboard inside `tuneforge serve`: the registry's versions are its runs (each is a copy of a
    run or export directory), plus the runs under $TUNEFORGE_DASHBOARD_RUNS; monitor trends come from
    $TUNEFORGE_MONITOR_DB. Its data needs the server's API key ($api_key_env): without one it is locked.
    The server's own TuneforgeError handler answers 404/422."""
    roots = {"registry": state.registry.root}
    if os.environ.get(RUNS_ENV):
        roots["runs"] = Path(os.environ[RUNS_ENV]).expanduser()
    ctx = DashboardContext(roots, state.registry, os.environ.get(MONITOR_ENV) or None, state,
                           key=os.environ.get(api_key_env) or None,
                           locked=f"the dashboard is locked: start `tuneforge serve` with the environment variable "
                                  f"{api_key_env} set to an API key, then open /?token=<that key> (or start it "
                                  f"with --no-dashboard)",
                           login=f"open /?token=<the value of ${api_key_env}>")
    _mount(app, ctx)
    return ctx


def create_dashboard_app(runs: str | Path, registry: str | Path | None = None,
                         monitor_db: str | Path | None = None, db_url: str | None = None,
                         key: str | None = None) -> FastAPI:
    """`tuneforge dashboard`: runs alone, with a registry and a monitor database if given. Checks the
    paths now, so a typo fails before the port is bound. `key`: what /?token= or X-API-Key must equal;
    None: a random token, like Jupyter's (app.state.dashboard_key; serve_dashboard prints the login URL)."""
    runs = Path(runs).expanduser()
    if not runs.is_dir():
        raise TuneforgeError(f"runs directory not found: {runs}", where="--runs",
                             fix="point --runs at a run directory or a directory that holds runs")
    reg = None
    if registry is not None or db_url is not None:
        from ..store.registry import Registry, registry_root
        if registry is not None and not registry_root(registry).is_dir():  # Registry() would create it, empty
            raise TuneforgeError(f"registry directory not found: {registry}", where="--registry",
                                 fix="pass the directory given to `tuneforge registry add --registry`")
        reg = Registry(registry, db_url)
    if monitor_db is not None and not Path(monitor_db).is_file():
        raise TuneforgeError(f"monitor database not found: {monitor_db}", where="--monitor-db",
                             fix="pass the database file `tuneforge app monitor` writes, or leave --monitor-db out")
    key = key or secrets.token_urlsafe(24)
    ctx = DashboardContext({"runs": runs}, reg, str(monitor_db) if monitor_db else None, key=key,
                           login="open the login URL `tuneforge dashboard` printed at start (/?token=...)")
    from ..serve.http import ErrorMessage, validation_error
    app = FastAPI(title="tuneforge dashboard", version=__version__,
                  # every refusal is JSON, also from the page's route (whose success is HTML)
                  responses={"4XX": {"model": ErrorMessage, "content": {"application/json": {}},
                                     "description": "the request cannot be answered: why"}})
    app.state.dashboard_key = key

    @app.exception_handler(TuneforgeError)
    async def user_error(request: Request, exc: TuneforgeError):
        from ..store.registry import NotFound
        return JSONResponse({"detail": exc.message()}, status_code=404 if isinstance(exc, NotFound) else 422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return validation_error(exc)  # as the server's: the input never echoed (a lone surrogate cannot be)

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"status": "ok"}

    _mount(app, ctx, in_schema=True)
    from ..serve.http import BodyLimit
    from .api import MAX_CHARS, MAX_IMAGE_MB, MAX_IMAGES, MAX_TEXTS
    # an oversized body is refused before it is read, as in `tuneforge serve` (the playground's own limits)
    app.add_middleware(BodyLimit, max_body=max(MAX_TEXTS * (MAX_CHARS * 6 + 8), int(MAX_IMAGES * MAX_IMAGE_MB * 2**20 * 4 / 3)) + 4096,
                       why="the playground's limits on texts and images")
    return app


def serve_dashboard(runs, registry=None, monitor_db=None, db_url=None, host: str = "127.0.0.1", port: int = 8050,
                    log_level: str = "info", api_key_env: str = "TUNEFORGE_API_KEY") -> None:
    import uvicorn
    env_key = os.environ.get(api_key_env) or None
    app = create_dashboard_app(runs, registry, monitor_db, db_url, key=env_key)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/?token="
    if env_key:  # the user's own key: never printed
        print(f"dashboard: open {url}<the value of ${api_key_env}>", file=sys.stderr, flush=True)
    else:
        print(f"dashboard: open {url}{app.state.dashboard_key}\n  (a token made for this run: anyone with it can "
              f"read the runs; set ${api_key_env} for a fixed key)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
