"""Correspondence metrics, same-class correspondence pairs and paired distances on hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_perception.eval.pretext import correspondence_metrics, paired_distances, same_class_pairs


def test_always_yes_head_on_a_3_to_1_mix():
    # Three positives scored > 0, one negative scored > 0 too: everything is called "same".
    m = correspondence_metrics([2.0, 0.3, 1.0, 0.5], [1, 1, 1, 0])
    assert m.accuracy == 0.75 and m.balanced_accuracy == 0.5  # TPR 1, TNR 0
    assert m.always_yes_accuracy == 0.75 and m.positive_fraction == 0.75 and m.num_pairs == 4
    # ROC-AUC: positive scored above the negative in 2 of the 3 (positive, negative) pairs (0.3 < 0.5)
    assert math.isclose(m.roc_auc, 2 / 3)


def test_threshold_ties_and_tensors():
    logits = torch.tensor([0.9, 0.2, 0.6, 0.2, 0.1, 0.7])
    target = torch.tensor([True, True, True, False, False, False])
    m = correspondence_metrics(logits, target, threshold=0.5)
    # predicted: 1 0 1 | 0 0 1 → TPR 2/3, TNR 2/3
    assert math.isclose(m.accuracy, 4 / 6) and math.isclose(m.balanced_accuracy, 2 / 3)
    # (pos, neg) pairs won: 0.9 beats all 3; 0.6 beats 0.2, 0.1; 0.2 beats 0.1, ties 0.2 (½) → 6.5 / 9
    assert math.isclose(m.roc_auc, 6.5 / 9)


def test_one_class_only_gives_nan_for_the_class_balanced_scores():
    m = correspondence_metrics(np.array([1.0, -1.0]), np.array([1, 1]))
    assert m.accuracy == 0.5 and m.always_yes_accuracy == 1.0
    assert math.isnan(m.roc_auc) and math.isnan(m.balanced_accuracy)
    with pytest.raises(ValueError):
        correspondence_metrics([0.1, 0.2], [0, 2])


def test_paired_distances_by_hand():
    emb = np.array(
        [
            [[0.0, 0.0], [3.0, 4.0]],  # object 0: views 5 apart
            [[0.0, 1.0], [0.0, 3.0]],  # object 1: views 2 apart
        ]
    )  # [O=2, V=2, D=2]
    d = paired_distances(emb)
    assert d.num_positive == 2 and d.num_negative == 4
    assert math.isclose(d.positive_mean, 3.5) and math.isclose(d.positive_std, 1.5)
    neg = np.array([1.0, 3.0, math.sqrt(18.0), math.sqrt(10.0)])  # (0,0)-(0,1), (0,0)-(0,3), (3,4)-…
    assert math.isclose(d.negative_mean, neg.mean()) and math.isclose(d.negative_std, neg.std())
    assert math.isclose(d.ratio, neg.mean() / 3.5)


def test_normalised_distances_ignore_scale():
    emb = np.random.default_rng(0).normal(size=(4, 3, 5))
    a = paired_distances(emb, normalise=True)
    b = paired_distances(torch.from_numpy(10.0 * emb), normalise=True)
    assert math.isclose(a.positive_mean, b.positive_mean) and math.isclose(a.negative_mean, b.negative_mean)
    assert 0.0 < a.positive_mean <= 2.0 and 0.0 < a.negative_mean <= 2.0


def test_subsampled_negatives_are_cross_object_seeded_and_capped():
    # Views of an object coincide and objects sit at 3·e_i: every cross-object pair is 3·√2 apart, so a
    # same-object pair slipping into the sample (distance 0) would pull the mean down.
    o, v = 5, 4
    emb = np.repeat(3.0 * np.eye(o)[:, None, :], v, axis=1)  # [5, 4, 5]
    full = paired_distances(emb)
    assert full.num_negative == o * (o - 1) // 2 * v * v == 160
    d = paired_distances(emb, max_pairs=50, seed=1)
    assert d.num_negative == 50 and d.num_positive == o * v * (v - 1) // 2
    assert math.isclose(d.negative_mean, 3.0 * math.sqrt(2.0)) and d.negative_std < 1e-12
    assert d.positive_mean == 0.0 and d.ratio == math.inf

    noisy = emb + np.random.default_rng(0).normal(scale=0.5, size=emb.shape)
    a, b = paired_distances(noisy, max_pairs=50, seed=1), paired_distances(noisy, max_pairs=50, seed=1)
    assert a == b
    assert paired_distances(noisy, max_pairs=50, seed=2).negative_mean != a.negative_mean
    assert abs(a.negative_mean - paired_distances(noisy).negative_mean) < 0.5


def test_too_few_views_or_objects_give_nan():
    one_view = paired_distances(np.ones((3, 1, 2)))
    assert one_view.num_positive == 0 and math.isnan(one_view.positive_mean)
    one_object = paired_distances(np.ones((1, 3, 2)))
    assert one_object.num_negative == 0 and math.isnan(one_object.negative_mean)


def test_same_class_negatives_share_the_class_and_show_another_object():
    labels = np.array([2, 0, 2, 1, 0, 2, 0, 0, 2])  # class 1 has a single member (object 3)
    v = 3
    pairs = same_class_pairs(labels, views_per_object=v, seed=4)
    np.testing.assert_array_equal(pairs.unpaired, [3])
    paired = np.array([i for i in range(9) if i != 3])
    pos, neg = pairs.target == 1, pairs.target == 0
    assert pos.sum() == neg.sum() == len(paired) * v and len(pairs) == 2 * len(paired) * v  # balanced
    # positives: every view of every paired object, with its own Gaussians, in object order
    np.testing.assert_array_equal(pairs.image_index[pos], (paired[:, None] * v + np.arange(v)).ravel())
    np.testing.assert_array_equal(pairs.gaussian_index[pos], np.repeat(paired, v))
    # negatives: another object of the same class, any of its views; object 3 appears nowhere
    shown = pairs.image_object[neg]
    assert (labels[shown] == labels[pairs.gaussian_index[neg]]).all()
    assert (shown != pairs.gaussian_index[neg]).all() and 3 not in shown
    assert 3 not in pairs.gaussian_index and set(pairs.image_index[neg] % v) == set(range(v))
    np.testing.assert_array_equal(pairs.gaussian_index[neg], np.repeat(paired, v))


def test_same_class_pairs_are_seeded_and_follow_the_requested_ratio():
    labels = np.repeat(np.arange(4), 5)
    a, b = same_class_pairs(labels, 2, seed=0), same_class_pairs(torch.from_numpy(labels), 2, seed=0)
    for field in ("image_index", "gaussian_index", "target"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert any(
        not np.array_equal(a.image_index, same_class_pairs(labels, 2, seed=s).image_index) for s in (1, 2, 3)
    )
    study = same_class_pairs(labels, 2, negatives_per_object=1, seed=0)
    assert study.target.mean() == pytest.approx(2 / 3) and len(study.unpaired) == 0
    # indices fit make_pairs' layout: rows of [O·V, D] image and [O, D'] Gaussian embeddings
    assert a.image_index.max() < 20 * 2 and a.gaussian_index.max() < 20
    m = correspondence_metrics(np.where(a.target == 1, 1.0, -1.0), a.target)
    assert m.accuracy == 1.0 and m.always_yes_accuracy == 0.5


def test_only_singleton_classes_give_no_pairs_and_bad_counts_are_refused():
    none = same_class_pairs(np.array([0, 1, 2]), 2)
    assert len(none) == 0 and none.image_index.dtype == np.int64
    np.testing.assert_array_equal(none.unpaired, [0, 1, 2])
    with pytest.raises(ValueError, match="≥ 1"):
        same_class_pairs(np.array([0, 0]), 0)
    with pytest.raises(ValueError, match="≥ 1"):
        same_class_pairs(np.array([0, 0]), 2, negatives_per_object=0)
