"""`tuneforge serve`'s settings, in a module that imports nothing heavy: the CLI builds its flags from it."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class ServeOptions:
    """`tuneforge serve`'s settings; each field is also its command-line flag (--max-texts for max_texts, --no-dashboard
    for dashboard), derived from this class by tuneforge.cli.add_options, so none can be left out."""
    registry: str | None = _opt(None, "registry directory (default: $TUNEFORGE_REGISTRY or <cache>/registry)")
    db_url: str | None = _opt(None, "postgresql://... for shared metadata (default: $TUNEFORGE_REGISTRY_DB or registry.db, "
                                    "SQLite, in the registry directory)")
    api_key_env: str = _opt("TUNEFORGE_API_KEY", "environment variable holding the admin API key (unset: admin "
                                                 "endpoints disabled)")
    max_batch: int = _opt(32, "most texts per micro-batch")
    max_wait_ms: float = _opt(5.0, "longest a request waits for company in a batch")
    sub_batch: int = _opt(16, "texts per model call after sorting a batch by length")
    # An answer takes hundreds of milliseconds to decode: waiting tens for company costs little, and a decoding
    # batch that starts with 2 of 8 callers leaves the rest waiting for all of it (measured: 1.56x at 8 callers
    # with 5 ms). As for texts, a lone caller after a lone caller never waits.
    chat_max_wait_ms: float = _opt(50.0, "longest a chat request waits for company in a decoding batch")
    max_texts: int = _opt(64, "most texts per request (more: 413)")
    max_chars: int = _opt(2000, "most characters per text (more: 413)")
    max_images: int = _opt(8, "image-classification models: most images per request (more: 413)")
    max_image_mb: float = _opt(2.0, "most MB per image, decoded from base64 (the body limit grows with max_images x this)")
    poll_s: float = _opt(2.0, "look for registry changes made elsewhere (CLI, other replicas) this often; 0: never")
    alerts: str | None = _opt(None, "alert rules YAML: drift/confidence conditions that POST to a webhook "
                                    "(see tuneforge/monitor/alerts.py)")
    monitor_s: float = _opt(60.0, "measure drift (gauges on /metrics) and evaluate alert rules this often; 0: only on demand")
    dashboard: bool = _opt(True, "mount the web dashboard at / (it needs the API key: open /?token=KEY); "
                                 "--no-dashboard: not mounted at all")
