"""PII redaction: e-mail addresses, phone numbers, Chinese resident IDs, bank cards, URLs and IPs become
placeholders (`[EMAIL]`, `[PHONE]`, ...) before a model ever sees them.

`data.redact: [email, phone, id_card, bank_card, url, ip]` turns it on; it runs on every split right
after reading, before deduplication and splitting (`load_splits`), and the data report counts what
was replaced per type. Recognizers are regular expressions plus the checks that make a number real:
Luhn and a card-like grouping (one run, or 4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) for bank cards; date of
birth, region code and ISO 7064 MOD 11-2 check digit for resident IDs; octets <= 255 for IPv4; Python's
`ipaddress` for IPv6. Phones: Chinese mobile and landline, international (+CC), US/Canada national
((415) 555-2671, 415-555-2671) and UK national (020 7946 0958, 07700 900123); URLs with a scheme, www., or a
host under a common TLD followed by a path (example.co.uk/path). Every digit recognizer is guarded by lookarounds, so a number is never found inside a
longer digit run. The guards name ASCII digits and letters, never
`\\w`: in Chinese text a number sits right next to ideographs ("电话13812345678"), which `\\w` matches.

When candidates of different types overlap, the longest span wins, and on equal spans the type with
the stronger check (id_card before bank_card before phone): an 18-digit ID that happens to pass Luhn
is reported once, as an ID.

NER token files are redacted per sentence: the tokens are joined into a text (no separator between
single-character tokens, which is how Chinese NER files write text; a space otherwise), matched, and
the tokens a match touches become one token holding the placeholder, with the first token's tag
(a following I- tag that lost its B- is repaired to B-).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

from ..config import TASK_INPUTS, register_check, unknown_name

KINDS = ("email", "phone", "id_card", "bank_card", "url", "ip")
PLACEHOLDER = {k: f"[{k.upper()}]" for k in KINDS}
# equal spans: the type whose check is stronger wins (an ID's check digit beats Luhn's 1-in-10)
PRIORITY = {"id_card": 0, "bank_card": 1, "email": 2, "url": 3, "ip": 4, "phone": 5}


@register_check("data.redact")
def check_kinds(cfg, bad) -> None:
    for kind in cfg.data.redact:
        if kind not in KINDS:
            unknown_name(bad, "data.redact", "type", kind, KINDS)


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    kind: str


# ---------------------------------------------------------------- checksums

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:  # every second digit from the right is doubled
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"  # ISO 7064 MOD 11-2, as GB 11643-1999 writes it
# first two digits: province-level region codes of GB/T 2260 (and 71/81/82/83/91: Taiwan, HK, Macao, HMT, abroad)
_ID_REGIONS = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51,
               52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}


def id_card_ok(s: str) -> bool:
    """An 18-character resident ID: known region, a real date of birth not in the future, right check digit."""
    if len(s) != 18 or not s[:17].isdigit() or int(s[:2]) not in _ID_REGIONS:
        return False
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:  # 0230, 1341 ...
        return False
    if born.year < 1900 or born > datetime.date.today():
        return False
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS)) % 11]
    return s[17].upper() == check


# ---------------------------------------------------------------- recognizers (text -> candidate spans)

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])")
# URL characters are ASCII (RFC 3986); Chinese text runs straight on after a link ("访问www.a.com了解"),
# so a non-ASCII character ends it, and trailing sentence punctuation is given back.
_URL = re.compile(r"(?<![A-Za-z0-9])(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}"
# Without a scheme or www.: a host name under a common top-level domain followed by a path
# ("example.co.uk/path"). A bare "example.com" is left alone (as often a company's name as a link), and the
# TLD must be a real, common one, so "data.train/test", "Node.js/Deno" or "config.yaml/json" are not links.
_TLDS = ("com|org|net|edu|gov|mil|int|info|biz|io|ai|app|dev|co|me|tv|cc|xyz|online|site|shop|store|blog|"
         "cloud|tech|news|page|link|live|top|club|eu|asia|"
         "uk|us|ca|au|nz|ie|de|fr|nl|be|ch|at|it|es|pt|se|no|fi|dk|pl|cz|sk|hu|ro|gr|tr|ru|ua|il|ae|sa|in|"
         "pk|cn|hk|tw|mo|jp|kr|sg|my|id|th|vn|ph|br|ar|mx|cl|pe|za|ng|ke|eg")
_URL_BARE = re.compile(rf"(?<![A-Za-z0-9.@/_%+-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
                       rf"(?:{_TLDS})/[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*", re.IGNORECASE)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# not inside a longer dotted or digit run: 256.1.1.1 and 1.2.3.4.5 (a version number) are not addresses
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
# the dotted tail first (::ffff:192.0.2.128), and never stop in front of ".digit" ("::ffff:192")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|"
                   r"[0-9A-Fa-f]{1,4})?(?![0-9A-Za-z:]|\.\d)")
_PHONE = [
    # Chinese mobile: 1[3-9]x + 8 digits, optional +86/0086, written 138 1234 5678 or 138-1234-5678 too
    re.compile(r"(?<![\d+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"),
    # Chinese landline: 0 + 2-3 digit area code + 7-8 digit local number (which never starts with 0 or 1);
    # a separator or brackets are required: 11 bare digits starting with 0 are as often an order number
    re.compile(r"(?<![\d+])(?:\(0\d{2,3}\)[ -]?|0\d{2,3}[ -])[2-9]\d{6,7}(?!\d)"),
    re.compile(r"(?<![\d+])(?:\+|00)86[ -]?\(?[1-9]\d{1,2}\)?[ -]?[2-9]\d{6,7}(?!\d)"),  # +86 10 1234 5678
    # international: + country code, then groups separated by space, dot, dash or brackets (E.164: at most
    # 15 digits); digit count checked below
    re.compile(r"(?<![0-9A-Za-z+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?!\d)"),
    # US/Canada national (NANP): area code and exchange start with 2-9; (415) 555-2671, or 415-555-2671 /
    # 415.555.2671 with the same separator twice, optionally after "1-". Never inside a longer digit run
    # or a dotted/dashed number (a version 10.415.2671, a date, an ISBN).
    re.compile(r"(?<![0-9A-Za-z+])(?<![0-9][-./])(?:1[-. ])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([-.]))[2-9]\d{2}"
               r"(?(1)\1|[- ])\d{4}(?![0-9A-Za-z])(?![-./][0-9])"),
    # UK national: a trunk 0, then 10 digits in two or three groups (020 7946 0958, 07700 900123,
    # 0161 496 0000, (020) 7946 0958); digit count and a separator checked below
    re.compile(r"(?<![0-9A-Za-z+])(?<![0-9][-./])(?:\(0[1-9]\d{1,3}\) ?|0[1-9]\d{1,3}[ -]?)\d{3,6}(?:[ -]\d{3,4})?"
               r"(?![0-9A-Za-z])(?![-./][0-9])"),
]
_INTL, _UK = 3, 5  # indexes in _PHONE of the patterns whose digits are counted after matching
_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# a run of digit groups separated by single spaces or dashes; a card is a contiguous range of whole groups
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ -]\d+)*(?![0-9A-Za-z])")


def _emails(text: str) -> Iterator[Match]:
    for m in _EMAIL.finditer(text):
        yield Match(m.start(), m.end(), "email")


def _urls(text: str) -> Iterator[Match]:
    for m in (*_URL.finditer(text), *_URL_BARE.finditer(text)):
        s = m.group()
        # give back sentence punctuation; a ")" only when unbalanced (wiki/Foo_(bar) keeps its own)
        while s and s[-1] in _URL_TRAILING and (s[-1] != ")" or s.count("(") < s.count(")")):
            s = s[:-1]
        if s.lower() not in ("http://", "https://", "www."):
            yield Match(m.start(), m.start() + len(s), "url")


def _ips(text: str) -> Iterator[Match]:
    for m in _IPV4.finditer(text):
        yield Match(m.start(), m.end(), "ip")
    for m in _IPV6.finditer(text):
        s = m.group()
        try:
            ipaddress.IPv6Address(s)
        except ValueError:
            continue
        # "abc::def" or "cafe::face" in code is valid IPv6 syntax but rarely an address: want a digit
        # or at least three groups
        if any(c.isdigit() for c in s) or len([g for g in s.split(":") if g]) >= 3:
            yield Match(m.start(), m.end(), "ip")


def _phones(text: str) -> Iterator[Match]:
    for i, rx in enumerate(_PHONE):
        for m in rx.finditer(text):
            s = m.group()
            if i == _UK and (sum(c.isdigit() for c in s) != 11 or not any(c in " -(" for c in s)):
                continue  # 11 bare digits starting with 0 are as often an order number
            if i == _INTL:
                # "(+44 20 7946 0958)": the last group's optional ")" took the closing bracket; give it back
                while s.endswith(")") and s.count("(") < s.count(")"):
                    s = s[:-1]
                n = sum(c.isdigit() for c in s)
                if not 8 <= n <= 15 or s.count("(") != s.count(")"):
                    continue
            yield Match(m.start(), m.start() + len(s), "phone")


def _id_cards(text: str) -> Iterator[Match]:
    for m in _ID.finditer(text):
        if id_card_ok(m.group()):
            yield Match(m.start(), m.end(), "id_card")


# How card numbers are written: all digits in one run, or in the groups printed on cards (16 in fours,
# 19 as four fours and a three, Amex 4-6-5, Diners 4-6-4). Any other split is not a card even when the digits
# pass Luhn: "room 18 4111111111111111" is a room and a card, "4111 1111 1111 1111 3 times" a card and a count,
# "84 2052948329103297" two numbers (1 in 10 such joins would pass Luhn by chance).
_CARD_GROUPINGS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4)}


def _bank_cards(text: str) -> Iterator[Match]:
    for run in _DIGIT_RUN.finditer(text):
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", run.group())]
        i = 0
        while i < len(groups):
            found = None
            for j in range(len(groups), i, -1):  # longest range of whole groups first
                sizes = tuple(b - a for a, b in groups[i:j])
                if not ((len(sizes) == 1 and 13 <= sizes[0] <= 19) or sizes in _CARD_GROUPINGS):
                    continue
                a, b = groups[i][0], groups[j - 1][1]
                if luhn_ok(re.sub(r"\D", "", run.group()[a:b])):
                    found = (j, a, b)
                    break
            if found:
                j, a, b = found
                yield Match(run.start() + a, run.start() + b, "bank_card")
                i = j
            else:
                i += 1


RECOGNIZERS: dict[str, Callable[[str], Iterator[Match]]] = {
    "email": _emails, "phone": _phones, "id_card": _id_cards, "bank_card": _bank_cards, "url": _urls, "ip": _ips,
}


# ---------------------------------------------------------------- finding and replacing

def find_pii(text: str, kinds: list[str] | tuple[str, ...] = KINDS) -> list[Match]:
    """Non-overlapping matches, left to right: longest span first, then the stronger check."""
    cands = [m for k in dict.fromkeys(kinds) for m in RECOGNIZERS[k](text)]
    cands.sort(key=lambda m: (-(m.end - m.start), PRIORITY[m.kind], m.start))
    taken: list[Match] = []
    for m in cands:
        if all(m.end <= t.start or m.start >= t.end for t in taken):
            taken.append(m)
    return sorted(taken, key=lambda m: m.start)


def _replace(text: str, matches: list[Match], offset: int, counts: Counter | None) -> str:
    out, pos = [], offset
    for m in matches:
        out += [text[pos - offset:m.start - offset], PLACEHOLDER[m.kind]]
        pos = m.end
        if counts is not None:
            counts[m.kind] += 1
    return "".join(out) + text[pos - offset:]


def redact_text(text: str, kinds: list[str] | tuple[str, ...], counts: Counter | None = None) -> str:
    matches = find_pii(text, kinds)
    return _replace(text, matches, 0, counts) if matches else text


def redact_tokens(tokens: list[str], tags: list[str], kinds, counts: Counter | None = None
                  ) -> tuple[list[str], list[str]]:
    """Redact one NER sentence; tokens a match touches become one placeholder token (see module doc)."""
    starts, parts, pos = [], [], 0
    for i, tok in enumerate(tokens):
        if i and not (len(tokens[i - 1]) == 1 and len(tok) == 1):
            parts.append(" ")
            pos += 1
        starts.append(pos)
        parts.append(tok)
        pos += len(tok)
    text = "".join(parts)
    matches = find_pii(text, kinds)
    if not matches:
        return tokens, tags
    # token ranges [first, last] that matches touch; ranges sharing a token merge into one cluster
    clusters: list[list] = []
    for m in matches:
        first, last = bisect_right(starts, m.start) - 1, bisect_left(starts, m.end) - 1
        if clusters and first <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], last)
            clusters[-1][2].append(m)
        else:
            clusters.append([max(first, 0), last, [m]])
    new_tokens, new_tags, i = [], [], 0
    for first, last, ms in clusters:
        new_tokens += tokens[i:first]
        new_tags += tags[i:first]
        a, b = starts[first], starts[last] + len(tokens[last])
        # every separator inside [a, b) lies inside some match, so the result holds no space
        new_tokens.append(_replace(text[a:b], ms, a, counts))
        new_tags.append(tags[first])
        i = last + 1
    new_tokens += tokens[i:]
    new_tags += tags[i:]
    # an entity whose B- token was swallowed by a placeholder must not go on with a stray I-
    for k, t in enumerate(new_tags):
        if t.startswith("I-") and (k == 0 or new_tags[k - 1][2:] != t[2:]):
            new_tags[k] = "B-" + t[2:]
    return new_tokens, new_tags


def redact_examples(examples: list, kinds: list[str]) -> tuple[list, Counter]:
    """Redacted copies of TextExample/TokenExample lists, and the count per type."""
    from dataclasses import replace

    from .chat import ChatExample
    from .readers import TextExample, TokenExample
    counts: Counter = Counter()
    out = []
    for ex in examples:
        if isinstance(ex, TextExample):
            out.append(replace(ex, text=redact_text(ex.text, kinds, counts)))  # keeps a label set's labels
        elif isinstance(ex, ChatExample):  # every turn: a system prompt or an answer can hold PII too
            out.append(replace(ex, messages=[{**m, "content": redact_text(m["content"], kinds, counts)}
                                             for m in ex.messages]))
        elif isinstance(ex, TokenExample):
            toks, tags = redact_tokens(ex.tokens, ex.tags, kinds, counts)
            out.append(TokenExample(toks, tags, ex.source))
        else:
            out.append(ex)
    return out, counts


def redacting_predictor(run):
    """A loaded run (or export) whose `.predict(texts)` redacts the texts first, the same way as its
    training data (the run's `data.redact`), so predict, serve and the apps never hand the model, the
    output file or a response a number the training data would not have shown it. Predictions then
    describe the redacted text (its "text", and NER offsets into it). The same object comes back, its
    `predict` wrapped once; a run without data.redact, or an image run, is left as it is."""
    cfg = getattr(run, "cfg", None)
    kinds = list(getattr(getattr(cfg, "data", None), "redact", None) or [])
    if not kinds or TASK_INPUTS.get(getattr(cfg, "task", None)) == "images" or getattr(run, "redacts", None):
        return run
    predict = run.predict

    def redacted_predict(texts, *args, **kwargs):
        return predict([redact_text(t, kinds) if isinstance(t, str) else t for t in texts], *args, **kwargs)

    run.predict = redacted_predict
    run.redacts = kinds
    return run
