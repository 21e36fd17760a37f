"""Train the two towers, score every arm on the same split in the same run, write the run directory;
and recommend top-k unseen items for a user from that directory.

Protocol (see split.py): hyper-parameters (item-kNN neighbours, hybrid popularity weight) are chosen on
validation, where every scorer knows the training interactions only; test is scored once with the
training + validation interactions as history (popularity, kNN and the user texts all use them), while
the encoder stays the one fine-tuned on training interactions alone.

Run directory: encoder/ (the fine-tuned encoder, a Hugging Face directory), item_embeddings.npy,
items.json (ids, texts, click counts), users.json (per user: every item seen, recent clicks),
recommender.json (settings, chosen weights), metrics.json and report.txt (every arm, valid + test).
The recommendations use all interactions in the data as history.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from tuneforge.errors import TuneforgeError
from tuneforge.writing import dir_written_whole

from . import data as recdata
from .baselines import View, build_view, evaluate_scores, item_knn_scores, popularity_scores
from .split import split_by_time
from .two_tower import Encoder, TowerSettings, train_towers, user_text

RUN_FILE = "recommender.json"
NEIGHBOURS = (10, 20, 50, 100, 200, None)  # item-kNN sizes tried on validation; None: every item
POP_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


def pop_prior(popularity: np.ndarray) -> np.ndarray:
    """log(1 + clicks) scaled to [0, 1]: the same scale as a cosine, whatever the data set's size."""
    return np.log1p(popularity) / max(np.log1p(popularity.max()), 1e-12)


def text_scores(enc: Encoder, item_vecs: np.ndarray, item_texts: list[str], view: View, cfg: TowerSettings) -> np.ndarray:
    users = enc.embed([user_text(item_texts, rec, cfg.recent) for rec in view.recent], cfg.user_max_len)
    return users @ item_vecs.T  # cosine: both sides are L2-normalised


def _pick(name: str, options, score_of, key: str) -> tuple[object, dict]:
    """The option with the best validation `key`; ties go to the first (the simpler one)."""
    best, best_val, table = None, -1.0, {}
    for opt in options:
        val = score_of(opt)[key]
        table[str(opt)] = round(val, 5)
        if val > best_val:
            best, best_val = opt, val
    return best, {f"{name}_validation_{key}": table}


def _arm(scores_valid: np.ndarray, scores_test: np.ndarray, views, targets, k: int) -> dict:
    return {"valid": evaluate_scores(scores_valid, views["valid"], targets["valid"], k),
            "test": evaluate_scores(scores_test, views["test"], targets["test"], k)}


def _fmt_report(metrics: dict, k: int) -> str:
    keys = ("auc", f"recall@{k}", f"ndcg@{k}")
    lines = [f"{'arm':<48}" + "".join(f"{'test ' + key:>16}" for key in keys) + f"{'valid ndcg@' + str(k):>16}"]
    for arm, m in metrics["arms"].items():
        lines.append(f"{arm:<48}" + "".join(f"{m['test'][key]:>16.4f}" for key in keys) + f"{m['valid'][f'ndcg@{k}']:>16.4f}")
    t = metrics["arms"]["popularity"]["test"]
    lines.append(f"\nusers scored: test {t['users']} (skipped {t['users_skipped']}: no clicked or no unclicked "
                 f"candidate), validation {metrics['arms']['popularity']['valid']['users']}; every unseen item ranked")
    return "\n".join(lines) + "\n"


def train_recommender(interactions, items, output, *, backbone: str = "minilm-l6", click_threshold: float = 4.0,
                      valid_frac: float = 0.1, test_frac: float = 0.1, k: int = 10,
                      tower: TowerSettings | None = None, overwrite: bool = False, progress: bool = True) -> tuple[Path, dict]:
    from tuneforge.backbones.registry import resolve_backbone
    from tuneforge.paths import sha256_file
    t0 = time.monotonic()
    say = (lambda m: print(f"[recommend {time.monotonic() - t0:6.0f}s] {m}", file=sys.stderr, flush=True)) \
        if progress else (lambda m: None)
    tower, output = tower or TowerSettings(), Path(output)
    if k < 1:
        raise TuneforgeError(f"k must be at least 1, got {k}", where="--k", fix="e.g. --k 10")
    data = recdata.load(interactions, items, click_threshold)
    path = resolve_backbone(backbone)  # before any work: an unknown backbone fails fast
    with dir_written_whole(output, RUN_FILE, "recommender run", overwrite, where=str(output)) as tmp:
        started = time.monotonic()
        split = split_by_time(data.events, valid_frac, test_frac)
        item_ids = list(data.item_text)
        texts = [data.item_text[i] for i in item_ids]
        views = {s: build_view(split.history(s), item_ids, click_threshold) for s in ("valid", "test")}
        targets = {s: split.targets(s, click_threshold) for s in ("valid", "test")}
        say(f"{len(data.events)} interactions, {len(data.clicks())} clicks (rating >= {click_threshold}), "
            f"{len(views['test'].users)} users, {len(item_ids)} items; split {len(split.train)}/{len(split.valid)}/"
            f"{len(split.test)} train/valid/test")
        arms, chosen = {}, {}
        arms["popularity"] = _arm(popularity_scores(views["valid"]), popularity_scores(views["test"]), views, targets, k)
        nb, table = _pick("knn_neighbours", NEIGHBOURS, lambda n: evaluate_scores(
            item_knn_scores(views["valid"], n), views["valid"], targets["valid"], k), f"ndcg@{k}")
        chosen |= table | {"knn_neighbours": nb}
        arms[f"item-knn (k={nb or 'all'})"] = _arm(item_knn_scores(views["valid"], nb), item_knn_scores(views["test"], nb),
                                                  views, targets, k)
        priors = {s: pop_prior(views[s].popularity)[None, :] for s in views}

        def text_arms(label: str, enc: Encoder) -> tuple[float, np.ndarray]:
            item_vecs = enc.embed(texts, tower.item_max_len)
            sc = {s: text_scores(enc, item_vecs, texts, views[s], tower) for s in views}
            arms[label] = _arm(sc["valid"], sc["test"], views, targets, k)
            w, table = _pick(f"{label}_pop_weight", POP_WEIGHTS, lambda w: evaluate_scores(
                sc["valid"] + w * priors["valid"], views["valid"], targets["valid"], k), f"ndcg@{k}")
            chosen.update(table | {f"{label}_pop_weight": w})
            arms[f"{label} + popularity (w={w})"] = _arm(sc["valid"] + w * priors["valid"], sc["test"] + w * priors["test"],
                                                        views, targets, k)
            return w, item_vecs

        say(f"zero-shot arm: untuned {backbone}")
        enc = Encoder(path, tower.layers)
        text_arms("zero-shot encoder", enc)
        say(f"fine-tuning {backbone} as two towers: {tower.steps} steps of {tower.batch_size} pairs")
        train_stats = train_towers(enc, texts, views["valid"], tower, say)
        say(f"scoring the fine-tuned towers ({train_stats['steps']} steps, {train_stats.get('runtime_s')} s)")
        w, item_vecs = text_arms("two-tower (fine-tuned)", enc)

        # What `recommend` serves from: every interaction in the data is history now.
        full = build_view(_all_history(data.events), item_ids, click_threshold)
        enc.save(tmp / "encoder")
        np.save(tmp / "item_embeddings.npy", item_vecs)
        _write(tmp / "items.json", {"ids": item_ids, "texts": texts, "clicks": full.popularity.astype(int).tolist()})
        _write(tmp / "users.json", {u: {"seen": [item_ids[j] for j in full.seen[r]],
                                        "recent": [item_ids[j] for j in full.recent[r][:tower.recent]]}
                                    for u, r in full.row.items()})
        metrics = {"k": k, "arms": arms, "chosen_on_validation": chosen, "train": train_stats,
                   "data": {"interactions": len(data.events), "clicks": len(data.clicks()), "users": len(full.users),
                            "items": len(item_ids), "split": {"train": len(split.train), "valid": len(split.valid),
                                                              "test": len(split.test)}},
                   "runtime_s": round(time.monotonic() - started, 1)}
        settings = {"backbone": backbone, "click_threshold": click_threshold, "valid_frac": valid_frac,
                    "test_frac": test_frac, "k": k, "pop_weight": w, "tower": tower.to_dict(),
                    "sources": {name: {"path": str(Path(p).resolve()), "sha256": sha256_file(Path(p))}
                                for name, p in data.sources.items()}}
        _write(tmp / RUN_FILE, settings)
        _write(tmp / "metrics.json", metrics)
        (tmp / "report.txt").write_text(_fmt_report(metrics, k), encoding="utf-8")
    return output, metrics


def _all_history(events) -> dict:
    out: dict = {}
    for e in sorted(events, key=lambda e: (e.ts, e.line)):
        out.setdefault(e.user, []).append(e)
    return out


def _write(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load_run(run) -> dict:
    run = Path(run)
    for name in (RUN_FILE, "items.json", "users.json", "item_embeddings.npy", "encoder/config.json"):
        if not (run / name).is_file():
            raise TuneforgeError(f"{run} is not a finished recommender run (no {name})", where=str(run),
                                 fix="point --run at the --output of `tuneforge app recommend train`")
    read = lambda n: json.loads((run / n).read_text(encoding="utf-8"))  # noqa: E731
    return {"settings": read(RUN_FILE), "items": read("items.json"), "users": read("users.json"),
            "item_vecs": np.load(run / "item_embeddings.npy"), "path": run}


def recommend(run, user: str, k: int = 10, state: dict | None = None) -> list[dict]:
    """Top-k items `user` has not interacted with: cosine(user text, item text) + w * popularity prior."""
    st = state or load_run(run)
    if k < 1:
        raise TuneforgeError(f"k must be at least 1, got {k}", where="--k", fix="e.g. --k 10")
    users, items, cfg = st["users"], st["items"], st["settings"]
    if str(user) not in users:
        some = ", ".join(sorted(users, key=lambda u: (len(u), u))[:5])
        raise TuneforgeError(f"user {user!r} has no interactions in this run's data", where="--user",
                             fix=f"use a user id from the interactions file (e.g. {some}, ...)")
    info, index = users[str(user)], {it: j for j, it in enumerate(items["ids"])}
    tower = TowerSettings(**cfg["tower"])
    if info["recent"]:
        enc = st.get("encoder") or Encoder(str(Path(st["path"]) / "encoder"))
        st["encoder"] = enc  # a caller that keeps `state` loads the encoder once
        u = enc.embed([user_text(items["texts"], [index[i] for i in info["recent"]], tower.recent)], tower.user_max_len)[0]
        cos = st["item_vecs"] @ u
    else:  # nothing clicked yet: the popularity prior alone
        cos = np.zeros(len(items["ids"]), dtype=np.float32)
    scores = cos + cfg["pop_weight"] * pop_prior(np.asarray(items["clicks"], dtype=np.float64))
    scores[[index[i] for i in info["seen"]]] = -np.inf  # never recommend what the user already rated
    top = [j for j in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[j])]
    return [{"rank": n + 1, "item_id": items["ids"][j], "text": items["texts"][j], "score": round(float(scores[j]), 4),
             "clicks": items["clicks"][j]} for n, j in enumerate(top)]
