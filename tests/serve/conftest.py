"""Two tiny trained runs (v1, v2 of a sentiment model) and a real uvicorn server on a loopback port."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
import yaml
from factories import LiveServer, write_reviews



def train_tiny(tmp: Path, backbone: Path, seed: int, epochs: float) -> Path:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = {"task": "text-classification", "backbone": str(backbone), "output_dir": str(tmp / "run"),
           "data": {"train": str(write_reviews(tmp / "reviews.csv", 300, seed))},
           "train": {"method": "full", "epochs": epochs, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2,
                     "dropout": 0.0, "max_length": 32, "seed": seed, "early_stopping_patience": 0,
                     "evals_per_epoch": 1, "bf16": "false",
                     "freeze_embeddings": False}}  # random embeddings: freezing them only handicaps
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train(load_config(tmp / "config.yaml"), progress=False)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, tiny_bert) -> tuple[Path, Path]:
    """v1 learns the sentiment words well; v2 is trained less and differently seeded, so the two agree
    on most inputs but not on all (the A/B report has something to compare)."""
    base = tmp_path_factory.mktemp("runs")
    return train_tiny(base / "v1", tiny_bert, seed=1, epochs=5), train_tiny(base / "v2", tiny_bert, seed=2, epochs=2)


class ThreadServer(LiveServer):
    """`tuneforge serve`'s app (from ServeOptions) under a real uvicorn; ready when /readyz is done loading."""

    def __init__(self, opts, ready_status: int = 200):
        from tuneforge.server import create_app
        self.ready_status = ready_status  # 503: a test that expects a model to fail to load, or nothing to serve
        super().__init__(create_app(opts), ready_path="/readyz")

    def ready(self) -> bool:
        r = httpx.get(self.url + "/readyz", timeout=5)
        body = r.json()
        # done loading: ready, or a 503 that is not "still loading" (older servers: a broken model)
        if r.status_code == 200 or not body.get("loading", not body.get("broken")):
            if r.status_code != self.ready_status:
                raise RuntimeError(f"/readyz answered {r.status_code}, expected {self.ready_status}: {body}")
            return True
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TABLES = ("model_versions", "stage_events", "traffic", "registry_state", "request_log")


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server for the PostgreSQL adapter: $TUNEFORGE_TEST_POSTGRES_URL if set, else
    a private cluster started from the local server binaries (Debian's postgresql package), else skip."""
    if os.environ.get("TUNEFORGE_TEST_POSTGRES_URL"):
        yield os.environ["TUNEFORGE_TEST_POSTGRES_URL"]
        return
    pytest.importorskip("psycopg")
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not initdb[-1]:
        pytest.skip("no PostgreSQL server binaries; set TUNEFORGE_TEST_POSTGRES_URL=postgresql://... to test one")
    bindir = Path(initdb[-1]).parent
    tmp = Path(tempfile.mkdtemp(prefix="tuneforge-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        import pwd
        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", free_port()
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "tuneforge", "-E", "UTF8",
                              "--no-sync"], check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-t", "300",
                              "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://tuneforge@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_postgres(url: str) -> str:
    """Drop tuneforge's tables so a test starts from an empty database."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return url
