"""Mean vs [CLS] pooling for classification: padding-invariant, chosen from the checkpoint, restored on load."""

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from tuneforge.config import Config
from tuneforge.errors import TuneforgeError
from tuneforge.tasks.base import get_task
from tuneforge.tasks.pooling import POOLING_KEY, apply_pooling, mean_pool

LABELS = ["neg", "pos"]


def test_mean_pool_ignores_padding():
    h = torch.randn(1, 3, 4)
    padded = torch.cat([h, torch.randn(1, 5, 4) * 100], dim=1)  # huge junk where the mask is 0
    mask = torch.tensor([[1, 1, 1] + [0] * 5])
    assert torch.allclose(mean_pool(padded, mask), h.mean(1), atol=1e-6)


def test_auto_picks_mean_without_a_pooler_and_cls_with_one(tiny_bert, tmp_path):
    task = get_task("text-classification")
    cfg = Config()
    model, fresh = task.build_model(str(tiny_bert), LABELS, cfg)  # tiny_bert ships no pooler, like e5
    assert cfg.train.pooling == "mean" and model.config.to_dict()[POOLING_KEY] == "mean"
    assert not any("pooler" in n for n in fresh)  # unused pooler: not trained as a fresh head
    assert not any(p.requires_grad for n, p in model.named_parameters() if "pooler" in n)

    with_pooler = tmp_path / "with-pooler"
    BertModel(BertConfig.from_pretrained(tiny_bert), add_pooling_layer=True).save_pretrained(with_pooler)
    cfg2 = Config()
    task.build_model(str(with_pooler), LABELS, cfg2)
    assert cfg2.train.pooling == "cls"


def test_mean_pooled_answers_do_not_depend_on_batch_padding(tiny_bert):
    task = get_task("text-classification")
    cfg = Config()
    cfg.train.pooling = "mean"
    model, _ = task.build_model(str(tiny_bert), LABELS, cfg)
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["good", "the plot was boring and the cast was poor and the music was awful"]
    batch = task.predict(model, tok, texts, LABELS, 64, 2, False)
    alone = task.predict(model, tok, texts[:1], LABELS, 64, 1, False)
    assert batch[0]["probabilities"] == pytest.approx(alone[0]["probabilities"], abs=1e-5)
    cls_cfg = Config()
    cls_cfg.train.pooling = "cls"
    cls_model, _ = task.build_model(str(tiny_bert), LABELS, cls_cfg)
    cls_model.classifier.load_state_dict(model.classifier.state_dict())
    other = task.predict(cls_model, tok, texts[:1], LABELS, 64, 1, False)
    assert other[0]["probabilities"] != pytest.approx(alone[0]["probabilities"], abs=1e-5)  # really a different head input


def test_saved_mean_pooled_model_reloads_mean_pooled(tiny_bert, tmp_path):
    task = get_task("text-classification")
    cfg = Config()
    cfg.train.pooling = "mean"
    model, _ = task.build_model(str(tiny_bert), LABELS, cfg)
    model.save_pretrained(tmp_path / "m")
    again = task.model_class.from_pretrained(str(tmp_path / "m"))
    assert type(again).__name__ == "MeanPooledBertForSequenceClassification"
    ids = torch.tensor([[2, 10, 11, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    model.eval()
    again.eval()
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, attention_mask=mask).logits,
                              again(input_ids=ids, attention_mask=mask).logits, atol=1e-6)
    blank = task.model_class.from_config(again.config)  # torch-int8 export's path
    assert type(blank) is type(again)


def test_mean_pooling_refuses_a_head_it_cannot_feed():
    from transformers import RobertaConfig, RobertaForSequenceClassification
    m = RobertaForSequenceClassification(RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=32))
    with pytest.raises(TuneforgeError, match="pooling"):
        apply_pooling(m, "mean")


def _saved_mean_pooled(tiny_bert, out):
    """A mean-pooled classifier saved the way a run saves it, with a trained-looking (non-zero) head and pooler,
    so [CLS] pooling and mean pooling give visibly different logits."""
    cfg = Config()
    cfg.train.pooling = "mean"
    model, _ = get_task("text-classification").build_model(str(tiny_bert), LABELS, cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in list(model.classifier.parameters()) + list(model.bert.pooler.parameters()):
            p.copy_(torch.randn_like(p))
    model.save_pretrained(out)
    return model.eval()


def test_plain_transformers_with_trust_remote_code_gives_tuneforges_answers(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification
    ours = _saved_mean_pooled(tiny_bert, tmp_path / "m")
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m", trust_remote_code=True).eval()
    assert type(plain).__module__ != "tuneforge.tasks.pooling"  # really the code file in the run, not ours
    ids = torch.tensor([[2, 10, 11, 3, 0, 0], [2, 12, 13, 14, 15, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        want = ours(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(plain(input_ids=ids, attention_mask=mask).logits, want, atol=1e-6)
        # Without trust_remote_code transformers takes the standard class: the answers differ, which is why
        # the card and README say trust_remote_code=True is required.
        cls_pooled = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m").eval()
        assert not torch.allclose(cls_pooled(input_ids=ids, attention_mask=mask).logits, want, atol=1e-3)


def test_a_cls_pooled_model_saves_no_code_and_loads_plainly(tiny_bert, tmp_path):
    import json
    cfg = Config()
    cfg.train.pooling = "cls"
    model, _ = get_task("text-classification").build_model(str(tiny_bert), LABELS, cfg)
    model.save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "modeling_tuneforge_pooling.py").exists()
    assert "auto_map" not in json.loads((tmp_path / "m" / "config.json").read_text())
