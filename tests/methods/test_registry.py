"""The method registry: the lists that must agree do, and a run asks the spec, not the method's name."""

from __future__ import annotations

import pytest

from tuneforge import config
from tuneforge.errors import TuneforgeError
from tuneforge.methods.registry import METHODS, MethodSpec, get_method, method_of, register_method
from tuneforge.tasks.base import TASK_REGISTRY, get_task


def test_config_names_exactly_the_registered_methods_plus_auto_and_the_refused():
    assert set(config.METHODS) == set(METHODS) | {"auto"} | set(config.REFUSED_METHODS)
    assert not set(config.REFUSED_METHODS) & set(METHODS)


def test_every_method_trains_only_registered_tasks_and_says_what_it_does():
    for name in config.TASKS:
        get_task(name)  # registers it (image-classification's module is imported on demand)
    for spec in METHODS.values():
        assert spec.summary and spec.name in config.TrainConfig.__dataclass_fields__["method"].metadata["help"]
        assert any(spec.trains(name) for name in TASK_REGISTRY) and not spec.trains("no-such-task")


def test_the_schema_names_the_registered_tasks_with_the_input_kind_each_declares():
    """The data layer reads a task's files by config.TASK_INPUTS; the task spec says the same."""
    for name in config.TASKS:
        get_task(name)
    assert set(config.TASK_INPUTS) == set(TASK_REGISTRY)
    assert {name: get_task(name).input_kind for name in TASK_REGISTRY} == config.TASK_INPUTS


def test_a_method_that_does_not_train_the_task_is_refused_naming_the_key():
    with pytest.raises(TuneforgeError, match="does not train token-classification") as e:
        get_method("setfit", "token-classification")
    assert e.value.where == "train.method" and "full" in e.value.fix
    with pytest.raises(TuneforgeError, match="no registered method"):
        get_method("auto")  # auto is resolved from the data before a spec is asked for
    assert get_method("full", "image-classification").fit is None


def test_image_classification_keeps_auto_and_trains_with_the_full_loop():
    cfg = config.Config(task="image-classification")
    assert cfg.train.method == "auto" and method_of(cfg).name == "full"
    cfg.train.method = "setfit"
    with pytest.raises(TuneforgeError, match="does not train image-classification"):
        method_of(cfg)


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="already registered"):
        register_method(MethodSpec(name="full", summary="again", takes=None))


def test_default_learning_rates_come_from_the_spec():
    assert get_method("lora").default_learning_rate(1e-4) == 1e-3
    assert get_method("setfit").default_learning_rate(1e-4) == 2e-5
    assert get_method("full").default_learning_rate(1e-4) == 1e-4


def test_which_tasks_a_method_trains_is_asked_of_the_task_spec():
    """Not of its name: a new task with a PEFT head type or whole-text labels gets LoRA or SetFit without edits here."""
    assert [n for n in config.TASKS if METHODS["lora"].trains(n)] == [n for n in config.TASKS
                                                                     if get_task(n).peft_task_type]
    assert [n for n in config.TASKS if METHODS["setfit"].trains(n)] == [n for n in config.TASKS
                                                                       if get_task(n).classifies_texts]
    assert all(METHODS["full"].trains(n) for n in config.TASKS)
