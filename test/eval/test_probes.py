"""Linear probes, label subsets and view pooling on hand-made data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from gs_perception.eval.probes import fit_linear_probe, label_subset, pool_views


def _blobs(n: int, sep: float, seed: int, d: int = 4, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """k unit-variance Gaussian blobs, blob c shifted by ``sep`` along axis c."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n)
    x = rng.normal(size=(len(y), d))
    x[np.arange(len(y)), y] += sep
    return x, y


def _offset_bars(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two parallel bars along the diagonal, class 1 shifted mostly *along* them (by (5, 4)).

    Separable by the line y = x - 0.5, but the class means differ almost along the bars, so a heavily
    regularised SVM (whose weights tend to the mean difference as C → 0) underfits.
    """
    x0 = np.stack([ts, ts], axis=1)
    x1 = x0 + np.array([5.0, 4.0])
    return np.concatenate([x0, x1]), np.repeat([0, 1], len(ts))


def test_separable_blobs_are_classified_perfectly():
    tx, ty = _blobs(20, 12.0, seed=0)
    vx, vy = _blobs(10, 12.0, seed=1)
    ex, ey = _blobs(10, 12.0, seed=2)
    probe = fit_linear_probe(tx, ty, vx, vy)
    assert probe.val_accuracy == 1.0 and probe.accuracy(ex, ey) == 1.0
    np.testing.assert_array_equal(probe.classes, [0, 1, 2])
    assert probe.coef.shape == (3, 4) and probe.intercept.shape == (3,)
    assert probe.decision(ex).shape == (30, 3)
    # torch tensors are accepted at the boundary
    assert probe.accuracy(torch.from_numpy(ex).float(), torch.from_numpy(ey)) == 1.0


def test_tiny_c_underfits_and_the_best_validation_c_is_kept_with_ties_to_the_smaller():
    tx, ty = _offset_bars(np.linspace(0.0, 10.0, 40))
    vx, vy = _offset_bars(np.linspace(0.1, 9.9, 30))
    tiny = fit_linear_probe(tx, ty, vx, vy, Cs=(1e-4,))
    assert tiny.val_accuracy < 0.9
    probe = fit_linear_probe(tx, ty, vx, vy, Cs=(10.0, 1e-4, 1.0, 1e-2))  # order of Cs must not matter
    assert probe.C == 1.0 and probe.val_accuracy == 1.0  # C = 10 ties at 1.0: the smaller C wins


def test_choice_matches_a_per_c_sweep_with_sklearn_and_predictions_match_sklearn():
    tx, ty = _blobs(30, 1.0, seed=0)  # overlapping blobs: validation accuracy varies with C
    vx, vy = _blobs(30, 1.0, seed=1)
    cs = (0.001, 0.01, 0.1, 1.0, 10.0)
    mean, std = tx.mean(0), tx.std(0)
    accs = []
    for c in cs:
        svm = LinearSVC(C=c, dual="auto", random_state=0, max_iter=20000).fit((tx - mean) / std, ty)
        accs.append(float(np.mean(svm.predict((vx - mean) / std) == vy)))
    best = int(np.argmax(accs))  # first maximum = smallest C among ties
    probe = fit_linear_probe(tx, ty, vx, vy, Cs=cs)
    assert probe.C == cs[best] and math.isclose(probe.val_accuracy, accs[best])
    svm = LinearSVC(C=cs[best], dual="auto", random_state=0, max_iter=20000).fit((tx - mean) / std, ty)
    np.testing.assert_array_equal(probe.predict(vx), svm.predict((vx - mean) / std))
    np.testing.assert_allclose(probe.decision(vx), svm.decision_function((vx - mean) / std), atol=1e-9)


def test_binary_probe_has_one_row_and_keeps_the_label_values():
    x, y01 = _blobs(15, 6.0, seed=3, k=2)
    y = np.array(["chair", "table"])[y01]
    probe = fit_linear_probe(x[::2], y[::2], x[1::2], y[1::2])
    assert probe.coef.shape == (1, 4) and probe.intercept.shape == (1,)
    assert probe.decision(x).shape == (30, 1)
    np.testing.assert_array_equal(probe.classes, ["chair", "table"])
    assert set(probe.predict(x)) <= {"chair", "table"} and probe.accuracy(x, y) == 1.0


def test_empty_validation_falls_back_to_cross_validation_and_constant_dims_stay_finite():
    tx, ty = _blobs(12, 8.0, seed=4)
    tx[:, 3] = 2.5  # zero variance: scale guarded to 1
    empty_x, empty_y = tx[:0], ty[:0]
    probe = fit_linear_probe(tx, ty, empty_x, empty_y, Cs=(0.01, 1.0))
    assert math.isnan(probe.val_accuracy) and probe.C in (0.01, 1.0)
    assert probe.scale[3] == 1.0 and np.isfinite(probe.decision(tx)).all()
    assert probe.accuracy(tx, ty) == 1.0
    # a class with fewer samples than CV folds: the study's default C = 1
    few = fit_linear_probe(tx[:26], ty[:26], empty_x, empty_y, Cs=(0.01, 10.0))
    assert few.C == 1.0 and math.isnan(few.val_accuracy)


def test_one_class_is_rejected():
    with pytest.raises(ValueError, match="two classes"):
        fit_linear_probe(np.zeros((4, 2)), np.zeros(4), np.zeros((0, 2)), np.zeros(0))


def test_label_subset_is_stratified_deterministic_and_keeps_every_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    idx = label_subset(labels, 0.5, seed=7)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted and distinct
    counts = np.bincount(labels[idx], minlength=3)
    np.testing.assert_array_equal(counts, [5, 3, 1])  # 2.5 rounds up; the singleton class survives
    np.testing.assert_array_equal(idx, label_subset(labels, 0.5, seed=7))
    assert any(not np.array_equal(idx, label_subset(labels, 0.5, seed=s)) for s in range(8, 12))
    np.testing.assert_array_equal(label_subset(labels, 1.0, seed=0), np.arange(len(labels)))
    with pytest.raises(ValueError):
        label_subset(labels, 0.0, seed=0)


def test_pool_views_by_hand():
    emb = np.array(
        [
            [[1.0, 5.0], [3.0, 2.0], [0.0, 9.0]],
            [[-1.0, -2.0], [-3.0, 0.0], [4.0, -5.0]],
        ]
    )  # [N=2, V=3, D=2]
    np.testing.assert_array_equal(pool_views(emb, 2), [[3.0, 5.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(pool_views(emb, 2, mode="mean"), [[2.0, 3.5], [-2.0, -1.0]])
    np.testing.assert_array_equal(pool_views(emb, 1), emb[:, 0])
    np.testing.assert_array_equal(pool_views(torch.from_numpy(emb), 3), [[3.0, 9.0], [4.0, 0.0]])
    with pytest.raises(ValueError):
        pool_views(emb, 4)


def test_pool_views_seeded_subset_is_some_subset_and_deterministic():
    emb = np.random.default_rng(0).normal(size=(6, 5, 3))
    pooled = pool_views(emb, 2, seed=3)
    for n in range(6):
        options = [emb[n, list(s)].max(axis=0) for s in itertools.combinations(range(5), 2)]
        assert any(np.array_equal(pooled[n], o) for o in options)
    np.testing.assert_array_equal(pooled, pool_views(emb, 2, seed=3))
    # every view pooled: the draw no longer matters
    np.testing.assert_allclose(pool_views(emb, 5, mode="mean", seed=1), emb.mean(axis=1))
