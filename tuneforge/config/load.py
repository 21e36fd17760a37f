"""Reading a config: YAML file + dotted `key=value` overrides, coerced to the schema's types, then validated
(checks.py); an error names the key and where it was set (the command line, or file:line)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from ..errors import TuneforgeError
from ..paths import data_cache
from .checks import validate
from .schema import Config


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Turn a YAML/CLI value into the field's declared type, or raise a TuneforgeError naming the key."""
    origin = get_origin(typ)
    args = get_args(typ)
    if value is None:
        if type(None) in args:
            return None
        raise TuneforgeError(f"`{key}` may not be empty", where="config", fix=f"give `{key}` a value")
    if args and type(None) in args:  # Optional[X]
        if isinstance(value, str) and value.strip().lower() in ("none", "null"):
            return None  # `train.dropout=None` on the command line means "unset", not the string 'None'
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            raise TuneforgeError(f"`{key}` must be a list, got {value!r}", where="config",
                                 fix=f"write `{key}: [a, b]`")
        return [_coerce(v, args[0], key) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).lower() in ("false", "no", "0", "off"):
            return False
    elif typ is int:
        try:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        except (TypeError, ValueError, OverflowError):  # OverflowError: .inf
            pass
    elif typ is float:
        try:
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise ValueError  # .nan would slip through every `<= 0` check in validate()
            return float(value)
        except (TypeError, ValueError):
            pass
    elif typ is str:
        if isinstance(value, bool):  # YAML reads `bf16: false` as a bool; the field takes 'false'
            return str(value).lower()
        if isinstance(value, (str, int, float)):
            return str(value)
    else:
        return value
    raise TuneforgeError(f"`{key}` must be {getattr(typ, '__name__', typ)}, got {value!r}",
                         where="config", fix=f"set `{key}` to a {getattr(typ, '__name__', typ)}")


def _fill(cls: type, raw: dict, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise TuneforgeError(f"`{prefix.rstrip('.') or 'config'}` must be a mapping, got {raw!r}",
                             where="config", fix="check the YAML indentation")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        import difflib
        key = unknown[0]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean `{prefix}{close[0]}`?" if close else f"known keys: {', '.join(sorted(known))}"
        raise TuneforgeError(f"unknown config key `{prefix}{key}`", where="config", fix=hint)
    kwargs = {}
    for name, value in raw.items():
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _fill(typ, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, typ, f"{prefix}{name}")
    return cls(**kwargs)


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for p in parts[:-1]:
        if node.get(p) is None:  # absent, or an empty section (`train:` with nothing under it)
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            raise TuneforgeError(f"cannot set `{dotted}`: `{p}` is not a section", where="command line",
                                 fix="run `tuneforge config` to list the keys")
    node[parts[-1]] = value


def _parse_override(value: str) -> Any:
    """YAML scalar/list syntax (`2`, `false`, `[0.7, 0.2, 0.1]`, `null`); anything YAML cannot read
    (`*.csv`, `[a`) is taken as the plain string the user typed."""
    if value == "":
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _key_line(text: str, dotted: str | None) -> int | None:
    """Line (1-based) of a dotted key in the YAML text, or None if it is not written there."""
    if not dotted:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == part:
                line, node = k.start_mark.line + 1, v
                break
        else:
            return None
    return line


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read YAML (optional), apply `dotted.key=value` overrides, validate, resolve relative paths."""
    raw: dict = {}
    text = ""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TuneforgeError(f"config file not found: {path}", fix="check the path")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise TuneforgeError(f"cannot decode byte {data[e.start]:#04x} as utf-8", where=f"{path}:{line}",
                                 fix="save the config file as UTF-8") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise TuneforgeError(f"invalid YAML ({getattr(e, 'problem', e)})", where=where,
                                 fix="fix the YAML syntax at that line") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise TuneforgeError(f"the config must be a mapping of keys to values, got {type(raw).__name__}",
                                 where=str(path), fix="write `key: value` lines, e.g. `task: text-classification`")
    override_keys = set()
    for item in overrides:
        if "=" not in item:
            raise TuneforgeError(f"override `{item}` is not of the form key=value", where="command line",
                                 fix="write e.g. train.epochs=2")
        key, value = item.split("=", 1)
        override_keys.add(key.strip())
        _set_dotted(raw, key.strip(), _parse_override(value))
    try:
        cfg = _fill(Config, raw, "")
        if path is not None:
            cfg.config_path = str(path)
            base = path.parent
            for name in ("train", "validation", "test"):
                v = getattr(cfg.data, name)
                if not v or v.startswith("dataset:"):
                    continue
                v = os.path.expanduser(v)
                # paths written in the config file are relative to the config file (one that exists only
                # relative to the working directory is still accepted); paths typed on the command line
                # are relative to the working directory. Made absolute, so the config saved into the run
                # directory means the same files from anywhere.
                if (f"data.{name}" not in override_keys and not Path(v).is_absolute()
                        and ((base / v).exists() or not Path(v).exists())):
                    v = str(base / v)
                setattr(cfg.data, name, os.path.abspath(v))
        _expand_dataset_refs(cfg)
        validate(cfg)
    except TuneforgeError as e:
        # _fill and validate name the key; point at where it was set: the command line or file:line
        if e.where not in ("config", str(path)):
            raise
        m = re.match(r"(?:unknown config key )?`([^`]+)`", e.what)
        key = m.group(1) if m else None
        if key in override_keys:
            where = "command line"
        elif path is not None:
            line = _key_line(text, key)
            where = f"{path}:{line}" if line else str(path)
        else:
            raise
        raise TuneforgeError(e.what, where=where, fix=e.fix) from None
    return cfg


def _expand_dataset_refs(cfg: Config) -> None:
    """`dataset:NAME/FILE` points into the prepared data cache (see `tuneforge datasets`)."""
    for name in ("train", "validation", "test"):
        v = getattr(cfg.data, name)
        if v and v.startswith("dataset:"):
            ref = v[len("dataset:"):]
            setattr(cfg.data, name, str(data_cache() / ref))
