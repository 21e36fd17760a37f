"""The three detectors on synthetic streams: a surge is caught at (or right after) its start, a flat stream raises
nothing, windows below the minimum count are judged only pooled with their neighbours, and one surge gives
one alert; CUSUM, the default, catches small sustained rises, also right after a quiet dip."""

from __future__ import annotations

import random

import pytest

from tuneforge.apps.monitor.detect import DetectorOptions, Window, detect
from tuneforge.errors import TuneforgeError

H = 3600.0


def series(hours: int, n: int = 60, p: float = 0.3, surge=None, seed: int = 0) -> list[Window]:
    rng = random.Random(seed)
    out = []
    for h in range(hours):
        q = surge[2] if surge and surge[0] <= h < surge[1] else p
        out.append(Window(h * H, n, sum(rng.random() < q for _ in range(n))))
    return out


@pytest.mark.parametrize("method, q, max_delay", [("zscore", 0.65, 0), ("ewma", 0.65, 1), ("ewma", 0.5, 3),
                                                   ("cusum", 0.65, 1), ("cusum", 0.5, 3)])
def test_surge_is_caught(method, q, max_delay):
    alarms = detect(series(24 * 10, surge=(150, 156, q), seed=3), DetectorOptions(method=method), H)
    assert len(alarms) == 1, alarms  # one surge, one alert (the cooldown covers the rest of it)
    a = alarms[0]
    assert 150 <= a.start / H <= 150 + max_delay and a.share > a.baseline + 0.1 and 0.2 < a.baseline < 0.4


@pytest.mark.parametrize("method", ["zscore", "ewma", "cusum"])
def test_flat_stream_raises_nothing(method):
    # three fortnights of hourly windows, 60 texts each, 30 % negative throughout. The z-score at its default
    # 3.5 sigma judges each window alone and meets a 33-of-60 hour (p ~ 1e-4) once here: at most one false
    # alarm in six weeks is what it promises (the target is at most one a month); EWMA and CUSUM, none.
    alarms = [a for seed in range(3) for a in detect(series(24 * 14, seed=seed), DetectorOptions(method=method), H)]
    assert len(alarms) <= (1 if method == "zscore" else 0), alarms


@pytest.mark.parametrize("method", ["zscore", "ewma", "cusum"])
def test_tiny_windows_never_alarm(method):
    s = series(24 * 5, seed=1)
    s[100] = Window(100 * H, 4, 4)  # every text negative, but only four of them
    assert detect(s, DetectorOptions(method=method, min_count=20), H) == []
    s[100] = Window(100 * H, 40, 36)  # the same share on enough texts
    assert [a.start / H for a in detect(s, DetectorOptions(method=method, min_count=20), H)] == [100]


@pytest.mark.parametrize("method", ["zscore", "ewma", "cusum"])
def test_quiet_windows_are_pooled(method):
    # nights of 8 texts an hour: alone no window is judged, so a night-long surge would pass unseen
    quiet = [Window(w.start, 8, w.negative) for w in series(24 * 6, n=8, seed=4)]
    for h in range(100, 106):
        quiet[h] = Window(h * H, 8, 7)
    alarms = detect(quiet, DetectorOptions(method=method), H)
    assert [100 <= a.start / H < 106 for a in alarms] == [True], alarms
    assert alarms[0].total >= 20  # judged on a pool of windows that reached min_count together
    assert detect(quiet, DetectorOptions(method=method, pool=1), H) == []  # pooling off: nothing is judged


def caught(method: str, make) -> int:
    """Of ten seeded streams with a surge at hours 150-157, how many alert inside it (or the hour after)."""
    return sum(any(150 <= a.start / H <= 158 for a in detect(make(seed), DetectorOptions(method=method), H))
               for seed in range(10))


def test_cusum_catches_small_sustained_rises():
    # 0.30 -> 0.42 for eight hours of 60 texts: no single window stands out, the rise adds up
    def small(seed):
        return series(24 * 10, surge=(150, 158, 0.42), seed=seed)
    assert caught("cusum", small) >= 7 and caught("cusum", small) > caught("zscore", small) + 2


def test_cusum_is_not_fooled_by_a_quiet_dip():
    # ten hours at 0.15 negative right before a rise to 0.5: the EWMA carries the dip into the surge and is
    # late or silent; CUSUM never goes below zero, so the rise counts from its first window
    def dip_then_surge(seed):
        s = series(24 * 10, surge=(140, 150, 0.15), seed=seed)
        return s[:150] + [w for w in series(24 * 10, surge=(150, 155, 0.5), seed=seed + 100) if w.start >= 150 * H]
    assert caught("cusum", dip_then_surge) >= 8 and caught("ewma", dip_then_surge) <= 5


def test_pool_spans_at_most_pool_windows():
    # 5 texts every 10 hours, all negative: never 20 within 4 windows, so nothing is judged or alarms
    sparse = [Window(h * H, 5, 5) for h in range(0, 24 * 20, 10)]
    assert detect(sparse, DetectorOptions(warmup=1), H) == []
    # the same texts an hour apart pool into judged windows of 20 (4 windows x 5)
    dense = [Window(h * H, 5, 1) for h in range(200)] + [Window(h * H, 5, 5) for h in range(200, 208)]
    alarms = detect(dense, DetectorOptions(), H)
    assert len(alarms) == 1 and alarms[0].total == 20 and 200 <= alarms[0].start / H < 208


def test_lasting_shift_becomes_the_new_normal():
    alarms = detect(series(24 * 12, surge=(100, 10_000, 0.6), seed=2), DetectorOptions(method="zscore"), H)
    # alerts while the new level is news; none once the baseline (48 windows) has learned it
    assert alarms and alarms[0].start / H == 100 and max(a.start for a in alarms) / H < 100 + 48 + 7


@pytest.mark.parametrize("kw, key", [({"method": "cumsum"}, "--method"), ({"threshold": 0}, "--threshold"),
                                     ({"min_count": 0}, "--min-count"), ({"lam": 1.5}, "--lam"),
                                     ({"warmup": 60, "baseline": 48}, "--warmup"), ({"cooldown": -1}, "--cooldown"),
                                     ({"pool": 0}, "--pool"), ({"slack": -0.5}, "--slack")])
def test_bad_options(kw, key):
    with pytest.raises(TuneforgeError) as e:
        DetectorOptions(**kw).validate()
    assert e.value.where == key and e.value.fix
