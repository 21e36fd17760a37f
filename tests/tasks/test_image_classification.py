"""Image classification end to end on a tiny random EfficientNet-Lite (seconds): train, run directory,
evaluate, predict (library and CLI), linear probe, augmentation, and the config checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tuneforge.backbones.efficientnet import (EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                              random_resized_crop)
from tuneforge.cli import main
from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError


@pytest.fixture(scope="module")
def tiny_effnet(tmp_path_factory) -> Path:
    """A random EfficientNet-Lite a few hundred thousand parameters small, saved as a backbone directory."""
    path = tmp_path_factory.mktemp("tiny-effnet")
    # batch_norm_momentum 0.3 (torch's momentum 0.7): the running statistics, which evaluation uses, follow the
    # last few batches. At 0.8 this run of ~20 steps scored 0.5 on test (chance); at 0.3, 0.83 (validation 1.0).
    cfg = EfficientNetLiteConfig(image_size=32, width_coefficient=0.25, depth_coefficient=0.1, num_labels=2,
                                 drop_connect_rate=0.0, dropout_rate=0.0, batch_norm_momentum=0.3)
    torch.manual_seed(0)
    EfficientNetLiteForImageClassification(cfg).save_pretrained(path)
    return path


def stripes(horizontal: bool, size: int = 20, rng=None) -> np.ndarray:
    rng = rng or np.random.default_rng(0)
    period, phase = int(rng.integers(4, 7)), int(rng.integers(0, 4))
    wave = ((np.arange(size) + phase) // (period // 2)) % 2 * 200
    a = np.broadcast_to(wave[:, None] if horizontal else wave[None, :], (size, size))
    return np.clip(a + rng.integers(0, 50, (size, size)), 0, 255).astype(np.uint8)


def make_images(root: Path, n: int = 16, seed: int = 0) -> Path:
    """Two classes a conv net tells apart at once: horizontal vs vertical stripes, RGB, in noise."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        for label in ("horizontal", "vertical"):
            a = stripes(label == "horizontal", rng=rng)
            (root / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.stack([a, a // 2, 255 - a], -1)).save(root / label / f"{i}.png")
    return root


def write_config(tmp: Path, backbone: Path, data: dict, **image) -> Path:
    cfg = {"task": "image-classification", "backbone": str(backbone), "output_dir": str(tmp / "run"), "data": data,
           "train": {"epochs": 4, "batch_size": 8, "learning_rate": 2e-3, "head_learning_rate": 1e-2,
                     "logging_steps": 2, "bf16": "false", "early_stopping_patience": 0},
           "image": {"size": 32, **image}}
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def trained_run(tiny_effnet, tmp_path_factory) -> Path:
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("img-run")
    data, test = make_images(tmp / "data", n=20), make_images(tmp / "test", n=6, seed=1)
    return train(load_config(write_config(tmp, tiny_effnet, {"train": str(data), "test": str(test)})), progress=False)


def test_run_directory_has_every_output(trained_run):
    files = {p.name for p in trained_run.iterdir()}
    assert {"metrics.json", "report.txt", "confusion_matrix.png", "worst_mistakes.png", "learning_curve.png",
            "README.md", "model.safetensors", "config.json", "preprocessor_config.json", "labels.json",
            "test_predictions.jsonl", "data_report.json", "config.yaml"} <= files
    m = json.loads((trained_run / "metrics.json").read_text())
    assert m["test"]["accuracy"] >= 0.75 and m["baseline_majority"]["accuracy"] == 0.5  # learned, not guessed
    pred = json.loads((trained_run / "test_predictions.jsonl").read_text().splitlines()[0])
    assert pred["image"].endswith(".png") and pred["label"] in ("horizontal", "vertical")
    card = (trained_run / "README.md").read_text()
    assert "--input image.png" in card and "worst_mistakes.png" in card and "--text" not in card
    assert json.loads((trained_run / "preprocessor_config.json").read_text())["stored_size"] == 32
    assert yaml.safe_load((trained_run / "config.yaml").read_text())["train"]["group_by_length"] is False


def test_predict_an_image_and_a_folder_from_the_cli(trained_run, tmp_path, capsys):
    from tuneforge.rundir import load_run
    rng = np.random.default_rng(7)
    a = stripes(True, rng=rng)  # 20 px; the processor brings any size to the training size
    Image.fromarray(np.stack([a, a // 2, 255 - a], -1)).resize((40, 40), Image.NEAREST).save(tmp_path / "l.png")
    b = stripes(False, rng=rng)
    Image.fromarray(np.stack([b, b // 2, 255 - b], -1)).save(tmp_path / "r.png")
    run = load_run(trained_run)
    out = run.predict([str(tmp_path / "l.png"), str(tmp_path / "r.png")])
    assert [o["label"] for o in out] == ["horizontal", "vertical"]
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-4
    assert main(["predict", str(trained_run), "--input", str(tmp_path)]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert {Path(l["image"]).name: l["label"] for l in lines} == {"l.png": "horizontal", "r.png": "vertical"}
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main(["predict", str(trained_run), "--input", str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "fix:" in err and "Traceback" not in err
    assert main(["predict", str(trained_run), "--text", "hello"]) == 2


def test_export_of_an_image_run_is_refused_with_the_way_to_serve_it(trained_run, capsys):
    assert main(["export", str(trained_run), "--format", "onnx-int8"]) == 2
    err = capsys.readouterr().err
    assert "image run" in err and "registry add" in err and "Traceback" not in err
    assert not (trained_run / "exports").exists()  # nothing half-written


def test_evaluate_on_a_csv_of_paths(trained_run, tmp_path, capsys):
    make_images(tmp_path / "imgs", n=3, seed=5)
    rows = [f"imgs/{c}/{i}.png,{c}" for c in ("horizontal", "vertical") for i in range(3)]
    (tmp_path / "t.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert main(["evaluate", str(trained_run), "--data", str(tmp_path / "t.csv"), "--quiet",
                 "--output", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n"] == 6 and m["accuracy"] >= 0.8


def test_linear_probe_trains_only_the_head_and_keeps_batchnorm(tiny_effnet, tmp_path):
    from tuneforge.tasks.base import get_task
    cfg = load_config(write_config(tmp_path, tiny_effnet, {"train": str(tmp_path)}, linear_probe=True))
    model, fresh = get_task("image-classification").build_model(str(tiny_effnet), ["a", "b", "c"], cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == fresh == {"efficientnet._fc.weight", "efficientnet._fc.bias"}
    model.train()
    bn = next(m for m in model.efficientnet.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    model(torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8), labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    assert not bn.training and torch.equal(bn.running_mean, before)


def test_augmentation_only_in_training_mode(tiny_effnet):
    model = EfficientNetLiteForImageClassification.from_pretrained(str(tiny_effnet))
    x = torch.randint(0, 255, (3, 1, 20, 20), dtype=torch.uint8)  # grayscale, smaller than the input size
    model.eval()
    assert torch.equal(model.pixels(x), model.pixels(x))
    assert model.pixels(x).shape == (3, 3, 32, 32)
    model.train()
    torch.manual_seed(1)
    assert not torch.equal(model.pixels(x), model.pixels(x))
    full = random_resized_crop(torch.arange(16.0).view(1, 1, 4, 4), 4, min_scale=1.0, flip=False)
    assert torch.allclose(full, torch.arange(16.0).view(1, 1, 4, 4), atol=1e-4)  # area 1: the image itself


@pytest.mark.parametrize("override,key", [
    (["train.method=lora"], "train.method"),
    (["train.method=full", "image.linear_probe=true"], "image.linear_probe"),
    (["image.size=8"], "image.size"),
    (["image.crop_min_scale=0"], "image.crop_min_scale"),
    (["data.redact=[email]"], "data.redact"),
    (["backbone=minilm-l6"], "backbone"),
])
def test_config_checks_for_images(tmp_path, override, key):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"task": "image-classification", "backbone": "efficientnet-lite0",
                                 "data": {"train": str(tmp_path)}}))
    load_config(p)  # the defaults are valid
    with pytest.raises(TuneforgeError, match=key.replace(".", r"\.")):
        load_config(p, override)


def test_an_image_backbone_for_a_text_task_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"task": "text-classification", "backbone": "efficientnet-lite0",
                                 "data": {"train": str(tmp_path / "x.csv")}}))
    with pytest.raises(TuneforgeError, match="image backbone"):
        load_config(p)


def test_data_errors_stop_before_training(tiny_effnet, tmp_path):
    from tuneforge.train.run import train
    data = make_images(tmp_path / "data", n=4)
    (data / "vertical" / "broken.png").write_bytes(b"\x89PNG broken")
    cfg = load_config(write_config(tmp_path, tiny_effnet, {"train": str(data)}))
    with pytest.raises(TuneforgeError, match="broken.png|unreadable|corrupt"):
        train(cfg, progress=False)
    assert not (tmp_path / "run").exists()  # nothing written
    cfg = load_config(write_config(tmp_path, tiny_effnet, {"train": str(data), "bad_rows": "skip"}))
    from tuneforge.train.run import prepare
    *_, report = prepare(cfg, progress=False)
    assert report["files"][str(data)]["dropped"] == {"unreadable image": 1}
