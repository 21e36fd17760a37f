"""`tuneforge app monitor report`: negative share per topic over time with the alerts marked (PNG), and a
text summary. Topics differ by line style and marker as well as colour, and each line is named at its end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ...errors import TuneforgeError

STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "P"),
          ((0, (3, 1, 1, 1)), "X"), ((0, (5, 5)), "*")]
MAX_TOPICS = 8  # more lines than this is a tangle: the busiest topics are drawn


def _dt(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def topics_by_volume(trends: dict) -> list[str]:
    totals: dict[str, int] = {}
    for w in trends["windows"]:
        totals[w["topic"]] = totals.get(w["topic"], 0) + w["total"]
    return sorted(totals, key=lambda t: (-totals[t], t))


def write_trend_png(trends: dict, path: str | Path, topics: list[str] | None = None, min_count: int = 1) -> Path:
    import matplotlib
    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise TuneforgeError("the trend plot is a PNG", where=str(path), fix="end --output with .png")
    known = topics_by_volume(trends)
    if not known:
        raise TuneforgeError("the database holds no windows yet", where="--db", fix="ingest some texts first")
    if topics:
        unknown = [t for t in topics if t not in known]
        if unknown:
            raise TuneforgeError(f"no topic {', '.join(unknown)} in the database (topics: {', '.join(known)})",
                                 where="--topic", fix="name a topic the database holds")
    chosen = (topics or known)[:MAX_TOPICS]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    for i, topic in enumerate(chosen):
        ws = [w for w in trends["windows"] if w["topic"] == topic and w["total"] >= min_count]
        if not ws:
            continue
        ls, marker = STYLES[i % len(STYLES)]
        x, y = [_dt(w["start"]) for w in ws], [w["negative_share"] for w in ws]
        line, = ax.plot(x, y, linestyle=ls, marker=marker, markersize=3, markevery=max(1, len(x) // 40),
                        linewidth=1, label=topic)
        ax.annotate(topic, (x[-1], y[-1]), xytext=(4, 0), textcoords="offset points", fontsize=8,
                    color=line.get_color(), va="center")
    alerts = [a for a in trends["alerts"] if a["topic"] in chosen]
    if alerts:
        ax.scatter([_dt(a["at"]) for a in alerts], [a["negative_share"] for a in alerts], marker="^", s=90,
                   facecolor="none", edgecolor="black", linewidth=1.5, zorder=5, label="alert (negative surge)")
        for a in alerts[:30]:  # the label names the topic: the triangle alone does not say whose surge it is
            ax.annotate(f"ALERT {a['topic']}", (_dt(a["at"]), a["negative_share"]), xytext=(0, 9),
                        textcoords="offset points", fontsize=7, ha="center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("negative share per window")
    ax.set_xlabel("window start (UTC)")
    ax.set_title(f"Negative share per topic ({len(alerts)} alert{'s' if len(alerts) != 1 else ''})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_summary(trends: dict) -> str:
    lines = [f"{'topic':<20}{'windows':>8}{'texts':>9}{'negative':>10}{'share':>8}{'alerts':>8}"]
    for topic in topics_by_volume(trends):
        ws = [w for w in trends["windows"] if w["topic"] == topic]
        n, k = sum(w["total"] for w in ws), sum(w["negative"] for w in ws)
        lines.append(f"{topic[:19]:<20}{len(ws):>8}{n:>9}{k:>10}{k / n if n else 0:>8.3f}"
                     f"{sum(a['topic'] == topic for a in trends['alerts']):>8}")
    for a in trends["alerts"]:
        eg = f"  e.g. {a['examples'][0][:70]!r}" if a["examples"] else ""
        lines.append(f"ALERT {a['at']}  {a['topic']}: negative share {a['negative_share']:.2f} "
                     f"vs baseline {a['baseline']:.2f}{eg}")
    return "\n".join(lines)
