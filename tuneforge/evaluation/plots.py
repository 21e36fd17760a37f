"""PNG plots a person would rather look at than read: confusion matrix and learning curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    m = np.asarray(matrix, dtype=float)
    n = len(labels)
    size = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            # Counts and row shares as text: the plot reads without telling colours apart.
            ax.text(j, i, f"{int(m[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true row")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curve_png(log_history: list[dict], metric: str, path: Path) -> None:
    train = [(h["epoch"], h["loss"]) for h in log_history if "loss" in h and "epoch" in h]
    evals = [(h["epoch"], h["eval_loss"], h.get(f"eval_{metric}")) for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue", marker=".", linestyle="-")
    if evals:
        ax.plot([e for e, _, _ in evals], [l for _, l, _ in evals], label="validation loss",
                color="tab:orange", marker="s", linestyle="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    scored = [(e, v) for e, _, v in evals if v is not None and metric != "loss"]  # loss: already drawn
    if scored:
        ax2 = ax.twinx()
        ax2.plot(*zip(*scored), label=f"validation {metric}", color="tab:green", marker="^", linestyle=":")
        ax2.set_ylabel(metric)
        ax2.set_ylim(0, 1)
        h2, n2 = ax2.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    ax.legend(handles, names, loc="center right")
    ax.set_title("Learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def mistakes_grid_png(mistakes: list, path: Path, title: str = "Most confident test mistakes") -> None:
    """A grid of (image example, predicted label, confidence), most confident first: where the model is
    surely wrong is where label noise and look-alike classes show."""
    n = len(mistakes)
    cols = min(5, max(1, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.6 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (ex, predicted, conf) in zip(axes.flat, mistakes):
        px = np.asarray(ex.pixels)
        ax.imshow(px[0] if px.shape[0] == 1 else px.transpose(1, 2, 0), cmap="gray" if px.shape[0] == 1 else None,
                  vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"true {ex.label}\npred {predicted} ({conf:.0%})", fontsize=8, color="tab:red")
    if not n:
        axes.flat[0].text(0.5, 0.5, "no mistakes on the test set", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def threshold_histogram_png(groups: dict[str, np.ndarray], threshold: float, path: Path, title: str,
                            xlabel: str) -> None:
    """Overlaid histograms of a score per group (e.g. right answers, wrong answers, off-topic messages) with the
    chosen threshold as a line: what the threshold keeps and what it cuts, at a glance."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    values = [v for v in groups.values() if len(v)]
    lo = min([float(np.min(v)) for v in values] + [threshold]) if values else threshold - 1
    hi = max([float(np.max(v)) for v in values] + [threshold]) if values else threshold + 1
    bins = np.linspace(lo, hi, 41)
    for name, v in groups.items():
        if len(v):  # density: groups of very different sizes stay comparable
            ax.hist(v, bins=bins, alpha=0.5, density=True, label=f"{name} ({len(v)})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
