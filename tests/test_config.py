"""Config: YAML + dotted overrides, type coercion, unknown keys, every validate() rule, paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuneforge.config import Config, describe, load_config, save_config
from tuneforge.errors import TuneforgeError

BASE = ["data.train=train.csv"]  # the one key without a default


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error(path, overrides=()) -> TuneforgeError:
    with pytest.raises(TuneforgeError) as e:
        load_config(path, list(overrides))
    return e.value


# ---------------------------------------------------------------- YAML and overrides

def test_yaml_values_land_in_typed_fields(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", """
task: token-classification
backbone: my-model
data:
  train: /abs/train.txt
  tag_scheme: BMES
  split: [0.7, 0.2, 0.1]
train:
  epochs: 2          # int in YAML, float field
  learning_rate: 5e-5  # PyYAML reads this as a string
  batch_size: 8
  group_by_length: no
  num_layers: 4
"""))
    assert cfg.task == "token-classification"
    assert cfg.backbone == "my-model"
    assert cfg.data.train == "/abs/train.txt"
    assert cfg.data.tag_scheme == "BMES"
    assert cfg.data.split == [0.7, 0.2, 0.1]
    assert cfg.train.epochs == 2.0 and isinstance(cfg.train.epochs, float)
    assert cfg.train.learning_rate == 5e-5 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.batch_size == 8 and isinstance(cfg.train.batch_size, int)
    assert cfg.train.group_by_length is False
    assert cfg.train.num_layers == 4
    assert cfg.train.max_length is None  # untouched default: chosen from the data when training (train/auto.py)
    assert cfg.config_path == str(tmp_path / "c.yaml")


def test_overrides_beat_the_file(tmp_path):
    path = write(tmp_path / "c.yaml", "data:\n  train: /abs/a.csv\ntrain:\n  epochs: 5\n  seed: 1\n")
    cfg = load_config(path, ["train.epochs=2", "data.text_column=review"])
    assert cfg.train.epochs == 2.0
    assert cfg.train.seed == 1
    assert cfg.data.text_column == "review"


@pytest.mark.parametrize("override, key, expected", [
    ("train.epochs=2", "train.epochs", 2.0),
    ("train.epochs=0.5", "train.epochs", 0.5),
    ("train.batch_size=8", "train.batch_size", 8),
    ("train.batch_size=8.0", "train.batch_size", 8),
    ("train.learning_rate=3e-5", "train.learning_rate", 3e-5),
    ("data.split=[0.7, 0.2, 0.1]", "data.split", [0.7, 0.2, 0.1]),
    ("data.split=0.6,0.2,0.2", "data.split", [0.6, 0.2, 0.2]),
    ("train.group_by_length=false", "train.group_by_length", False),
    ("train.group_by_length=off", "train.group_by_length", False),
    ("train.freeze_embeddings=true", "train.freeze_embeddings", True),
    ("train.freeze_embeddings=1", "train.freeze_embeddings", True),
    ("train.bf16=false", "train.bf16", "false"),  # a str field; YAML reads `false` as a bool
    ("train.bf16=true", "train.bf16", "true"),
    ("train.dropout=null", "train.dropout", None),
    ("train.dropout=~", "train.dropout", None),
    ("train.dropout=", "train.dropout", None),
    ("train.dropout=None", "train.dropout", None),
    ("data.test=None", "data.test", None),
    ("backbone=bert-base", "backbone", "bert-base"),
    ("data.text_column=123", "data.text_column", "123"),
    ("output_dir=runs/*[x", "output_dir", "runs/*[x"),  # not YAML: taken as typed
])
def test_override_types(override, key, expected):
    cfg = load_config(None, BASE + ["train.dropout=0.2", "data.test=t.csv", override])
    section, _, name = key.rpartition(".")
    value = getattr(getattr(cfg, section) if section else cfg, name)
    assert value == expected and type(value) is type(expected)


def test_bf16_written_as_yaml_bool(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "data:\n  train: /a.csv\ntrain:\n  bf16: false\n"))
    assert cfg.train.bf16 == "false"


def test_override_into_an_empty_section(tmp_path):
    path = write(tmp_path / "c.yaml", "data:\n  train: /a.csv\ntrain:\n")  # `train:` holds None
    assert load_config(path, ["train.epochs=2"]).train.epochs == 2.0
    assert load_config(path).train.epochs is None  # auto: chosen from the data size when training


def test_override_without_equals():
    e = error(None, BASE + ["train.epochs"])
    assert "train.epochs" in e.what and e.where == "command line" and "train.epochs=2" in e.fix


def test_override_through_a_value_is_refused():
    e = error(None, BASE + ["train.epochs=1", "train.epochs.x=1"])
    assert "train.epochs.x" in e.what and "`epochs` is not a section" in e.what and e.fix


@pytest.mark.parametrize("override, key, typ", [
    ("train.batch_size=abc", "train.batch_size", "int"),
    ("train.batch_size=2.5", "train.batch_size", "int"),
    ("train.batch_size=true", "train.batch_size", "int"),
    ("train.batch_size=.inf", "train.batch_size", "int"),
    ("train.epochs=two", "train.epochs", "float"),
    ("train.epochs=.nan", "train.epochs", "float"),
    ("train.warmup_ratio=[1]", "train.warmup_ratio", "float"),
    ("train.group_by_length=maybe", "train.group_by_length", "bool"),
    ("data.text_column=[a, b]", "data.text_column", "str"),
    ("data.split=abc", "data.split", "float"),
])
def test_coercion_error_names_the_key(override, key, typ):
    e = error(None, BASE + [override])
    assert e.what.startswith(f"`{key}` must be {typ}")
    assert e.where == "command line"
    assert key in e.fix


def test_empty_value_for_a_required_field():
    e = error(None, BASE + ["train.batch_size="])
    assert e.what == "`train.batch_size` may not be empty" and "train.batch_size" in e.fix


def test_coercion_error_in_file_names_file_and_line(tmp_path):
    path = write(tmp_path / "c.yaml", "data:\n  train: /a.csv\ntrain:\n  seed: 1\n  batch_size: many\n")
    e = error(path)
    assert e.where == f"{path}:5"
    assert e.what.startswith("`train.batch_size` must be int, got 'many'")


# ---------------------------------------------------------------- unknown keys

@pytest.mark.parametrize("override, key, suggestion", [
    ("train.epoch=2", "train.epoch", "did you mean `train.epochs`?"),
    ("data.text_colum=x", "data.text_colum", "did you mean `data.text_column`?"),
    ("backbon=x", "backbone", "did you mean `backbone`?"),
])
def test_unknown_override_key_suggests(override, key, suggestion):
    e = error(None, BASE + [override])
    assert e.what.startswith("unknown config key `" + override.split("=")[0] + "`")
    assert e.fix == suggestion
    assert e.where == "command line"


def test_unknown_key_without_a_close_match_lists_known_keys():
    e = error(None, BASE + ["train.zzzzzz=1"])
    assert "train.zzzzzz" in e.what
    assert "known keys:" in e.fix and "epochs" in e.fix and "learning_rate" in e.fix


def test_unknown_key_in_file_names_file_and_line(tmp_path):
    path = write(tmp_path / "c.yaml", "task: text-classification\ndata:\n  train: /a.csv\n  lable_column: y\n")
    e = error(path)
    assert e.where == f"{path}:4"
    assert "`data.lable_column`" in e.what and e.fix == "did you mean `data.label_column`?"


@pytest.mark.parametrize("text, where_line, what", [
    ("- a\n- b\n", None, "must be a mapping"),  # with an override to apply: no AttributeError
    ("just a string\n", None, "must be a mapping"),
    ("data:\n  train: /a.csv\ntrain: 3\n", 3, "`train` must be a mapping"),
])
def test_non_mapping_yaml(tmp_path, text, where_line, what):
    path = write(tmp_path / "c.yaml", text)
    e = error(path, ["backbone=x"])
    assert what in e.what and e.fix
    assert e.where == (f"{path}:{where_line}" if where_line else str(path))


# ---------------------------------------------------------------- validate(): one rule each

VALIDATE_CASES = [
    ("task", ["task=sentiment-analysis"]),
    ("data.train", ["data.train="]),
    ("data.tag_scheme", ["data.tag_scheme=IOB"]),
    ("data.bad_rows", ["data.bad_rows=ignore"]),
    ("data.format", ["data.format=xlsx"]),
    ("data.split", ["data.split=[0.8, 0.2]"]),
    ("data.split", ["data.split=[1.1, -0.05, -0.05]"]),
    ("data.split", ["data.split=[0.5, 0.1, 0.1]"]),
    ("data.split", ["data.split=[0, 0.5, 0.5]"]),
    ("train.epochs", ["train.epochs=0"]),
    ("train.batch_size", ["train.batch_size=0"]),
    ("train.eval_batch_size", ["train.eval_batch_size=-1"]),
    ("train.gradient_accumulation", ["train.gradient_accumulation=0"]),
    ("train.max_length", ["train.max_length=0"]),
    ("train.max_length", ["train.max_length=10000"]),
    ("train.evals_per_epoch", ["train.evals_per_epoch=0"]),
    ("train.learning_rate", ["train.learning_rate=0"]),
    ("train.learning_rate", ["train.learning_rate=2"]),
    ("train.head_learning_rate", ["train.head_learning_rate=-0.001"]),
    ("train.warmup_ratio", ["train.warmup_ratio=1"]),
    ("train.warmup_ratio", ["train.warmup_ratio=-0.1"]),
    ("train.dropout", ["train.dropout=1.0"]),
    ("train.num_layers", ["train.num_layers=0"]),
    ("train.bf16", ["train.bf16=maybe"]),
    ("train.early_stopping_patience", ["train.early_stopping_patience=-1"]),
    ("data.train_limit", ["data.train_limit=0"]),
    ("data.validation_limit", ["data.validation_limit=0"]),
    ("data.test_limit", ["data.test_limit=-5"]),
]


@pytest.mark.parametrize("key, overrides", VALIDATE_CASES, ids=[f"{k}:{o[0]}" for k, o in VALIDATE_CASES])
def test_validate_rule_names_the_key(key, overrides):
    e = error(None, BASE + overrides)
    assert e.what.startswith(f"`{key}` "), e.what
    assert e.fix


def test_validate_accepts_the_boundaries():
    cfg = load_config(None, BASE + [
        "data.split=[1, 0, 0]", "train.warmup_ratio=0", "train.dropout=0", "train.num_layers=1",
        "train.early_stopping_patience=0", "train.max_length=8192", "train.learning_rate=0.5",
        "data.train_limit=1", "data.validation_limit=1", "data.test_limit=1", "data.format=jsonl",
        "data.tag_scheme=BIOES", "data.bad_rows=skip", "train.bf16=auto",
    ])
    assert cfg.data.split == [1.0, 0.0, 0.0] and cfg.train.max_length == 8192


def test_validate_error_from_file_names_file_and_line(tmp_path):
    path = write(tmp_path / "c.yaml", "data:\n  train: /a.csv\ntrain:\n  seed: 3\n  epochs: 0\n")
    e = error(path)
    assert e.where == f"{path}:5" and e.what.startswith("`train.epochs` must be positive")


def test_missing_train_names_the_file(tmp_path):
    path = write(tmp_path / "c.yaml", "task: text-classification\n")
    e = error(path)
    assert e.where == str(path) and e.what == "`data.train` is not set"


# ---------------------------------------------------------------- invalid YAML, unreadable file

@pytest.mark.parametrize("text, line", [
    ("task: text-classification\ndata:\n  train: a.csv\n   test: b.csv\n", 4),
    ("task: text-classification\ndata:\n  split: [0.8, 0.1\ntrain:\n  epochs: 1\n", 4),
    ("data:\n\ttrain: a.csv\n", 2),
])
def test_invalid_yaml_names_file_and_line(tmp_path, text, line):
    path = write(tmp_path / "bad.yaml", text)
    e = error(path)
    assert e.where == f"{path}:{line}"
    assert e.what.startswith("invalid YAML")
    assert "YAML syntax" in e.fix


def test_config_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes("task: text-classification\n# caf\u00e9\ndata:\n  train: a.csv\n".encode("latin-1"))
    e = error(path)
    assert e.where == f"{path}:2" and "0xe9" in e.what and "UTF-8" in e.fix


def test_config_file_not_found(tmp_path):
    e = error(tmp_path / "nope.yaml")
    assert "nope.yaml" in e.what and e.fix


# ---------------------------------------------------------------- data paths

def test_relative_data_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "data" / "train.csv", "text,label\n")
    write(tmp_path / "proj" / "data" / "test.csv", "text,label\n")
    path = write(tmp_path / "proj" / "conf" / "c.yaml",
                 "data:\n  train: ../data/train.csv\n  test: ../data/test.csv\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(path)
    assert Path(cfg.data.train).resolve() == (tmp_path / "proj" / "data" / "train.csv").resolve()
    assert Path(cfg.data.test).resolve() == (tmp_path / "proj" / "data" / "test.csv").resolve()
    assert cfg.data.validation is None


def test_config_directory_wins_over_the_working_directory(tmp_path, monkeypatch):
    """A same-named file in the working directory must not silently replace the config's data."""
    write(tmp_path / "conf" / "train.csv", "text,label\n")
    write(tmp_path / "cwd" / "train.csv", "text,label\n")
    path = write(tmp_path / "conf" / "c.yaml", "data:\n  train: train.csv\n")
    monkeypatch.chdir(tmp_path / "cwd")
    assert Path(load_config(path).data.train).resolve() == (tmp_path / "conf" / "train.csv").resolve()


def test_missing_relative_file_points_beside_the_config(tmp_path, monkeypatch):
    path = write(tmp_path / "conf" / "c.yaml", "data:\n  train: missing.csv\n")
    monkeypatch.chdir(tmp_path)
    assert Path(load_config(path).data.train).resolve() == (tmp_path / "conf" / "missing.csv").resolve()


def test_override_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "conf" / "other.csv", "text,label\n")
    write(tmp_path / "cwd" / "other.csv", "text,label\n")
    path = write(tmp_path / "conf" / "c.yaml", "data:\n  train: x.csv\n")
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_config(path, ["data.train=other.csv"]).data.train == str(tmp_path / "cwd" / "other.csv")


def test_resolved_paths_are_absolute(tmp_path, monkeypatch):
    """The config saved into a run directory must point at the same files from any directory."""
    write(tmp_path / "conf" / "train.csv", "text,label\n")
    write(tmp_path / "conf" / "c.yaml", "data:\n  train: train.csv\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("conf") / "c.yaml")  # a relative config path
    assert cfg.data.train == str(tmp_path / "conf" / "train.csv")
    save_config(cfg, tmp_path / "conf" / "saved.yaml")
    monkeypatch.chdir(tmp_path / "conf")
    assert load_config(tmp_path / "conf" / "saved.yaml").data.train == str(tmp_path / "conf" / "train.csv")


def test_absolute_paths_untouched(tmp_path):
    path = write(tmp_path / "c.yaml", f"data:\n  train: {tmp_path / 'elsewhere.csv'}\n")
    assert load_config(path).data.train == str(tmp_path / "elsewhere.csv")


def test_dataset_refs_expand_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path / "c.yaml", "data:\n  train: dataset:msra-ner/train.txt\n  test: dataset:msra-ner/test.txt\n")
    cfg = load_config(path)
    assert cfg.data.train == str(tmp_path / "cache" / "data" / "msra-ner" / "train.txt")
    assert cfg.data.test == str(tmp_path / "cache" / "data" / "msra-ner" / "test.txt")
    cfg = load_config(None, ["data.train=dataset:polarity-en/data.csv"])
    assert cfg.data.train == str(tmp_path / "cache" / "data" / "polarity-en" / "data.csv")


# ---------------------------------------------------------------- documentation and round trip

def test_every_key_is_documented():
    rows = describe()
    keys = [k for k, _, _ in rows]
    assert "train.epochs" in keys and "data.validation_limit" in keys and "config_path" not in keys
    assert len(keys) == len(set(keys))
    undocumented = [k for k, _, h in rows if not h.strip()]
    assert undocumented == []


def test_saved_config_loads_back_identically(tmp_path):
    cfg = load_config(None, ["data.train=/d/train.csv", "train.epochs=2", "train.bf16=false",
                             "data.split=[0.7,0.2,0.1]", "train.dropout=0.1"])
    save_config(cfg, tmp_path / "config.yaml")
    back = load_config(tmp_path / "config.yaml")
    back.config_path = None
    assert back == cfg and isinstance(back, Config)


def test_error_message_shape():
    e = error(None, BASE + ["train.epochs=0"])
    assert re.fullmatch(r"command line: `train.epochs` must be positive, got 0.0\n  fix: .+", e.message())


def test_every_owned_section_registers_its_checks():
    """Config cannot import the layers that own these sections; each registers its rules (config/checks.py)."""
    import tuneforge.methods.tune  # noqa: F401  (the tune space's owner)
    import tuneforge.methods.zero_shot  # noqa: F401
    import tuneforge.train.run  # noqa: F401  (setfit, the backbone table, PII kinds, augmentation operations)
    from tuneforge.config.checks import SECTION_CHECKS
    assert set(SECTION_CHECKS) == {"setfit", "zero_shot", "tune", "backbone", "data.redact", "data.augment.ops"}


def test_a_config_read_before_its_owners_were_imported_is_checked_in_full_by_train(tmp_path):
    """In a fresh process the config is read while no method is loaded: setfit's rules have not run yet. train()
    validates again on entry, so the bad key still stops it before any data is read or file written."""
    import subprocess
    import sys
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    code = ("from tuneforge.config import load_config\n"
            f"cfg = load_config(None, ['data.train={data}', 'output_dir={tmp_path / 'run'}', 'setfit.head=svm'])\n"
            "print('loaded')\n"
            "from tuneforge.train.run import train\n"
            "train(cfg, progress=False)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "loaded" and r.returncode != 0
    assert "`setfit.head` is 'svm'" in r.stderr and not (tmp_path / "run").exists()
