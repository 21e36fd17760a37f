"""Every class of bad input, through the CLI as a user runs it: exit status 2, no traceback, the file
(and line) named, a `fix:` hint, and nothing already written lost.

Each call is a fresh process running `python -m tuneforge.cli ...`. Spawning the interpreter costs
~5 s here (torch and transformers imports), so by default the calls are forked from one process that
has done those imports once; the child redirects fds 1 and 2 to files and runs `tuneforge.cli` as
`__main__` with runpy, which is what `-m` does. `test_fork_matches_a_real_subprocess` checks that the
two give the same exit status and output, and TUNEFORGE_TEST_SPAWN=1 spawns a real interpreter for
every call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

SPAWN = os.environ.get("TUNEFORGE_TEST_SPAWN") == "1"
TIMEOUT = 300

SERVER = r'''
import importlib, json, os, runpy, signal, sys, traceback
for name in ("transformers", "transformers.trainer_utils", "tuneforge.config", "tuneforge.data.splits",
             "tuneforge.data.report", "tuneforge.backbones.registry", "tuneforge.train.run", "tuneforge.rundir",
             "tuneforge.tasks.text_classification", "tuneforge.tasks.token_classification",
             "tuneforge.evaluation.outputs", "tuneforge.train.trainer"):
    try:  # only a cache: a module that fails here fails again, as it would, in the child
        importlib.import_module(name)
    except Exception:
        pass
try:
    from transformers import AutoConfig, AutoTokenizer, set_seed
except Exception:
    pass
assert "tuneforge.cli" not in sys.modules  # runpy must execute it fresh, as `-m` does
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(req["timeout"])
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            for fd, name in ((1, "stdout"), (2, "stderr")):
                f = os.open(req[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            os.chdir(req["cwd"])
            sys.argv = ["tuneforge"] + req["argv"]
            try:
                runpy.run_module("tuneforge.cli", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:  # as the interpreter treats it
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
'''


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


class Cli:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONIOENCODING="utf-8",
                        TUNEFORGE_CACHE=str(workdir / "cache"), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
        for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            self.env.pop(var, None)
        self.server = None
        self.calls = 0

    def spawn(self, argv: list[str], cwd: Path) -> Result:
        p = subprocess.run([sys.executable, "-m", "tuneforge.cli", *argv], cwd=cwd, env=self.env,
                           capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=TIMEOUT)
        return Result(p.returncode, p.stdout, p.stderr)

    def start(self):
        """Start the forking process (its imports overlap with building the tiny backbone)."""
        if self.server is None:
            self.server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=open(self.workdir / "server.err", "w"),
                                           text=True, env=self.env, cwd=self.workdir)
            self.ready = False

    def fork(self, argv: list[str], cwd: Path) -> Result:
        self.start()
        if not self.ready:
            line = self.server.stdout.readline()
            assert line == "ready\n", (self.workdir / "server.err").read_text()
            self.ready = True
        self.calls += 1
        out, err = self.workdir / f"{self.calls}.out", self.workdir / f"{self.calls}.err"
        self.server.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
                                            "timeout": TIMEOUT}) + "\n")
        self.server.stdin.flush()
        rc = int(self.server.stdout.readline())
        read = lambda p: p.read_text(encoding="utf-8", errors="replace")
        return Result(rc, read(out), read(err))

    def __call__(self, *argv, cwd: Path) -> Result:
        argv = [str(a) for a in argv]
        return self.spawn(argv, cwd) if SPAWN else self.fork(argv, cwd)

    def close(self):
        if self.server is not None:  # idle between requests: no child to wait for
            self.server.stdin.close()
            self.server.terminate()  # skips a 2 s interpreter teardown of torch
            self.server.wait(timeout=60)


@pytest.fixture(scope="session")  # session scope: set up before the session-scoped tiny_bert
def cli(tmp_path_factory):
    runner = Cli(tmp_path_factory.mktemp("cli"))
    if not SPAWN:
        runner.start()
    yield runner
    runner.close()


# ---------------------------------------------------------------- data and configs

CLS_ROWS = [("good movie", "pos"), ("bad plot", "neg"), ("great cast", "pos"), ("awful music", "neg"),
            ("lovely plot", "pos"), ("boring movie", "neg"), ("excellent music", "pos"), ("poor cast", "neg"),
            ("fine movie", "pos"), ("terrible plot", "neg")] * 2
CLS_ROWS = [(f"{t} {i}", l) for i, (t, l) in enumerate(CLS_ROWS)]  # unique texts: none dropped as duplicates
NER_SENTENCES = [[("john", "B-PER"), ("lives", "O"), ("in", "O"), ("paris", "B-LOC")],
                 [("mary", "B-PER"), ("works", "O"), ("at", "O"), ("acme", "B-ORG"), ("corp", "I-ORG")],
                 [("paris", "B-LOC"), ("is", "O"), ("lovely", "O")],
                 [("london", "B-LOC"), ("and", "O"), ("paris", "B-LOC")]] * 3


def csv_text(rows, header="text,label") -> str:
    return header + "\n" + "".join(f"{t},{l}\n" for t, l in rows)


def conll_text(sentences) -> str:
    return "".join("".join(f"{tok} {tag}\n" for tok, tag in s) + "\n" for s in sentences)


def replace_row(rows, i, new):
    rows = list(rows)
    rows[i] = new
    return rows


def base_config(tiny_bert: Path, case_dir: Path, task: str, train_file: str) -> dict:
    return {"task": task, "backbone": str(tiny_bert), "output_dir": str(case_dir / "run"),
            "data": {"train": train_file},
            "train": {"epochs": 1, "batch_size": 4, "max_length": 32, "evals_per_epoch": 1}}


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes]
    where: str  # relative to the case directory: "train.csv:5", "config.yaml:3", "train.csv"
    what: str  # expected in the message
    task: str = "text-classification"
    data: dict = field(default_factory=dict)  # merged into the config's data section
    config: Callable[[dict], str | bytes] | None = None  # raw config text from the base mapping


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


def raw_config(extra_lines: str) -> Callable[[dict], str]:
    """The base config as YAML text, with extra lines at the end (so their line numbers are known)."""
    return lambda cfg: dump(cfg) + extra_lines


def config_line(cfg_text: str, needle: str) -> int:
    return next(i for i, l in enumerate(cfg_text.splitlines(), 1) if needle in l)


GBK_ROWS = csv_text(CLS_ROWS[:2]) + "\u5f88\u597d\u7684\u7535\u5f71,pos\n" + "".join(f"{t},{l}\n" for t, l in CLS_ROWS[2:])

CASES = [
    Case("missing text column", {"train.csv": csv_text(CLS_ROWS, "review,label")}, "train.csv",
         "column 'text' is missing (found: label, review)"),
    Case("missing label column", {"train.csv": csv_text(CLS_ROWS, "text,sentiment")}, "train.csv",
         "column 'label' is missing (found: sentiment, text)"),
    Case("empty text", {"train.csv": csv_text(replace_row(CLS_ROWS, 3, ("   ", "neg")))}, "train.csv:5",
         "empty text in column 'text'"),
    Case("missing label", {"train.csv": csv_text(replace_row(CLS_ROWS, 5, ("boring movie", "")))}, "train.csv:7",
         "missing label in column 'label'"),
    Case("label unseen in train", {"train.csv": csv_text(CLS_ROWS),
                                   "test.csv": csv_text([("good", "pos"), ("bad", "neg"), ("so so", "neutral")])},
         "test.csv:4", "test label 'neutral' never occurs in the training data", data={"test": "test.csv"}),
    Case("malformed csv line", {"train.csv": csv_text(replace_row(CLS_ROWS, 2, ("great, cast", "pos")))},
         "train.csv:4", "3 fields where the header has 2"),
    Case("malformed jsonl line", {"train.jsonl": "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in CLS_ROWS[:2])
                                  + '{"text": "great cast", "label": pos}\n'
                                  + "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in CLS_ROWS[2:])},
         "train.jsonl:3", "not valid JSON", data={"train": "train.jsonl"}),
    Case("malformed ner line", {"train.txt": conll_text(NER_SENTENCES[:1]) + "mary B-PER\nworks\n" + conll_text(NER_SENTENCES)},
         "train.txt:7", "expected 'token tag', got 'works'", task="token-classification", data={"train": "train.txt"}),
    Case("unreadable ner tag", {"train.txt": "john PERSON\n" + conll_text(NER_SENTENCES)},
         "train.txt:1", "unreadable tag 'PERSON'", task="token-classification", data={"train": "train.txt"}),
    Case("gbk bytes in a utf-8 data file", {"train.csv": GBK_ROWS.encode("gbk")}, "train.csv:4",
         "cannot decode byte 0xba as utf-8"),
    Case("latin-1 bytes in a utf-8 data file", {"train.csv": csv_text(replace_row(CLS_ROWS, 0, ("caf\u00e9 movie", "pos")))
                                                .encode("latin-1")}, "train.csv:2", "cannot decode byte 0xe9 as utf-8"),
    Case("latin-1 bytes in the config", {"train.csv": csv_text(CLS_ROWS)}, "config.yaml:1",
         "cannot decode byte 0xe9 as utf-8",
         config=lambda cfg: ("# caf\u00e9 reviews\n" + dump(cfg)).encode("latin-1")),
    Case("empty file", {"train.csv": ""}, "train.csv", "the file is empty"),
    Case("file not found", {}, "missing.csv", "file not found", data={"train": "missing.csv"}),
    Case("invalid yaml", {"train.csv": csv_text(CLS_ROWS)}, "config.yaml:@  oops: [1, 2",
         "invalid YAML", config=raw_config("extra:\n  - a\n  oops: [1, 2\n")),
    Case("unknown config key", {"train.csv": csv_text(CLS_ROWS)}, "config.yaml:@  epoch: 2",
         "unknown config key `train.epoch`", config=lambda cfg: dump(cfg).replace("  epochs: 1\n", "  epoch: 2\n")),
    Case("wrong value type", {"train.csv": csv_text(CLS_ROWS)}, "config.yaml:@  batch_size: many",
         "`train.batch_size` must be int, got 'many'",
         config=lambda cfg: dump(cfg).replace("  batch_size: 4\n", "  batch_size: many\n")),
    Case("invalid value", {"train.csv": csv_text(CLS_ROWS)}, "config.yaml:@  epochs: 0",
         "`train.epochs` must be positive", config=lambda cfg: dump(cfg).replace("  epochs: 1\n", "  epochs: 0\n")),
]


def make_case(root: Path, case: Case, tiny_bert: Path) -> tuple[Path, str]:
    """Write the case's files; return the config path and the expected `where` (absolute)."""
    d = root / re.sub(r"\W+", "-", case.name)
    d.mkdir(parents=True)
    for name, content in case.files.items():
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    cfg = base_config(tiny_bert, d, case.task, "train.csv")
    cfg["data"].update(case.data)
    text = case.config(cfg) if case.config else dump(cfg)
    (d / "config.yaml").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    where = case.where
    if ":@" in where:  # "config.yaml:@NEEDLE": the line that holds NEEDLE
        name, needle = where.split(":@")
        where = f"{name}:{config_line(text, needle)}"
    return d / "config.yaml", f"{d}/{where}"


def assert_user_error(res: Result, where: str, what: str):
    assert res.rc == 2, (res.rc, res.stderr[-3000:])
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    # "error: FILE[:LINE]: WHAT" and, on its own line, "  fix: HOW"
    assert re.search(rf"^error: {re.escape(where)}: ", res.stderr, re.M), res.stderr
    assert what in res.stderr, res.stderr
    assert re.search(r"^  fix: \S", res.stderr, re.M), res.stderr


# ---------------------------------------------------------------- the good inputs work

@pytest.mark.parametrize("task, train_name, content", [
    ("text-classification", "train.csv", csv_text(CLS_ROWS)),
    ("token-classification", "train.txt", conll_text(NER_SENTENCES)),
])
def test_good_input_passes(cli, tmp_path, tiny_bert, task, train_name, content):
    """The control: the bad cases below are this input with one thing broken."""
    (tmp_path / train_name).write_text(content, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(dump(base_config(tiny_bert, tmp_path, task, train_name)), encoding="utf-8")
    res = cli("check-data", tmp_path / "config.yaml", "--json", tmp_path / "report.json", cwd=tmp_path)
    assert res.rc == 0, res.stderr[-3000:]
    assert "Data report" in res.stdout and "Traceback" not in res.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert sum(s["examples"] for s in report["splits"].values()) == (20 if task == "text-classification" else 12)


# ---------------------------------------------------------------- every class of bad input

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_data_bad_input(cli, tmp_path, tiny_bert, case):
    cfg, where = make_case(tmp_path, case, tiny_bert)
    res = cli("check-data", cfg, cwd=tmp_path)
    assert_user_error(res, where, case.what)
    assert res.stdout == ""


TRAIN_CASES = [c for c in CASES if c.name in ("missing label column", "label unseen in train", "malformed ner line",
                                              "unknown config key")]


@pytest.mark.parametrize("case", TRAIN_CASES, ids=[c.name for c in TRAIN_CASES])
def test_train_bad_input_writes_nothing(cli, tmp_path, tiny_bert, case):
    cfg, where = make_case(tmp_path, case, tiny_bert)
    res = cli("train", cfg, "--quiet", cwd=tmp_path)
    assert_user_error(res, where, case.what)
    assert not (cfg.parent / "run").exists()  # data errors come before any file is written


def test_relative_config_path_from_another_directory(cli, tmp_path, tiny_bert):
    """The data file is found beside the config, and the error names it so the user can open it."""
    case = next(c for c in CASES if c.name == "malformed csv line")
    cfg, where = make_case(tmp_path / "project", case, tiny_bert)
    res = cli("check-data", os.path.relpath(cfg, tmp_path), cwd=tmp_path)
    assert res.rc == 2 and "Traceback" not in res.stderr
    assert re.search(rf"^error: {re.escape(where)}: 3 fields", res.stderr, re.M), res.stderr  # absolute


def test_bad_override_on_the_command_line(cli, tmp_path, tiny_bert):
    case = next(c for c in CASES if c.name == "missing text column")
    cfg, _ = make_case(tmp_path, case, tiny_bert)
    res = cli("check-data", cfg, "train.epoch=2", cwd=tmp_path)
    assert_user_error(res, "command line", "unknown config key `train.epoch`")
    assert "did you mean `train.epochs`?" in res.stderr


# ---------------------------------------------------------------- nothing already written is lost

FINISHED_RUN = {
    "metrics.json": json.dumps({"test": {"accuracy": 0.875, "macro_f1": 0.861}, "train": {"steps": 120}}),
    "config.yaml": "task: text-classification\n",
    "labels.json": '["neg", "pos"]',
    "model.safetensors": bytes(range(256)) * 64,
    "README.md": "# my model\n\nhand-edited notes\n",
    "report.txt": "accuracy 0.875\n",
    "test_predictions.jsonl": '{"text": "a", "label": "pos", "predicted": "pos", "confidence": 0.9}\n',
    "plots/learning_curve.png": b"\x89PNG\r\n\x1a\nfake",
}


def make_finished_run(run: Path) -> dict[str, bytes]:
    for name, content in FINISHED_RUN.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return snapshot(run)


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


OVERWRITE_CASES = [c for c in CASES if c.name in ("malformed csv line", "label unseen in train", "invalid yaml",
                                                  "empty file")]


@pytest.mark.parametrize("case", OVERWRITE_CASES, ids=[c.name for c in OVERWRITE_CASES])
def test_overwrite_with_bad_input_keeps_the_finished_run(cli, tmp_path, tiny_bert, case):
    cfg, where = make_case(tmp_path, case, tiny_bert)
    run = cfg.parent / "run"
    before = make_finished_run(run)
    res = cli("train", cfg, "--overwrite", "--quiet", cwd=tmp_path)
    assert_user_error(res, where, case.what)
    assert snapshot(run) == before  # same files, byte for byte, and no new ones
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] == 0.875


def test_train_refuses_a_finished_run_without_overwrite(cli, tmp_path, tiny_bert):
    (tmp_path / "train.csv").write_text(csv_text(CLS_ROWS), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(dump(base_config(tiny_bert, tmp_path, "text-classification", "train.csv")),
                                          encoding="utf-8")
    before = make_finished_run(tmp_path / "run")
    res = cli("train", tmp_path / "config.yaml", "--quiet", cwd=tmp_path)
    assert_user_error(res, "output_dir", f"{tmp_path / 'run'} already holds a finished run")
    assert "--overwrite" in res.stderr
    assert snapshot(tmp_path / "run") == before


@pytest.mark.parametrize("output", ["texts.txt", "./sub/../texts.txt", "{abs}"])
def test_predict_refuses_to_overwrite_its_input(cli, tmp_path, output):
    make_finished_run(tmp_path / "run")
    (tmp_path / "sub").mkdir()
    texts = tmp_path / "texts.txt"
    texts.write_text("good movie\nbad plot\n", encoding="utf-8")
    res = cli("predict", tmp_path / "run", "--input", "texts.txt", "--output", output.format(abs=texts), cwd=tmp_path)
    assert res.rc == 2 and "Traceback" not in res.stderr
    assert "--output would overwrite --input" in res.stderr and "\n  fix: " in res.stderr
    assert texts.read_text(encoding="utf-8") == "good movie\nbad plot\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "sub", "texts.txt"]  # no .tmp left either


# ---------------------------------------------------------------- the harness itself

@pytest.mark.skipif(SPAWN, reason="every call already spawns a real interpreter")
@pytest.mark.parametrize("verb, name", [("check-data", "malformed csv line"), ("train", "label unseen in train")])
def test_fork_matches_a_real_subprocess(cli, tmp_path, tiny_bert, verb, name):
    """`python -m tuneforge.cli` in a fresh interpreter gives what the forked runs above give."""
    case = next(c for c in CASES if c.name == name)
    cfg, where = make_case(tmp_path, case, tiny_bert)
    real = cli.spawn([verb, str(cfg)], tmp_path)
    forked = cli.fork([verb, str(cfg)], tmp_path)
    assert_user_error(real, where, case.what)
    assert (forked.rc, forked.stdout, forked.stderr) == (real.rc, real.stdout, real.stderr)


# ---------------------------------------------------------------- a finished run, and what goes wrong around it

import errno  # noqa: E402
import shutil  # noqa: E402


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_bert) -> Path:
    """A real (tiny) finished run: labels ["neg", "pos"]."""
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    d = tmp_path_factory.mktemp("trained")
    (d / "train.csv").write_text(csv_text(CLS_ROWS), encoding="utf-8")
    cfg = base_config(tiny_bert, d, "text-classification", str(d / "train.csv"))
    cfg["train"].update({"method": "full", "bf16": "false"})
    (d / "config.yaml").write_text(dump(cfg), encoding="utf-8")
    return train(load_config(d / "config.yaml"), progress=False)


def copy_run(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("exports"))
    return dst


def assert_refused(res: Result, where: str, *needles: str):
    """exit 2, one short paragraph naming `where`, a fix, no traceback."""
    assert res.rc == 2, (res.rc, res.stderr[-3000:])
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]
    assert re.search(rf"^error: {re.escape(str(where))}(:\d+)?: ", res.stderr, re.M), res.stderr
    assert re.search(r"^  fix: \S", res.stderr, re.M), res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


@pytest.mark.parametrize("rows, unknown", [
    ([("good movie", "pos"), ("so so", "neutral"), ("bad plot", "neg")], "'neutral'"),
    ([("good movie", "1"), ("bad plot", "0")], "'0', '1'"),  # numbers where the run's labels are words
])
def test_evaluate_refuses_labels_the_run_never_saw(cli, tmp_path, trained_run, rows, unknown):
    data = tmp_path / "eval.csv"
    data.write_text(csv_text(rows), encoding="utf-8")
    res = cli("evaluate", trained_run, "--data", data, "--output", tmp_path / "m.json", cwd=tmp_path)
    assert_refused(res, data, f"labels the run never saw: {unknown}", "'neg', 'pos'")
    assert res.stdout == "" and not (tmp_path / "m.json").exists()


def test_evaluate_checks_labels_before_the_model_runs(tmp_path, trained_run, monkeypatch, capsys):
    from tuneforge.cli import main
    from tuneforge.tasks.base import Task

    def model_ran(*a, **k):
        raise AssertionError("the model ran before the labels were checked")
    for cls in Task.__subclasses__():
        monkeypatch.setattr(cls, "evaluate", model_ran, raising=False)
    data = tmp_path / "eval.csv"
    data.write_text(csv_text([("good movie", "positive"), ("bad plot", "neg")]), encoding="utf-8")
    assert main(["evaluate", str(trained_run), "--data", str(data)]) == 2
    assert "'positive'" in capsys.readouterr().err


# -- output paths: checked before any work, written atomically, OS errors are short messages


@pytest.mark.parametrize("method", ["full", "setfit"])
def test_train_output_dir_that_is_a_file_is_refused_before_training(cli, tmp_path, tiny_bert, method):
    (tmp_path / "train.csv").write_text(csv_text(CLS_ROWS), encoding="utf-8")
    cfg = base_config(tiny_bert, tmp_path, "text-classification", "train.csv")
    cfg["train"]["method"] = method
    (tmp_path / "run").write_text("my notes\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(dump(cfg), encoding="utf-8")
    res = cli("train", tmp_path / "config.yaml", "--quiet", cwd=tmp_path)
    assert_refused(res, "output_dir", f"{tmp_path / 'run'} is a file")
    assert (tmp_path / "run").read_text(encoding="utf-8") == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "run", "train.csv"]


def test_train_output_dir_under_a_file_is_refused_before_training(cli, tmp_path, tiny_bert):
    (tmp_path / "train.csv").write_text(csv_text(CLS_ROWS), encoding="utf-8")
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    cfg = base_config(tiny_bert, tmp_path, "text-classification", "train.csv")
    cfg["output_dir"] = str(tmp_path / "blocker" / "run")
    (tmp_path / "config.yaml").write_text(dump(cfg), encoding="utf-8")
    res = cli("train", tmp_path / "config.yaml", "--quiet", cwd=tmp_path)
    assert_refused(res, "output_dir", str(tmp_path / "blocker"))
    assert (tmp_path / "blocker").read_text() == "x"


@pytest.mark.parametrize("verb", ["predict", "evaluate"])
@pytest.mark.parametrize("output", ["adir", "blocker/out.json"])
def test_output_that_cannot_be_a_file_is_refused_and_leaves_nothing(cli, tmp_path, trained_run, verb, output):
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "keep.txt").write_text("kept", encoding="utf-8")
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    data = tmp_path / "in.csv"
    data.write_text(csv_text([("good movie", "pos"), ("bad plot", "neg")]), encoding="utf-8")
    before = snapshot(tmp_path)
    args = ["--input", data] if verb == "predict" else ["--data", data]
    res = cli(verb, trained_run, *args, "--output", tmp_path / output, cwd=tmp_path)
    assert_refused(res, "--output", str(tmp_path / output.split("/")[0]))
    assert res.stdout == ""
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["adir", "blocker", "in.csv"]


class _FullDisk:
    """Every file opened for writing under `root` fails its first write with ENOSPC, as a full disk does."""

    def __init__(self, root: Path, monkeypatch):
        import builtins
        import io
        real = io.open

        def fake_open(file, mode="r", *a, **k):
            f = real(file, mode, *a, **k)
            if isinstance(file, (str, os.PathLike)) and str(Path(file).resolve()).startswith(str(root.resolve())) \
                    and any(c in mode for c in "wxa+"):
                def write(*_a, **_k):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return _Proxy(f, write)
            return f
        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)


class _Proxy:
    def __init__(self, f, write):
        self._f, self.write = f, write

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.parametrize("verb", ["predict", "evaluate"])
def test_disk_full_keeps_the_old_output_and_leaves_no_temp_file(tmp_path, trained_run, monkeypatch, capsys, verb):
    from tuneforge.cli import main
    data = tmp_path / "in.csv"
    data.write_text(csv_text([("good movie", "pos"), ("bad plot", "neg")]), encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "result.json").write_text("yesterday's results\n", encoding="utf-8")
    _FullDisk(out_dir, monkeypatch)
    args = ["--input", str(data)] if verb == "predict" else ["--data", str(data)]
    assert main([verb, str(trained_run), *args, "--output", str(out_dir / "result.json")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"^error: {re.escape(str(out_dir / 'result.json'))}: .*No space left on device", err, re.M), err
    assert "\n  fix: " in err
    assert (out_dir / "result.json").read_text(encoding="utf-8") == "yesterday's results\n"
    assert [p.name for p in out_dir.iterdir()] == ["result.json"]


def test_main_turns_an_os_error_on_a_user_path_into_a_short_message(monkeypatch, capsys, tmp_path):
    """The safety net under the early checks: an OSError nobody anticipated still exits 2, naming the path."""
    from tuneforge import cli as cli_mod

    def boom(a):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "x.json"))
    monkeypatch.setattr(cli_mod.VERB["config"], "run", boom)
    assert cli_mod.main(["config"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"^error: {re.escape(str(tmp_path / 'x.json'))}: Permission denied", err, re.M), err
    assert "\n  fix: " in err and "Traceback" not in err


# -- a damaged run directory is named, never a traceback

def _truncate(p: Path):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


DAMAGE = {
    "truncated weights": ("model.safetensors", _truncate),
    "corrupt labels.json": ("labels.json", lambda p: p.write_text('["neg", "po', encoding="utf-8")),
    "labels.json not a list": ("labels.json", lambda p: p.write_text('{"neg": 0}', encoding="utf-8")),
    "corrupt config.yaml": ("config.yaml", lambda p: p.write_bytes(b"\x00\xff garbage: [")),
    "corrupt config.json": ("config.json", lambda p: p.write_text("{not json", encoding="utf-8")),
}


@pytest.mark.parametrize("verb", ["predict", "evaluate", "export", "registry-add"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_is_named_not_a_traceback(cli, tmp_path, trained_run, verb, damage):
    run = copy_run(trained_run, tmp_path / "run")
    name, spoil = DAMAGE[damage]
    spoil(run / name)
    data = tmp_path / "in.csv"
    data.write_text(csv_text([("good movie", "pos"), ("bad plot", "neg")]), encoding="utf-8")
    argv = {"predict": ["predict", run, "--text", "good movie"],
            "evaluate": ["evaluate", run, "--data", data],
            "export": ["export", run, "--format", "bf16", "--output", tmp_path / "exp"],
            "registry-add": ["registry", "add", "m", run, "--registry", tmp_path / "reg"]}[verb]
    res = cli(*argv, cwd=tmp_path)
    assert res.rc == 2, (res.rc, res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert re.search(rf"^error: {re.escape(str(run / name))}(:\d+)?: the run is damaged", res.stderr, re.M), res.stderr
    assert "retrain" in res.stderr and "\n  fix: " in res.stderr
    assert not (tmp_path / "exp").exists()
    if verb == "registry-add":
        assert not list((tmp_path / "reg").glob("m/v*"))


def test_registry_add_refuses_a_corrupt_metrics_json(cli, tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path / "run")
    (run / "metrics.json").write_text('{"test": {"accuracy": 0.8', encoding="utf-8")
    res = cli("registry", "add", "m", run, "--registry", tmp_path / "reg", cwd=tmp_path)
    assert_refused(res, run / "metrics.json", "the run is damaged")


def test_load_predictor_raises_a_tuneforge_error_for_a_damaged_run(tmp_path, trained_run):
    """What `serve` and the dashboard load through: a TuneforgeError they can show, not a crash."""
    from tuneforge.errors import TuneforgeError
    from tuneforge.export import load_predictor
    run = copy_run(trained_run, tmp_path / "run")
    _truncate(run / "model.safetensors")
    with pytest.raises(TuneforgeError) as e:
        load_predictor(run)
    assert e.value.where == str(run / "model.safetensors") and "damaged" in e.value.what


# -- the registry: reading never creates one; a corrupt database is named

@pytest.mark.parametrize("args", [["list"], ["list", "m", "--json"], ["promote", "m", "1", "--stage", "production"],
                                  ["rollback", "m"]])
def test_registry_reading_a_mistyped_registry_does_not_create_it(cli, tmp_path, args):
    typo = tmp_path / "regsitry"
    res = cli("registry", *args, "--registry", typo, cwd=tmp_path)
    assert_refused(res, typo, "no registry")
    assert "registry add" in res.stderr
    assert not typo.exists()


def test_registry_list_in_a_directory_without_a_registry_writes_nothing(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("n", encoding="utf-8")
    res = cli("registry", "list", "--registry", tmp_path, cwd=tmp_path)
    assert_refused(res, tmp_path, "no registry")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("spoil", ["garbage", "truncated"])
def test_a_corrupt_registry_database_is_named(cli, tmp_path, trained_run, spoil):
    reg = tmp_path / "reg"
    res = cli("registry", "add", "m", trained_run, "--registry", reg, cwd=tmp_path)
    assert res.rc == 0, res.stderr[-3000:]
    db = reg / "registry.db"
    if spoil == "garbage":
        db.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    else:
        db.write_bytes(db.read_bytes()[:6000])
    for args in (["list"], ["add", "m", trained_run]):
        res = cli("registry", *args, "--registry", reg, cwd=tmp_path)
        assert_refused(res, db, "registry database")
        assert "backup" in res.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "lots"])
def test_export_max_drop_must_be_a_finite_number_of_points(cli, tmp_path, trained_run, value):
    res = cli("export", trained_run, "--format", "bf16", "--output", tmp_path / "exp", "--max-drop", value,
              cwd=tmp_path)
    assert res.rc == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "--max-drop" in res.stderr
    assert not (tmp_path / "exp").exists()


def test_export_run_refuses_a_non_finite_max_drop(trained_run, tmp_path):
    from tuneforge.errors import TuneforgeError
    from tuneforge.export import export_run
    with pytest.raises(TuneforgeError, match="max_drop"):
        export_run(trained_run, "bf16", tmp_path / "exp", max_drop=float("nan"))
    assert not (tmp_path / "exp").exists()
