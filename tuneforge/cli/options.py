"""What several verbs share: flags derived from an options dataclass, the registry flags, input files."""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from pathlib import Path


def add_options(parser: argparse.ArgumentParser, cls) -> None:
    """A flag per field of the options dataclass `cls`, its help from the field's metadata: `max_texts` is
    --max-texts; a boolean that defaults to True is turned off by --no-<name>."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag, help = "--" + f.name.replace("_", "-"), f.metadata.get("help")
        kind = hints[f.name]
        if kind is bool:
            if f.default is True:
                parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", help=help)
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=help)
            continue
        inner = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]  # X | None -> X
        parser.add_argument(flag, dest=f.name, type=inner[0], default=f.default,
                            help=f"{help} (default: {f.default})" if f.default is not None else help)


def options_from(a: argparse.Namespace, cls):
    """The options dataclass `cls` from parsed arguments (add_options' flags)."""
    return cls(**{f.name: getattr(a, f.name) for f in dataclasses.fields(cls)})


def registry_options() -> argparse.ArgumentParser:
    """--registry / --db-url on every registry-reading verb (after the verb, where users type them)."""
    reg_opts = argparse.ArgumentParser(add_help=False)
    reg_opts.add_argument("--registry", help="registry directory (default: $TUNEFORGE_REGISTRY or <cache>/registry)")
    reg_opts.add_argument("--db-url", help="postgresql://... for shared metadata (default: $TUNEFORGE_REGISTRY_DB "
                                           "or registry.db, SQLite, in the registry directory)")
    return reg_opts


def read_inputs(path: Path, text_column: str) -> list[str]:
    from ..data.inputs import read_inputs as read  # strict like training's readers: file:line, exit 2
    return read(path, text_column)


def points(value: str) -> float:
    """--max-drop: a finite number of points >= 0 (NaN would switch the accuracy guard off)."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of points, e.g. 1") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a finite number of points >= 0, e.g. 1")
    return v
