"""`tuneforge serve` with an image-classification model: uploads (base64) are answered like the run's own
predictions, logged by their bytes' hash, and every bad upload is the caller's 4xx, never a failed batch."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
import torch
import yaml

from tuneforge.serve.app import ServeOptions
from tuneforge.store.registry import Registry
from tuneforge.store.requestlog import read_rows

from image_samples import stripes_png as png

from .conftest import ThreadServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_runs):
    from tuneforge.backbones.efficientnet import EfficientNetLiteConfig, EfficientNetLiteForImageClassification
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("serve-img")
    torch.manual_seed(0)
    EfficientNetLiteForImageClassification(EfficientNetLiteConfig(
        image_size=32, width_coefficient=0.25, depth_coefficient=0.1, num_labels=2, drop_connect_rate=0.0,
        dropout_rate=0.0)).save_pretrained(tmp / "effnet")
    for label in ("horizontal", "vertical"):
        (tmp / "train" / label).mkdir(parents=True)
        for i in range(6):
            (tmp / "train" / label / f"{i}.png").write_bytes(png(label == "horizontal", i))
    cfg = {"task": "image-classification", "backbone": str(tmp / "effnet"), "output_dir": str(tmp / "run"),
           "data": {"train": str(tmp / "train")}, "image": {"size": 32},
           "train": {"epochs": 1, "batch_size": 8, "bf16": "false", "early_stopping_patience": 0}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run = train(load_config(tmp / "c.yaml"), progress=False)
    reg = Registry(tmp / "registry")
    reg.add("stripes", run, stage="production")
    reg.add("sentiment", tiny_runs[0], stage="production")
    with ThreadServer(ServeOptions(registry=str(tmp / "registry"), poll_s=0, max_images=3, max_image_mb=0.01)) as s:
        s.root, s.run = tmp / "registry", run
        yield s


def post(server, name: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/models/{name}/predict", json=body, timeout=120)


def test_uploads_are_answered_as_the_run_answers_them_and_logged_by_hash(server):
    from tuneforge.rundir import load_run
    imgs = [png(True, 11), png(False, 12)]
    r = post(server, "stripes", {"images": [base64.b64encode(imgs[0]).decode(),
                                            "data:image/png;base64," + base64.b64encode(imgs[1]).decode()]})
    assert r.status_code == 200, r.text
    served = r.json()["predictions"]
    alone = load_run(server.run).predict(imgs)
    assert [p["label"] for p in served] == [p["label"] for p in alone]
    for s, a in zip(served, alone):
        assert all(abs(s["probabilities"][k] - a["probabilities"][k]) < 1e-4 for k in a["probabilities"])
    from tuneforge.store.db import open_database
    from tuneforge.store.requestlog import input_hmac, log_secret
    secret = log_secret(server.root)  # the log keys its hashes with the registry's secret (never a plain sha256)
    db, want, deadline = open_database(server.root / "registry.db"), {input_hmac(secret, b) for b in imgs}, time.time() + 60
    while not {row.input_sha256 for row in read_rows(db, "stripes")} >= want:  # the log writes in the background
        assert time.time() < deadline, "the uploads never reached the request log"
        time.sleep(0.1)


@pytest.mark.parametrize("name,body,status,needle", [
    ("stripes", {"images": [base64.b64encode(b"not an image").decode()]}, 422, "images[0]"),
    ("stripes", {"images": ["%%% not base64"]}, 422, "not base64"),
    ("stripes", {"images": []}, 422, "empty"),
    ("stripes", {"images": ["aGk="] * 4}, 413, "limit is 3"),
    ("stripes", {"images": [base64.b64encode(b"\0" * 20_000).decode()]}, 413, "MB"),
    ("stripes", {"texts": ["a text"]}, 422, "classifies images"),
    ("sentiment", {"images": [base64.b64encode(png(True, 1)).decode()]}, 422, "classifies texts"),
    ("stripes", {"texts": ["a"], "images": ["aGk="]}, 422, "one of the two"),
    ("stripes", {}, 422, "one of the two"),
])
def test_bad_uploads_get_a_4xx_with_a_message(server, name, body, status, needle):
    r = post(server, name, body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_a_bad_upload_does_not_fail_a_good_one_sent_at_the_same_time(server):
    from concurrent.futures import ThreadPoolExecutor
    good = {"images": [base64.b64encode(png(True, 21)).decode()]}
    bad = {"images": [base64.b64encode(png(True, 21)[:60]).decode()]}  # a truncated PNG
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: post(server, "stripes", b), [good, bad, good, bad]))
    assert [a.status_code for a in answers] == [200, 422, 200, 422]
