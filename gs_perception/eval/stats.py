"""Bootstrap confidence intervals for evaluation figures.

A test set of a few hundred objects gives an accuracy that moves by several points when the objects change, so
every headline figure needs an interval: a percentile bootstrap over the test items (objects), and for "does
the method beat the control?" a *paired* bootstrap of the difference, which resamples the same objects for
both methods and so cancels the objects that are easy or hard for both.

All functions take per-item scores (0/1 correctness, reciprocal ranks, …), are vectorised (all resamples of
a block in one draw) and deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .arrays import as_numpy

# Resampled indices are drawn in blocks of rows of at most this many entries (~32 MB of int64), so a large
# test set cannot exhaust memory; typical test sets (≤ a few thousand items × 2,000 resamples) take one draw.
_BLOCK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        value: The estimate on the full sample (not the bootstrap mean).
        low, high: Interval bounds (percentiles of the bootstrap distribution).
        level: Confidence level, e.g. 0.95.
        n: Items the estimate is over (for a difference of unpaired samples, the smaller sample).
    """

    value: float
    low: float
    high: float
    level: float
    n: int

    @property
    def width(self) -> float:
        """high - low."""
        return self.high - self.low

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in [low, high]."""
        return self.low <= x <= self.high

    def excludes(self, x: float = 0.0) -> bool:
        """Whether ``x`` lies outside [low, high]; for a difference, ``excludes(0)`` means "significant"."""
        return not self.contains(x)

    def format(self, percent: bool = True, digits: int = 1) -> str:
        """A table cell: "87.5 % [81.2, 92.9]" (``percent``) or "0.875 [0.812, 0.929]".

        Args:
            percent: Show fractions as percentages.
            digits: Decimals of the number as shown (of the percentage with ``percent``).
        """
        if math.isnan(self.value):
            return "–"
        scale, unit = (100.0, " %") if percent else (1.0, "")
        v, lo, hi = (f"{x * scale:.{digits}f}" for x in (self.value, self.low, self.high))
        return f"{v}{unit} [{lo}, {hi}]"


def _check_level(level: float, resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples}")


def _as_items(values, name: str, ndim: int = 1) -> np.ndarray:
    """values as float64, checked: ``ndim`` dimensions, no empty axis, all finite."""
    x = as_numpy(values, np.float64)
    if x.ndim != ndim:
        want = "[N]" if ndim == 1 else "[R, N]"
        raise ValueError(f"{name} must be {ndim}-D {want}, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values (drop failed items first)")
    return x


def _resampled_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of x [N] → [resamples]."""
    n = len(x)
    rows = max(1, _BLOCK_ENTRIES // n)
    out = [
        x[rng.integers(0, n, size=(min(rows, resamples - s), n))].mean(axis=1)
        for s in range(0, resamples, rows)
    ]
    return np.concatenate(out)


def _interval(stats: np.ndarray, value: float, level: float, n: int) -> Estimate:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return Estimate(float(value), float(low), float(high), float(level), int(n))


def bootstrap_mean(values, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Percentile-bootstrap confidence interval of the mean of per-item scores.

    With 0/1 per-object correctness this is an accuracy with an interval over the test objects. The
    percentile interval is slightly narrow for tiny samples (n < ~30) and for means near 0 or 1.

    Args:
        values: [N] per-item scores (finite; N ≥ 1).
        level: Confidence level in (0, 1).
        resamples: Bootstrap resamples.
        seed: Seed of the resampling (same seed, same interval).

    Returns:
        :class:`Estimate` with ``value`` = the sample mean and ``n`` = N.
    """
    _check_level(level, resamples)
    x = _as_items(values, "values")
    means = _resampled_means(x, int(resamples), np.random.default_rng(seed))
    return _interval(means, x.mean(), level, len(x))


def bootstrap_difference(
    a, b, paired: bool = True, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Confidence interval of mean(a) - mean(b), e.g. a method's accuracy minus a control's.

    Paired (the right choice when both were scored on the same test objects, in the same order): each
    resample draws one set of items and uses it for both, so per-item difficulty cancels and the interval is
    narrower than comparing two separate intervals. Unpaired: a and b are resampled independently.

    Args:
        a: [N] per-item scores of the first method.
        b: [N] (paired) or [M] (unpaired) per-item scores of the second.
        paired: Resample items jointly; needs len(a) == len(b).
        level: Confidence level in (0, 1).
        resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        :class:`Estimate` of the difference; ``excludes(0.0)`` says whether it is significant at ``level``.
    """
    _check_level(level, resamples)
    x, y = _as_items(a, "a"), _as_items(b, "b")
    rng = np.random.default_rng(seed)
    if paired:
        if len(x) != len(y):
            raise ValueError(f"paired samples need equal lengths, got {len(x)} and {len(y)}")
        # mean(a[idx]) - mean(b[idx]) = mean((a - b)[idx]): one resampling of the per-item differences
        diffs = _resampled_means(x - y, int(resamples), rng)
    else:
        diffs = _resampled_means(x, int(resamples), rng) - _resampled_means(y, int(resamples), rng)
    return _interval(diffs, x.mean() - y.mean(), level, min(len(x), len(y)))


def accuracy_estimate(y_true, y_pred, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Accuracy with a bootstrap interval over the test items.

    Args:
        y_true: [N] true labels (any comparable type).
        y_pred: [N] predicted labels.
        level, resamples, seed: As in :func:`bootstrap_mean`.

    Returns:
        :class:`Estimate` of the fraction correct.
    """
    t, p = as_numpy(y_true), as_numpy(y_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must both be [N], got shapes {t.shape} and {p.shape}")
    return bootstrap_mean((t == p).astype(np.float64), level, resamples, seed)


def overlaps(a: Estimate, b: Estimate) -> bool:
    """Whether two intervals share a point.

    Overlap is a weak test: two methods scored on the same items can overlap and still differ
    significantly; use :func:`bootstrap_difference` (paired) for that question.
    """
    return a.low <= b.high and b.low <= a.high


def bootstrap_over_runs(
    scores,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    resample_runs: bool = False,
) -> Estimate:
    """Interval of the mean score of R runs (e.g. training seeds) scored on the same N items.

    Items are resampled (the same items for every run) and the resampled scores averaged over runs and items.
    This captures how the figure would move with another draw of test objects, for *these* runs: with
    ``resample_runs=False`` the run-to-run (training) variability is averaged out, not added, so the interval
    says nothing about how a new seed would score. ``resample_runs=True`` also resamples the runs with
    replacement (a two-level bootstrap), which adds seed variability, but with a handful of runs its
    estimate of that variability is crude (3 runs give only 10 distinct run multisets); report mean ± std
    over runs beside it.

    Args:
        scores: [R, N] per-run, per-item scores.
        level, resamples, seed: As in :func:`bootstrap_mean`.
        resample_runs: Also resample runs.

    Returns:
        :class:`Estimate` with ``value`` = the mean over runs and items and ``n`` = N.
    """
    _check_level(level, resamples)
    s = _as_items(scores, "scores", ndim=2)
    r, n = s.shape
    rng = np.random.default_rng(seed)
    item_means = s.mean(axis=0)  # [N]
    if not resample_runs:
        # With fixed runs the run-average of a resampled item set is the resampled mean of per-item averages.
        return _interval(_resampled_means(item_means, int(resamples), rng), item_means.mean(), level, n)
    rows = max(1, _BLOCK_ENTRIES // (r * n))
    out = []
    for start in range(0, int(resamples), rows):
        b = min(rows, int(resamples) - start)
        items = rng.integers(0, n, size=(b, n))
        per_run = s[:, items].mean(axis=2)  # [R, b]: each run's mean over the resampled items
        weights = rng.multinomial(r, np.full(r, 1.0 / r), size=b)  # [b, R] run multiplicities
        out.append((weights * per_run.T).sum(axis=1) / r)
    return _interval(np.concatenate(out), item_means.mean(), level, n)
