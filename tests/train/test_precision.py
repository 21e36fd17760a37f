"""bf16 autocast is what the config says, on any CPU: forced on, forced off, or (auto) the CPU's choice.

The machines this suite runs on differ (AVX2-only AMD, AMX Intel), so each test forces the CPU's answer
(`bf16_supported`) to the opposite of the config and checks what training really ran in."""

from __future__ import annotations

import json

import pytest
import torch

import tuneforge.tasks.base as task_base
from tuneforge.config import Config, load_config
from tuneforge.train.run import train
from factories import make_config, write_sentiment


@pytest.mark.parametrize("setting, cpu_has_bf16, expected", [
    ("true", False, True), ("false", True, False), ("auto", True, True), ("auto", False, False)])
def test_use_bf16_follows_the_config_and_auto_follows_the_cpu(monkeypatch, setting, cpu_has_bf16, expected):
    monkeypatch.setattr(task_base, "bf16_supported", lambda: cpu_has_bf16)
    cfg = Config()
    cfg.train.bf16 = setting
    assert task_base.use_bf16(cfg) is expected


@pytest.mark.parametrize("setting", ["true", "false"])
def test_forced_bf16_is_what_training_and_evaluation_ran_in(monkeypatch, tmp_path, tiny_bert, setting):
    forced = setting == "true"
    monkeypatch.setattr(task_base, "bf16_supported", lambda: not forced)  # the CPU would choose the other way
    seen: set[torch.dtype] = set()

    def record(module, args, output):  # every Linear's output dtype, in training and evaluation alike
        if isinstance(module, torch.nn.Linear) and isinstance(output, torch.Tensor):
            seen.add(output.dtype)

    data = write_sentiment(tmp_path / "reviews.csv", 80)
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification",
                                  {"train": str(data), "text_column": "review", "label_column": "stars"},
                                  epochs=1, bf16=setting))
    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        out = train(cfg, progress=False)
    finally:
        handle.remove()
    m = json.loads((out / "metrics.json").read_text())
    assert m["train"]["bf16"] is forced
    assert ("bf16 autocast: True" in (out / "README.md").read_text()) is forced
    assert seen and (torch.bfloat16 in seen) is forced  # bf16 matmuls if and only if forced
