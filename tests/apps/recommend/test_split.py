"""The per-user time split: sizes, no future leakage, ties, short histories, what each stage may see."""

from __future__ import annotations

import random

import pytest

from tuneforge.apps.recommend.data import Event
from tuneforge.apps.recommend.split import split_by_time
from tuneforge.errors import TuneforgeError


def events(n_users: int = 6, per_user: int = 20, seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    out, line = [], 2
    for u in range(n_users):
        for i in range(per_user):
            out.append(Event(f"u{u}", f"i{rng.randrange(50)}", float(rng.randint(1, 5)), float(rng.randrange(1000)), line))
            line += 1
    rng.shuffle(out)  # file order says nothing about time
    return out


def test_each_users_last_tenth_is_test_and_the_tenth_before_is_validation():
    s = split_by_time(events(per_user=20))
    for part, want in ((s.train, 16), (s.valid, 2), (s.test, 2)):
        counts = {}
        for e in part:
            counts[e.user] = counts.get(e.user, 0) + 1
        assert set(counts.values()) == {want}


def test_no_future_leakage_within_a_user():
    evs = events(n_users=8, per_user=13, seed=3)
    s = split_by_time(evs, 0.2, 0.15)
    assert len(s.train) + len(s.valid) + len(s.test) == len(evs)
    key = lambda e: (e.ts, e.line)  # noqa: E731
    for u in {e.user for e in evs}:
        tr = [key(e) for e in s.train if e.user == u]
        va = [key(e) for e in s.valid if e.user == u]
        te = [key(e) for e in s.test if e.user == u]
        assert tr and va and te
        assert max(tr) < min(va) and max(va) < min(te)


def test_equal_timestamps_are_ordered_by_file_line():
    evs = [Event("a", f"i{k}", 5.0, 100.0, line) for k, line in enumerate([5, 3, 4, 2, 6])]
    s = split_by_time(evs, 0.2, 0.2)
    assert [e.line for e in s.train] == [2, 3, 4] and [e.line for e in s.valid] == [5] and [e.line for e in s.test] == [6]


def test_users_with_fewer_than_three_interactions_stay_in_train():
    evs = [Event("a", "x", 5, 1, 2), Event("a", "y", 5, 2, 3), Event("b", "x", 5, 1, 4)]
    s = split_by_time(evs)
    assert len(s.train) == 3 and not s.valid and not s.test


def test_three_interactions_give_one_each():
    s = split_by_time([Event("a", f"i{t}", 5, t, t + 2) for t in range(3)])
    assert [e.item for e in s.train] == ["i0"] and [e.item for e in s.valid] == ["i1"] and [e.item for e in s.test] == ["i2"]


def test_history_and_targets_per_stage():
    evs = [Event("a", f"i{t}", 5.0 if t != 9 else 2.0, t, t + 2) for t in range(10)]
    s = split_by_time(evs)
    assert [e.item for e in s.history("valid")["a"]] == [f"i{t}" for t in range(8)]
    assert [e.item for e in s.history("test")["a"]] == [f"i{t}" for t in range(9)]  # validation joins the history
    assert s.targets("valid", 4.0) == {"a": {"i8"}}
    assert s.targets("test", 4.0) == {}  # i9 was rated 2: held out, but not a click


@pytest.mark.parametrize("valid,test", [(0, 0.1), (0.1, 1.0), (0.6, 0.5), (-0.1, 0.1)])
def test_bad_fractions_are_refused(valid, test):
    with pytest.raises(TuneforgeError, match="fraction") as e:
        split_by_time(events(), valid, test)
    assert e.value.fix
