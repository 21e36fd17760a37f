"""SIGKILL in the middle of registry writes: a running `tuneforge serve` process busy committing admin
changes (traffic splits, promotions, rollbacks) and a `tuneforge registry add` half way through copying a
model, both killed at the same instant. Afterwards the registry must be intact: the database passes its
integrity check with one production version at most, only complete versions are visible and load, a
restarted server serves them, and the next add and promotion work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx

from tuneforge.serve.backends import load_backend
from tuneforge.store.registry import Registry, weights_sha256

from .conftest import free_port

KEY = "crash-admin-key"


def start_server(root, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "TUNEFORGE_CRASH_KEY": KEY}
    # Output to a file, not a pipe: a pipe nobody reads fills up (each model load prints a progress bar)
    # and would block the server.
    return subprocess.Popen([sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(root), "--port", str(port),
                             "--api-key-env", "TUNEFORGE_CRASH_KEY", "--poll-s", "0.2", "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(proc: subprocess.Popen, url: str, log) -> None:
    deadline = time.time() + 300  # a cold start imports torch and transformers; slow on a busy machine
    while time.time() < deadline:
        assert proc.poll() is None, open(log.name, encoding="utf-8", errors="replace").read()[-3000:]
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready")


def hammer_admin(url: str, stop: threading.Event, done: list) -> None:
    """Registry writes through the server, back to back, until the server dies under us."""
    steps = [("PUT", "/v1/admin/models/sentiment/traffic", {"weights": {"1": 90, "2": 10}}),
             ("POST", "/v1/admin/models/sentiment/promote", {"version": 2, "stage": "production"}),
             ("POST", "/v1/admin/models/sentiment/rollback", None)]
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as client:
        i = 0
        while not stop.is_set():
            method, path, body = steps[i % len(steps)]
            try:
                r = client.request(method, path, json=body)
            except httpx.TransportError:
                return  # killed
            assert r.status_code == 200, r.text
            done.append(path)
            i += 1


def test_sigkill_of_server_and_add_mid_write_leaves_the_registry_intact(tmp_path, tiny_runs):
    run1, run2 = tiny_runs
    root = tmp_path / "reg"
    reg = Registry(root)
    reg.add("sentiment", run1, stage="production")
    reg.add("sentiment", run2)
    big = tmp_path / "big-run"  # many small fsynced files: the copy is slow enough to be caught half way
    shutil.copytree(run2, big)
    (big / "bulk").mkdir()
    for i in range(2000):
        (big / "bulk" / f"{i:05d}.bin").write_bytes(os.urandom(4096))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "w")
    server = start_server(root, port, log)
    adder = None
    try:
        wait_ready(server, url, log)
        stop, done = threading.Event(), []
        hammer = threading.Thread(target=hammer_admin, args=(url, stop, done), daemon=True)
        hammer.start()
        adder = subprocess.Popen([sys.executable, "-m", "tuneforge.cli", "registry", "add", "sentiment", str(big),
                                  "--registry", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 180
        while time.time() < deadline and adder.poll() is None:
            if len(list((root / ".incoming").glob("*/model/bulk/*"))) >= 20 and len(done) >= 6:
                break
            time.sleep(0.002)
        assert adder.poll() is None, "the add finished before it could be killed"
        assert hammer.is_alive() and len(done) >= 6, "the server was not busy writing"
        server.send_signal(signal.SIGKILL)
        adder.send_signal(signal.SIGKILL)
        assert server.wait(30) == -signal.SIGKILL and adder.wait(30) == -signal.SIGKILL
        stop.set()
        hammer.join(30)
    finally:
        for p in (server, adder):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    # The database: intact, the two complete versions only, never two production versions.
    with sqlite3.connect(root / "registry.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT version, stage FROM model_versions WHERE name = 'sentiment' ORDER BY version").fetchall()
    assert [v for v, _ in rows] == [1, 2]
    assert [s for _, s in rows].count("production") == 1
    assert sorted(p.name for p in (root / "sentiment").iterdir()) == ["v1", "v2"]  # the half copy has no version name
    # Every visible version is whole: its weights match the checksum recorded at add time, and it predicts.
    reg = Registry(root)
    for mv in reg.list("sentiment"):
        assert weights_sha256(mv.path) == mv.weights_sha256
        assert load_backend(mv.path).predict(["the plot was awful"])[0]["label"] in ("pos", "neg")
    production = reg.production("sentiment").version
    traffic = reg.traffic("sentiment")

    # A restarted server serves what the registry says; the next add and a promotion through it work.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(root, port, log)
    try:
        wait_ready(server, url, log)
        got = httpx.post(url + "/v1/models/sentiment/predict", json={"texts": ["the cast was lovely"]}, timeout=60).json()
        assert got["version"] in (set(traffic.weights) if traffic else {production})
        shutil.rmtree(big / "bulk")
        out = subprocess.run([sys.executable, "-m", "tuneforge.cli", "registry", "add", "sentiment", str(big),
                              "--registry", str(root)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "v3" in out.stdout, out.stderr
        r = httpx.post(url + "/v1/admin/models/sentiment/promote", json={"version": 3, "stage": "production"},
                       headers={"X-API-Key": KEY}, timeout=120)
        assert r.status_code == 200 and r.json()["version"] == 3, r.text
        got = httpx.post(url + "/v1/models/sentiment/predict", json={"texts": ["the cast was lovely"]}, timeout=60).json()
        assert got["version"] == 3
        listed = json.loads(subprocess.run([sys.executable, "-m", "tuneforge.cli", "registry", "list", "--json",
                                            "--registry", str(root)], capture_output=True, text=True).stdout)
        assert [(v["version"], v["stage"]) for v in listed][-1] == (3, "production")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
