"""A finished tuneforge run as the monitor's classifier: the run loader `tuneforge predict` uses (a run
directory or any export of it), batch prediction, and which of the run's labels count as negative."""

from __future__ import annotations

from typing import Callable, Sequence

from ...errors import TuneforgeError

NEGATIVE_NAMES = ("negative", "neg", "bad", "-1")


def negative_labels_of(labels: Sequence[str], given: Sequence[str] | None, where: str) -> list[str]:
    """The run's labels that mean "negative": those given (each must be a label of the run), else the ones
    named like negative ("negative", "neg", "very negative", "-1" ...)."""
    if given:
        unknown = [g for g in given if g not in labels]
        if unknown:
            raise TuneforgeError(f"--negative-label {', '.join(unknown)} is not a label of the run "
                                 f"(labels: {', '.join(labels)})", where=where, fix="name one of the run's labels")
        return list(given)
    found = [l for l in labels if l.lower() in NEGATIVE_NAMES or "negative" in l.lower() or l.lower().startswith("neg")]
    if not found or len(found) == len(labels):
        raise TuneforgeError(f"cannot tell which of the labels {', '.join(labels)} is negative", where=where,
                             fix="pass --negative-label LABEL (repeat it for several)")
    return found


def _load(run_path: str, flag: str):
    from ...export import load_predictor
    run = load_predictor(run_path)
    if not run.task.classifies_texts:
        raise TuneforgeError(f"{flag} run is a {run.cfg.task} run", where=str(run_path),
                             fix="give a text-classification run (a sentiment model; a topic model for --topic-model)")
    return run


def run_classifier(run_path: str, negative: Sequence[str] | None = None,
                   batch_size: int | None = None) -> tuple[Callable[[list[str]], list[bool]], list[str]]:
    """(classify(texts) -> is-negative flags, the negative labels)."""
    run = _load(run_path, "--model")
    neg = set(negative_labels_of(run.labels, negative, str(run_path)))

    def classify(texts: list[str]) -> list[bool]:
        return [label in neg for label in _predict_unique(run, texts, batch_size)]
    return classify, sorted(neg)


def _predict_unique(run, texts: list[str], batch_size: int | None) -> list[str]:
    """Each distinct text predicted once: streams repeat themselves (shares, templated complaints, bots)."""
    unique = list(dict.fromkeys(texts))
    label = dict(zip(unique, (p["label"] for p in run.predict(unique, batch_size)))) if unique else {}
    return [label[t] for t in texts]


def topic_classifier(run_path: str, batch_size: int | None = None) -> Callable[[list[str]], list[str]]:
    """topics(texts) -> the topic run's predicted label per text (for items that carry no topic)."""
    run = _load(run_path, "--topic-model")

    def topics(texts: list[str]) -> list[str]:
        return _predict_unique(run, texts, batch_size)
    return topics
