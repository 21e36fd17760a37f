"""Per-user time-based split: each user's last interactions are test, the ones before are validation.

Every interaction (clicked or not) is ordered by (timestamp, file line) within its user; the last
`test_frac` of them (at least one) go to test, the `valid_frac` before that to validation, the rest to
train — RecBole's "TO" ordering with an 80/10/10 ratio by default. A user with fewer than 3 interactions
stays wholly in train (nothing to hold out). Within a user, no training interaction is later than a
validation one, and none of those is later than a test one.

Across users the split is not a global time cut: user A's test period may lie before user B's training
period. That is the usual per-user protocol; the popularity counts are taken from the history only
(train for validation, train + validation for test), never from the held-out part.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tuneforge.errors import TuneforgeError

from .data import Event


@dataclass
class Split:
    train: list[Event]
    valid: list[Event]
    test: list[Event]

    def history(self, stage: str) -> dict[str, list[Event]]:
        """What a model may know when it is scored on `stage`, per user, oldest first."""
        events = self.train if stage == "valid" else self.train + self.valid
        out: dict[str, list[Event]] = defaultdict(list)
        for e in sorted(events, key=lambda e: (e.ts, e.line)):
            out[e.user].append(e)
        return dict(out)

    def targets(self, stage: str, click_threshold: float) -> dict[str, set[str]]:
        """The items each user clicked in the held-out part `stage` ("valid" or "test")."""
        out: dict[str, set[str]] = defaultdict(set)
        for e in (self.valid if stage == "valid" else self.test):
            if e.rating >= click_threshold:
                out[e.user].add(e.item)
        return dict(out)


def split_by_time(events: list[Event], valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
        raise TuneforgeError(f"valid fraction {valid_frac} and test fraction {test_frac} must each lie in (0, 1) "
                             "and add up to less than 1", where="--valid-frac/--test-frac", fix="e.g. 0.1 and 0.1")
    by_user: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_user[e.user].append(e)
    train, valid, test = [], [], []
    for u in sorted(by_user):
        evs = sorted(by_user[u], key=lambda e: (e.ts, e.line))
        n = len(evs)
        if n < 3:
            train += evs
            continue
        n_test = max(1, round(test_frac * n))
        n_valid = max(1, round(valid_frac * n))
        n_train = max(1, n - n_test - n_valid)  # always keep some history to recommend from
        n_valid = n - n_test - n_train
        train += evs[:n_train]
        valid += evs[n_train:n_train + n_valid]
        test += evs[n_train + n_valid:]
    return Split(train, valid, test)
