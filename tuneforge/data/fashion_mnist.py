"""Fashion-MNIST from Debian's `dataset-fashion-mnist` (MIT): the official 60,000/10,000 split as IDX files.

`tuneforge datasets fashion-mnist` checks the four files' content against pinned sha256 sums and copies them into the data cache (`dataset:fashion-mnist/...` in a config), beside a
manifest. It is a system package, not a PyPI one: `scripts/setup.sh` installs it with apt-get where it
can, and the error here says how otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import TuneforgeError
from ..paths import data_cache

NAME = "fashion-mnist"
SYSTEM_DIR = Path(os.environ.get("TUNEFORGE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
BASELINES = Path("/usr/share/doc/dataset-fashion-mnist/benchmark/baselines.json")
# sha256 of each file's decompressed bytes. Debian re-compressed the files, so the .gz MD5 sums in the
# data set's README do not match; the IDX content underneath is what counts.
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
DESCRIPTION = "Zalando's Fashion-MNIST, 28x28 grayscale, 10 classes, official 60k/10k split (IDX, gz)"


def _content_sha256(path: Path) -> str:
    import gzip
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def prepare_fashion_mnist(force: bool = False, source: Path | None = None) -> Path:
    src, target = Path(source or SYSTEM_DIR), data_cache() / NAME
    if not force and (target / "manifest.json").is_file() and all((target / f).is_file() for f in SHA256):
        return target
    missing = [f for f in SHA256 if not (src / f).is_file()]
    if missing:
        raise TuneforgeError(f"Fashion-MNIST is not installed ({', '.join(missing)} missing)", where=str(src),
                             fix="install Debian's package: `sudo apt-get install dataset-fashion-mnist` (or set "
                                 "TUNEFORGE_FASHION_MNIST_DIR to a folder holding the four *-ubyte.gz files)")
    for f, want in SHA256.items():
        try:
            ok = _content_sha256(src / f) == want
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            raise TuneforgeError(f"cannot decompress {f} ({e})", where=str(src / f),
                                 fix="reinstall the package: `sudo apt-get install --reinstall dataset-fashion-mnist`") from None
        if not ok:
            raise TuneforgeError(f"the content of {f} is not the pinned Fashion-MNIST (sha256 differs)", where=str(src / f),
                                 fix="reinstall the package: `sudo apt-get install --reinstall dataset-fashion-mnist`")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.partial-", dir=target.parent))
    try:
        for f in SHA256:
            shutil.copyfile(src / f, tmp / f)
        manifest = {"name": NAME, "source": f"debian:dataset-fashion-mnist ({src})", "licence": "MIT",
                    "description": DESCRIPTION, "task": "image-classification", "class_names": CLASS_NAMES,
                    "files": {f: {"bytes": (tmp / f).stat().st_size, "content_sha256": SHA256[f]} for f in SHA256},
                    "train": 60000, "test": 10000}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)  # last: a killed copy never looks prepared
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
