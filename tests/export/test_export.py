"""Export on tiny runs trained here: every format exports, scores itself against fp32 and predicts through
`load_predictor`; ONNX matches PyTorch; the accuracy guard refuses without leaving anything; bad input
is a TuneforgeError. Real ONNX Runtime and torch quantization throughout, no mocks."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.export import FORMATS, ExportedRun, export_run, load_predictor
from tuneforge.export.formats import formats_for
from tuneforge.rundir import LoadedRun
from tuneforge.tasks.base import get_task
from tuneforge.train.run import train

CLASSIFIER_FORMATS = formats_for(get_task("text-classification"))  # the GGUF formats: tests/export/test_gguf.py

POS, NEG = ["good", "great", "excellent", "lovely"], ["bad", "awful", "terrible", "boring"]
TEXTS = ["the cast was lovely", "the movie was terrible", "good", "the plot was boring and the music was poor " * 3]


def _config(tmp: Path, backbone: Path, task: str, data: dict, **train_kw) -> Path:
    cfg = {"task": task, "backbone": str(backbone), "output_dir": str(tmp / "run"), "data": data,
           "train": {"method": "full", "epochs": 4, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2,
                     "dropout": 0.0, "max_length": 32, "logging_steps": 5, "eval_batch_size": 16,
                     "freeze_embeddings": False,
                     # fp32 forced: ONNX parity is measured against fp32 PyTorch, whatever this CPU's auto choice
                     "bf16": "false", **train_kw}}  # random embeddings: freezing them only handicaps
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return tmp / "config.yaml"


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory, tiny_bert) -> Path:
    tmp = tmp_path_factory.mktemp("cls")
    rng = random.Random(0)
    with (tmp / "reviews.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(300):
            lab = rng.choice(["pos", "neg"])
            w.writerow([f"the {rng.choice(['movie', 'plot', 'cast'])} was {rng.choice(POS if lab == 'pos' else NEG)} {i}", lab])
    return train(load_config(_config(tmp, tiny_bert, "text-classification", {"train": str(tmp / "reviews.csv")})),
                 progress=False)


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_sp_bert) -> Path:
    tmp = tmp_path_factory.mktemp("ner")
    rng = random.Random(0)
    lines = []
    for _ in range(150):
        per, loc = rng.choice(["张三", "李四"]), rng.choice(["北京", "上海", "中国"])
        chars = list(per) + ["在"] + list(loc) + list("的公司")
        lines += [f"{c} {t}" for c, t in zip(chars, ["B-PER", "E-PER", "O", "B-LOC", "E-LOC", "O", "O", "O"])] + [""]
    (tmp / "ner.txt").write_text("\n".join(lines), encoding="utf-8")
    return train(load_config(_config(tmp, tiny_sp_bert, "token-classification", {"train": str(tmp / "ner.txt")},
                                     epochs=6)), progress=False)


@pytest.fixture(scope="module")
def cls_onnx(cls_run) -> Path:
    path, _ = export_run(cls_run, "onnx")
    return path


@pytest.mark.parametrize("fmt", [f for f in CLASSIFIER_FORMATS if f != "onnx"])
def test_each_format_exports_scores_and_predicts(cls_run, tmp_path, fmt):
    out, info = export_run(cls_run, fmt, tmp_path / fmt)
    assert out == tmp_path / fmt and not list(tmp_path.glob(".*partial"))
    for name in ("labels.json", "config.yaml", "tokenizer.json", "export.json"):
        assert (out / name).is_file(), name
    # the drift reference travels with the export, so it is measured where the export is served
    assert (out / "reference.json").read_bytes() == (cls_run / "reference.json").read_bytes()
    assert json.loads((out / "export.json").read_text()) == info
    assert info["format"] == fmt and info["evaluated_on"] == {"split": "validation", "examples": 30}
    assert set(info["metrics"]["fp32"]) == {"accuracy", "macro_f1"} and info["speed"]["ratio"] > 0
    # the guard passed: no more than one point lost
    assert info["metrics"]["delta_points"]["macro_f1"] >= -1 and not info["forced"]
    if fmt != "onnx-int8":  # torch-int8 keeps fp32 embeddings; ONNX int8 quantizes them too
        assert info["size_mb"] < info["fp32_size_mb"]
    pred = load_predictor(out)
    assert isinstance(pred, ExportedRun) and pred.format == fmt
    got, ref = pred.predict(TEXTS), load_predictor(cls_run).predict(TEXTS)
    assert [g["label"] for g in got] == [r["label"] for r in ref]
    for g in got:
        assert set(g["probabilities"]) == {"neg", "pos"} and abs(sum(g["probabilities"].values()) - 1) < 1e-4
    card = (cls_run / "README.md").read_text()
    assert "## Exports" in card and f"| `{out.resolve()}` | {fmt} |" in card


def test_onnx_matches_pytorch_and_serves_through_load_predictor(cls_run, cls_onnx):
    assert cls_onnx == cls_run / "exports" / "onnx"
    info = json.loads((cls_onnx / "export.json").read_text())
    assert info["metrics"]["delta_points"] == {"accuracy": 0.0, "macro_f1": 0.0}
    onnx, torch_run = load_predictor(cls_onnx), load_predictor(cls_run)
    assert type(torch_run) is LoadedRun and onnx.format == "onnx"
    texts = TEXTS + ["x " * 60, "a"]  # truncated to max_length, and a single-token text, in one batch
    for batch_size in (1, 3, None):
        got, ref = onnx.predict(texts, batch_size=batch_size), torch_run.predict(texts)
        assert [g["text"] for g in got] == texts
        for g, r in zip(got, ref):
            assert g["label"] == r["label"]
            assert np.allclose(list(g["probabilities"].values()), list(r["probabilities"].values()), atol=1e-4)
    card = (cls_run / "README.md").read_text()
    assert "| `exports/onnx` | onnx |" in card


def test_ner_onnx_export_gives_the_same_entities_with_offsets(ner_run, tmp_path):
    out, info = export_run(ner_run, "onnx", tmp_path / "ner-onnx")
    assert set(info["metrics"]["fp32"]) == {"entity_f1"} and info["main_metric"] == "entity_f1"
    texts = ["李四在上海的公司", "我们 张三在北京", "公司"]
    got, ref = load_predictor(out).predict(texts), load_predictor(ner_run).predict(texts)
    assert {(e["type"], e["text"], e["start"], e["end"]) for e in got[0]["entities"]} == {
        ("PER", "李四", 0, 2), ("LOC", "上海", 3, 5)}
    for g, r in zip(got, ref):
        assert [(e["type"], e["start"], e["end"]) for e in g["entities"]] == [
            (e["type"], e["start"], e["end"]) for e in r["entities"]]
        assert np.allclose([e["confidence"] for e in g["entities"]], [e["confidence"] for e in r["entities"]],
                           atol=1e-4)


def test_ner_int8_export(ner_run, tmp_path):
    out, info = export_run(ner_run, "torch-int8", tmp_path / "ner-int8")
    got = load_predictor(out).predict(["李四在上海的公司"])[0]["entities"]
    assert {(e["type"], e["start"], e["end"]) for e in got} == {("PER", 0, 2), ("LOC", 3, 5)}


def test_refuses_an_export_that_loses_accuracy_and_leaves_nothing(cls_run, tmp_path):
    card_before = (cls_run / "README.md").read_text()
    target = tmp_path / "guarded" / "bf16"
    # A tolerance of -1 demands a gain of one point, which no export of the same weights delivers: the
    # guard must fire, name both numbers, and clean up even the parent directory it created.
    with pytest.raises(TuneforgeError) as e:
        export_run(cls_run, "bf16", target, max_drop=-1.0)
    msg = e.value.message()
    # both numbers: the export's score and fp32's
    assert re.search(r"bf16 export scores macro_f1 [01]\.\d{4} on the validation set \(30 examples\) "
                     r"against [01]\.\d{4} for the fp32 model", msg), msg
    assert "--force" in msg
    assert "onnx-int8" in msg and "gguf" not in msg  # the fix names the other formats of this kind of run
    assert not target.exists() and not (tmp_path / "guarded").exists()
    assert (cls_run / "README.md").read_text() == card_before
    out, info = export_run(cls_run, "bf16", target, max_drop=-1.0, force=True)
    assert info["forced"] and out.is_dir() and "| yes |" in (cls_run / "README.md").read_text()


def test_bad_input_is_a_tuneforge_error(cls_run, cls_onnx, tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(TuneforgeError, match="not a finished tuneforge run"):
        export_run(tmp_path / "notes", "onnx", tmp_path / "x")
    with pytest.raises(TuneforgeError, match="unknown export format 'int4'"):
        export_run(cls_run, "int4", tmp_path / "x")
    (tmp_path / "taken").mkdir()
    with pytest.raises(TuneforgeError, match="already exists"):
        export_run(cls_run, "bf16", tmp_path / "taken")
    with pytest.raises(TuneforgeError, match="already an export"):
        export_run(cls_onnx, "onnx-int8", tmp_path / "x")
    with pytest.raises(TuneforgeError, match="not a directory"):
        load_predictor(tmp_path / "missing")
    with pytest.raises(TuneforgeError, match="not a finished tuneforge run"):
        load_predictor(tmp_path / "notes")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "export.json").write_text('{"format": "onnx"}')
    with pytest.raises(TuneforgeError, match="incomplete"):
        load_predictor(broken)
    assert not (tmp_path / "x").exists()


def test_overwrite_replaces_the_export_and_its_card_row(cls_run, tmp_path):
    out, _ = export_run(cls_run, "torch-int8", tmp_path / "again")
    (out / "stale.txt").write_text("old")
    export_run(cls_run, "torch-int8", tmp_path / "again", overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "export.json").is_file()
    assert (cls_run / "README.md").read_text().count(f"| `{out.resolve()}` |") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_export_and_predict_on_an_onnx_export(cls_run, cls_onnx, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tuneforge.cli", *args], capture_output=True, text=True,
                              timeout=300)
    r = cli("export", str(cls_run), "--format", "torch-int8", "--output", str(tmp_path / "q"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "torch-int8 export" in r.stdout and "macro_f1" in r.stdout and (tmp_path / "q" / "export.json").is_file()
    r = cli("predict", str(cls_onnx), "--text", "the plot was awful")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["label"] == "neg"
    r = cli("export", str(cls_run), "--format", "fp8", "--output", str(tmp_path / "z"))
    assert r.returncode == 2 and "unknown export format 'fp8'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "z").exists()


def test_every_format_is_one_registered_spec():
    """The exporter and the loader ask the spec (write, load, files); nothing tests a format's name."""
    import inspect

    import tuneforge.export.exporter as exporter
    import tuneforge.export.load as load
    from tuneforge.export.formats import EXPORT_FORMATS
    assert tuple(EXPORT_FORMATS) == FORMATS
    for spec in EXPORT_FORMATS.values():
        assert callable(spec.write) and callable(spec.load) and spec.files
    for module in (exporter, load):
        source = inspect.getsource(module)
        assert not [f for f in FORMATS if f'"{f}"' in source], module.__name__


@pytest.mark.parametrize("fmt", CLASSIFIER_FORMATS)
def test_a_texts_answer_does_not_depend_on_its_batch_companions(cls_run, tmp_path, fmt):
    """In a micro-batching server one caller's answer must not depend on other callers' texts. The int8 formats'
    per-batch activation scales would make it so; their loaders run each text alone (formats.OneTextAtATime)."""
    from tuneforge.export.formats import OneTextAtATime, export_format
    path, _ = export_run(cls_run, fmt, tmp_path / fmt)
    run = load_predictor(path)
    assert isinstance(run.model, OneTextAtATime) is export_format(fmt).one_at_a_time
    companions = [TEXTS[3] * 2, "good", "the movie was awful and terrible and bad " * 4]  # other lengths, other words
    for text in TEXTS[:3]:
        alone = run.predict([text])[0]
        together = run.predict([text] + companions, batch_size=4)[0]
        assert together["label"] == alone["label"], fmt
        gap = max(abs(together["probabilities"][k] - alone["probabilities"][k]) for k in alone["probabilities"])
        assert gap <= 1e-3, (fmt, text, gap)


def test_one_text_at_a_time_keeps_token_positions_for_ner(ner_run, tmp_path):
    from tuneforge.export.formats import OneTextAtATime
    path, _ = export_run(ner_run, "torch-int8", tmp_path / "ner-int8")
    run = load_predictor(path)
    assert isinstance(run.model, OneTextAtATime)
    texts = ["张三在北京的公司", "李四在上海", "张三在中国的公司的公司"]
    together = run.predict(texts, batch_size=3)
    assert together == [run.predict([t])[0] for t in texts] and together[0]["entities"]


def test_one_text_at_a_time_removes_a_dependence_on_the_batch():
    """A stand-in for dynamic int8: every output is rounded on a grid set by the batch's largest activation, so a
    loud companion changes a quiet text's answer; run one text at a time, it cannot."""
    from types import SimpleNamespace

    import torch

    from tuneforge.export.formats import OneTextAtATime

    class PerBatchScale:
        device = torch.device("cpu")

        def eval(self):
            return self

        def __call__(self, input_ids, attention_mask, **_):
            x = (input_ids * attention_mask).float()
            scale = x.abs().max() / 127  # one scale for the whole batch, as DynamicQuantizeLinear computes it
            q = torch.round(x / scale) * scale
            return SimpleNamespace(logits=torch.stack([q.sum(1), -q.sum(1)], 1))

    quiet, loud = torch.tensor([[3, 5, 0, 0]]), torch.tensor([[3, 5, 0, 0], [1000, 7, 9, 11]])
    mask = (loud != 0).long()
    raw = PerBatchScale()
    assert not torch.equal(raw(quiet, mask[:1]).logits[0], raw(loud, mask).logits[0])  # the companion leaks in
    wrapped = OneTextAtATime(raw)
    assert torch.equal(wrapped(quiet, mask[:1]).logits[0], wrapped(loud, mask).logits[0])


def test_auto_measures_every_format_and_keeps_the_fastest_that_keeps_accuracy(cls_run, tmp_path):
    out, info = export_run(cls_run, "auto", tmp_path / "auto")
    auto = info["auto"]
    assert set(auto["candidates"]) == set(CLASSIFIER_FORMATS)
    kept = {f: c for f, c in auto["candidates"].items() if -c["delta_points"] <= 0.5}
    assert auto["chosen"] == info["format"] == max(kept, key=lambda f: kept[f]["speed_ratio"])
    assert auto["cpu"]["model_name"] and auto["cpu"]["torch_cpu_capability"]
    assert [p.name for p in tmp_path.iterdir()] == ["auto"]  # the other candidates' directories are gone
    fp32 = load_predictor(cls_run).predict(TEXTS)
    assert [p["label"] for p in load_predictor(out).predict(TEXTS)] == [p["label"] for p in fp32]
    assert f"{info['format']} (auto: fastest of {len(CLASSIFIER_FORMATS)} on" in (cls_run / "README.md").read_text()


def test_auto_refuses_when_no_format_keeps_accuracy_and_leaves_nothing(cls_run, tmp_path):
    with pytest.raises(TuneforgeError) as e:
        export_run(cls_run, "auto", tmp_path / "exports" / "auto", max_drop=-50)  # each must gain 50 points
    assert "no export format stays within" in e.value.what and "onnx-int8" in e.value.what
    assert not (tmp_path / "exports").exists()


def test_auto_that_fails_midway_leaves_no_candidate_behind(cls_run, tmp_path, monkeypatch):
    import dataclasses

    from tuneforge.export.formats import EXPORT_FORMATS

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    last = CLASSIFIER_FORMATS[-1]  # by then the fastest so far sits in its own directory
    monkeypatch.setitem(EXPORT_FORMATS, last, dataclasses.replace(EXPORT_FORMATS[last], write=broken))
    with pytest.raises(RuntimeError):
        export_run(cls_run, "auto", tmp_path / "exports" / "auto")
    assert not (tmp_path / "exports").exists()
