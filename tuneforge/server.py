"""`tuneforge serve`: the prediction server (tuneforge/serve) with its monitor and, unless turned off, the web
dashboard on the same port. Composed here, above serve and dashboard, so neither imports the other."""

from __future__ import annotations

from .dashboard.app import attach as attach_dashboard
from .serve.app import ServeOptions, create_app as create_prediction_app


def create_app(opts: ServeOptions | None = None):
    opts = opts or ServeOptions()
    extensions: list = []
    if opts.dashboard:
        # the web dashboard at /, behind the API key
        extensions.append(lambda app, state, opts: attach_dashboard(app, state, opts.api_key_env))
    return create_prediction_app(opts, extensions)


def serve(opts: ServeOptions, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    import uvicorn
    # On SIGTERM/SIGINT uvicorn stops accepting, waits for the requests in flight to be answered, then
    # runs the lifespan shutdown (shadow copies, batchers, request log).
    uvicorn.run(create_app(opts), host=host, port=port, log_level=log_level)
