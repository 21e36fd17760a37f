"""NER alignment, BIO repair, entity decoding and offsets — on tiny tokenizers built in the tests."""

from transformers import AutoTokenizer

from tuneforge.data.readers import TokenExample
from tuneforge.tasks.token_classification import (IGNORE, TokenClassificationTask, entities, repair_bio,
                                                  split_words)


def test_sentencepiece_labels_sit_on_the_character_not_the_bare_metaspace(tiny_sp_bert):
    tok = AutoTokenizer.from_pretrained(tiny_sp_bert)
    task = TokenClassificationTask()
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ex = TokenExample(list("张三在北京"), ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"])
    (feat,) = task.encode(tok, [ex], labels, max_length=64)
    pieces = tok.convert_ids_to_tokens(feat["input_ids"])
    # bare '▁' pieces are dropped: <s> + one piece per character + </s>
    assert pieces == ["<s>", "张", "三", "在", "北", "京", "</s>"]
    labeled = [(p, labels[l]) for p, l in zip(pieces, feat["labels"]) if l != IGNORE]
    assert labeled == [("张", "B-PER"), ("三", "I-PER"), ("在", "O"), ("北", "B-LOC"), ("京", "I-LOC")]


def test_wordpiece_labels_only_first_subtoken(tiny_bert):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    task = TokenClassificationTask()
    labels = ["O", "B-ORG", "I-ORG"]
    ex = TokenExample(["acme", "xyzcorp", "works"], ["B-ORG", "I-ORG", "O"])
    (feat,) = task.encode(tok, [ex], labels, max_length=64)
    pieces = tok.convert_ids_to_tokens(feat["input_ids"])
    n_xyz = len(tok.tokenize("xyzcorp"))
    assert n_xyz > 1
    assert feat["labels"].count(IGNORE) == 2 + (n_xyz - 1)  # [CLS], [SEP] and the continuation pieces
    assert [labels[l] for l in feat["labels"] if l != IGNORE] == ["B-ORG", "I-ORG", "O"]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"


def test_truncated_words_are_marked_and_predicted_O(tiny_sp_bert):
    tok = AutoTokenizer.from_pretrained(tiny_sp_bert)
    task = TokenClassificationTask()
    ((ids, first),) = task._align(tok, [list("中国北京上海人民")], max_length=6)
    assert len(ids) == 6
    assert first[:4] == [1, 2, 3, 4] and first[4:] == [None] * 4


def test_repair_bio_and_entities():
    assert repair_bio(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"]) == ["O", "B-PER", "I-PER", "B-LOC", "B-ORG"]
    assert entities(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]


def test_split_words_offsets_mix_cjk_and_latin():
    text = "张三 lives in 北京, ok"
    words = split_words(text)
    assert [w for w, _, _ in words] == ["张", "三", "lives", "in", "北", "京", ",", "ok"]
    assert all(text[s:e] == w for w, s, e in words)


def test_entity_metrics_are_strict():
    m = TokenClassificationTask._entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert m["entity_f1"] == 0.0  # a partial span is not a hit
    m = TokenClassificationTask._entity_metrics([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    assert m["entity_precision"] == 1.0 and m["entity_recall"] == 0.5
