"""Output paths: checked before any work starts, written atomically, OS errors said in one line.

- `check_output_file(path, flag)`: `--output FILE` can be written (not a directory, not under a file,
  the directory writable), checked by creating and removing a probe file, since root ignores mode bits.
- `check_output_dir(path, where)`: the same for a directory a command fills (`output_dir`).
- `atomic_write(path, data)`: a temporary file beside the target, then `os.replace`; on any failure
  the temporary file is removed and the old file (if any) is left as it was.
- `write_json(path, obj)`: indented UTF-8 JSON, written atomically (a reader never sees half a file).
- `dir_written_whole(output, marker, what, overwrite, where)`: a directory built in a hidden sibling and
  renamed into place when the block finishes; on any failure the sibling is removed and `output` is untouched.
- `os_error(e)`: an OSError on a user's path as a TuneforgeError (the CLI's safety net), or None when
  it is not one a user can fix.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import TuneforgeError

# errno -> the fix; these are the OS errors a user causes (or can remedy) by the path they chose.
_FIXES = {
    errno.ENOSPC: "free some space on that disk, or write somewhere else",
    errno.EDQUOT: "free some space under your quota, or write somewhere else",
    errno.EROFS: "that file system is read-only: choose a writable location",
    errno.EACCES: "choose a location you may write to, or change its permissions",
    errno.EPERM: "choose a location you may write to, or change its permissions",
    errno.EISDIR: "name a file, not a directory",
    errno.ENOTDIR: "part of the path is a file, not a directory: choose another path",
    errno.EEXIST: "choose another path, or move the existing file aside",
    errno.ENOENT: "check the path: a directory in it does not exist",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.EFBIG: "write somewhere that allows larger files",
}


def os_error(e: OSError, path: str | os.PathLike | None = None) -> TuneforgeError | None:
    """`e` as a one-paragraph TuneforgeError naming the path, or None if it is not a user's path problem."""
    fix = _FIXES.get(e.errno)
    if fix is None:
        return None
    where = str(path if path is not None else e.filename or "") or None
    if where is None and e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return None  # no path to name and not a disk-wide condition: a bug, not the user's input
    return TuneforgeError(e.strerror or str(e), where=where or "an output file", fix=fix)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(directory: Path, where: str, target: Path) -> None:
    """Create and remove a file in `directory`: the only test of writability that holds for root too."""
    probe = directory / f".tuneforge-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise TuneforgeError(f"cannot write {target}: {e.strerror} in {directory}", where=where,
                             fix=_FIXES.get(e.errno, "choose a writable location")) from None


def _check_under(directory: Path, target: Path, where: str) -> None:
    """`target` will be made in `directory` (which may not exist yet): its nearest existing ancestor
    must be a directory we can write in."""
    base = _nearest_existing(directory)
    if not base.is_dir():
        raise TuneforgeError(f"cannot write {target}: {base} is a file, not a directory", where=where,
                             fix="choose a path that is not under a file")
    _probe(base, where, target)


def check_output_file(path: str | os.PathLike, where: str = "--output") -> Path:
    """Refuse, before any work, an output file that cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise TuneforgeError(f"{p} is a directory; --output takes a file name", where=where,
                             fix=f"name a file, e.g. {p / 'predictions.jsonl'}")
    _check_under(p.parent, p, where)
    return p


def check_output_dir(path: str | os.PathLike, where: str = "output_dir") -> Path:
    """Refuse, before any work, an output directory that cannot be made or written."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise TuneforgeError(f"{p} is a file, not a directory", where=where,
                             fix="choose a new or empty directory (or move the file aside)")
    if p.is_dir():
        _probe(p, where, p)
    else:
        _check_under(p, p, where)
    return p


def atomic_write(path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write `data` to `path` all or nothing; missing parent directories are created (and removed
    again if the write fails). An OSError becomes a TuneforgeError naming `path`."""
    p = Path(path)
    made = []
    tmp = None
    try:
        d = p.parent
        while not d.exists():
            made.append(d)
            d = d.parent
        for d in reversed(made):
            d.mkdir()
        name = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        f = open(name, "xb")  # x: never follows or reuses someone else's file
        tmp = name  # ours from here on: removed on any failure
        with f:
            f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    except BaseException as e:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
        for d in made:  # deepest first, only if still empty
            try:
                d.rmdir()
            except OSError:
                pass
        if isinstance(e, OSError):
            err = os_error(e, p)
            if err is not None:
                raise err from None
        raise
    return p


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False))  # a reader never sees half a file


@contextmanager
def dir_written_whole(output: str | os.PathLike, marker: str, what: str, overwrite: bool, where: str):
    """Yields a fresh hidden sibling of `output` to fill; when the block ends it replaces `output` in one rename.
    `output` may be missing or empty; a directory that holds `marker` (a finished `what`) is replaced only with
    `overwrite`; anything else is refused before any work. An interrupted or failed block leaves no partial
    directory behind and the old one as it was."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise TuneforgeError(f"{output} is a file", where=where, fix="choose a directory name")
    if output.exists() and any(output.iterdir()):
        if not (output / marker).is_file():
            raise TuneforgeError(f"{output} exists and is not a {what}", where=where,
                                 fix="choose another output directory")
        if not overwrite:
            raise TuneforgeError(f"{output} already holds a finished {what}", where=where,
                                 fix="pass --overwrite to replace it, or choose another output directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    try:
        yield tmp
        if output.exists():  # an empty folder, or a finished one replaced with overwrite
            old = output.parent / f".{output.name}.old-{os.getpid()}"
            os.rename(output, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
