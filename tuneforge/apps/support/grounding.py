"""The grounding check of composed answers (issue 21): a generated answer may not state a URL, e-mail address,
phone number, IP address, price or date that the retrieved FAQ text it was conditioned on does not hold. A
customer acts on exactly these facts (calls the number, pays the price, turns up on the date), and they are
what a small generator invents most fluently.

`ungrounded(answer, sources)` lists the facts of the answer missing from every source; an empty list passes.
Facts are compared by value, not by spelling:
  e-mail   lower-cased
  URL      lower-cased, without scheme, "www." and trailing slash
  phone    its digits; one number's digits ending with the other's (at least 7) is the same number, so
           "+1 415-555-2671" is grounded by "(415) 555-2671"
  IP       as written
  price    the amount (a currency sign or word before or after a number: $, €, £, ¥, USD, EUR, 元, 块 ...);
           grounded when the sources hold the same amount as any number, in any currency notation
  date     (year or None, month, day) from ISO (2024-05-01), slashed (05/01/2024: month first, as US FAQs
           write it; both readings are accepted), "May 1[, 2024]", "1 May [2024]" and Chinese
           "[2024年]5月1日"; grounded when a source holds the same month and day (and year, when both give one)
E-mail, URL, phone and IP are found by tuneforge.data.redact's recognisers (the same checks the PII
redaction uses: Luhn, groupings, lookarounds that keep a number whole).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...data.redact import find_pii

PII_KINDS = ("email", "url", "phone", "ip")
_MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                           "september", "october", "november", "december"))}
_MONTHS |= {m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9}
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CUR_BEFORE = r"(?:US\$|\$|€|£|¥|￥|USD|EUR|GBP|RMB|CNY)"
_CUR_AFTER = r"(?:USD|EUR|GBP|RMB|CNY|dollars?|euros?|pounds?|yuan|元|块|美元|欧元|英镑)"
_PRICE = re.compile(rf"{_CUR_BEFORE}\s?(?P<a>{_NUM})|(?<![\d.])(?P<b>{_NUM})\s?{_CUR_AFTER}(?![A-Za-z])", re.IGNORECASE)
_ANY_NUM = re.compile(rf"(?<![\d.])(?:{_NUM})(?![\d])")
_DATES = [
    (re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(?<!\d)(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]"), "ymd"),
    (re.compile(r"(?<![\d年])(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]"), "md"),
    (re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])"), "slash"),
    (re.compile(rf"\b(?P<mon>{_MON})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?\b", re.IGNORECASE), "mon_d"),
    (re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MON})\.?(?:,?\s+(?P<y>\d{{4}}))?\b", re.IGNORECASE), "d_mon"),
]


@dataclass(frozen=True)
class Fact:
    kind: str  # email | url | phone | ip | price | date
    text: str  # as the answer writes it


def _amount(s: str) -> float:
    return float(s.replace(",", ""))


def _dates(text: str) -> list[tuple[int, str, set]]:
    """(start, as written, the (year|None, month, day) readings it may mean) for every date in the text."""
    out, taken = [], []
    for rx, form in _DATES:
        for m in rx.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue  # "2024-05-01" is not also read as "5/01"
            g = m.groupdict()
            y = int(g["y"]) if g.get("y") else None
            if y is not None and y < 100:
                y += 2000
            if form in ("ymd", "md"):
                readings = {(y, int(g["m"]), int(g["d"]))}
            elif form == "slash":
                a, b = int(g["a"]), int(g["b"])
                readings = {(y, a, b), (y, b, a)}  # month/day (US) or day/month
            else:
                readings = {(y, _MONTHS[g["mon"].lower().rstrip(".")], int(g["d"]))}
            readings = {r for r in readings if 1 <= r[1] <= 12 and 1 <= r[2] <= 31}
            if readings:
                out.append((m.start(), m.group(0), readings))
                taken.append((m.start(), m.end()))
    return out


def _same_day(a: tuple, b: tuple) -> bool:
    return a[1:] == b[1:] and (a[0] is None or b[0] is None or a[0] == b[0])


def _norm(kind: str, text: str) -> str:
    if kind == "url":
        t = re.sub(r"^(?:https?://)?(?:www\.)?", "", text.lower())
        return t.rstrip("/")
    if kind == "phone":
        return re.sub(r"\D", "", text)
    return text.lower()


def facts(text: str) -> list[Fact]:
    """Every checkable fact in `text`, in order of appearance; a span is one fact (the digits of a URL or a
    phone number are not also a price or a date)."""
    found = [(m.start, m.end, Fact(m.kind, text[m.start:m.end])) for m in find_pii(text, PII_KINDS)]

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e, _ in found)
    found += [(m.start(), m.end(), Fact("price", m.group(0))) for m in _PRICE.finditer(text) if free(m.start(), m.end())]
    found += [(s, s + len(w), Fact("date", w)) for s, w, _ in _dates(text) if free(s, s + len(w))]
    return [f for _, _, f in sorted(found, key=lambda x: x[0])]


def ungrounded(answer: str, sources: list[str]) -> list[Fact]:
    """The facts of `answer` that no source holds (compared by value: see the module's docstring)."""
    src = "\n".join(sources)
    have = {k: {_norm(k, f.text) for f in facts(src) if f.kind == k} for k in PII_KINDS}
    numbers = {_amount(n) for n in _ANY_NUM.findall(src)}
    src_dates = [r for _, _, rs in _dates(src) for r in rs]
    missing = []
    for f in facts(answer):
        if f.kind in PII_KINDS:
            v = _norm(f.kind, f.text)
            ok = v in have[f.kind] or (f.kind == "phone" and any(
                min(len(v), len(h)) >= 7 and (v.endswith(h) or h.endswith(v)) for h in have["phone"]))
        elif f.kind == "price":
            m = _PRICE.fullmatch(f.text)
            ok = _amount(m.group("a") or m.group("b")) in numbers
        else:
            readings = _dates(f.text)[0][2]
            ok = any(_same_day(r, s) for r in readings for s in src_dates)
        if not ok:
            missing.append(f)
    return missing
