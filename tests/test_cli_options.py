"""Options dataclasses and their command-line flags agree: every field of ServeOptions is a flag of `tuneforge
serve` (max_images and max_image_mb were once left off), with the dataclass's defaults."""

import dataclasses

from tuneforge.cli import build_parser, options_from
from tuneforge.serve.options import ServeOptions


def parse(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_every_serve_option_is_a_flag_with_its_default():
    assert options_from(parse(), ServeOptions) == ServeOptions()
    flags = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["serve"]._actions}
    missing = [f.name for f in dataclasses.fields(ServeOptions) if f.name not in flags]
    assert not missing


def test_flags_reach_the_options():
    got = options_from(parse("--max-images", "3", "--max-image-mb", "1.5", "--max-texts", "5", "--no-dashboard",
                             "--registry", "/r", "--alerts", "rules.yaml"), ServeOptions)
    assert (got.max_images, got.max_image_mb, got.max_texts, got.dashboard, got.registry, got.alerts) == \
        (3, 1.5, 5, False, "/r", "rules.yaml")
