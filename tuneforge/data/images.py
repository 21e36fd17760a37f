"""Image readers: a folder per class, a CSV/TSV/JSONL of (path, label), or MNIST-style IDX files.

Every image is opened and fully decoded here, before training, so a corrupt file, a wrong path or an
empty class stops the run with the file and a fix (or, with data.bad_rows=skip, is dropped and
counted) instead of crashing an epoch half-way through. Decoded images are kept as uint8 arrays at
their stored size: files are EXIF-rotated, flattened onto white where transparent, converted to
grayscale or RGB, and centre-cropped to a square of `image.size`; IDX images keep their own size
when it is smaller (28x28 for MNIST; the model scales them up in its forward pass).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TuneforgeError
from .readers import ReadStats, TextExample, bad_row, detect_format, read_classification

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_IDX_RE = re.compile(r"idx\d-ubyte(\.gz)?$")


@dataclass
class ImageExample(TextExample):
    """`text` is a hash of the pixels: splits.py deduplicates, stratifies and measures train/test
    overlap on `text`, so identical images count as duplicates there, whatever their file names."""
    pixels: np.ndarray | None = None  # uint8 (C, H, W), C = 1 (grayscale) or 3 (RGB)
    path: str = ""  # the image file, or `file#index` inside an IDX file


def pixel_key(pixels: np.ndarray) -> str:
    return "img:" + hashlib.blake2b(pixels.tobytes() + str(pixels.shape).encode(), digest_size=10).hexdigest()


def make_example(pixels: np.ndarray, label: str, source: str, path: str) -> ImageExample:
    return ImageExample(pixel_key(pixels), label, source, pixels, path)


def is_idx(path: Path) -> bool:
    return bool(_IDX_RE.search(Path(path).name))


# ---------------------------------------------------------------- one image file

def to_array(im, size: int | None, channels: int | None = None) -> np.ndarray:
    """A PIL image → uint8 (C, size, size). channels None: grayscale stays one channel, the rest RGB."""
    from PIL import Image, ImageOps
    im = ImageOps.exif_transpose(im)  # phone photos are stored sideways with a rotation tag
    gray = im.mode in GRAY_MODES or (im.mode == "P" and _palette_is_gray(im))
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = a.max() if a.size and a.max() > 255 else 255.0  # 16-bit scans: scale to 8 bits, don't clip
        im = Image.fromarray(np.clip(np.rint(a * (255.0 / hi)), 0, 255).astype(np.uint8), "L")
    if "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info):
        # transparent product cut-outs: onto white, the way they are shown, not onto black
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    want = channels or (1 if gray else 3)
    im = im.convert("L" if want == 1 else "RGB")
    if size is not None and im.size != (size, size):
        im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC)  # shorter side, centre crop
    a = np.asarray(im, dtype=np.uint8)
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))


def _palette_is_gray(im) -> bool:
    pal = im.getpalette() or []
    return all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal) - 2, 3))


def load_image(src, size: int | None, channels: int | None = None, where: str | None = None) -> np.ndarray:
    """Open and fully decode one image (a path, bytes or a file object) → uint8 (C, size, size).
    Every way an image can be unreadable becomes a TuneforgeError naming it."""
    from PIL import Image, UnidentifiedImageError
    name = where or str(src)
    fix = "re-save it as PNG or JPEG, or remove it"
    if isinstance(src, (str, Path)) and not Path(src).is_file():
        raise TuneforgeError("image not found" if not Path(src).exists() else "not a file", where=name,
                             fix="check the path (paths in a CSV/JSONL are relative to that file's folder)")
    if isinstance(src, bytes):
        import io
        src = io.BytesIO(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as im:
                im.load()  # decode every byte now: a truncated file fails here, not in the middle of an epoch
                if im.width < 1 or im.height < 1:
                    raise TuneforgeError("image has no pixels", where=name, fix=fix)
                return to_array(im, size, channels)
    except UnidentifiedImageError:
        raise TuneforgeError("not an image file Pillow can read", where=name, fix=fix) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TuneforgeError("image is too large (over 89 million pixels)", where=name,
                             fix="downscale it before training") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt data; Pillow raises all three
        raise TuneforgeError(f"image is corrupt or truncated ({e})", where=name, fix=fix) from None


def _try_load(path: Path, size: int, stats: ReadStats, skip: bool, where: str) -> np.ndarray | None:
    try:
        return load_image(path, size, where=where)
    except TuneforgeError as e:
        reason = "image not found" if "not found" in e.what else "unreadable image"
        bad_row(stats, skip, reason, e.where, e.what, e.fix)
        return None


# ---------------------------------------------------------------- the three layouts

def read_folder(root: Path, size: int, skip_bad: bool = False) -> tuple[list[ImageExample], ReadStats]:
    """root/<class>/**/<image>: the folder name is the label."""
    stats = ReadStats()
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        stats.rows += len(loose)
        bad_row(stats, skip_bad, "image outside a class folder", str(loose[0]),
                 f"{len(loose)} image(s) lie directly in {root}, not in a class folder",
                 f"move each image into {root}/<class name>/")
    if not classes:
        raise TuneforgeError("no class folders found", where=str(root),
                             fix="put the images of each class in their own sub-folder: root/<class>/<image>")
    examples = []
    for cls in classes:
        files = sorted(p for p in cls.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(cls).parts))
        if not files:
            bad_row(stats, skip_bad, "empty class folder", str(cls), "class folder holds no images "
                     f"({', '.join(sorted(IMAGE_SUFFIXES))})", "add images of that class or remove the folder")
            continue
        for f in files:
            stats.rows += 1
            px = _try_load(f, size, stats, skip_bad, str(f))
            if px is not None:
                examples.append(make_example(px, cls.name, str(f), str(f)))
    return examples, stats


def read_table(path: Path, fmt: str | None, path_column: str, label_column: str, size: int,
               encoding: str = "utf-8", skip_bad: bool = False) -> tuple[list[ImageExample], ReadStats]:
    """CSV/TSV/JSONL rows of (image path, label); the text reader does the table's own checks."""
    rows, stats = read_classification(path, fmt, path_column, label_column, encoding, skip_bad)
    base = Path(path).parent
    examples = []
    for r in rows:
        img = Path(r.text).expanduser()
        img = img if img.is_absolute() else base / img  # relative to the table, not the working directory
        px = _try_load(img, size, stats, skip_bad, f"{r.source} ({img})")
        if px is not None:
            examples.append(make_example(px, r.label, r.source, str(img)))
    return examples, stats


def _open_maybe_gz(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TuneforgeError(f"cannot read the IDX file ({e})", where=str(path),
                             fix="the download is damaged: fetch the file again") from None


def read_idx_array(path: Path) -> np.ndarray:
    """IDX (MNIST's format): 0x0000, a type byte (0x08 = unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32, then the data."""
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise TuneforgeError("not an IDX file (bad magic number)", where=str(path),
                             fix="give the MNIST-style *-idx3-ubyte(.gz) images and *-idx1-ubyte(.gz) labels")
    if data[2] != 0x08:
        raise TuneforgeError(f"IDX element type {data[2]:#04x} is not supported", where=str(path),
                             fix="only unsigned-byte (0x08) IDX files, as MNIST and Fashion-MNIST ship")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise TuneforgeError("IDX header is cut short", where=str(path), fix="fetch the file again")
    dims = struct.unpack(f">{ndim}i", data[4:4 + 4 * ndim])
    need = int(np.prod(dims)) if dims else 0
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        raise TuneforgeError(f"IDX file holds {len(body)} bytes of data where its header promises {need} "
                             f"(shape {'x'.join(map(str, dims))})", where=str(path),
                             fix="the file is truncated or damaged: fetch it again")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def labels_file_for(images: Path) -> Path:
    name = images.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    return images.with_name(name)


def read_idx(images_path: Path, size: int, class_names: list[str] | None = None,
             skip_bad: bool = False) -> tuple[list[ImageExample], ReadStats]:
    images_path = Path(images_path)
    labels_path = labels_file_for(images_path)
    if labels_path == images_path or not labels_path.is_file():
        raise TuneforgeError(f"no labels file beside the IDX images (looked for {labels_path.name})",
                             where=str(images_path),
                             fix="keep the *-labels-idx1-ubyte(.gz) file next to the *-images-idx3-ubyte(.gz) file")
    imgs, labels = read_idx_array(images_path), read_idx_array(labels_path)
    if imgs.ndim != 3 or labels.ndim != 1:
        raise TuneforgeError(f"expected images of shape N x H x W and labels of shape N, got {imgs.shape} and "
                             f"{labels.shape}", where=str(images_path), fix="check which file is which")
    if len(imgs) != len(labels):
        raise TuneforgeError(f"{len(imgs)} images but {len(labels)} labels", where=str(labels_path),
                             fix="use the labels file that belongs to these images")
    names = list(class_names or [])
    if names and labels.max(initial=0) >= len(names):
        raise TuneforgeError(f"label {int(labels.max())} has no name: image.class_names lists {len(names)}",
                             where=str(labels_path), fix="name every class in image.class_names (index = label)")
    stats = ReadStats(rows=len(imgs))
    h, w = imgs.shape[1:]
    resize = max(h, w) > size or h != w  # keep small square images as they are: the model scales them up
    examples = []
    for i, (a, y) in enumerate(zip(imgs, labels)):
        if resize:
            from PIL import Image
            px = to_array(Image.fromarray(a, "L"), size)
        else:
            px = np.ascontiguousarray(a[None])
        label = names[int(y)] if names else str(int(y))
        examples.append(make_example(px, label, f"{images_path}#{i}", f"{images_path}#{i}"))
    return examples, stats


def read_images(path: str | Path, size: int, fmt: str | None = None, path_column: str = "path",
                label_column: str = "label", class_names: list[str] | None = None, encoding: str = "utf-8",
                skip_bad: bool = False) -> tuple[list[ImageExample], ReadStats]:
    """Any of the three layouts, told apart by what `path` is."""
    path = Path(path)
    if not path.exists():
        raise TuneforgeError("file or folder not found", where=str(path),
                             fix="point data.train/validation/test at a folder of class folders, a CSV/JSONL "
                                 "of (path, label), or an *-images-idx3-ubyte(.gz) file")
    if path.is_dir():
        examples, stats = read_folder(path, size, skip_bad)
    elif is_idx(path):
        examples, stats = read_idx(path, size, class_names, skip_bad)
    else:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise TuneforgeError("data files are a folder, a table or IDX files, not a single image", where=str(path),
                                 fix="point at the folder that holds one sub-folder per class")
        fmt = detect_format(path, fmt)
        if fmt == "conll":
            raise TuneforgeError(f"cannot read {path.name} as image data", where=str(path),
                                 fix="use a CSV/TSV/JSONL with columns (path, label), a class-folder tree, "
                                     "or IDX files")
        examples, stats = read_table(path, fmt, path_column, label_column, size, encoding, skip_bad)
    if not examples:
        raise TuneforgeError("no usable images", where=str(path),
                             fix="check the paths and that the images open (see the errors above with "
                                 "data.bad_rows=error)")
    return examples, stats


def image_files(path: str | Path) -> list[Path]:
    """`--input` for prediction: one image, or every image below a folder (sorted)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise TuneforgeError("no images in the folder", where=str(p),
                                 fix=f"put image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it")
        return files
    if not p.is_file():
        raise TuneforgeError("image not found", where=str(p), fix="check the path")
    return [p]
