"""Versioned model registry: directories on disk, metadata in a database.

Layout under the registry root (default `<cache>/registry`, or `--registry DIR` / `$TUNEFORGE_REGISTRY`):
    registry.db             SQLite metadata (or a PostgreSQL URL via `--db-url` / `$TUNEFORGE_REGISTRY_DB`)
    NAME/vN/                a complete copy of a run or export directory
    .incoming/              copies in progress; never listed, swept when a day old

A version appears only after its copy is complete and durable: copy into `.incoming/`, fsync every file
and directory, then, inside one database transaction, rename into place and insert the row. A process
killed mid-copy leaves only an `.incoming/` leftover; one killed between rename and commit leaves a
directory without a row, which the next add of that name finds and replaces.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import TuneforgeError
from ..paths import cache_dir, sha256_file
from ..rundir import RETRAIN, check_run_files, read_metrics
from .db import Database, open_database
from ..rundir import LABELS_FILE, METRICS_FILE

STAGES = ("none", "staging", "production", "archived")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a directory name and a URL path segment
# Weights of a run (safetensors) or an export (ONNX, int8 state dict, GGUF); not training_args.bin, a pickle.
WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".onnx.data", ".onnx_data", ".pt", ".gguf")
INCOMING_MAX_AGE_S = 24 * 3600

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS model_versions (
        name TEXT NOT NULL, version INTEGER NOT NULL, stage TEXT NOT NULL, created TEXT NOT NULL,
        source TEXT NOT NULL, metrics TEXT NOT NULL, weights_sha256 TEXT NOT NULL, path TEXT NOT NULL,
        PRIMARY KEY (name, version))""",
    # The database itself refuses a second production version of a name, whatever code path writes it.
    "CREATE UNIQUE INDEX IF NOT EXISTS one_production ON model_versions (name) WHERE stage = 'production'",
    # Every stage change of a name, in order: rollback reads the production history from here. The
    # sequence is per name because writers lock per name (PostgreSQL), so only same-name writes are ordered.
    """CREATE TABLE IF NOT EXISTS stage_events (
        name TEXT NOT NULL, seq INTEGER NOT NULL, version INTEGER NOT NULL, stage TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (name, seq))""",
    """CREATE TABLE IF NOT EXISTS traffic (
        name TEXT NOT NULL PRIMARY KEY, weights TEXT NOT NULL, shadow INTEGER, updated TEXT NOT NULL)""",
    # One row counting changes: a server polls it to notice a promote made by the CLI or another replica.
    "CREATE TABLE IF NOT EXISTS registry_state (id INTEGER NOT NULL PRIMARY KEY, generation BIGINT NOT NULL)",
)


class NotFound(TuneforgeError):
    """An unknown model name or version (HTTP 404)."""


class Conflict(TuneforgeError):
    """A change the registry's current state does not allow (HTTP 409)."""


@dataclass
class ModelVersion:
    name: str
    version: int
    stage: str
    created: str
    source: str
    metrics: dict
    weights_sha256: dict
    path: Path

    def headline(self) -> str:
        test = self.metrics.get("test", {})
        for key in ("accuracy", "macro_f1", "entity_f1"):
            if key in test:
                return f"{key}={test[key]:.4f}"
        return ""


@dataclass
class Traffic:
    name: str
    weights: dict[int, float]
    shadow: int | None
    updated: str = ""


def registry_root(root: str | Path | None = None) -> Path:
    if root:
        return Path(root).expanduser()
    if os.environ.get("TUNEFORGE_REGISTRY"):
        return Path(os.environ["TUNEFORGE_REGISTRY"]).expanduser()
    return cache_dir() / "registry"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise TuneforgeError(f"model name {name!r} is not allowed", where="NAME",
                             fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_durably(src: str, dst: str) -> str:
    shutil.copy2(src, dst)
    _fsync(Path(dst))  # the rename that publishes the version must never point at unwritten data
    return dst


def weights_sha256(directory: Path) -> dict[str, str]:
    found = {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*"))
             if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)}
    if not found:
        raise TuneforgeError(f"no weights file ({', '.join(WEIGHT_SUFFIXES)}) in {directory}", where=str(directory),
                             fix="point at a finished run directory or an export directory")
    return found


class Registry:
    """`create=False` (every command that only reads or changes what is there): a registry that does not
    exist is an error naming the path, never a new empty one behind a mistyped --registry."""

    def __init__(self, root: str | Path | None = None, db_url: str | None = None, create: bool = True):
        self.root = registry_root(root)
        url = db_url or os.environ.get("TUNEFORGE_REGISTRY_DB")
        if not create and (not self.root.is_dir() or (not url and not (self.root / "registry.db").is_file())):
            what = "no such directory" if not self.root.exists() else \
                "not a directory" if not self.root.is_dir() else "no registry.db in it"
            raise TuneforgeError(f"no registry here ({what})", where=str(self.root),
                                 fix="check --registry (or $TUNEFORGE_REGISTRY) for a typo; "
                                     "`tuneforge registry add NAME RUN_DIR` creates a registry")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TuneforgeError(f"cannot create the registry directory: {e.strerror}", where=str(self.root),
                                 fix="pass --registry DIR (or set TUNEFORGE_REGISTRY) to a writable directory") from None
        self.db: Database = open_database(url or self.root / "registry.db", create=create)
        with self.db.transaction(lock="tuneforge-schema") as tx:  # PostgreSQL: concurrent CREATEs can collide
            for ddl in SCHEMA:
                tx.execute(ddl)
            if not tx.execute("SELECT generation FROM registry_state WHERE id = 1"):
                tx.execute("INSERT INTO registry_state (id, generation) VALUES (1, 0)")

    # ---------------------------------------------------------------- reading
    def _row(self, r: tuple) -> ModelVersion:
        return ModelVersion(r[0], int(r[1]), r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), self.root / r[7])

    _COLS = "name, version, stage, created, source, metrics, weights_sha256, path"

    def list(self, name: str | None = None) -> list[ModelVersion]:
        if name is None:
            rows = self.db.query(f"SELECT {self._COLS} FROM model_versions ORDER BY name, version")
        else:
            rows = self.db.query(f"SELECT {self._COLS} FROM model_versions WHERE name = ? ORDER BY version", (name,))
        return [self._row(r) for r in rows]

    def names(self) -> list[str]:
        return [r[0] for r in self.db.query("SELECT DISTINCT name FROM model_versions ORDER BY name")]

    def get(self, name: str, version: int) -> ModelVersion:
        rows = self.db.query(f"SELECT {self._COLS} FROM model_versions WHERE name = ? AND version = ?",
                             (name, int(version)))
        if not rows:
            have = [v.version for v in self.list(name)]
            raise NotFound(f"model {name!r} has no version {version}", where=f"registry {self.root}",
                           fix=f"versions of {name!r}: {have}" if have else "`tuneforge registry list` shows what there is")
        return self._row(rows[0])

    def production(self, name: str) -> ModelVersion | None:
        rows = self.db.query(f"SELECT {self._COLS} FROM model_versions WHERE name = ? AND stage = 'production'",
                             (name,))
        return self._row(rows[0]) if rows else None

    def traffic(self, name: str) -> Traffic | None:
        rows = self.db.query("SELECT weights, shadow, updated FROM traffic WHERE name = ?", (name,))
        if not rows:
            return None
        weights = {int(k): float(v) for k, v in json.loads(rows[0][0]).items()}
        return Traffic(name, weights, rows[0][1], rows[0][2])

    def generation(self) -> int:
        return int(self.db.query("SELECT generation FROM registry_state WHERE id = 1")[0][0])

    # ---------------------------------------------------------------- changing
    @staticmethod
    def _bump(tx) -> None:
        tx.execute("UPDATE registry_state SET generation = generation + 1 WHERE id = 1")

    @staticmethod
    def _set_stage(tx, name: str, version: int, stage: str) -> None:
        tx.execute("UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?", (stage, name, version))
        seq = tx.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM stage_events WHERE name = ?", (name,))[0][0]
        tx.execute("INSERT INTO stage_events (seq, name, version, stage, at) VALUES (?, ?, ?, ?, ?)",
                   (seq, name, version, stage, _now()))

    def _sweep_incoming(self, incoming: Path) -> None:
        # Leftovers of killed adds. Age, not a PID check: on a shared volume the writer may be another host.
        for p in incoming.iterdir():
            try:
                if time.time() - p.stat().st_mtime > INCOMING_MAX_AGE_S:
                    shutil.rmtree(p, ignore_errors=True)
            except FileNotFoundError:
                pass

    def add(self, name: str, source: str | Path, stage: str = "none") -> ModelVersion:
        check_name(name)
        self._check_stage(stage)
        src = Path(source)
        if not src.is_dir() or not (src / LABELS_FILE).is_file():
            raise TuneforgeError(f"{src} is not a run or export directory (no labels.json)", where=str(src),
                                 fix="point at the output_dir of `tuneforge train` or of `tuneforge export`")
        from ..export.load import REEXPORT, is_export, read_info  # here: tuneforge.export imports torch
        # A damaged directory is refused here, not found out when a server tries to load it.
        check_run_files(src, REEXPORT if is_export(src) else RETRAIN)
        metrics = read_metrics(src) if (src / METRICS_FILE).is_file() else {}
        if is_export(src):  # an export directory: its size, speed and accuracy against fp32
            metrics["export"] = read_info(src)
        incoming = self.root / ".incoming"
        incoming.mkdir(exist_ok=True)
        self._sweep_incoming(incoming)
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=incoming))  # same filesystem: rename is atomic
        try:
            staged = tmp / "model"
            # A run's exports and leftover checkpoints are not part of this version.
            shutil.copytree(src, staged, copy_function=_copy_durably,
                            ignore=shutil.ignore_patterns("checkpoints", "exports"))
            for d, _, _ in os.walk(staged):  # directory entries must be durable too, not only file data
                _fsync(Path(d))
            sha = weights_sha256(staged)
            with self.db.transaction(lock=name) as tx:
                version = int(tx.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?",
                                         (name,))[0][0])
                final = self.root / name / f"v{version}"
                if final.exists():
                    # No row for it and we hold the write lock: the leftover of a kill between rename and commit.
                    shutil.rmtree(final)
                final.parent.mkdir(exist_ok=True)
                os.rename(staged, final)
                _fsync(final.parent)
                tx.execute(f"INSERT INTO model_versions ({self._COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (name, version, "none", _now(), str(src.resolve()), json.dumps(metrics), json.dumps(sha),
                            f"{name}/v{version}"))
                if stage != "none":
                    self._promote_in(tx, name, version, stage)
                self._bump(tx)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.get(name, version)

    @staticmethod
    def _check_stage(stage: str) -> None:
        if stage not in STAGES:
            raise TuneforgeError(f"unknown stage {stage!r}", where="--stage", fix=f"one of {', '.join(STAGES)}")

    def _promote_in(self, tx, name: str, version: int, stage: str) -> None:
        if stage == "production":
            for (old,) in tx.execute("SELECT version FROM model_versions WHERE name = ? AND stage = 'production' "
                                     "AND version <> ?", (name, version)):
                self._set_stage(tx, name, old, "archived")
            # A new production version ends any rollout in progress: all traffic goes to it.
            tx.execute("DELETE FROM traffic WHERE name = ?", (name,))
        self._set_stage(tx, name, version, stage)

    def promote(self, name: str, version: int, stage: str) -> ModelVersion:
        self._check_stage(stage)
        self.get(name, version)  # NotFound with the versions there are
        with self.db.transaction(lock=name) as tx:
            self._promote_in(tx, name, int(version), stage)
            self._bump(tx)
        return self.get(name, version)

    @staticmethod
    def _rollback_target(run, name: str) -> tuple[int | None, int | None]:
        """(current production, the production version before it); `run` executes one SQL statement."""
        cur = run("SELECT version FROM model_versions WHERE name = ? AND stage = 'production'", (name,))
        current = cur[0][0] if cur else None
        prev = run("SELECT version FROM stage_events WHERE name = ? AND stage = 'production' AND version <> ? "
                   "ORDER BY seq DESC LIMIT 1", (name, -1 if current is None else current))
        return current, (prev[0][0] if prev else None)

    def rollback_target(self, name: str) -> int | None:
        """The version a rollback would put back now (None: there is none)."""
        return self._rollback_target(self.db.query, name)[1]

    def rollback(self, name: str) -> ModelVersion:
        """Put back the production version before the current one (the current one is archived).
        Rolling back twice toggles between the last two production versions."""
        if not self.list(name):
            raise NotFound(f"no model named {name!r}", where=f"registry {self.root}",
                           fix="`tuneforge registry list` shows the names")
        with self.db.transaction(lock=name) as tx:
            current, prev = self._rollback_target(tx.execute, name)
            if prev is None:
                raise Conflict(f"{name!r} has no earlier production version to roll back to",
                               where=f"registry {self.root}",
                               fix="promote a version with `tuneforge registry promote NAME VERSION --stage production`")
            if current is not None:
                self._set_stage(tx, name, current, "archived")
            self._promote_in(tx, name, prev, "production")
            self._bump(tx)
        return self.get(name, prev)

    def check_traffic(self, name: str, weights: dict, shadow: int | None = None) -> tuple[dict[int, float], int | None]:
        """Validated ({version: weight}, shadow), or a NotFound / TuneforgeError saying what is wrong."""
        have = {v.version for v in self.list(name)}
        if not have:
            raise NotFound(f"no model named {name!r}", where=f"registry {self.root}",
                           fix="`tuneforge registry list` shows the names")
        clean: dict[int, float] = {}
        for k, w in (weights or {}).items():
            try:
                v, w = int(k), float(w)
            except (TypeError, ValueError):
                raise TuneforgeError(f"traffic weight {k!r}: {w!r} is not version: number", where="weights",
                                     fix='e.g. {"1": 90, "2": 10}') from None
            if v not in have:
                raise NotFound(f"model {name!r} has no version {v}", where="weights", fix=f"versions: {sorted(have)}")
            if not math.isfinite(w) or w < 0:
                raise TuneforgeError(f"weight of version {v} must be a finite number >= 0, got {w}", where="weights",
                                     fix='e.g. {"1": 90, "2": 10}')
            clean[v] = w
        if sum(clean.values()) <= 0:
            raise TuneforgeError("traffic weights must name at least one version with a weight > 0", where="weights",
                                 fix='e.g. {"1": 90, "2": 10}')
        if shadow is not None and int(shadow) not in have:
            raise NotFound(f"model {name!r} has no version {shadow} (shadow)", where="shadow",
                           fix=f"versions: {sorted(have)}")
        return clean, None if shadow is None else int(shadow)

    def set_traffic(self, name: str, weights: dict, shadow: int | None = None) -> Traffic:
        """Split `name`'s traffic by weights between versions; `shadow` gets a copy it never answers."""
        clean, shadow = self.check_traffic(name, weights, shadow)
        with self.db.transaction(lock=name) as tx:
            tx.execute("INSERT INTO traffic (name, weights, shadow, updated) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET weights = excluded.weights, shadow = excluded.shadow, "
                       "updated = excluded.updated",
                       (name, json.dumps({str(k): v for k, v in sorted(clean.items())}), shadow, _now()))
            self._bump(tx)
        return self.traffic(name)

    def clear_traffic(self, name: str) -> None:
        with self.db.transaction(lock=name) as tx:
            tx.execute("DELETE FROM traffic WHERE name = ?", (name,))
            self._bump(tx)


def format_versions(versions: list[ModelVersion]) -> str:
    if not versions:
        return "the registry is empty; add a version with `tuneforge registry add NAME RUN_DIR`"
    lines = [f"{'name':<24}{'version':>8}  {'stage':<11}{'created':<21}{'metric':<18}{'sha256':<14}source"]
    for v in versions:
        sha = next(iter(v.weights_sha256.values()), "")[:12]
        lines.append(f"{v.name:<24}{v.version:>8}  {v.stage:<11}{v.created[:19]:<21}{v.headline():<18}{sha:<14}{v.source}")
    return "\n".join(lines)
