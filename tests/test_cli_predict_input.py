"""`tuneforge predict --input` through the CLI: a malformed input file is exit 2 with file:line, before any
model is loaded (the run directory here does not even exist)."""

from __future__ import annotations

import pytest

from tuneforge.cli import main


@pytest.mark.parametrize("name, content, line, what", [
    ("in.csv", 'text\nfirst\n"second\nthird\n', 3, "never closed"),          # was: exit 0, rows swallowed
    ("in.csv", "id,text\n1,fine\n2\n", 3, "fields where the header has 2"),    # was: AttributeError
    ("in.jsonl", '{"text": "ok"}\n{"text": null}\n', 2, "null"),              # was: predicted as "None"
])
def test_predict_refuses_malformed_input(tmp_path, capsys, name, content, line, what):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    rc = main(["predict", str(tmp_path / "run"), "--input", str(src), "--output", str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"{src}:{line}: " in err and what in err and "\n  fix: " in err
    assert not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------- data.redact at prediction time (issue 16)

@pytest.fixture(scope="module")
def redacting_run(tmp_path_factory, tiny_bert):
    """A tiny run trained with data.redact: [phone, url]."""
    import yaml

    from tuneforge.config import load_config
    from tuneforge.train.run import train
    d = tmp_path_factory.mktemp("redacting-run")
    rows = ["text,label"] + [f"the movie was {w} {i},{lab}" for i in range(12)
                             for w, lab in (("good", "pos"), ("bad", "neg"))]
    (d / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = {"task": "text-classification", "backbone": str(tiny_bert), "output_dir": str(d / "run"),
           "data": {"train": str(d / "train.csv"), "redact": ["phone", "url"]},
           "train": {"method": "full", "epochs": 1, "batch_size": 8, "max_length": 16, "bf16": "false",
                     "early_stopping_patience": 0, "evals_per_epoch": 1}}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train(load_config(d / "config.yaml"), progress=False)


NUMBERS = ["415-555-2671", "(415) 555-2671", "020 7946 0958", "07700 900123", "example.co.uk/path"]


def test_predict_redacts_like_training(tmp_path, redacting_run):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"call {n} about the good movie\n" for n in NUMBERS), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(redacting_run), "--input", str(src), "--output", str(out)]) == 0
    written = out.read_text(encoding="utf-8")
    assert not any(n in written for n in NUMBERS) and "7946" not in written and "555" not in written
    assert written.count("[PHONE]") == 4 and written.count("[URL]") == 1


def test_serve_backend_redacts_like_training(redacting_run):
    from tuneforge.serve.backends import load_backend
    preds = load_backend(redacting_run).predict(["ring 020 7946 0958 now"])
    assert preds[0]["text"] == "ring [PHONE] now"
