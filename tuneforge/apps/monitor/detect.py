"""Surges of negative share in one topic's series of time windows, against a rolling baseline.

The baseline is the pooled negative share p0 of the last `baseline` eligible windows. A window with fewer
than `min_count` texts is not judged alone (three texts, two negative, is not a surge): it is pooled with the
windows after it until together they hold `min_count`, and the pool is judged as one window at its last
member. Night hours are quiet, so without pooling a surge that runs overnight is never tested. A pool spans
at most `pool` windows; older members drop out unjudged (a trickle of texts is not pooled over days).
Shares are compared after the arcsine-square-root transform, where a window of n texts has sampling
variance 1/(4n) (a quiet hour with few texts needs a larger jump), plus whatever spread the baseline
windows show beyond their own sampling noise.

    zscore  the window's share itself: alarm when (x - p0) / sd >= threshold (a Shewhart chart; best for
            sudden, large surges, and the first surge window is where it fires)
    ewma    an exponentially weighted mean s of the shares, s = lam*x + (1-lam)*s, judged against its
            own smaller spread sd*sqrt(lam/(2-lam)) (an EWMA chart; catches smaller sustained rises
            that no single window shows, at the price of a window or two of delay)
    cusum   Page's one-sided CUSUM of the standardised shares, S = max(0, S + z - slack), alarm when
            S >= threshold (the default: a rise of a few hours adds up window by window and, unlike the
            EWMA, a quiet stretch below the baseline cannot bank a deficit that hides the next rise:
            the sum never goes below 0)

All three also need the window's own share to sit `min_rise` above the baseline. Windows that alarm are kept out
of the baseline (a surge must not teach the baseline that it is normal) unless the alarm lasts longer than
the baseline itself: then the new level is the new normal. After an alert the topic stays silent for
`cooldown` windows: one surge, one alert.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ...errors import TuneforgeError

METHODS = ("cusum", "ewma", "zscore")
# Default thresholds per method, chosen on benchmarks/app_monitor.py replay seeds 1-12 (seed 0 is the one
# reported). The z-score judges every window alone: at 3.25 a flat topic crosses it by chance in about 0.4 of
# its 720 hourly windows a month (p 6e-4), over the one-a-month budget once three topics are watched; 3.5
# (p 2.3e-4) keeps it under. CUSUM at slack 0.6 and 5.0 raised as many false alarms there as the EWMA at 3.25
# (0.42 a month, with an 85 %-accurate classifier's labels) and caught 67 of 72 surges to the EWMA's 59.
THRESHOLDS = {"cusum": 5.0, "ewma": 3.25, "zscore": 3.5}


@dataclass
class DetectorOptions:
    method: str = "cusum"
    threshold: float | None = None  # alarm level (cusum: summed rise, else sds); None: THRESHOLDS[method]
    min_count: int = 20  # texts a window (or a pool of quiet windows) needs to be tested or to join the baseline
    pool: int = 4  # at most this many consecutive windows are pooled to reach min_count (1: quiet windows are skipped)
    baseline: int = 48  # eligible windows in the rolling baseline
    warmup: int = 12  # eligible windows seen before the first test
    lam: float = 0.25  # EWMA weight of the newest window
    slack: float = 0.6  # CUSUM: standard deviations a window must rise before it adds up (~half the rise aimed at)
    min_rise: float = 0.05  # the window's negative share must be at least this far above the baseline
    cooldown: int = 6  # windows after an alert in which the same topic does not alert again
    min_sd: float = 0.005  # floor of the spread (transformed scale): a perfectly flat baseline must not make every wobble infinite

    def __post_init__(self):
        if self.threshold is None:
            self.threshold = THRESHOLDS.get(self.method)  # an unknown method is validate()'s to report

    def validate(self) -> "DetectorOptions":
        def bad(key: str, what: str, fix: str):
            raise TuneforgeError(f"{key} {getattr(self, key)!r} {what}", where=f"--{key.replace('_', '-')}", fix=fix)
        if self.method not in METHODS:
            bad("method", "is not a detector", f"use one of {', '.join(METHODS)}")
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < math.inf):
            bad("threshold", "must be a positive number", "e.g. --threshold 4")
        for key in ("min_count", "baseline", "warmup", "pool"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                bad(key, "must be a whole number >= 1", f"e.g. --{key.replace('_', '-')} 20")
        if not isinstance(self.cooldown, int) or self.cooldown < 0:
            bad("cooldown", "must be a whole number of windows >= 0", "e.g. --cooldown 6")
        if self.warmup > self.baseline:
            bad("warmup", f"exceeds --baseline {self.baseline}", "make the warm-up at most the baseline length")
        if not 0 < self.lam <= 1:
            bad("lam", "must be in (0, 1]", "e.g. --lam 0.3 (1 makes EWMA the z-score)")
        if not (isinstance(self.slack, (int, float)) and 0 <= self.slack < math.inf):
            bad("slack", "must be a number >= 0", "e.g. --slack 0.6 (0 adds up every rise, however small)")
        if not 0 <= self.min_rise < 1:
            bad("min_rise", "must be in [0, 1)", "e.g. --min-rise 0.05")
        return self


@dataclass
class Window:
    start: float  # epoch seconds
    total: int
    negative: int


@dataclass
class Alarm:
    start: float
    total: int
    negative: int
    share: float
    baseline: float
    score: float


def detect(series: list[Window], opts: DetectorOptions, window_s: float) -> list[Alarm]:
    """The alerts one topic's windows raise, oldest first. Deterministic in the data: the store runs it over
    the whole series after every ingest, so late or out-of-order data is judged like any other."""
    hist: deque[tuple[int, int, float]] = deque()  # (total, negative, transformed share), newest last
    sums = [0, 0, 0.0, 0.0, 0.0]  # running sums over hist: total, negative, y, y^2, 1/(4n) (O(1) per window)
    s: float | None = None  # the EWMA statistic (transformed)
    cusum = 0.0  # the CUSUM statistic (standard deviations)
    alarmed_run = 0
    last_fire = -math.inf
    out: list[Alarm] = []
    for w in _pooled(series, opts, window_s):
        x = w.negative / w.total
        y = _asin(x)
        alarm = False
        k = len(hist)
        if k >= opts.warmup:
            p0 = sums[1] / sums[0]
            y0 = _asin(p0)
            emp_var = max(0.0, sums[3] - sums[2] ** 2 / k) / max(1, k - 1)
            # spread beyond sampling noise (days differ, the classifier errs in streaks), learned from the
            # baseline, on top of the sampling noise 1/(4n) at this window's own size
            extra = max(0.0, emp_var - sums[4] / k)
            sd = max(math.sqrt(1 / (4 * w.total) + extra), opts.min_sd)
            if opts.method == "zscore":
                score = (y - y0) / sd
            elif opts.method == "cusum":
                cusum = max(0.0, cusum + (y - y0) / sd - opts.slack)
                score = cusum
            else:
                s = y0 if s is None else s
                s = opts.lam * y + (1 - opts.lam) * s
                score = (s - y0) / (sd * math.sqrt(opts.lam / (2 - opts.lam)))
            alarm = score >= opts.threshold and x - p0 >= opts.min_rise
            if alarm and (w.start - last_fire) / window_s > opts.cooldown:
                out.append(Alarm(w.start, w.total, w.negative, x, p0, score))
                last_fire = w.start
            if alarm:
                # an EWMA or CUSUM chart restarts after a signal (also one the cooldown silenced), or its
                # memory of the surge re-fires it hours after the surge is over
                s, cusum = y0, 0.0
        alarmed_run = alarmed_run + 1 if alarm else 0
        if not alarm or alarmed_run > opts.baseline:
            _push(hist, sums, (w.total, w.negative, y), +1)
            if len(hist) > opts.baseline:
                _push(hist, sums, hist.popleft(), -1)
    return out


def _pooled(series: list[Window], opts: DetectorOptions, window_s: float):
    """The windows to judge, oldest first: each window with min_count texts, or a run of quiet windows (at
    most `pool` windows wide, gaps included) summed into one that carries its last member's start."""
    pending: deque[Window] = deque()
    for w in sorted(series, key=lambda w: w.start):
        pending.append(w)
        while w.start - pending[0].start >= opts.pool * window_s - 1e-6:
            pending.popleft()
        total = sum(p.total for p in pending)
        if total >= opts.min_count:
            yield Window(w.start, total, sum(p.negative for p in pending))
            pending.clear()


def _push(hist: deque, sums: list, h: tuple[int, int, float], sign: int) -> None:
    if sign > 0:
        hist.append(h)
    for i, v in enumerate((h[0], h[1], h[2], h[2] * h[2], 1 / (4 * h[0]))):
        sums[i] += sign * v


def _asin(p: float) -> float:
    """The variance-stabilising transform of a binomial share: its variance is 1/(4n) whatever p is, and
    its tails are close to normal where the raw share's upper tail is not (a 4-sigma raw z-score at p=0.3,
    n=60 happens three times as often as the normal says)."""
    return math.asin(math.sqrt(min(1.0, max(0.0, p))))
