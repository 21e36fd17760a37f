"""Image readers on tiny images made here with Pillow: every layout, every way an image can be bad."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from tuneforge.data.images import image_files, load_image, read_idx, read_images
from tuneforge.errors import TuneforgeError


def png(path, color=(200, 30, 30), size=(12, 9), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def class_tree(root, n=2):
    for i in range(n):
        png(root / "red" / f"r{i}.png", (220, 20 + i, 20))
        png(root / "blue" / f"b{i}.jpg", (20, 20 + i, 220))
    return root


def write_idx(path, arr: np.ndarray, gz: bool = True, cut: int = 0):
    data = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}i", *arr.shape)
    data += arr.astype(np.uint8).tobytes()
    data = data[:len(data) - cut] if cut else data
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ------------------------------------------------------------------ the three layouts

def test_folder_per_class_reads_labels_and_resizes(tmp_path):
    root = class_tree(tmp_path / "data")
    png(root / "blue" / "sub" / "nested.png", (0, 0, 255))  # nested folders belong to their class
    png(root / "red" / "gray.png", 128, mode="L")
    (root / "red" / "notes.txt").write_text("not an image, ignored")
    ex, stats = read_images(root, size=8)
    labels = sorted(e.label for e in ex)
    assert labels == ["blue"] * 3 + ["red"] * 3
    gray = next(e for e in ex if e.path.endswith("gray.png"))
    rgb = next(e for e in ex if e.path.endswith("r0.png"))
    assert gray.pixels.shape == (1, 8, 8) and rgb.pixels.shape == (3, 8, 8)
    assert rgb.pixels.dtype == np.uint8 and rgb.pixels[0].mean() > 200  # red stays red
    assert stats.rows == 6 and not stats.dropped


def test_identical_images_share_a_key(tmp_path):
    root = tmp_path / "d"
    png(root / "a" / "1.png", (1, 2, 3))
    png(root / "a" / "2.png", (1, 2, 3))
    png(root / "b" / "3.png", (9, 9, 9))
    ex, _ = read_images(root, size=8)
    keys = {e.path.rsplit("/", 1)[-1]: e.text for e in ex}
    assert keys["1.png"] == keys["2.png"] != keys["3.png"]  # splits.py deduplicates on this


def test_csv_and_jsonl_paths_are_relative_to_the_table(tmp_path):
    png(tmp_path / "imgs" / "a.png", (255, 0, 0))
    png(tmp_path / "imgs" / "b.png", (0, 0, 255))
    (tmp_path / "t.csv").write_text("path,label\nimgs/a.png,red\nimgs/b.png,blue\n")
    (tmp_path / "t.jsonl").write_text('{"file": "imgs/a.png", "y": "red"}\n{"file": "' +
                                      str(tmp_path / "imgs" / "b.png") + '", "y": "blue"}\n')
    ex, _ = read_images(tmp_path / "t.csv", size=8)
    assert [e.label for e in ex] == ["red", "blue"] and ex[0].source.endswith("t.csv:2")
    ex, _ = read_images(tmp_path / "t.jsonl", size=8, path_column="file", label_column="y")
    assert [e.label for e in ex] == ["red", "blue"] and ex[1].pixels[2].mean() > 200


@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_keep_their_size_and_get_class_names(tmp_path, gz):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 255, (5, 6, 6)), gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.array([0, 1, 2, 1, 0]), gz)
    ex, stats = read_images(tmp_path / f"train-images-idx3-ubyte{suffix}", size=32, class_names=["a", "b", "c"])
    assert [e.label for e in ex] == ["a", "b", "c", "b", "a"] and stats.rows == 5
    assert ex[0].pixels.shape == (1, 6, 6)  # smaller than image.size: scaled up inside the model
    big, _ = read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", size=4)
    assert big[0].pixels.shape == (1, 4, 4)  # larger: resized when read
    plain, _ = read_images(tmp_path / f"train-images-idx3-ubyte{suffix}", size=32)
    assert plain[1].label == "1"


def test_rgba_goes_onto_white_and_16_bit_is_scaled(tmp_path):
    png(tmp_path / "clear.png", (0, 0, 0, 0), mode="RGBA")
    assert load_image(tmp_path / "clear.png", 4).min() == 255  # transparent → white, not black
    deep = np.full((4, 4), 40000, dtype=np.uint16)
    deep[:, :2] = 20000
    Image.fromarray(deep).save(tmp_path / "deep.png")
    a = load_image(tmp_path / "deep.png", None)
    assert a.shape == (1, 4, 4) and a[0, 0, 0] in (127, 128) and a[0, 0, 3] == 255  # scaled, not clipped
    assert load_image(tmp_path / "deep.png", 4, channels=3).shape == (3, 4, 4)


def test_image_files_for_prediction(tmp_path):
    png(tmp_path / "x" / "b.png")
    png(tmp_path / "x" / "a.jpg")
    assert [p.name for p in image_files(tmp_path / "x")] == ["a.jpg", "b.png"]
    assert image_files(tmp_path / "x" / "b.png")[0].name == "b.png"
    (tmp_path / "empty").mkdir()
    with pytest.raises(TuneforgeError, match="no images"):
        image_files(tmp_path / "empty")


# ------------------------------------------------------------------ bad images: error, or counted skip

def _bad_cases(tmp_path):
    """(name, builder) → a data path whose reading must fail with a message naming the problem."""
    def corrupt():
        root = class_tree(tmp_path / "corrupt")
        (root / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
        return root, "broken.png", "unreadable image"

    def truncated():
        root = class_tree(tmp_path / "trunc")
        big = png(root / "red" / "cut.jpg", (10, 200, 10), size=(64, 64))
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(big)
        big.write_bytes(big.read_bytes()[:300])
        return root, "cut.jpg", "unreadable image"

    def not_an_image():
        root = class_tree(tmp_path / "text")
        (root / "blue" / "readme.png").write_text("hello")
        return root, "readme.png", "unreadable image"

    def wrong_path():
        png(tmp_path / "ok.png")
        png(tmp_path / "ok2.png", (0, 0, 200))
        (tmp_path / "w.csv").write_text("path,label\nok.png,red\nmissing.png,red\nok2.png,blue\n")
        return tmp_path / "w.csv", "w.csv:3", "image not found"

    def empty_class():
        root = class_tree(tmp_path / "empty")
        (root / "green").mkdir()
        return root, "green", "empty class folder"

    def loose_image():
        root = class_tree(tmp_path / "loose")
        png(root / "stray.png")
        return root, "stray.png", "image outside a class folder"

    return {f.__name__: f for f in (corrupt, truncated, not_an_image, wrong_path, empty_class, loose_image)}


@pytest.mark.parametrize("case", ["corrupt", "truncated", "not_an_image", "wrong_path", "empty_class",
                                  "loose_image"])
def test_bad_image_is_an_error_naming_the_file_or_a_counted_skip(tmp_path, case):
    path, name, reason = _bad_cases(tmp_path)[case]()
    with pytest.raises(TuneforgeError) as e:
        read_images(path, size=8)
    assert name in (e.value.where or "") and e.value.fix and "bad_rows=skip" in e.value.fix
    ex, stats = read_images(path, size=8, skip_bad=True)
    assert stats.dropped[reason] >= 1 and {e.label for e in ex} == {"red", "blue"}
    assert all(e.pixels.shape[1:] == (8, 8) for e in ex)


def test_idx_problems_name_the_file(tmp_path):
    imgs = write_idx(tmp_path / "a-images-idx3-ubyte.gz", np.zeros((3, 4, 4)))
    with pytest.raises(TuneforgeError, match="no labels file"):
        read_images(imgs, size=8)
    write_idx(tmp_path / "a-labels-idx1-ubyte.gz", np.array([0, 1]))
    with pytest.raises(TuneforgeError, match="3 images but 2 labels"):
        read_images(imgs, size=8)
    write_idx(tmp_path / "a-labels-idx1-ubyte.gz", np.array([0, 1, 5]))
    with pytest.raises(TuneforgeError, match="label 5 has no name"):
        read_images(imgs, size=8, class_names=["x", "y"])
    write_idx(imgs, np.zeros((3, 4, 4)), cut=5)
    with pytest.raises(TuneforgeError, match="truncated") as e:
        read_images(imgs, size=8)
    assert e.value.where == str(imgs)
    imgs.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(TuneforgeError, match="cannot read the IDX file"):
        read_images(imgs, size=8)
    imgs.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(TuneforgeError, match="bad magic"):
        read_images(imgs, size=8)


def test_a_single_image_or_missing_path_as_data_is_explained(tmp_path):
    with pytest.raises(TuneforgeError, match="not found"):
        read_images(tmp_path / "nope", size=8)
    with pytest.raises(TuneforgeError, match="not a single image"):
        read_images(png(tmp_path / "one.png"), size=8)
    (tmp_path / "nodirs").mkdir()
    with pytest.raises(TuneforgeError, match="no class folders"):
        read_images(tmp_path / "nodirs", size=8)
    (tmp_path / "bad.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(TuneforgeError, match="column 'path' is missing"):
        read_images(tmp_path / "bad.csv", size=8)
