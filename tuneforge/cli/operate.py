"""Running models for users: the server, the registry, A/B reports, drift, the dashboard."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import TuneforgeError
from .options import add_options, options_from, registry_options
from .verb import Verb


def cmd_serve(a) -> int:
    from ..server import ServeOptions, serve
    serve(options_from(a, ServeOptions), host=a.host, port=a.port, log_level=a.log_level)
    return 0


def cmd_registry(a) -> int:
    from ..store.registry import Registry, format_versions
    reg = Registry(a.registry, a.db_url, create=a.action == "add")  # only add makes a registry
    if a.action == "add":
        mv = reg.add(a.name, a.source, stage=a.stage)
        print(f"added {mv.name} v{mv.version} ({mv.stage}) at {mv.path}")
    elif a.action == "list":
        versions = reg.list(a.name)
        if a.json:
            print(json.dumps([{**v.__dict__, "path": str(v.path)} for v in versions], indent=2))
        else:
            print(format_versions(versions))
    elif a.action == "promote":
        mv = reg.promote(a.name, a.version, a.stage)
        print(f"{mv.name} v{mv.version} is now {mv.stage}")
    elif a.action == "rollback":
        mv = reg.rollback(a.name)
        print(f"rolled back: {mv.name} v{mv.version} is production again")
    return 0


def cmd_ab(a) -> int:
    import time
    from ..serve.ab import format_report, report
    from ..store.registry import Registry
    reg = Registry(a.registry, a.db_url, create=False)
    rep = report(reg.db, a.name, since=time.time() - a.since_hours * 3600 if a.since_hours else None)
    print(json.dumps(rep, indent=2) if a.json else format_report(rep))
    return 0


def cmd_monitor(a) -> int:
    if a.action == "reference":
        from ..monitor.drift import reference_for_run
        path, ref = reference_for_run(a.run, overwrite=a.overwrite)
        print(f"wrote {path}: {ref['n']} {ref['split']} texts, labels {ref['labels']}, "
              f"mean confidence {ref['mean_confidence']}")
        return 0
    import time
    from ..monitor.alerts import parse_duration
    from ..monitor.drift import Thresholds
    from ..monitor.report import format_report, monitor_report, parse_since, write_report
    from ..store.registry import Registry
    if not 0 <= a.psi_warn <= a.psi_alert:
        raise TuneforgeError(f"--psi-warn {a.psi_warn} must be between 0 and --psi-alert {a.psi_alert}",
                             where="--psi-warn", fix="the conventional levels are 0.1 and 0.25")
    now = time.time()
    rep = monitor_report(Registry(a.registry, a.db_url, create=False), a.model, parse_since(a.since, now),
                         parse_duration(a.window, "--window"), Thresholds(a.psi_warn, a.psi_alert), now)
    print(json.dumps(rep, indent=2, ensure_ascii=False) if a.json else format_report(rep))
    if a.output:
        files = write_report(rep, a.output)
        print(f"wrote {', '.join(f.name for f in files)} to {a.output}", file=sys.stderr)
    return 0


def cmd_dashboard(a) -> int:
    from ..dashboard.app import serve_dashboard
    serve_dashboard(a.runs, registry=a.registry, monitor_db=a.monitor_db, db_url=a.db_url, host=a.host, port=a.port,
                    log_level=a.log_level, api_key_env=a.api_key_env)
    return 0


def _serve_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--log-level", default="info")
    from ..serve.options import ServeOptions  # light: no FastAPI or torch import to build the parser
    add_options(s, ServeOptions)  # one flag per field: a new option cannot be left off the command line


def _registry_args(s: argparse.ArgumentParser) -> None:
    reg_opts = registry_options()
    rsub = s.add_subparsers(dest="action", required=True)
    r = rsub.add_parser("add", parents=[reg_opts], help="copy a run or export directory in as the next version")
    r.add_argument("name")
    r.add_argument("source")
    r.add_argument("--stage", default="none", help="none | staging | production | archived")
    r = rsub.add_parser("list", parents=[reg_opts], help="versions, stages, metrics")
    r.add_argument("name", nargs="?")
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("promote", parents=[reg_opts], help="set a version's stage (one production per name)")
    r.add_argument("name")
    r.add_argument("version", type=int)
    r.add_argument("--stage", required=True, help="none | staging | production | archived")
    r = rsub.add_parser("rollback", parents=[reg_opts], help="put back the previous production version")
    r.add_argument("name")


def _ab_args(s: argparse.ArgumentParser) -> None:
    reg_opts = registry_options()
    asub = s.add_subparsers(dest="action", required=True)
    r = asub.add_parser("report", parents=[reg_opts], help="agreement, confidence and latency per version")
    r.add_argument("name")
    r.add_argument("--since-hours", type=float, help="only requests from the last N hours")
    r.add_argument("--json", action="store_true")


def _monitor_args(s: argparse.ArgumentParser) -> None:
    reg_opts = registry_options()
    msub = s.add_subparsers(dest="action", required=True)
    r = msub.add_parser("report", parents=[reg_opts], help="PSI (labels, input length) and confidence per version "
                                                            "and window; text + JSON, PNGs with --output")
    r.add_argument("--model", required=True, help="registered model name")
    r.add_argument("--since", help='"24h", "7d", a date (2026-11-20) or date-time (default: the whole log)')
    r.add_argument("--window", default="1h", help='width of each row of the table, e.g. "15m", "1h", "1d"')
    r.add_argument("--psi-warn", type=float, default=0.1)
    r.add_argument("--psi-alert", type=float, default=0.25)
    r.add_argument("--output", help="directory for report.json, report.txt, label_share.png, confidence.png, lengths.png")
    r.add_argument("--json", action="store_true", help="print JSON instead of the table")
    r = msub.add_parser("reference", help="write RUN/reference.json for a run trained before references existed")
    r.add_argument("run")
    r.add_argument("--overwrite", action="store_true")


def _dashboard_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--runs", required=True, help="a run directory or a directory holding runs (searched 4 levels deep)")
    s.add_argument("--registry", help="registry directory: versions, stages, A/B split, drift of logged requests")
    s.add_argument("--db-url", help="postgresql://... when the registry's metadata is in PostgreSQL")
    s.add_argument("--monitor-db", help="the sentiment monitor's database (tuneforge app monitor): trends and alerts")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--api-key-env", default="TUNEFORGE_API_KEY",
                   help="environment variable holding the dashboard's key (unset: a random token, printed at start "
                        "as a login URL)")
    s.add_argument("--log-level", default="info")


VERBS = (
    Verb('serve', 'HTTP server for registered models (FastAPI + uvicorn)',
         _serve_args, cmd_serve),
    Verb('registry', 'versioned models: add, list, promote, rollback',
         _registry_args, cmd_registry),
    Verb('ab', 'A/B and shadow comparison from the request log',
         _ab_args, cmd_ab),
    Verb('monitor', 'drift of served traffic against the training reference',
         _monitor_args, cmd_monitor),
    Verb('dashboard', 'web dashboard for runs (and a registry, a monitor database) without serving models; `tuneforge serve` shows the same pages at /',
         _dashboard_args, cmd_dashboard),
)
