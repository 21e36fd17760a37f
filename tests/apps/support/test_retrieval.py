"""BM25 tokens (English words, Chinese characters + bigrams), BM25 / dense / fused ranking, routing masks."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.apps.support.retrieval import Retriever, tokenize
from tuneforge.errors import TuneforgeError

from .conftest import FAQ_EN, FAQ_ZH

QUESTIONS = [q for q, _, _ in FAQ_EN]


def test_tokenize_english_and_chinese():
    assert tokenize("Where's the MOVIE, John?") == ["where", "s", "the", "movie", "john"]
    assert tokenize("退款吗") == ["退", "款", "吗", "退款", "款吗"]
    assert tokenize("iPhone 15退货") == ["iphone", "15", "退", "货", "退货"]
    assert tokenize("?!") == []


@pytest.fixture(scope="module")
def retriever(tiny_bert):
    return Retriever(QUESTIONS, str(tiny_bert))


def test_bm25_and_fused_rank_the_right_entry_first(retriever):
    msgs = ["where does john work now", "the movie is good?", "where mary live"]
    want = [1, 2, 0]
    for mode in ("bm25", "fused"):
        hits = retriever.search(msgs, mode, top_k=3)
        assert [h[0].index for h in hits] == want, mode
    assert all(len(h) == 3 for h in hits)  # fused: dense ranks every entry, so the top 3 are always full
    # the fused score is reciprocal rank fusion of the two rankings
    h = retriever.search(["where does john work now"], "fused")[0][0]
    assert h.score == pytest.approx(1 / (60 + h.bm25_rank) + 1 / (60 + h.dense_rank))


def test_dense_finds_an_identical_question(retriever):
    hits = retriever.search(QUESTIONS, "dense", top_k=1)
    assert [h[0].index for h in hits] == [0, 1, 2, 3]
    assert all(h[0].cosine == pytest.approx(1.0, abs=1e-2) for h in hits)


def test_no_common_word_leaves_bm25_empty(retriever):
    assert retriever.search(["zzz qqq"], "bm25")[0] == []
    assert retriever.search(["zzz qqq"], "fused")[0]  # dense still ranks every entry


def test_allowed_mask_restricts_candidates(retriever):
    mask = np.array([False, False, True, True])
    hits = retriever.search(["where does john work"], "fused", top_k=4, allowed=[mask])[0]
    assert {h.index for h in hits} == {2, 3}


def test_chinese_bm25_on_characters_and_bigrams(tiny_bert):
    r = Retriever([q for q, _, _ in FAQ_ZH], str(tiny_bert))
    hits = r.search(["张三在什么公司上班", "上海是不是中国的"], "fused")
    assert [h[0].index for h in hits] == [1, 2]


def test_bad_mode_and_bm25_only(tiny_bert):
    r = Retriever(QUESTIONS, backbone=None)
    assert r.search(["john work"], "bm25")[0][0].index == 1
    with pytest.raises(TuneforgeError, match="needs a sentence encoder"):
        r.search(["john"], "dense")
    with pytest.raises(TuneforgeError, match="unknown retrieval mode"):
        r.search(["john"], "hybrid")
    with pytest.raises(TuneforgeError, match="BM25 can index"):
        Retriever(["?!", "..."], backbone=None)


def test_dense_weight_moves_fusion_between_bm25_and_dense(tiny_bert):
    r = Retriever(QUESTIONS, str(tiny_bert))
    msgs = ["where does john work now", "the movie is good?", "where mary live", "music"]
    dense = [[h.index for h in hs] for hs in r.search(msgs, "dense", top_k=3)]
    plain = [[h.index for h in hs] for hs in r.search(msgs, "fused", top_k=3)]
    r.dense_weight = 1.0
    assert [[h.index for h in hs] for hs in r.search(msgs, "fused", top_k=3)] == dense
    r.dense_weight = 0.5
    assert [[h.index for h in hs] for hs in r.search(msgs, "fused", top_k=3)] == plain
