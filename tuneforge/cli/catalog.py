"""What is installed and configurable: backbones, data sets, config keys."""

from __future__ import annotations

import argparse

from .verb import Verb


def cmd_models(a) -> int:
    from ..backbones.registry import BACKBONES
    from ..errors import TuneforgeError
    if a.prepare:  # make every packaged backbone usable offline now (e5 is converted once)
        for s in BACKBONES.values():
            try:
                print(f"{s.name}: {s.locate()}")
            except TuneforgeError as e:
                if not s.opt_in:
                    raise
                print(f"{s.name}: skipped, {e.what}; {e.fix}")  # opt-in: the user installs it, knowing its licence
        return 0
    print(f"{'name':<24}{'params':>8}  {'language':<28}{'package':<30}source")
    for s in BACKBONES.values():
        print(f"{s.name:<24}{s.params:>8}  {s.language:<28}{s.package:<30} {s.source}")
        if s.licence:
            print(f"{'':<24}{'':>8}  licence: {s.licence}")
    print("\nAlso accepted: any local Hugging Face model directory, or a hub id (org/model) when online.")
    return 0


def cmd_datasets(a) -> int:
    from ..data.datasets_fetch import list_datasets, prepare
    from ..data.fashion_mnist import DESCRIPTION, NAME as FMNIST, prepare_fashion_mnist  # a Debian package
    from ..apps.support import chatterbot  # noqa: F401  registers chatterbot-faq, the assistant's real FAQ
    names = a.names or ([] if a.list else [d.name for d in list_datasets()])
    if a.list or not names:
        for d in list_datasets():
            print(f"{d.name:<20}{d.task:<22}{d.language:<6}{d.package}=={d.version}  {d.description}")
        print(f"{FMNIST:<20}{'image-classification':<22}{'-':<6}{'debian:dataset-fashion-mnist'}  {DESCRIPTION}")
        return 0
    for name in names:
        print(f"{name}: {prepare_fashion_mnist(a.force) if name == FMNIST else prepare(name, force=a.force)}")
    return 0


def cmd_config(a) -> int:
    from ..config import describe
    for key, default, help_text in describe():
        print(f"{key:<32}{default:<22}{help_text}")
    return 0


def _models_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--prepare", action="store_true", help="locate/convert every packaged backbone now")


def _datasets_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("names", nargs="*")
    s.add_argument("--list", action="store_true")
    s.add_argument("--force", action="store_true")


def _config_args(s: argparse.ArgumentParser) -> None:
    pass  # no arguments: it lists every key


VERBS = (
    Verb('models', 'list packaged backbones',
         _models_args, cmd_models),
    Verb('datasets', 'fetch and prepare the real example data sets into the data cache',
         _datasets_args, cmd_datasets),
    Verb('config', 'list every config key with its default and meaning',
         _config_args, cmd_config),
)
