"""The versioned registry on real SQLite (and PostgreSQL when TUNEFORGE_TEST_POSTGRES_URL is set):
stages, one production version, rollback, atomic adds under SIGKILL, concurrent adds."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tuneforge.errors import TuneforgeError
from tuneforge.store.registry import Conflict, NotFound, Registry

from .conftest import fresh_postgres


def cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneforge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request, tmp_path) -> Registry:
    if request.param == "postgres":  # the same tests through the PostgreSQL adapter
        return Registry(tmp_path / "reg", fresh_postgres(request.getfixturevalue("postgres_url")))
    return Registry(tmp_path / "reg")


def test_versions_stages_production_and_rollback(registry, tiny_runs):
    run1, run2 = tiny_runs
    v1 = registry.add("sentiment", run1, stage="production")
    v2 = registry.add("sentiment", run2)
    assert (v1.version, v1.stage, v2.version, v2.stage) == (1, "production", 2, "none")
    # the copy is complete, its weights checksum is the source's, metrics come from metrics.json
    assert sorted(p.name for p in v2.path.iterdir()) == sorted(p.name for p in run2.iterdir() if p.name != "exports")
    assert v2.weights_sha256 == {"model.safetensors": hashlib.sha256((run2 / "model.safetensors").read_bytes()).hexdigest()}
    assert v2.metrics == json.loads((run2 / "metrics.json").read_text())
    assert v2.source == str(run2.resolve())

    registry.set_traffic("sentiment", {"1": 90, "2": 10}, shadow=2)
    reopened = Registry(registry.root, registry.db.url).traffic("sentiment")  # persisted, as a restart sees it
    assert (reopened.weights, reopened.shadow) == ({1: 90.0, 2: 10.0}, 2)
    registry.promote("sentiment", 2, "production")
    stages = {v.version: v.stage for v in registry.list("sentiment")}
    assert stages == {1: "archived", 2: "production"}  # only one production version per name
    assert registry.traffic("sentiment") is None  # a new production version ends the rollout

    assert registry.rollback("sentiment").version == 1
    assert {v.version: v.stage for v in registry.list("sentiment")} == {1: "production", 2: "archived"}
    assert registry.rollback("sentiment").version == 2  # a second rollback undoes the first

    registry.add("other", run1)
    with pytest.raises(Conflict, match="no earlier production"):
        registry.rollback("other")
    with pytest.raises(NotFound, match="no version 7"):
        registry.promote("sentiment", 7, "production")
    with pytest.raises(TuneforgeError, match="unknown stage"):
        registry.promote("sentiment", 1, "live")
    with pytest.raises(NotFound, match="no version 9"):
        registry.set_traffic("sentiment", {"1": 50, "9": 50})
    with pytest.raises(TuneforgeError, match="weight > 0"):
        registry.set_traffic("sentiment", {"1": 0})
    with pytest.raises(TuneforgeError, match="finite number"):
        registry.set_traffic("sentiment", {"1": -5, "2": 10})
    assert registry.generation() > 0


def test_the_database_itself_refuses_two_production_versions(tmp_path, tiny_runs):
    reg = Registry(tmp_path / "reg")
    reg.add("m", tiny_runs[0], stage="production")
    reg.add("m", tiny_runs[1])
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as con:
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("UPDATE model_versions SET stage = 'production' WHERE name = 'm' AND version = 2")
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cli_add_list_promote_rollback_and_bad_input(tmp_path, tiny_runs):
    reg = str(tmp_path / "reg")
    env = {**os.environ, "TUNEFORGE_REGISTRY": reg}  # the env var is honoured when --registry is absent
    r = cli("registry", "add", "sentiment", str(tiny_runs[0]), "--stage", "production", env=env)
    assert r.returncode == 0 and "sentiment v1 (production)" in r.stdout, r.stderr
    assert cli("registry", "add", "sentiment", str(tiny_runs[1]), "--registry", reg).returncode == 0
    r = cli("registry", "list", "--registry", reg)
    assert r.returncode == 0 and "accuracy=" in r.stdout and r.stdout.count("sentiment") == 2, r.stderr
    r = cli("registry", "promote", "sentiment", "2", "--stage", "production", "--registry", reg)
    assert r.returncode == 0 and "v2 is now production" in r.stdout, r.stderr
    r = cli("registry", "rollback", "sentiment", "--registry", reg)
    assert r.returncode == 0 and "v1 is production again" in r.stdout, r.stderr
    listed = json.loads(cli("registry", "list", "sentiment", "--json", "--registry", reg).stdout)
    assert [(v["version"], v["stage"]) for v in listed] == [(1, "production"), (2, "archived")]

    for args, needle in [(("add", "bad/name", str(tiny_runs[0])), "not allowed"),
                         (("add", "m", str(tmp_path / "missing")), "not a run or export directory"),
                         (("promote", "sentiment", "5", "--stage", "production"), "no version 5"),
                         (("promote", "sentiment", "1", "--stage", "prod"), "unknown stage")]:
        r = cli("registry", *args, "--registry", reg)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_sigkill_mid_copy_leaves_only_complete_versions(tmp_path, tiny_runs):
    reg = tmp_path / "reg"
    Registry(reg).add("big", tiny_runs[0])
    src = tmp_path / "big-run"
    shutil.copytree(tiny_runs[1], src)
    (src / "bulk").mkdir()
    for i in range(2000):  # many files, each fsynced: the copy takes long enough to be caught half way
        (src / "bulk" / f"{i:05d}.bin").write_bytes(os.urandom(4096))
    proc = subprocess.Popen([sys.executable, "-m", "tuneforge.cli", "registry", "add", "big", str(src),
                             "--registry", str(reg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        partial = list((reg / ".incoming").glob("*/model/bulk/*"))
        if len(partial) >= 20:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the add finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(reg / "registry.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listed = json.loads(cli("registry", "list", "--json", "--registry", str(reg)).stdout)
    assert [(v["name"], v["version"]) for v in listed] == [("big", 1)]
    assert sorted(p.name for p in (reg / "big").iterdir()) == ["v1"]  # the half copy never got a version name
    # the next add is unaffected and gets the next number; the half copy stays out of sight in .incoming
    shutil.rmtree(src / "bulk")
    mv = Registry(reg).add("big", src)
    assert mv.version == 2 and (mv.path / "model.safetensors").is_file() and not (mv.path / "bulk").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_adds_get_distinct_versions(request, backend, tmp_path, tiny_runs):
    reg = tmp_path / "reg"
    db_url = fresh_postgres(request.getfixturevalue("postgres_url")) if backend == "postgres" else None
    Registry(reg, db_url)  # create the schema once, as `tuneforge serve` or a first add would
    extra = ["--db-url", db_url] if db_url else []
    procs = [subprocess.Popen([sys.executable, "-m", "tuneforge.cli", "registry", "add", "m", str(tiny_runs[i % 2]),
                               "--registry", str(reg), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    versions = Registry(reg, db_url).list("m")
    assert [v.version for v in versions] == [1, 2, 3, 4]
    for v in versions:  # every directory is complete and is the copy its row describes
        weights = v.path / "model.safetensors"
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == v.weights_sha256["model.safetensors"]


def test_a_directory_left_without_a_row_is_replaced(tmp_path, tiny_runs):
    """A kill between the rename and the commit leaves NAME/vN without a row: the next add reuses N."""
    reg = Registry(tmp_path / "reg")
    reg.add("m", tiny_runs[0])
    orphan = tmp_path / "reg" / "m" / "v2"
    orphan.mkdir()
    (orphan / "half-written").write_text("junk")
    mv = reg.add("m", tiny_runs[1])
    assert mv.version == 2 and not (mv.path / "half-written").exists() and (mv.path / "model.safetensors").is_file()
