"""The playground on an image run: an uploaded image (base64, as the page's FileReader sends it) goes through
the run's own image checks and model; what is not an image is refused with a message."""

from __future__ import annotations

import base64

import httpx
import pytest
import torch
import yaml

from tuneforge.dashboard.app import create_dashboard_app

from image_samples import stripes_png as _png

from .conftest import Server


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    from tuneforge.backbones.efficientnet import EfficientNetLiteConfig, EfficientNetLiteForImageClassification
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("img")
    backbone = tmp / "effnet"
    torch.manual_seed(0)
    EfficientNetLiteForImageClassification(EfficientNetLiteConfig(
        image_size=32, width_coefficient=0.25, depth_coefficient=0.1, num_labels=2, drop_connect_rate=0.0,
        dropout_rate=0.0)).save_pretrained(backbone)
    for split, n in (("train", 8), ("test", 3)):
        for label in ("horizontal", "vertical"):
            (tmp / split / label).mkdir(parents=True)
            for i in range(n):
                (tmp / split / label / f"{i}.png").write_bytes(_png(label == "horizontal", i))
    cfg = {"task": "image-classification", "backbone": str(backbone), "output_dir": str(tmp / "runs" / "stripes"),
           "data": {"train": str(tmp / "train"), "test": str(tmp / "test")},
           "train": {"epochs": 1, "batch_size": 8, "bf16": "false", "early_stopping_patience": 0},
           "image": {"size": 32}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    train(load_config(tmp / "c.yaml"), progress=False)
    return tmp / "runs"


AUTH = {"X-API-Key": "image-test-key"}


def test_image_upload_is_classified_and_junk_refused(image_runs):
    with Server(create_dashboard_app(image_runs, key=AUTH["X-API-Key"])) as s:
        (target,) = httpx.get(s.url + "/api/playground", headers=AUTH).json()["targets"]
        assert target["task"] == "image-classification" and target["id"] == "runs/stripes"
        assert target["input"] == "images"  # the page shows its file input by what the task reads, not by its name
        url = s.url + target["url"]
        data = "data:image/png;base64," + base64.b64encode(_png(True, 7)).decode()
        r = httpx.post(url, headers=AUTH, json={"images": [data]}, timeout=120)
        assert r.status_code == 200, r.text
        p = r.json()["predictions"][0]
        assert set(p["probabilities"]) == {"horizontal", "vertical"} and p["label"] in p["probabilities"]
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        r = httpx.post(url, headers=AUTH, json={"images": [base64.b64encode(b"not an image").decode()]}, timeout=60)
        assert r.status_code == 422 and r.json()["detail"]
        r = httpx.post(url, headers=AUTH, json={"images": ["%%%"]}, timeout=60)
        assert r.status_code == 422 and "not base64" in r.json()["detail"]
        r = httpx.post(url, headers=AUTH, json={"texts": ["a text"]}, timeout=60)
        assert r.status_code == 422 and "image model" in r.json()["detail"]
