"""End to end on a tiny random BERT: a two-tower training step, the run directory with every arm,
recommending unseen items, and the CLI's bad-input paths (one paragraph, exit status 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tuneforge.apps.recommend.baselines import build_view
from tuneforge.apps.recommend.data import load
from tuneforge.apps.recommend.pipeline import load_run, recommend, train_recommender
from tuneforge.apps.recommend.split import split_by_time
from tuneforge.apps.recommend.two_tower import Encoder, TowerSettings, train_towers, training_pairs
from tuneforge.cli import main
from tuneforge.errors import TuneforgeError

FAST = TowerSettings(steps=3, batch_size=4, user_max_len=32, item_max_len=16, recent=3)


def write_world(tmp: Path, n_users: int = 12, per_user: int = 10) -> tuple[Path, Path]:
    """Two tastes: even users click 'good ...' titles and rate 'bad ...' ones low; odd users the reverse."""
    items = [("good", "movie"), ("great", "cast"), ("lovely", "music"), ("bad", "plot"), ("awful", "movie"),
             ("boring", "cast")]
    rows = [f"{i + 1}\t{a} {b} {i}\t{1990 + i}\t{'comedy' if i < 3 else 'drama'}" for i, (a, b) in
            enumerate(items * 3)]
    (tmp / "w.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                + "\n".join(rows) + "\n", encoding="utf-8")
    rng = np.random.default_rng(0)
    lines = []
    for u in range(n_users):
        for t, i in enumerate(rng.permutation(len(rows))[:per_user]):
            liked = (i % 6 < 3) == (u % 2 == 0)
            lines.append(f"{u + 1}\t{i + 1}\t{5 if liked else 2}\t{1000 * u + t}")
    (tmp / "w.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                 + "\n".join(lines) + "\n", encoding="utf-8")
    return tmp / "w.inter", tmp / "w.item"


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rec")
    inter, items = write_world(tmp)
    out, metrics = train_recommender(inter, items, tmp / "run", backbone=str(tiny_bert), tower=FAST, k=3,
                                     progress=False)
    return out, metrics, inter, items


def test_a_training_step_moves_the_encoder_and_masks_duplicate_targets(tiny_bert, tmp_path):
    data = load(*write_world(tmp_path))
    ids = list(data.item_text)
    view = build_view(split_by_time(data.events).history("valid"), ids, 4.0)
    pairs = training_pairs(view)
    assert pairs and all(t not in ctx for _, ctx, t in pairs)  # a target is never in its own context
    enc = Encoder(str(tiny_bert))
    before = [p.detach().clone() for p in enc.model.parameters()]
    stats = train_towers(enc, [data.item_text[i] for i in ids], view, TowerSettings(steps=2, batch_size=8), None)
    assert stats["steps"] == 2 and np.isfinite(stats["loss_last20"])
    # only 9 liked items per taste: a batch of 8 repeats targets, yet the loss stays below 1e3 (masked, not -1e4)
    assert stats["loss_last20"] < 100
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, enc.model.parameters()))


def test_layers_cuts_the_encoder(tiny_bert):
    enc = Encoder(str(tiny_bert), layers=1)
    assert enc.model.config.num_hidden_layers == 1 and len(enc.model.encoder.layer) == 1
    vecs = enc.embed(["good movie", ""], 16)
    assert np.linalg.norm(vecs[0]) == pytest.approx(1, abs=1e-3) and not vecs[1].any()  # empty text: zero vector


def test_run_directory_holds_every_arm_on_valid_and_test(trained):
    out, metrics, *_ = trained
    for name in ("encoder/config.json", "item_embeddings.npy", "items.json", "users.json", "recommender.json",
                 "metrics.json", "report.txt"):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".run.partial-*"))  # the temporary directory was renamed into place
    arms = json.loads((out / "metrics.json").read_text())["arms"]
    names = list(arms)
    assert names[0] == "popularity" and names[1].startswith("item-knn")
    assert {"zero-shot encoder", "two-tower (fine-tuned)"} <= set(names)
    assert any(n.startswith("two-tower (fine-tuned) + popularity (w=") for n in names)
    for m in arms.values():
        for stage in ("valid", "test"):
            assert m[stage]["users"] > 0 and 0 <= m[stage]["auc"] <= 1 and 0 <= m[stage]["ndcg@3"] <= 1
    settings = json.loads((out / "recommender.json").read_text())
    assert settings["pop_weight"] == metrics["chosen_on_validation"]["two-tower (fine-tuned)_pop_weight"]
    assert len(settings["sources"]["interactions"]["sha256"]) == 64
    assert "popularity" in (out / "report.txt").read_text()


def test_recommend_excludes_every_seen_item(trained):
    out, _, inter, items = trained
    state = load_run(out)
    data = load(inter, items)
    for user in ("1", "2", "5"):
        seen = {e.item for e in data.events if e.user == user}
        recs = recommend(out, user, k=50, state=state)
        got = [r["item_id"] for r in recs]
        assert got and not seen & set(got)
        assert len(got) == len(data.item_text) - len(seen)  # k larger than what is left: all unseen items
        assert [r["rank"] for r in recs] == list(range(1, len(recs) + 1))
        assert all(a["score"] >= b["score"] for a, b in zip(recs, recs[1:]))
    assert len(recommend(out, "1", k=2, state=state)) == 2


def test_recommend_bad_input(trained, tmp_path):
    out, *_ = trained
    with pytest.raises(TuneforgeError, match="user '999' has no interactions") as e:
        recommend(out, "999", 5)
    assert e.value.where == "--user" and "e.g. 1, 2" in e.value.fix
    with pytest.raises(TuneforgeError, match="k must be at least 1"):
        recommend(out, "1", 0)
    with pytest.raises(TuneforgeError, match="not a finished recommender run"):
        recommend(tmp_path, "1", 5)


def test_train_refuses_to_overwrite_and_fails_fast_on_bad_backbone(trained, tmp_path):
    out, _, inter, items = trained
    with pytest.raises(TuneforgeError, match="already holds a finished recommender run"):
        train_recommender(inter, items, out, backbone="minilm-l6", tower=FAST, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(TuneforgeError, match="not a recommender run"):
        train_recommender(inter, items, tmp_path / "other", tower=FAST, progress=False)
    with pytest.raises(TuneforgeError, match="does not exist"):
        train_recommender(inter, items, tmp_path / "r", backbone=str(tmp_path / "no-model"), tower=FAST, progress=False)
    assert not (tmp_path / "r").exists()


def test_cli_recommends_and_reports_bad_input_as_one_paragraph(trained, capsys, tmp_path):
    out, _, inter, items = trained
    assert main(["app", "recommend", "--run", str(out), "--user", "1", "--k", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rank"] for r in lines] == [1, 2, 3]
    assert main(["app", "recommend", "--run", str(out), "--user", "1", "--k", "2"]) == 0
    assert "top 2 for user 1" in capsys.readouterr().out
    for argv, msg in [(["app", "recommend", "--run", str(out)], "no --user given"),
                      (["app", "recommend", "--run", str(out), "--user", "nobody"], "has no interactions"),
                      (["app", "recommend", "--run", str(tmp_path), "--user", "1"], "not a finished recommender run"),
                      (["app", "recommend", "train", "--interactions", str(inter)], "both --interactions and --items"),
                      (["app", "recommend", "train", "--interactions", str(inter), "--items", str(items),
                        "--batch-size", "1"], "at least 2"),
                      (["app", "recommend", "train", "--interactions", str(tmp_path / "none.csv"), "--items", str(items)],
                       "does not exist")]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and "fix:" in err


def test_cli_train_prints_the_report(tiny_bert, tmp_path, capsys):
    inter, items = write_world(tmp_path, n_users=6, per_user=8)
    rc = main(["app", "recommend", "train", "--interactions", str(inter), "--items", str(items), "--output",
               str(tmp_path / "run"), "--backbone", str(tiny_bert), "--steps", "2", "--batch-size", "4", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "popularity" in printed and "two-tower (fine-tuned)" in printed and "training: 2 steps" in printed
