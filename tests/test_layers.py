"""The package's layering (.importlinter): no module imports a layer above its own. import-linter reads every
import, those inside functions included, so a cycle cannot hide in a function body."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_layer_imports_one_above_it():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed: run the README's first command"
    res = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "1 kept, 0 broken" in res.stdout


def test_the_contract_lists_every_top_level_module():
    """A new top-level module or package must take its place in the layers, or the contract would not see it."""
    contract = (ROOT / ".importlinter").read_text(encoding="utf-8")
    pkg = ROOT / "tuneforge"
    names = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    missing = sorted(n for n in names if f"tuneforge.{n}\n" not in contract and f"tuneforge.{n} " not in contract)
    assert not missing, f"add to the layers in .importlinter: {missing}"
