"""The grounding check: facts a composed answer states must be in the retrieved text, compared by value."""

from __future__ import annotations

import pytest

from tuneforge.apps.support.grounding import Fact, facts, ungrounded

SOURCE_EN = ("Call us at (415) 555-2671 or write to Help@Example.com. Returns: see https://www.example.com/returns/. "
             "Shipping costs $4.99; orders placed before May 1, 2025 ship free.")
SOURCE_ZH = "客服电话13812345678，运费5元，2025年5月1日前下单免运费，详见 www.example.cn/help"


def test_finds_each_kind_of_fact_once():
    got = facts("Email a@b.co, visit www.shop.com/x, call +1 415-555-2671, pay $12.50 by 2025-06-30.")
    assert got == [Fact("email", "a@b.co"), Fact("url", "www.shop.com/x"), Fact("phone", "+1 415-555-2671"),
                   Fact("price", "$12.50"), Fact("date", "2025-06-30")]


@pytest.mark.parametrize("answer", [
    "You can call +1 415-555-2671.",                      # the same number with a country code
    "Write to help@example.com.",                         # case
    "Go to http://example.com/returns",                   # scheme, www, trailing slash
    "Shipping is 4.99 dollars.",                          # the amount, another notation
    "Order before 5/1/2025 for free shipping.",           # US slashes for May 1, 2025
    "Order before the 1st of May.",                       # no year: the month and day match
    "Thanks for asking! We are happy to help.",           # no fact at all
])
def test_grounded_answers_pass(answer):
    assert ungrounded(answer, [SOURCE_EN]) == []


@pytest.mark.parametrize("answer,fact", [
    ("Call 1-800-555-0199 any time.", Fact("phone", "1-800-555-0199")),
    ("Write to sales@example.com.", Fact("email", "sales@example.com")),
    ("See www.example.org/returns.", Fact("url", "www.example.org/returns")),
    ("Shipping costs $5.99.", Fact("price", "$5.99")),
    ("Free shipping before June 1, 2025.", Fact("date", "June 1, 2025")),
    ("Free shipping before May 1, 2024.", Fact("date", "May 1, 2024")),   # the right day, another year
])
def test_invented_facts_are_named(answer, fact):
    assert ungrounded(answer, [SOURCE_EN]) == [fact]


def test_chinese_facts():
    assert ungrounded("请拨打13812345678，运费5元，5月1日前下单免运费。", [SOURCE_ZH]) == []
    assert ungrounded("请拨打13912345678，运费8元，6月1日前下单。", [SOURCE_ZH]) == [
        Fact("phone", "13912345678"), Fact("price", "8元"), Fact("date", "6月1日")]


def test_any_source_may_hold_the_fact():
    assert ungrounded("Call (415) 555-2671, pay $3.", ["Call (415) 555-2671.", "Gift wrap is $3."]) == []
