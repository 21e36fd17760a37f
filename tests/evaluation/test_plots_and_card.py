"""Plots are real PNGs with the right content size; the card carries metrics, data and usage."""

from PIL import Image

from tuneforge.config import Config
from tuneforge.tasks.base import get_task
from tuneforge.evaluation.card import write_card
from tuneforge.evaluation.outputs import majority_baseline
from tuneforge.evaluation.plots import confusion_png, learning_curve_png
from tuneforge.data.readers import TextExample


def test_confusion_and_learning_curve_png(tmp_path):
    confusion_png([[5, 1], [2, 7]], ["neg", "pos"], tmp_path / "c.png", "t")
    hist = [{"loss": 0.7, "epoch": 0.5}, {"eval_loss": 0.6, "eval_macro_f1": 0.7, "epoch": 0.5},
            {"loss": 0.4, "epoch": 1.0}, {"eval_loss": 0.5, "eval_macro_f1": 0.8, "epoch": 1.0}]
    learning_curve_png(hist, "macro_f1", tmp_path / "l.png")
    learning_curve_png([], "macro_f1", tmp_path / "empty.png")  # a run with no logged step still gets a plot
    for name in ("c.png", "l.png", "empty.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_majority_baseline():
    train = [TextExample("a", "x"), TextExample("b", "x"), TextExample("c", "y")]
    test = [TextExample("d", "x"), TextExample("e", "y"), TextExample("f", "y"), TextExample("g", "y")]
    from tuneforge.tasks.base import get_task
    assert majority_baseline(get_task("text-classification"), train, test) == {"label": "x", "accuracy": 0.25}
    assert majority_baseline(get_task("token-classification"), train, test) is None  # per-token: no single label


def test_card_has_metrics_data_and_usage(tmp_path):
    cfg = Config()
    cfg.data.train = "reviews.csv"
    cfg.output_dir = str(tmp_path / "myrun")
    cfg.train.learning_rate, cfg.train.head_learning_rate = 1e-4, 1e-3
    report = {"splits": {"train": {"examples": 80, "labels": {"neg": 40, "pos": 40}, "duplicates": 0},
                         "validation": {"examples": 10, "labels": {"neg": 5, "pos": 5}, "duplicates": 0,
                                        "overlap_with_train": 0},
                         "test": {"examples": 10, "labels": {"neg": 5, "pos": 5}, "duplicates": 0,
                                  "overlap_with_train": 2}},
              "notes": [], "files": {"reviews.csv": {"rows": 103, "dropped": {"empty text": 3}, "tag_scheme": None,
                                                     "repaired_tags": 0}}, "dropped_while_cleaning": {}}
    metrics = {"test": {"accuracy": 0.9, "macro_f1": 0.89, "n": 10}, "baseline_majority": {"label": "neg", "accuracy": 0.5},
               "train": {"steps": 10, "epochs": 2.0, "trainable_parameters": 50, "total_parameters": 100}}
    write_card(tmp_path, cfg, get_task(cfg.task), ["neg", "pos"], report, metrics)
    card = (tmp_path / "README.md").read_text()
    assert "accuracy **0.9**" in card and "majority baseline" in card
    assert "3 empty text" in card  # dropped rows are visible to a stranger
    assert "2 test examples also occur in train" in card
    assert "50.0%" in card and f"tuneforge predict {cfg.output_dir}" in card
    assert "trust_remote_code" not in card  # a [CLS]-pooled run loads as the standard class

    cfg.train.pooling = "mean"
    write_card(tmp_path, cfg, get_task(cfg.task), ["neg", "pos"], report, metrics)
    card = (tmp_path / "README.md").read_text()
    # plain transformers without it silently uses the untrained [CLS] pooler: the card must say how to load
    assert f'from_pretrained("{cfg.output_dir}", trust_remote_code=True)' in card and "is required" in card


def test_each_task_writes_its_own_card_lines(tmp_path):
    """The lines that differ by task come from the task spec: NER's headline and loading class, an image run's
    input size and commands; the shared sections stay."""
    report = {"splits": {s: {"examples": 4, "labels": {"a": 2, "b": 2}, "duplicates": 0, "overlap_with_train": 0}
                         for s in ("train", "validation", "test")}, "notes": [], "files": {},
              "dropped_while_cleaning": {}}
    metrics = {"test": {"entity_f1": 0.8, "n": 4}, "train": {"steps": 1, "epochs": 1.0}}
    for task, want in (("token-classification", ["entity-level F1", "AutoModelForTokenClassification",
                                                 '"entities"', "early stopping on validation\n  `entity_f1`"]),
                       ("image-classification", ["input 224x224 px", "--input image.png", '"image"',
                                                 "EfficientNetLiteForImageClassification"])):
        cfg = Config(task=task, output_dir=str(tmp_path / task))
        write_card(tmp_path, cfg, get_task(task), ["B-PER", "O"] if task.startswith("token") else ["a", "b"], report,
                   metrics)
        card = (tmp_path / "README.md").read_text()
        assert all(w in card for w in want), (task, [w for w in want if w not in card])
        assert "## Data" in card and "## Limits" in card and "AutoModelForSequenceClassification" not in card
