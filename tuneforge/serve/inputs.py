"""A request's inputs, checked before they reach a batcher: texts (count, length, blank, valid Unicode) and base64
images (count, size while still encoded, decodable, a readable image). The prediction server and the dashboard's
playground both use these, each with its own limits; `fail(status, message)` raises its HTTP error."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Callable, NoReturn

from ..errors import TuneforgeError

Fail = Callable[[int, str], NoReturn]


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_texts(texts: list[str], max_texts: int, max_chars: int, fail: Fail) -> list[str]:
    if not texts:
        fail(422, "texts is empty: send at least one text")
    if len(texts) > max_texts:
        fail(413, f"{len(texts)} texts in one request; the limit is {max_texts}")
    for i, t in enumerate(texts):
        if len(t) > max_chars:
            fail(413, f"texts[{i}] has {len(t)} characters; the limit is {max_chars}")
        if not t.strip():
            fail(422, f"texts[{i}] is empty or only whitespace")
        if not is_utf8(t):  # JSON allows "\ud800"; the tokenizer (and the log's hash) need real UTF-8
            fail(422, f"texts[{i}] is not valid Unicode (an unpaired surrogate escape)")
    return texts


async def decode_images(images: list[str], max_images: int, max_image_mb: float, fail: Fail) -> list[bytes]:
    """base64 → bytes, each fully decoded once here: a bad image is its caller's 422, never a failed
    batch shared with other callers."""
    from ..data.images import load_image  # here: the image stack loads only when an image arrives
    if not images:
        fail(422, "images is empty: send at least one image")
    if len(images) > max_images:
        fail(413, f"{len(images)} images in one request; the limit is {max_images}")
    out = []
    for i, data in enumerate(images):
        data = data.partition(",")[2] if data.startswith("data:") else data
        if len(data) * 3 / 4 > max_image_mb * 2**20:  # measured encoded, before anything is decoded
            fail(413, f"images[{i}] is over {max_image_mb:g} MB; downscale it")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            fail(422, f"images[{i}] is not base64: send the file's bytes base64-encoded (a data: URL is fine)")
        try:
            await asyncio.to_thread(load_image, raw, None, None, f"images[{i}]")
        except TuneforgeError as e:
            fail(422, e.message())
        out.append(raw)
    return out
