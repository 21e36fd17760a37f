"""PII redaction: every recognizer with positive and negative cases, checksums, overlaps, counts, NER
token sequences, and the whole path through load_splits and the data report."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tuneforge.config import load_config
from tuneforge.data.redact import KINDS, find_pii, id_card_ok, luhn_ok, redact_text, redact_tokens
from tuneforge.data.report import build_report, format_report
from tuneforge.data.splits import load_splits
from tuneforge.errors import TuneforgeError

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(first17: str) -> str:
    """A resident ID with its correct check digit (computed here independently of the module)."""
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _W)) % 11]


def make_card(prefix: str, length: int) -> str:
    """A Luhn-valid number: try each last digit."""
    body = prefix + "7" * (length - len(prefix) - 1)
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def kinds(text: str, only=KINDS) -> list[tuple[str, str]]:
    return [(m.kind, text[m.start:m.end]) for m in find_pii(text, only)]


ID_X = make_id("11010519491231002")          # ends in X
ID_NUM = make_id("44030419900307123")
CARD16 = make_card("4111", 16)
CARD19 = make_card("622202", 19)


def test_helpers_produce_what_the_tests_need():
    assert ID_X.endswith("X") and ID_NUM[-1].isdigit() or ID_NUM.endswith("X")
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert len(CARD19) == 19 and luhn_ok(CARD19)


# ---------------------------------------------------------------- email

@pytest.mark.parametrize("text,email", [
    ("write to john.doe+news@example.co.uk today", "john.doe+news@example.co.uk"),
    ("联系邮箱：zhang_san@163.com。谢谢", "zhang_san@163.com"),
    ("(mary-ann@mail.example.org)", "mary-ann@mail.example.org"),
])
def test_email_found(text, email):
    assert kinds(text) == [("email", email)]


@pytest.mark.parametrize("text", ["user@localhost is local", "a@b is not an address", "twitter @handle",
                                  "price 5@3.5 each", "x@y.c"])
def test_email_not_found(text):
    assert kinds(text, ["email"]) == []


# ---------------------------------------------------------------- phone

@pytest.mark.parametrize("text,phone", [
    ("电话13812345678，欢迎来电", "13812345678"),
    ("call 138 1234 5678 now", "138 1234 5678"),
    ("手机：139-1234-5678", "139-1234-5678"),
    ("+86 13812345678", "+86 13812345678"),
    ("0086-15912345678 is mine", "0086-15912345678"),
    ("座机010-62345678", "010-62345678"),
    ("office (0755) 2345678.", "(0755) 2345678"),
    ("总机 +86 10 6234 5678", "+86 10 6234 5678"),
    ("ring +1 415-555-2671 in SF", "+1 415-555-2671"),
    ("London +44 20 7946 0958", "+44 20 7946 0958"),
    ("Berlin +49 (30) 901820", "+49 (30) 901820"),
    ("请拨打+1 415-555-2671联系", "+1 415-555-2671"),
    ("Office (+44 20 7946 0958), weekdays", "+44 20 7946 0958"),   # the closing bracket is not the number's
    ("电话(+1 415 555 0132)", "+1 415 555 0132"),
    ("0086 13800000004", "0086 13800000004"),                     # 15 digits in a 4-11 split: not a card
])
def test_phone_found(text, phone):
    assert kinds(text) == [("phone", phone)]


@pytest.mark.parametrize("text", [
    "order 813812345678 shipped",     # a mobile number inside a longer digit run
    "serial 138123456789",            # 12 digits: a mobile number followed by one more digit
    "code 12812345678",                # 12x is not a mobile prefix
    "ticket 01062345678",              # 11 bare digits starting with 0: no separator, not a landline
    "score +12 3",                     # too few digits for an international number
    "+1234567890123456 is too long",   # more than E.164's 15 digits
    "year 2024-2025 season",
])
def test_phone_not_found(text):
    assert kinds(text, ["phone"]) == []



# national numbers (issue 16: one such number reached test_predictions.jsonl while the report counted phones)
@pytest.mark.parametrize("text,phone", [
    ("call 415-555-2671 today", "415-555-2671"),
    ("call (415) 555-2671 today", "(415) 555-2671"),
    ("call (415)555-2671", "(415)555-2671"),
    ("call 415.555.2671.", "415.555.2671"),
    ("call 1-415-555-2671", "1-415-555-2671"),
    ("London 020 7946 0958 weekdays", "020 7946 0958"),
    ("mobile 07700 900123, evenings", "07700 900123"),
    ("Manchester 0161 496 0000", "0161 496 0000"),
    ("freephone 0800 123 4567", "0800 123 4567"),
    ("ring (020) 7946 0958", "(020) 7946 0958"),
    ("请拨打415-555-2671联系", "415-555-2671"),
])
def test_national_phone_found(text, phone):
    assert kinds(text) == [("phone", phone)]


@pytest.mark.parametrize("text", [
    "on 2024-05-06 at 10:30",              # ISO date, time
    "on 06/05/2024 and 5.6.2024",          # dates
    "years 1999-2024, 2019 2020 2021",     # year ranges and lists
    "it cost $1,234.56 or 415.55 EUR",     # prices
    "version 10.415.2671 and 1.2.3",       # version numbers
    "ISBN 978-3-16-148410-0",              # ISBN
    "SSN-like 123-45-6789",                # 3-2-4
    "dial 123-456-7890",                   # a US area code never starts with 0 or 1
    "ref 415-555-26710",                   # inside a longer digit run
    "codes 5415-555-2671",                 # inside a longer digit run
    "scores 300 400 5000 today",           # numbers in a row, no brackets or dashes
    "totals 0930 1030 1130",               # times in a row: 12 digits, not a UK number
    "page 020 7946",                       # too short for a UK number
    "batch 12 345 6789",                   # not starting with 0
])
def test_national_phone_hard_negatives(text):
    assert kinds(text, ["phone"]) == []


def test_two_phones_separated_by_a_space_are_two():
    assert kinds("13812345678 13912345678") == [("phone", "13812345678"), ("phone", "13912345678")]


# ---------------------------------------------------------------- Chinese resident ID

def test_id_check_digit_and_date():
    assert id_card_ok(ID_X) and id_card_ok(ID_X.lower()) and id_card_ok(ID_NUM)
    wrong = ID_X[:17] + ("0" if ID_X[17] != "0" else "1")
    assert not id_card_ok(wrong)
    assert not id_card_ok(make_id("11010519490230002"))   # 30 February, even with the right check digit
    assert not id_card_ok(make_id("11010519491301002"))   # month 13
    assert not id_card_ok(make_id("11010520990101002"))   # born in the future
    assert not id_card_ok(make_id("00010519491231002"))   # no such region
    assert not id_card_ok(make_id("11010518991231002"))   # before 1900


@pytest.mark.parametrize("text,expected", [
    (f"身份证号{ID_X}，请核对", [("id_card", ID_X)]),
    (f"my ID is {ID_NUM}.", [("id_card", ID_NUM)]),
])
def test_id_found(text, expected):
    assert kinds(text) == expected


def test_id_not_found():
    wrong = ID_X[:17] + "1"
    assert kinds(f"号码{wrong}", ["id_card"]) == []
    assert kinds(f"号码{make_id('11010519490230002')}", ["id_card"]) == []
    assert kinds(f"run 9{ID_NUM} and {ID_NUM}7", ["id_card"]) == []  # inside longer digit runs


# ---------------------------------------------------------------- bank card

@pytest.mark.parametrize("text,card", [
    (f"card {CARD16} please", CARD16),
    ("pay with 4111 1111 1111 1111 exp 12 25", "4111 1111 1111 1111"),
    ("卡号4111-1111-1111-1111。", "4111-1111-1111-1111"),
    (f"银行卡{CARD19}", CARD19),
    (f"amex {make_card('37', 15)}", make_card("37", 15)),
])
def test_card_found(text, card):
    assert kinds(text) == [("bank_card", card)]


def test_card_written_in_groups():
    grouped19 = " ".join([CARD19[:4], CARD19[4:8], CARD19[8:12], CARD19[12:16], CARD19[16:]])
    amex = make_card("37", 15)
    amex_grouped = f"{amex[:4]} {amex[4:10]} {amex[10:]}"
    assert kinds(f"卡号 {grouped19} 谢谢") == [("bank_card", grouped19)]
    assert kinds(f"amex {amex_grouped}") == [("bank_card", amex_grouped)]


def test_card_does_not_take_in_a_neighbouring_number():
    # numbers chosen so that the joined digits pass Luhn too: only the card-like grouping keeps them apart
    after = next(d for d in "0123456789" if luhn_ok(CARD16 + d))
    before = next(f"{n:02d}" for n in range(10, 100) if luhn_ok(f"{n:02d}{CARD16}"))
    grouped = " ".join(CARD16[k:k + 4] for k in range(0, 16, 4))
    assert kinds(f"card {grouped} {after} times", ["bank_card"]) == [("bank_card", grouped)]
    assert kinds(f"room {before} {CARD16}", ["bank_card"]) == [("bank_card", CARD16)]
    bad = "4111111111111112"  # fails Luhn alone; joined with a 2-digit number it may pass
    joined = next(f"{n:02d}" for n in range(10, 100) if luhn_ok(f"{n:02d}{bad}"))
    assert kinds(f"{joined} {bad} minutes", ["bank_card"]) == []


def test_card_not_found():
    assert not luhn_ok("4111111111111112")
    assert kinds("card 4111111111111112 declined", ["bank_card"]) == []   # 16 digits that fail Luhn
    short = make_card("4111", 12)
    assert kinds(f"ref {short}", ["bank_card"]) == []                      # Luhn-valid but 12 digits
    assert kinds(f"run 12345{CARD16}3", ["bank_card"]) == []             # inside a longer (22-digit) run
    assert kinds(f"id {CARD16}abc", ["bank_card"]) == []                  # glued to letters: an identifier


# ---------------------------------------------------------------- URL

@pytest.mark.parametrize("text,url", [
    ("see https://example.com/a?b=1&c=%20 now", "https://example.com/a?b=1&c=%20"),
    ("docs at http://docs.example.org/x.", "http://docs.example.org/x"),
    ("访问www.smallstonesoft.com了解更多", "www.smallstonesoft.com"),
    ("(link: https://x.io/p)", "https://x.io/p"),
    ("见 https://en.wikipedia.org/wiki/Foo_(bar)。", "https://en.wikipedia.org/wiki/Foo_(bar)"),
])
def test_url_found(text, url):
    assert kinds(text) == [("url", url)]


@pytest.mark.parametrize("text,url", [
    ("see www.example.com/x now", "www.example.com/x"),
    ("see example.co.uk/path.", "example.co.uk/path"),
    ("at shop.example.com/cart?id=7, then", "shop.example.com/cart?id=7"),
    ("访问example.cn/about了解", "example.cn/about"),
    ("(docs: github.com/org/repo)", "github.com/org/repo"),
])
def test_url_without_a_scheme_found(text, url):
    assert kinds(text) == [("url", url)]


@pytest.mark.parametrize("text", ["example.com without a scheme", "ftp is not http", "the www. prefix",
                                  "check data.train/validation/test paths", "e.g./i.e. usage", "and/or",
                                  "see tuneforge/data/readers.py", "ratio 3.5/4", "file.txt/2", "v1.2/3.4",
                                  "Node.js/Deno", "config.yaml/json"])
def test_url_not_found(text):
    assert kinds(text, ["url"]) == []


# ---------------------------------------------------------------- IP

@pytest.mark.parametrize("text,ip", [
    ("server 192.168.1.1, up", "192.168.1.1"),
    ("主机10.0.0.255宕机", "10.0.0.255"),
    ("v6 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334"),
    ("loopback ::1 only", "::1"),
    ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
    ("mapped ::ffff:192.0.2.128 here", "::ffff:192.0.2.128"),
])
def test_ip_found(text, ip):
    assert kinds(text) == [("ip", ip)]


@pytest.mark.parametrize("text", ["bad 256.1.1.1", "version 1.2.3.4.5", "three 1.2.3", "time 12:30:45",
                                  "C++ std::vector and abc::def", "999.999.999.999"])
def test_ip_not_found(text):
    assert kinds(text, ["ip"]) == []


# ---------------------------------------------------------------- overlaps and counts

def test_id_that_passes_luhn_is_one_id_not_a_card_or_phone():
    # find an 18-digit ID (numeric check digit) that also passes Luhn: a real collision
    the_id = next(i for i in (make_id(f"110105199003071{n:02d}") for n in range(100))
                  if i[-1].isdigit() and luhn_ok(i))
    counts = Counter()
    out = redact_text(f"证件号{the_id}", KINDS, counts)
    assert out == "证件号[ID_CARD]" and counts == Counter(id_card=1)
    assert kinds(the_id, ["bank_card"]) == [("bank_card", the_id)]  # on its own, the card recognizer agrees


def test_url_with_ip_and_email_is_one_url():
    text = "open http://192.168.0.1/login?u=bob@example.com now"
    assert kinds(text) == [("url", "http://192.168.0.1/login?u=bob@example.com")]


def test_counts_and_placeholders_mixed_languages():
    text = (f"Contact jane@corp.com or 13812345678; 张先生的身份证{ID_X}，银行卡{CARD16}，"
            f"网址https://corp.cn/，服务器 10.1.2.3 和 13912345678。")
    counts = Counter()
    out = redact_text(text, KINDS, counts)
    assert counts == Counter(email=1, phone=2, id_card=1, bank_card=1, url=1, ip=1)
    assert out == ("Contact [EMAIL] or [PHONE]; 张先生的身份证[ID_CARD]，银行卡[BANK_CARD]，"
                   "网址[URL]，服务器 [IP] 和 [PHONE]。")


def test_only_the_requested_kinds_are_redacted():
    counts = Counter()
    out = redact_text("mail a@b.com or call 13812345678", ["phone"], counts)
    assert out == "mail a@b.com or call [PHONE]" and counts == Counter(phone=1)


def test_text_without_pii_is_unchanged():
    text = "一部好电影，2019年上映，评分9.1分 (out of 10), 3,000,000 viewers"
    assert redact_text(text, KINDS) == text


# ---------------------------------------------------------------- NER token sequences

def test_character_tokens_merge_into_one_placeholder_token():
    tokens = list("张三电话13812345678在北京")
    tags = ["B-PER", "I-PER", "O", "O"] + ["O"] * 11 + ["O", "B-LOC", "I-LOC"]
    counts = Counter()
    new_tokens, new_tags = redact_tokens(tokens, tags, KINDS, counts)
    assert new_tokens == ["张", "三", "电", "话", "[PHONE]", "在", "北", "京"]
    assert new_tags == ["B-PER", "I-PER", "O", "O", "O", "O", "B-LOC", "I-LOC"]
    assert counts == Counter(phone=1)


def test_word_tokens_and_two_matches_in_one_token():
    tokens = "Mail john@x.com or call +1 415 555 2671 , John Smith".split()
    tags = ["O"] * 9 + ["B-PER", "I-PER"]
    new_tokens, new_tags = redact_tokens(tokens, tags, KINDS)
    assert new_tokens == ["Mail", "[EMAIL]", "or", "call", "[PHONE]", ",", "John", "Smith"]
    assert new_tags == ["O"] * 6 + ["B-PER", "I-PER"]
    assert redact_tokens(["a@b.com,c@d.com", "ok"], ["O", "O"], KINDS) == (["[EMAIL],[EMAIL]", "ok"], ["O", "O"])


def test_swallowed_entity_start_is_repaired():
    tokens, tags = ["at", "10.0.0.1", "Acme", "Corp"], ["O", "B-ORG", "I-ORG", "I-ORG"]
    assert redact_tokens(tokens, tags, ["ip"]) == (["at", "[IP]", "Acme", "Corp"], ["O", "B-ORG", "I-ORG", "I-ORG"])
    tokens, tags = list("ip10.0.0.1公司"), ["O", "O"] + ["O"] * 8 + ["I-ORG", "I-ORG"]
    new_tokens, new_tags = redact_tokens(tokens, tags, ["ip"])
    assert new_tokens == ["i", "p", "[IP]", "公", "司"] and new_tags == ["O", "O", "O", "B-ORG", "I-ORG"]


# ---------------------------------------------------------------- through load_splits and the report

def write_rows(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def test_end_to_end_load_splits_counts_in_report(tmp_path):
    rows = [(f"plain review number {i}", "pos" if i % 2 else "neg") for i in range(40)]
    rows += [("call me on 13812345678 please", "pos"),
             ("call me on 13912345678 please", "pos"),   # the same text once the number is gone
             (f"my card {CARD16} was charged twice", "neg"),
             ("邮箱 li@example.cn，网站 www.example.cn", "pos")]
    train = write_rows(tmp_path / "train.csv", rows)
    test = write_rows(tmp_path / "test.csv", [("reach us at help@shop.com", "pos"), ("no pii here", "neg")])
    cfg = load_config(None, [f"data.train={train}", f"data.test={test}", "data.redact=[email,phone,bank_card,url]"])
    s = load_splits(cfg)
    everything = [e.text for _, ex in s.items() for e in ex]
    assert not any("@" in t or "1381234" in t or CARD16 in t or "www." in t for t in everything)
    assert "reach us at [EMAIL]" in [e.text for e in s.test]
    assert s.redacted == Counter(email=2, phone=2, bank_card=1, url=1)
    assert s.dropped["duplicate row"] == 1  # redaction ran before deduplication
    rep = build_report(s, None, 128)
    assert rep["redacted"] == {"email": 2, "phone": 2, "bank_card": 1, "url": 1}
    text = format_report(rep, 128)
    assert "redacted (all splits):" in text and "2 phone" in text and "1 bank_card" in text


def test_national_numbers_and_schemeless_urls_are_redacted_in_every_split(tmp_path):
    """The leak of issue 16: the test split (written to test_predictions.jsonl) kept a national number."""
    rows = [(f"plain review number {i}", "pos" if i % 2 else "neg") for i in range(40)]
    train = write_rows(tmp_path / "train.csv", rows + [("ring 020 7946 0958 please", "pos")])
    test = write_rows(tmp_path / "test.csv", [("call (415) 555-2671 now", "pos"), ("see example.co.uk/help", "neg")])
    s = load_splits(load_config(None, [f"data.train={train}", f"data.test={test}", "data.redact=[phone,url]"]))
    everything = " ".join(e.text for _, ex in s.items() for e in ex)
    assert "555-2671" not in everything and "7946" not in everything and "example.co.uk" not in everything
    assert [e.text for e in s.test] == ["call [PHONE] now", "see [URL]"]
    assert s.redacted == Counter(phone=2, url=1)


def test_redaction_off_by_default(tmp_path):
    train = write_rows(tmp_path / "train.csv", [(f"mail {i}@x.com", "ab"[i % 2]) for i in range(20)])
    s = load_splits(load_config(None, [f"data.train={train}"]))
    assert not s.redacted and all("@" in e.text for _, ex in s.items() for e in ex)
    assert "redacted" not in format_report(build_report(s, None, 128), 128)


def test_end_to_end_ner_file(tmp_path):
    lines = ["张 B-PER", "三 I-PER"] + [f"{c} O" for c in "电话13812345678"] + ["", "北 B-LOC", "京 I-LOC", "好 O", ""]
    (tmp_path / "train.txt").write_text("\n".join(lines * 5), encoding="utf-8")
    cfg = load_config(None, ["task=token-classification", f"data.train={tmp_path / 'train.txt'}",
                             "data.split=[0.8,0.2,0.0]", "data.redact=phone"])
    s = load_splits(cfg)
    assert s.redacted == Counter(phone=5)
    phones = [e for _, ex in s.items() for e in ex if "[PHONE]" in e.tokens]
    assert len(phones) == 5
    assert all(e.tokens == ["张", "三", "电", "话", "[PHONE]"] and e.tags == ["B-PER", "I-PER", "O", "O", "O"]
               for e in phones)


def test_unknown_redact_type_is_a_config_error(tmp_path):
    with pytest.raises(TuneforgeError) as e:
        load_config(None, ["data.train=x.csv", "data.redact=[email,phnoe]"])
    assert "data.redact" in e.value.what and "phnoe" in e.value.what and "phone" in e.value.fix
    assert e.value.where == "command line"


# ---------------------------------------------------------------- at prediction time (predict, evaluate, serve)

def test_read_file_redacts_for_evaluate(tmp_path):
    """`tuneforge evaluate --data` reads through read_file: a run trained with data.redact sees the same
    placeholders it was trained on, and nothing else of the number."""
    from tuneforge.data.splits import read_file
    f = write_rows(tmp_path / "eval.csv", [("call 415-555-2671 now", "pos"), ("plain", "neg")])
    cfg = load_config(None, [f"data.train={f}", "data.redact=[phone]"])
    ex, stats = read_file(cfg, str(f))
    assert [e.text for e in ex] == ["call [PHONE] now", "plain"] and stats.redacted == Counter(phone=1)


class EchoRun:
    """A loaded run's interface (`.predict`, `.cfg`, ...) that answers with the texts it was given."""

    def __init__(self, redact, task="text-classification"):
        self.cfg = load_config(None, ["data.train=x.csv", f"data.redact=[{','.join(redact)}]", f"task={task}"])
        self.labels = ["neg", "pos"]

    def predict(self, texts, batch_size=None):
        return [{"text": t, "label": "pos"} for t in texts]


def test_a_run_with_redact_is_given_redacted_texts():
    from tuneforge.data.redact import redacting_predictor
    run = redacting_predictor(EchoRun(["phone", "email"]))
    out = run.predict(["call (415) 555-2671 or a@b.com", "nothing"])
    assert [p["text"] for p in out] == ["call [PHONE] or [EMAIL]", "nothing"]
    assert run.labels == ["neg", "pos"] and redacting_predictor(run) is run  # same object, wrapped once
    plain = EchoRun([])
    assert redacting_predictor(plain).predict(["415-555-2671"])[0]["text"] == "415-555-2671"
