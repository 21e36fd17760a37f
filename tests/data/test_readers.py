"""Readers: CSV/TSV/JSONL and token-per-line files → examples; every problem is file:line plus a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.data.conll import read_conll, split_tag, to_bio
from tuneforge.data.readers import detect_format, read_classification
from tuneforge.errors import TuneforgeError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read(path, text_column="text", label_column="label", fmt=None, skip=False, encoding="utf-8"):
    return read_classification(path, fmt, text_column, label_column, encoding, skip_bad=skip)


def pairs(examples):
    return [(e.text, e.label) for e in examples]


def fails(fn, *args, **kw) -> TuneforgeError:
    with pytest.raises(TuneforgeError) as e:
        fn(*args, **kw)
    return e.value


# ---------------------------------------------------------------- classification: formats and columns

def test_csv_custom_columns_and_sources(tmp_path):
    p = write(tmp_path / "d.csv", "id,review,stars,sentiment\n1,great film,5,pos\n2,dull plot,1,neg\n")
    ex, stats = read(p, "review", "sentiment")
    assert pairs(ex) == [("great film", "pos"), ("dull plot", "neg")]
    assert [e.source for e in ex] == [f"{p}:2", f"{p}:3"]
    assert stats.rows == 2 and not stats.dropped


def test_tsv_custom_columns(tmp_path):
    p = write(tmp_path / "d.tsv", "sentence\tlabel_id\nit was fine, really\t1\nawful\t0\n")
    ex, _ = read(p, "sentence", "label_id")
    assert pairs(ex) == [("it was fine, really", "1"), ("awful", "0")]  # a comma is just text in TSV


def test_jsonl_custom_keys_and_scalar_labels(tmp_path):
    p = write(tmp_path / "d.jsonl", "\n".join([
        json.dumps({"body": "good", "y": 1, "extra": [1, 2]}),
        "",
        json.dumps({"body": "bad", "y": 0}),
        json.dumps({"body": "\u4e2d\u6587  text", "y": "neu"}, ensure_ascii=False),
    ]) + "\n")
    ex, stats = read(p, "body", "y")
    assert pairs(ex) == [("good", "1"), ("bad", "0"), ("\u4e2d\u6587 text", "neu")]
    assert [e.source for e in ex] == [f"{p}:1", f"{p}:3", f"{p}:4"]  # blank line 2 skipped, lines kept
    assert stats.rows == 3


def test_format_override_beats_extension(tmp_path):
    p = write(tmp_path / "data.txt", "text\tlabel\na b\tx\nc d\ty\n")
    assert pairs(read(p, fmt="tsv")[0]) == [("a b", "x"), ("c d", "y")]


@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("a.TSV", "tsv"), ("a.tab", "tsv"), ("a.jsonl", "jsonl"),
                                       ("a.ndjson", "jsonl"), ("a.json", "jsonl"), ("a.conll", "conll"),
                                       ("a.txt", "conll"), ("a.bmes", "conll"), ("a.bio", "conll")])
def test_detect_format(name, fmt):
    assert detect_format(Path(name), None) == fmt


def test_unknown_extension(tmp_path):
    e = fails(read, write(tmp_path / "data.xlsx", "x"))
    assert e.where == str(tmp_path / "data.xlsx") and "data.format" in e.fix


def test_token_file_given_to_classification(tmp_path):
    e = fails(read, write(tmp_path / "d.conll", "a O\n"))
    assert "token-classification" in e.fix


def test_quoted_commas_quotes_and_newlines(tmp_path):
    p = write(tmp_path / "d.csv", 'text,label\n"good, really good",pos\n"he said ""meh""",neg\n'
                                  '"first line\nsecond line",pos\nplain,neg\n')
    ex, _ = read(p)
    assert pairs(ex) == [("good, really good", "pos"), ('he said "meh"', "neg"),
                         ("first line second line", "pos"), ("plain", "neg")]
    # a row is located at the line it starts on, and rows after a multi-line cell keep the right line
    assert [e.source for e in ex] == [f"{p}:2", f"{p}:3", f"{p}:4", f"{p}:6"]


def test_bom_is_stripped(tmp_path):
    p = write(tmp_path / "d.csv", "text,label\nok,pos\nno,neg\n", encoding="utf-8-sig")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    assert pairs(read(p)[0]) == [("ok", "pos"), ("no", "neg")]
    pj = write(tmp_path / "d.jsonl", '{"text": "ok", "label": "pos"}\n', encoding="utf-8-sig")
    assert pairs(read(pj)[0]) == [("ok", "pos")]


def test_whitespace_collapsed_and_labels_stripped(tmp_path):
    p = write(tmp_path / "d.csv", 'text , label\n"  a\t\tb \n c  ", pos \n')
    assert pairs(read(p)[0]) == [("a b c", "pos")]  # header names are stripped too


def test_crlf_line_endings(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"text,label\r\ngood,pos\r\nbad,neg\r\n")
    ex, _ = read(p)
    assert pairs(ex) == [("good", "pos"), ("bad", "neg")] and ex[1].source == f"{p}:3"


def test_declared_encoding(tmp_path):
    p = write(tmp_path / "d.csv", "text,label\ncaf\u00e9 cr\u00e8me,pos\nna\u00efve,neg\n", encoding="latin-1")
    assert pairs(read(p, encoding="latin-1")[0]) == [("caf\u00e9 cr\u00e8me", "pos"), ("na\u00efve", "neg")]
    g = write(tmp_path / "g.csv", "text,label\n\u5f88\u597d,\u6b63\n", encoding="gbk")
    assert pairs(read(g, encoding="gb18030")[0]) == [("\u5f88\u597d", "\u6b63")]


# ---------------------------------------------------------------- classification: errors

def test_missing_column_lists_found_columns(tmp_path):
    p = write(tmp_path / "d.csv", "review,label\ngood,pos\n")
    e = fails(read, p)
    assert e.where == str(p)
    assert e.what == "column 'text' is missing (found: label, review)"
    assert "data.text_column" in e.fix
    e = fails(read, p, "review", "sentiment")
    assert "'sentiment'" in e.what and "data.label_column" in e.fix


def test_missing_jsonl_key(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "lbl": "x"}\n')
    e = fails(read, p)
    assert "'label' is missing (found: lbl, text)" in e.what


@pytest.mark.parametrize("body, line, what", [
    ("good,pos\n   ,neg\n", 3, "empty text in column 'text'"),
    ("good,pos\nbad,\n", 3, "missing label in column 'label'"),
    ("good,pos\nbad,neg,extra\n", 3, "3 fields where the header has 2"),
    ("good,pos\nbad\n", 3, "1 fields where the header has 2"),
    ('"unclosed,pos\nbad,neg\nfine,pos\n', 2, "is a quote left open?"),
])
def test_bad_csv_row_names_line(tmp_path, body, line, what):
    p = write(tmp_path / "d.csv", "text,label\n" + body)
    e = fails(read, p)
    assert e.where == f"{p}:{line}"
    assert what in e.what
    assert "data.bad_rows=skip" in e.fix


@pytest.mark.parametrize("line_text, what", [
    ('{"text": "x", "label": ', "not valid JSON"),
    ('["x", "pos"]', "not a JSON object"),
    ('{"text": "x", "label": ["a", "b"]}', "'label' holds a JSON list"),
    ('{"text": {"t": 1}, "label": "a"}', "'text' holds a JSON object"),
    ('{"text": null, "label": "a"}', "empty text"),
    ('{"text": "x"}', "missing label"),
])
def test_bad_jsonl_line_names_line(tmp_path, line_text, what):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": "pos"}\n\n' + line_text + "\n")
    e = fails(read, p)
    assert e.where == f"{p}:3" and what in e.what and e.fix


def test_bad_rows_skip_drops_and_counts(tmp_path):
    p = write(tmp_path / "d.csv", "text,label\ngood,pos\n,neg\nbad,\nx,y,z\nfine,neg\n  ,  \nok,pos\n")
    ex, stats = read(p, skip=True)
    assert pairs(ex) == [("good", "pos"), ("fine", "neg"), ("ok", "pos")]
    assert dict(stats.dropped) == {"empty text": 1, "missing label": 1, "malformed line": 1}
    assert stats.rows == 6  # every row read, the dropped ones included: 6 = 3 kept + 3 dropped
    j = write(tmp_path / "d.jsonl", '{"text": "a", "label": "p"}\nnot json\n[1]\n{"text": "", "label": "p"}\n'
                                    '{"text": "b", "label": ["p"]}\n{"text": "c", "label": "n"}\n')
    ex, stats = read(j, skip=True)
    assert pairs(ex) == [("a", "p"), ("c", "n")]
    assert dict(stats.dropped) == {"malformed line": 3, "empty text": 1}
    assert stats.rows == 6


def test_wrong_encoding_names_line_and_byte(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes("text,label\ngood,pos\n\u5f88\u597d,\u6b63\n".encode("gbk"))
    e = fails(read, p)
    assert e.where == f"{p}:3"
    assert e.what == f"cannot decode byte {'很'.encode('gbk')[0]:#04x} as utf-8"
    assert "data.encoding" in e.fix


def test_unknown_encoding(tmp_path):
    e = fails(read, write(tmp_path / "d.csv", "text,label\na,b\n"), encoding="utf-99")
    assert e.where == "data.encoding" and "'utf-99'" in e.what


@pytest.mark.parametrize("content", [b"", b"  \n\n \t\n"])
def test_empty_file(tmp_path, content):
    p = tmp_path / "d.csv"
    p.write_bytes(content)
    e = fails(read, p)
    assert e.where == str(p) and e.what == "the file is empty" and e.fix


def test_file_not_found(tmp_path):
    e = fails(read, tmp_path / "missing.csv")
    assert e.where == str(tmp_path / "missing.csv") and e.what == "file not found"


def test_header_only(tmp_path):
    e = fails(read, write(tmp_path / "d.csv", "text,label\n"))
    assert e.what == "no usable rows"


# ---------------------------------------------------------------- NER: layouts

def sentences(examples):
    return [(e.tokens, e.tags) for e in examples]


def test_space_and_tab_separated(tmp_path):
    spaced = write(tmp_path / "a.txt", "John B-PER\nlives O\nin O\nParis B-LOC\n\nHi O\n")
    tabbed = write(tmp_path / "b.txt", "John\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n\nHi\tO\n")
    expected = [(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]), (["Hi"], ["O"])]
    for p in (spaced, tabbed):
        ex, stats = read_conll(p)
        assert sentences(ex) == expected
        assert [e.source for e in ex] == [f"{p}:1", f"{p}:6"]
        assert stats.rows == 2 and stats.scheme == "BIO"


def test_conll2003_four_columns_and_docstart(tmp_path):
    p = write(tmp_path / "c.conll", "-DOCSTART- -X- -X- O\n\n"
                                    "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
                                    "-DOCSTART- -X- -X- O\n\n"
                                    "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    ex, stats = read_conll(p)
    assert sentences(ex) == [(["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
                             (["Peter", "Blackburn"], ["B-PER", "I-PER"])]
    assert [e.source for e in ex] == [f"{p}:3", f"{p}:9"]
    assert stats.rows == 2


def test_conll_iob1_style_is_repaired(tmp_path):
    """CoNLL-2003's original IOB1 starts entities with I-; converted to IOB2 and counted."""
    p = write(tmp_path / "c.txt", "U.N. I-ORG\nofficial O\nEkeus I-PER\nheads O\n")
    ex, stats = read_conll(p)
    assert ex[0].tags == ["B-ORG", "O", "B-PER", "O"] and stats.repaired_tags == 2


# ---------------------------------------------------------------- NER: schemes → BIO

BIO_EXPECTED = ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-LOC", "B-LOC"]
TOKENS = ["John", "Smith", "lives", "in", "New", "York", "City", "near", "Paris", "Rome"]
SCHEMES = {
    "BIO": ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-LOC", "B-LOC"],
    "BIOES": ["B-PER", "E-PER", "O", "O", "B-LOC", "I-LOC", "E-LOC", "O", "S-LOC", "S-LOC"],
    "BMES": ["B-PER", "E-PER", "O", "O", "B-LOC", "M-LOC", "E-LOC", "O", "S-LOC", "S-LOC"],
    "BIOES-suffix": ["PER-B", "PER-E", "O", "O", "LOC-B", "LOC-I", "LOC-E", "O", "LOC-S", "LOC-S"],
    "BMES-underscore": ["B_PER", "E_PER", "O", "O", "B_LOC", "M_LOC", "E_LOC", "O", "S_LOC", "S_LOC"],
}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_every_scheme_becomes_the_same_bio(tmp_path, scheme):
    p = write(tmp_path / "n.txt", "".join(f"{t} {g}\n" for t, g in zip(TOKENS, SCHEMES[scheme])))
    ex, stats = read_conll(p)
    assert ex[0].tokens == TOKENS
    assert ex[0].tags == BIO_EXPECTED
    assert stats.repaired_tags == 0
    assert stats.scheme == scheme.split("-")[0]  # auto-detected


@pytest.mark.parametrize("declared", ["BIO", "BIOES", "BMES"])
def test_declared_scheme_matching_the_data(tmp_path, declared):
    p = write(tmp_path / "n.txt", "".join(f"{t} {g}\n" for t, g in zip(TOKENS, SCHEMES[declared])))
    ex, stats = read_conll(p, scheme=declared)
    assert ex[0].tags == BIO_EXPECTED and stats.scheme == declared


def test_bioes_declared_on_data_with_only_b_and_i(tmp_path):
    p = write(tmp_path / "n.txt", "a B-X\nb I-X\nc O\n")
    ex, stats = read_conll(p, scheme="BIOES")
    assert ex[0].tags == ["B-X", "I-X", "O"] and stats.scheme == "BIOES"


@pytest.mark.parametrize("declared, data_scheme", [("BMES", "BIO"), ("BIO", "BMES"), ("BIO", "BIOES")])
def test_declared_scheme_contradicted(tmp_path, declared, data_scheme):
    p = write(tmp_path / "n.txt", "".join(f"{t} {g}\n" for t, g in zip(TOKENS, SCHEMES[data_scheme])))
    e = fails(read_conll, p, scheme=declared)
    assert e.where == str(p) and f"look like {data_scheme}" in e.what and data_scheme in e.fix


def test_chinese_character_level_bmes(tmp_path):
    p = write(tmp_path / "m.txt", "\u5f20 B-PER\n\u4e09 E-PER\n\u5728 O\n\u4e0a B-LOC\n\u6d77 M-LOC\n\u5e02 E-LOC\n\n"
                                  "\u4eac S-LOC\n")
    ex, stats = read_conll(p)
    assert sentences(ex) == [(list("\u5f20\u4e09\u5728\u4e0a\u6d77\u5e02"),
                              ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC"]), (["\u4eac"], ["B-LOC"])]
    assert stats.scheme == "BMES"


def test_bmes_without_m_is_read_as_bioes(tmp_path):
    """With no M- tag the two schemes are the same thing; auto-detection says BIOES, BIO is identical."""
    p = write(tmp_path / "m.txt", "\u5f20 B-PER\n\u4e09 E-PER\n\u4eac S-LOC\n")
    ex, stats = read_conll(p)
    assert ex[0].tags == ["B-PER", "I-PER", "B-LOC"] and stats.scheme == "BIOES"
    assert read_conll(p, scheme="BMES")[1].scheme == "BMES"


@pytest.mark.parametrize("tags, bio, repaired", [
    (["O", "I-PER"], ["O", "B-PER"], 1),                      # an I- after O becomes B-
    (["I-PER", "I-PER"], ["B-PER", "I-PER"], 1),              # sentence starts inside
    (["B-PER", "I-LOC"], ["B-PER", "B-LOC"], 1),              # type switch
    (["B-PER", "E-PER", "I-PER"], ["B-PER", "I-PER", "B-PER"], 1),  # entity closed by E-
    (["S-LOC", "E-LOC"], ["B-LOC", "B-LOC"], 1),              # closed by S-
    (["B-PER", "M-PER", "M-PER", "E-PER"], ["B-PER", "I-PER", "I-PER", "I-PER"], 0),
])
def test_to_bio_repairs(tags, bio, repaired):
    assert to_bio([split_tag(t) for t in tags]) == (bio, repaired)


def test_repairs_are_counted_per_file(tmp_path):
    p = write(tmp_path / "n.txt", "a O\nb I-PER\nc I-PER\n\nd B-LOC\ne I-ORG\n\nf B-PER\ng I-PER\n")
    ex, stats = read_conll(p)
    assert [e.tags for e in ex] == [["O", "B-PER", "I-PER"], ["B-LOC", "B-ORG"], ["B-PER", "I-PER"]]
    assert stats.repaired_tags == 2


@pytest.mark.parametrize("tag, expected", [("O", ("O", None)), ("B-PER", ("B", "PER")), ("I_ORG", ("I", "ORG")),
                                           ("LOC-S", ("S", "LOC")), ("B-MISC-X", ("B", "MISC-X"))])
def test_split_tag(tag, expected):
    assert split_tag(tag) == expected


# ---------------------------------------------------------------- NER: errors

@pytest.mark.parametrize("bad_line, what", [
    ("Paris", "expected 'token tag', got 'Paris'"),
    ("Paris PERSON", "unreadable tag 'PERSON'"),
    ("Paris X-LOC", "unreadable tag 'X-LOC'"),
])
def test_bad_ner_line_names_line(tmp_path, bad_line, what):
    p = write(tmp_path / "n.txt", f"John B-PER\nlives O\n\nin O\n{bad_line}\n")
    e = fails(read_conll, p)
    assert e.where == f"{p}:5" and what in e.what and "data.bad_rows=skip" in e.fix


def test_ner_skip_drops_the_whole_sentence(tmp_path):
    p = write(tmp_path / "n.txt", "John B-PER\nlives O\n\nin O\nParis\nnow O\nthen\n\nRome B-LOC\nX WHAT\n\n"
                                  "ok O\nA B-ORG\n\nlonely\n")
    ex, stats = read_conll(p, skip_bad=True)
    assert sentences(ex) == [(["John", "lives"], ["B-PER", "O"]), (["ok", "A"], ["O", "B-ORG"])]
    assert [e.source for e in ex] == [f"{p}:1", f"{p}:12"]
    # counted in sentences, like rows: one per dropped sentence however many bad lines it has
    assert dict(stats.dropped) == {"sentence with a malformed line": 3}
    assert stats.rows == 5


def test_ner_empty_and_missing(tmp_path):
    assert fails(read_conll, write(tmp_path / "e.txt", "\n\n")).what == "the file is empty"
    assert fails(read_conll, write(tmp_path / "d.txt", "-DOCSTART- O\n\n")).what == "no sentences found"
    assert fails(read_conll, tmp_path / "nope.txt").what == "file not found"


# ---------------------------------------------------------------- sizes: limited while reading (issue 16)

def test_csv_cell_over_131072_characters_is_read(tmp_path):
    """Python's csv stops at 131,072 characters per cell by default; our bound is the line limit."""
    long = "word " * 40_000  # 200,000 characters in one quoted cell
    p = write(tmp_path / "d.csv", f'text,label\n"{long}",pos\nshort,neg\n')
    ex, _ = read(p)
    assert len(ex[0].text) > 131_072 and ex[1].label == "neg"


def test_csv_cell_over_the_limit_says_the_cell_is_too_long(tmp_path, monkeypatch):
    import tuneforge.data.readers as readers
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    # a quoted cell over the limit spread across short lines: no line is too long, the cell is
    p = write(tmp_path / "d.csv", 'text,label\nok,pos\n"' + "abc\n" * 400 + '",neg\n')
    e = fails(read, p)
    assert e.where == f"{p}:3"
    assert "longer than 1,000 characters" in e.what and "quote" not in e.fix.split("(")[0].lower()
    assert "TUNEFORGE_MAX_LINE_MB" in e.fix


def test_a_line_over_the_limit_is_refused_while_reading(tmp_path, monkeypatch):
    import tuneforge.data.readers as readers
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(readers, "READ_BLOCK", 256)  # the long line straddles several blocks
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": "p"}\n' * 3 + '{"text": "' + "x" * 5000 + '", "label": "p"}\n')
    e = fails(read, p)
    assert e.where == f"{p}:4" and "longer than 1,000 bytes" in e.what and "TUNEFORGE_MAX_LINE_MB" in e.fix


def test_a_huge_single_line_is_not_read_whole(tmp_path, monkeypatch):
    """The reader stops at the limit: a file far larger than the limit is refused after reading a
    bounded amount of it, not loaded first."""
    import tuneforge.data.readers as readers
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 10_000)
    p = tmp_path / "d.csv"
    with p.open("wb") as f:
        f.write(b"text,label\n")
        f.write(b"x" * 5_000_000)
    read_sizes = []
    real_open = Path.open

    def spy_open(self, *a, **kw):
        fh = real_open(self, *a, **kw)
        if self == p:
            real_read = fh.read
            def counted(n=-1):
                read_sizes.append(n)
                return real_read(n)
            fh.read = counted
        return fh
    monkeypatch.setattr(Path, "open", spy_open)
    e = fails(read, p)
    assert e.where == f"{p}:2" and "longer than 10,000 bytes" in e.what
    assert read_sizes and all(0 < n <= readers.READ_BLOCK for n in read_sizes)  # never read() whole
    assert sum(read_sizes) < 5_000_000


def test_a_file_over_the_file_limit_is_refused(tmp_path, monkeypatch):
    import tuneforge.data.readers as readers
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 2000)
    p = write(tmp_path / "d.csv", "text,label\n" + "good,pos\n" * 500)
    e = fails(read, p)
    assert e.where == str(p) and "2,000 bytes" in e.what and "TUNEFORGE_MAX_FILE_MB" in e.fix


# ---------------------------------------------------------------- CSV structure (issue 16)

def test_unclosed_quote_at_the_end_is_an_error_even_with_the_right_field_count(tmp_path):
    # the swallowed rest is one cell, and the row still has two fields: the field count cannot see it
    p = write(tmp_path / "d.csv", 'label,text\npos,good\nneg,"bad\npos,fine\nneg,awful\n')
    e = fails(read, p)
    assert e.where == f"{p}:3" and "quote" in e.what and "never closed" in e.what


def test_a_quote_closed_in_the_wrong_place_is_an_error(tmp_path):
    # `"bad,neg\n"fine",pos` reads as two fields ('bad,neg\nfine"', 'pos'): a silent merge of two rows
    p = write(tmp_path / "d.csv", 'text,label\ngood,pos\n"bad,neg\n"fine",pos\nok,neg\n')
    e = fails(read, p)
    assert e.where == f"{p}:3" and "quote" in e.what


def test_a_stray_quote_inside_an_unquoted_cell_is_still_text(tmp_path):
    p = write(tmp_path / "d.csv", 'text,label\na 5" screen,pos\n"two\nlines",neg\n')
    assert pairs(read(p)[0]) == [('a 5" screen', "pos"), ("two lines", "neg")]


def test_duplicate_header_names_are_refused(tmp_path):
    p = write(tmp_path / "d.csv", "text,label,label\ngood,pos,neg\n")
    e = fails(read, p)
    assert e.where == f"{p}:1" and "'label'" in e.what and "twice" in e.what and e.fix


# ---------------------------------------------------------------- label values (issue 16)

@pytest.mark.parametrize("value", ["NaN", "nan", "None", "null", "NULL", "<NA>", " "])
def test_missing_value_labels_are_refused(tmp_path, value):
    p = write(tmp_path / "d.csv", f"text,label\ngood,pos\nbad,{value}\n")
    e = fails(read, p)
    assert e.where == f"{p}:3" and "label" in e.what and "data.bad_rows=skip" in e.fix


def test_missing_value_labels_are_dropped_and_counted_with_skip(tmp_path):
    p = write(tmp_path / "d.csv", "text,label\ngood,pos\nbad,NaN\nmeh,None\nfine,neg\n")
    ex, stats = read(p, skip=True)
    assert pairs(ex) == [("good", "pos"), ("fine", "neg")] and stats.dropped["missing label"] == 2
    j = write(tmp_path / "d.jsonl", '{"text": "a", "label": NaN}\n{"text": "b", "label": "x"}\n{"text": "c", "label": "null"}\n')
    ex, stats = read(j, skip=True)
    assert pairs(ex) == [("b", "x")] and stats.dropped["missing label"] == 2


def test_jsonl_numeric_labels_are_one_class_per_value(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n'
                                    '{"text": "c", "label": "1"}\n{"text": "d", "label": 0}\n{"text": "e", "label": -2.0}\n')
    assert [e.label for e in read(p)[0]] == ["1", "1", "1", "0", "-2"]
    c = write(tmp_path / "d.csv", "text,label\na,1.0\nb,1\nc,0.0\n")
    assert [e.label for e in read(c)[0]] == ["1", "1", "0"]  # pandas writes int columns holding NaN as 1.0


def test_jsonl_booleans_mixed_with_numbers_are_refused(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": true}\n')
    e = fails(read, p)
    assert e.where == f"{p}:2" and "boolean" in e.what and "number" in e.what and e.fix
    ok = write(tmp_path / "b.jsonl", '{"text": "a", "label": true}\n{"text": "b", "label": false}\n')
    assert [e.label for e in read(ok)[0]] == ["true", "false"]


def test_jsonl_fractional_label_is_refused(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0.5}\n')
    e = fails(read, p)
    assert e.where == f"{p}:2" and "0.5" in e.what and "integer" in e.fix
