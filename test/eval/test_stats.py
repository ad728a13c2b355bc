"""Bootstrap intervals on hand-made samples: exact edge cases, width and coverage against the normal
approximation of a proportion, pairing, determinism and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_perception.eval.stats import (
    Estimate,
    accuracy_estimate,
    bootstrap_difference,
    bootstrap_mean,
    bootstrap_over_runs,
    overlaps,
)


def test_a_constant_sample_has_a_zero_width_interval_at_its_value():
    e = bootstrap_mean(np.full(37, 0.75))
    assert (e.value, e.low, e.high) == (0.75, 0.75, 0.75) and e.width == 0.0
    assert e.n == 37 and e.level == 0.95
    ones = accuracy_estimate(["a", "b", "c"], ["a", "b", "c"])
    assert (ones.value, ones.low, ones.high) == (1.0, 1.0, 1.0)


def test_a_large_bernoulli_sample_matches_the_normal_approximation():
    n, p = 4000, 0.3
    x = np.zeros(n)
    x[: int(p * n)] = 1.0  # mean exactly p
    e = bootstrap_mean(x, seed=3)
    assert e.value == pytest.approx(p) and e.contains(p)
    normal_width = 2 * 1.959964 * math.sqrt(p * (1 - p) / n)
    assert abs(e.width - normal_width) / normal_width < 0.15
    assert e.low < p < e.high and abs((e.low + e.high) / 2 - p) < 0.1 * normal_width


def test_the_95_percent_interval_covers_the_true_proportion_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    p, n, trials = 0.3, 200, 200
    samples = (rng.random((trials, n)) < p).astype(float)
    covered = sum(bootstrap_mean(s, resamples=1000, seed=i).contains(p) for i, s in enumerate(samples))
    assert 0.90 <= covered / trials <= 0.99


def test_paired_difference_of_identical_scores_is_exactly_zero():
    a = np.random.default_rng(1).random(50)
    d = bootstrap_difference(a, a.copy())
    assert (d.value, d.low, d.high) == (0.0, 0.0, 0.0) and not d.excludes(0.0)


def test_pairing_narrows_the_interval_on_correlated_scores():
    rng = np.random.default_rng(2)
    difficulty = 2.0 * rng.normal(size=300)  # shared per item: what pairing cancels
    a = difficulty + 0.2 + 0.1 * rng.normal(size=300)
    b = difficulty + 0.1 * rng.normal(size=300)
    paired = bootstrap_difference(a, b, paired=True)
    unpaired = bootstrap_difference(a, b, paired=False)
    assert paired.value == pytest.approx(unpaired.value) == pytest.approx(np.mean(a) - np.mean(b))
    assert paired.width < 0.3 * unpaired.width
    assert paired.excludes(0.0) and unpaired.contains(0.0)  # only the paired test sees the 0.2 gain
    assert overlaps(bootstrap_mean(a), bootstrap_mean(b))  # overlapping intervals, significant difference


def test_unpaired_samples_may_differ_in_length_but_paired_ones_may_not():
    d = bootstrap_difference(np.ones(10), np.zeros(20), paired=False)
    assert (d.value, d.low, d.high, d.n) == (1.0, 1.0, 1.0, 10)
    with pytest.raises(ValueError, match="equal lengths"):
        bootstrap_difference(np.ones(10), np.zeros(20))


def test_a_seed_fixes_the_interval_and_another_seed_moves_it():
    x = np.random.default_rng(4).random(80)
    assert bootstrap_mean(x, seed=5) == bootstrap_mean(torch.from_numpy(x), seed=5)
    assert bootstrap_mean(x, seed=5) != bootstrap_mean(x, seed=6)
    assert bootstrap_difference(x, x[::-1], seed=1) == bootstrap_difference(x, x[::-1], seed=1)


def test_accuracy_estimate_scores_per_item_correctness():
    e = accuracy_estimate(np.array([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]), level=0.9)
    assert e.value == 0.75 and e.n == 4 and e.level == 0.9 and 0.0 <= e.low <= 0.75 <= e.high <= 1.0
    with pytest.raises(ValueError, match="y_true and y_pred"):
        accuracy_estimate([0, 1], [0, 1, 1])


def test_format_and_overlap():
    e = Estimate(0.875, 0.8123, 0.9291, 0.95, 100)
    assert e.format() == "87.5 % [81.2, 92.9]"
    assert e.format(percent=False, digits=3) == "0.875 [0.812, 0.929]"
    assert Estimate(float("nan"), float("nan"), float("nan"), 0.95, 0).format() == "–"
    assert overlaps(e, Estimate(0.95, 0.92, 0.97, 0.95, 100))
    assert not overlaps(e, Estimate(0.97, 0.93, 0.99, 0.95, 100))


def test_over_runs_averages_runs_and_resamples_items():
    rng = np.random.default_rng(7)
    scores = (rng.random((3, 150)) < np.array([[0.6], [0.7], [0.8]])).astype(float)
    fixed = bootstrap_over_runs(scores)
    assert fixed.value == pytest.approx(scores.mean()) and fixed.n == 150
    assert fixed == bootstrap_mean(scores.mean(axis=0))  # the documented equivalence
    both = bootstrap_over_runs(scores, resample_runs=True)
    assert both.value == fixed.value and both.width > fixed.width  # seed spread adds width
    assert both == bootstrap_over_runs(scores, resample_runs=True)
    # identical runs: resampling them changes nothing (the item draws come first in both branches)
    same = np.repeat(scores[:1], 3, axis=0)
    a, b = bootstrap_over_runs(same, resample_runs=True), bootstrap_over_runs(same)
    assert a.value == pytest.approx(scores[0].mean())
    assert (a.low, a.high) == pytest.approx((b.low, b.high))
    with pytest.raises(ValueError, match=r"2-D \[R, N\]"):
        bootstrap_over_runs(scores[0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_mean([]), "empty"),
        (lambda: bootstrap_mean([0.5, float("nan")]), "NaN"),
        (lambda: bootstrap_mean(np.ones((3, 2))), r"1-D \[N\]"),
        (lambda: bootstrap_mean([1.0, 0.0], level=1.0), "level"),
        (lambda: bootstrap_mean([1.0, 0.0], level=0.0), "level"),
        (lambda: bootstrap_mean([1.0, 0.0], resamples=0), "resamples"),
        (lambda: bootstrap_difference([1.0], [np.inf]), "NaN or infinite"),
        (lambda: bootstrap_over_runs(np.zeros((2, 0))), "empty"),
    ],
)
def test_bad_input_is_refused_with_the_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()
