"""The "Exports" section of a run's model card: one table row per export directory, kept up to date."""

from __future__ import annotations

import os
from pathlib import Path

HEADING = "## Exports"
INTRO = f"""{HEADING}
Each export was scored on the validation set (test, where the run has none) next to this fp32 model, in
the same process (details in the export directory's `export.json`). Speed: validation samples/s of the export over fp32's,
same batch size and threads. Δ: export minus fp32, in points. Load any of them with
`tuneforge predict DIR --text "..."`.

| directory | format | size MB (fp32) | speed vs fp32 | {{main}} fp32 → export | Δ points | forced |
|---|---|---|---|---|---|---|
"""


def _row(key: str, info: dict) -> str:
    m, main = info["metrics"], info["main_metric"]
    deltas = ", ".join(f"{k} {v:+.2f}" for k, v in m["delta_points"].items())
    fmt = info["format"]
    if "auto" in info:  # chosen here among every format: say so, and on which CPU
        fmt = f"{fmt} (auto: fastest of {len(info['auto']['candidates'])} on {info['auto']['cpu']['model_name']})"
    return (f"| `{key}` | {fmt} | {info['size_mb']} ({info['fp32_size_mb']}) | "
            f"{info['speed']['ratio']}× | {m['fp32'][main]:.4f} → {m['export'][main]:.4f} | {deltas} | "
            f"{'yes' if info['forced'] else 'no'} |")


def add_export_row(run: Path, export_dir: Path, info: dict) -> None:
    """Add (or replace) this export's row; the section is created at the end of the card the first time."""
    card = run / "README.md"
    if not card.is_file():
        return  # a run without a card (written by hand?): the export's own export.json still says it all
    try:
        key = str(export_dir.resolve().relative_to(run.resolve()))  # exports inside the run: short, movable
    except ValueError:
        key = str(export_dir.resolve())
    lines = card.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if HEADING not in lines:
        lines += [""] + INTRO.replace("{main}", info["main_metric"]).rstrip("\n").split("\n")
    start = lines.index(HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = [l for l in lines[start:end] if not l.startswith(f"| `{key}` |")]
    while section and not section[-1].strip():
        section.pop()  # rows go right under the table, before any blank line that ends the section
    section.append(_row(key, info))
    rest = lines[end:]
    text = "\n".join(lines[:start] + section + ([""] + rest if rest else [])) + "\n"
    tmp = card.with_name(card.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, card)  # a reader never sees half a card
