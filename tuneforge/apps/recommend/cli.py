"""`tuneforge app recommend train ...` then `tuneforge app recommend --user 42 --k 10`.

Only argparse at top level: the encoder stack is imported inside the commands.
"""

from __future__ import annotations

import argparse

DEFAULT_RUN = "runs/recommend-ml100k"


def register(sub) -> None:
    p = sub.add_parser("recommend", help="text-based recommender: two-tower sentence encoder on MovieLens-100K "
                                         "(train), top-k unseen items for a user (--user)",
                       description="Without an action: recommend top-k unseen items for --user from a trained run.")
    p.add_argument("--user", help="user id from the interactions file")
    p.add_argument("--k", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--run", default=DEFAULT_RUN, help=f"trained run directory (default {DEFAULT_RUN})")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(fn=cmd_recommend, action=None)
    acts = p.add_subparsers(dest="action")
    t = acts.add_parser("train", help="fine-tune the two towers and score every arm (popularity, item-kNN, "
                                      "zero-shot encoder, fine-tuned, hybrids) on a per-user time split")
    t.add_argument("--data", help="folder with one NAME.inter and one NAME.item (RecBole atomic files); "
                                  "default: the packaged MovieLens-100K (fetched by `tuneforge datasets`)")
    t.add_argument("--interactions", help="interactions file (.inter TSV or .csv: user_id,item_id,rating,timestamp)")
    t.add_argument("--items", help="items file (.item TSV or .csv: item_id,title[,year][,genres])")
    t.add_argument("--output", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    t.add_argument("--backbone", default="minilm-l6", help="sentence encoder: packaged name or a local directory")
    t.add_argument("--click-threshold", type=float, default=4.0, help="rating counted as a click (default 4)")
    t.add_argument("--valid-frac", type=float, default=0.1, help="share of each user's interactions before test")
    t.add_argument("--test-frac", type=float, default=0.1, help="share of each user's last interactions")
    t.add_argument("--k", type=int, default=10, help="cut-off of Recall@k and NDCG@k (default 10)")
    t.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    t.add_argument("--batch-size", type=int, default=32, help="pairs per step = in-batch negatives + 1")
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--recent", type=int, default=4, help="recent clicked items in the user text (default 4)")
    t.add_argument("--layers", type=int, help="keep only the encoder's first N layers (3: ~2x faster)")
    t.add_argument("--max-minutes", type=float, help="stop training after this many minutes")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=cmd_train, action="train")


def cmd_train(a) -> int:
    from tuneforge.errors import TuneforgeError

    from .data import resolve_paths
    from .pipeline import train_recommender
    from .two_tower import TowerSettings
    for name in ("steps", "batch_size", "recent"):
        if getattr(a, name) < 1:
            raise TuneforgeError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}",
                                 where=f"--{name.replace('_', '-')}", fix="give a positive number")
    if a.batch_size < 2:
        raise TuneforgeError("--batch-size must be at least 2: the other pairs are each pair's negatives",
                             where="--batch-size", fix="e.g. --batch-size 32")
    if a.layers is not None and a.layers < 1:
        raise TuneforgeError(f"--layers must be at least 1, got {a.layers}", where="--layers", fix="e.g. --layers 3")
    inter, items = resolve_paths(a.data, a.interactions, a.items)
    tower = TowerSettings(steps=a.steps, batch_size=a.batch_size, lr=a.lr, recent=a.recent, layers=a.layers,
                          max_minutes=a.max_minutes, seed=a.seed)
    out, metrics = train_recommender(inter, items, a.output, backbone=a.backbone, click_threshold=a.click_threshold,
                                     valid_frac=a.valid_frac, test_frac=a.test_frac, k=a.k, tower=tower,
                                     overwrite=a.overwrite, progress=not a.quiet)
    print((out / "report.txt").read_text(encoding="utf-8"), end="")
    tr = metrics["train"]
    if tr.get("steps"):
        print(f"training: {tr['steps']} steps, {tr['pairs_seen']} pairs in {tr['runtime_s']} s; "
              f"loss {tr['loss_first20']} -> {tr['loss_last20']} (chance {tr['chance_loss']})")
    print(f"run directory: {out}   next: tuneforge app recommend --run {out} --user ID --k 10")
    return 0


def cmd_recommend(a) -> int:
    import json

    from tuneforge.errors import TuneforgeError

    from .pipeline import recommend
    if a.user is None:
        raise TuneforgeError("no --user given", where="command line",
                             fix="tuneforge app recommend --user 42 --k 10   (after `tuneforge app recommend train`)")
    recs = recommend(a.run, a.user, a.k)
    if a.json:
        print("\n".join(json.dumps(r, ensure_ascii=False) for r in recs))
        return 0
    print(f"top {len(recs)} for user {a.user} (cosine of the user's recent likes with the item + popularity prior):")
    for r in recs:
        print(f"{r['rank']:>3}. {r['text'][:70]:<70} score {r['score']:.3f}  clicks {r['clicks']}")
    return 0
