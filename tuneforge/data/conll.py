"""Token-per-line NER files: token and tag separated by spaces or a tab (extra middle columns, as in
CoNLL-2003, are ignored; a blank line ends a sentence), in BIO, BIOES or BMES, converted to BIO (IOB2).
Every problem is reported as file:line plus a fix, as by the other readers."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import TuneforgeError
from .readers import ReadStats, TokenExample, bad_row, read_text

_TAG_RE = re.compile(r"^(?:(?P<p>[BIMES])[-_](?P<t>.+)|(?P<t2>.+?)[-_](?P<p2>[BIMES])|(?P<o>O))$")


def split_tag(tag: str) -> tuple[str, str | None]:
    """'B-PER' / 'B_PER' / 'PER-B' → ('B', 'PER'); 'O' → ('O', None)."""
    m = _TAG_RE.match(tag)
    if not m:
        raise ValueError(tag)
    if m.group("o"):
        return "O", None
    if m.group("p"):
        return m.group("p"), m.group("t")
    return m.group("p2"), m.group("t2")


SCHEME_PREFIXES = {"BIO": {"B", "I"}, "BIOES": {"B", "I", "E", "S"}, "BMES": {"B", "M", "E", "S"}}


def detect_scheme(prefixes: set[str]) -> str:
    if "M" in prefixes:
        return "BMES"
    if prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO"


def to_bio(prefix_types: list[tuple[str, str | None]]) -> tuple[list[str], int]:
    """Any of BIO/BIOES/BMES → strict BIO (IOB2). An inside tag that does not continue an entity of
    its own type starts a new one (counted as a repair)."""
    out, repaired, prev_type = [], 0, None
    for p, t in prefix_types:
        if p == "O" or t is None:
            out.append("O")
            prev_type = None
            continue
        if p in ("B", "S"):
            out.append(f"B-{t}")
        elif prev_type == t:  # I, M, E continuing the same entity
            out.append(f"I-{t}")
        else:
            out.append(f"B-{t}")
            repaired += 1
        prev_type = None if p in ("E", "S") else t
    return out, repaired


def read_conll(path: Path, scheme: str = "auto", encoding: str = "utf-8",
               skip_bad: bool = False) -> tuple[list[TokenExample], ReadStats]:
    path = Path(path)
    text = read_text(path, encoding)
    stats = ReadStats()
    sentences: list[tuple[int, list[str], list[tuple[str, str | None]]]] = []
    tokens, tags, start, broken = [], [], 0, False

    def flush():
        nonlocal tokens, tags, broken
        if tokens or broken:
            stats.rows += 1
            if broken:  # with bad_rows=skip a malformed line drops its whole sentence, counted once
                stats.dropped["sentence with a malformed line"] += 1
            else:
                sentences.append((start, tokens, tags))
        tokens, tags, broken = [], [], False

    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            flush()
            continue
        parts = line.split()
        if not tokens:
            start = i
        if len(parts) < 2:
            if not skip_bad:
                bad_row(stats, False, "malformed line", f"{path}:{i}",
                         f"expected 'token tag', got {line.strip()!r}", "put the token and its tag on one line, "
                         "separated by a space or tab, and a blank line between sentences")
            broken = True
            continue
        try:
            pt = split_tag(parts[-1])
        except ValueError:
            if not skip_bad:
                bad_row(stats, False, "malformed line", f"{path}:{i}", f"unreadable tag {parts[-1]!r}",
                         "use tags like O, B-PER, I-PER (BIO), E-/S- (BIOES) or M- (BMES)")
            broken = True
            continue
        tokens.append(parts[0])
        tags.append(pt)
    flush()
    if not sentences:
        raise TuneforgeError("no sentences found", where=str(path), fix="write one 'token tag' per line")
    prefixes = {p for _, _, ts in sentences for p, _ in ts if p != "O"}
    found = detect_scheme(prefixes)
    # the declared scheme only has to allow every prefix seen: BMES data whose entities are all one or
    # two characters long has no M- tag and looks like BIOES, BIOES data without E-/S- looks like BIO
    if scheme != "auto" and not prefixes <= SCHEME_PREFIXES[scheme]:
        raise TuneforgeError(f"data.tag_scheme is {scheme} but the tags look like {found}", where=str(path),
                             fix=f"set data.tag_scheme to {found} or auto")
    stats.scheme = found if scheme == "auto" else scheme
    examples = []
    for line, toks, pts in sentences:
        bio, repaired = to_bio(pts)
        stats.repaired_tags += repaired
        examples.append(TokenExample(toks, bio, f"{path}:{line}"))
    return examples, stats
