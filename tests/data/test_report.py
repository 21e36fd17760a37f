"""The data report's token lengths: exact for ordinary texts, bounded work for a huge one (issue 16:
one 50 MB text was tokenized whole just to learn it is longer than max_length)."""

from __future__ import annotations

from tuneforge.data.readers import TextExample
from tuneforge.data.report import token_lengths
from tuneforge.tasks.base import get_task


class Counting:
    """A tokenizer that records how many characters it was asked to tokenize."""

    def __init__(self, tok, model_max_length=None):
        self.tok, self.chars = tok, 0
        self.model_max_length = model_max_length or tok.model_max_length

    def __call__(self, texts, **kw):
        self.chars += sum(len(t) for t in ([texts] if isinstance(texts, str) else texts))
        return self.tok(texts, **kw)


def tokenizer(tiny_bert):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(tiny_bert))


def test_ordinary_lengths_are_exact(tiny_bert):
    tok = tokenizer(tiny_bert)
    texts = ["the movie was good", "a " * 300, "中国北京 " * 50, "x"]
    exact = [len(ids) for ids in tok(texts, truncation=False, verbose=False)["input_ids"]]
    assert token_lengths(tok, texts, 128) == exact


def test_a_huge_text_costs_a_bounded_prefix_and_still_counts_as_truncated(tiny_bert):
    tok = Counting(tokenizer(tiny_bert), model_max_length=128)
    huge = "the movie was good and the plot was great " * 50_000  # 2.1 million characters
    examples = [TextExample("short and good", "pos"), TextExample(huge, "neg")]
    lengths = get_task("text-classification").length_of(tok, examples)  # what check-data calls
    assert tok.chars < 100_000  # not the 2.1 million
    assert lengths[0] == len(tok.tok("short and good")["input_ids"])  # exact
    assert lengths[1] > 128  # over max_length: counted as truncated
    assert 300_000 < lengths[1] < 600_000  # the whole text's length, estimated from its first part


def test_text_of_long_tokens_grows_the_prefix_until_it_knows(tiny_bert):
    """Words longer than a chars-per-token guess (WordPiece reads a 150-letter word as one [UNK]) make the
    first prefix too short to decide; the prefix grows until the count passes the bound or the text ends."""
    tok = tokenizer(tiny_bert)
    words = ("z" * 150 + " ") * 200  # 200 tokens + 2 specials in 30,200 characters
    assert token_lengths(tok, [words], 128)[0] > 128
    few = ("z" * 150 + " ") * 50
    assert token_lengths(tok, [few], 128) == [52]
