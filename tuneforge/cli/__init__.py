"""`tuneforge VERB ...`: each verb is a thin shell over a library call.

The verbs are one table, `VERBS` (name, help, arguments, call), assembled from the modules that hold them;
the parser is built from it, and tests/test_cli_verbs.py checks that the parser, the table and the README's
command table agree. A TuneforgeError is printed as one short paragraph (what, where, fix) with exit status
2; no traceback. Each verb imports its library inside its function, for start-up speed: `tuneforge --help`
and a mistyped flag answer in ~0.2 s instead of waiting ~3 s for torch.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import TuneforgeError
from . import catalog, methods, operate, runs
from .options import add_options, options_from  # noqa: F401  (the options API other layers' tests use)
from .verb import Verb

__all__ = ["VERB", "VERBS", "Verb", "add_options", "build_parser", "main", "options_from"]


def _app_args(s: argparse.ArgumentParser) -> None:
    from ..apps import register_all  # each application adds its own sub-verbs (and their `fn`)
    register_all(s.add_subparsers(dest="app", required=True))


VERBS: tuple[Verb, ...] = runs.VERBS + catalog.VERBS + operate.VERBS + methods.VERBS + (
    Verb("app", "ready applications: support assistant, sentiment-risk monitor, recommender", _app_args,
         lambda a: a.fn(a)),
)
VERB = {v.name: v for v in VERBS}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tuneforge", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        verb.arguments(sub.add_parser(verb.name, help=verb.help))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return VERB[args.verb].run(args)
    except TuneforgeError as e:
        print(f"error: {e.message()}", file=sys.stderr)
        return 2
    except OSError as e:  # the safety net under the early checks: a full disk, a path under a file, ...
        from ..writing import os_error
        err = os_error(e)
        if err is None:
            raise
        print(f"error: {err.message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a later `tuneforge train` with the same output_dir resumes from the last checkpoint",
              file=sys.stderr)
        return 130
