"""Cross-modal retrieval on hand-made similarities: recall, ranks, the worst-rank tie rule and same-class
galleries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_perception.eval.retrieval import (
    PAD,
    cosine_similarity,
    gallery_recall,
    recall_at_k,
    same_class_galleries,
)
from gs_perception.eval.stats import bootstrap_mean


def test_identity_embeddings_retrieve_every_target_first():
    emb = np.eye(6)
    r = recall_at_k(cosine_similarity(emb, emb), np.arange(6), ks=(5, 1))
    assert r.ks == (1, 5) and r.recall == (1.0, 1.0)
    np.testing.assert_array_equal(r.ranks, np.ones(6))
    np.testing.assert_array_equal(r.gallery_sizes, np.full(6, 6))
    assert r.chance == pytest.approx((1 / 6, 5 / 6)) and r.no_distractors == 0
    assert r.mean_reciprocal_rank == 1.0 and r.num_queries == 6


def test_a_shuffled_gallery_with_a_known_permutation():
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(8, 16))
    perm = rng.permutation(8)
    gallery = queries[perm] + 0.01 * rng.normal(size=(8, 16))  # gallery row j shows object perm[j]
    target = np.argsort(perm)  # where object i sits in the gallery
    r = recall_at_k(cosine_similarity(torch.from_numpy(queries), gallery), target, ks=(1,))
    assert r.recall == (1.0,)
    # pointing every query at the wrong row: the true row outranks it, so nothing is found at rank 1
    wrong = recall_at_k(cosine_similarity(queries, gallery), np.roll(target, 1), ks=(1, 8))
    assert wrong.recall[0] == 0.0 and wrong.recall[1] == 1.0 and (wrong.ranks >= 2).all()


def test_ranks_by_hand_and_ties_count_the_worst_rank():
    sim = np.array(
        [
            [0.9, 0.1, 0.5, 0.2],  # target 0 strictly best → 1
            [0.3, 0.3, 0.3, 0.3],  # all tied → worst rank 4
            [0.8, 0.7, 0.7, 0.1],  # target 2 tied with 1, below 0 → 3
        ]
    )
    r = recall_at_k(sim, np.array([0, 1, 2]), ks=(1, 3))
    np.testing.assert_array_equal(r.ranks, [1, 4, 3])
    assert r.recall == pytest.approx((1 / 3, 2 / 3))
    np.testing.assert_array_equal(r.hits(3), [1.0, 0.0, 1.0])
    assert r.recall_at(4) == 1.0 and math.isclose(r.mean_reciprocal_rank, (1 + 1 / 4 + 1 / 3) / 3)
    collapsed = recall_at_k(np.zeros((5, 5)), np.arange(5), ks=(1,))
    assert collapsed.recall == (0.0,)  # a collapsed encoder never looks perfect


def test_hits_feed_a_bootstrap_interval():
    r = recall_at_k(np.eye(10) + 0.5 * np.eye(10, k=1), np.r_[np.arange(9), 0], ks=(1,))
    e = bootstrap_mean(r.hits(1))
    assert e.value == r.recall[0] == 0.9 and e.low < 0.9 <= e.high


def test_same_class_galleries_hold_the_own_id_first_then_distinct_same_class_others():
    labels = np.array([0, 1, 0, 2, 1, 0, 0, 1, 0, 0])
    g = same_class_galleries(labels, distractors=3, seed=1)
    assert g.shape == (10, 4) and g.dtype == np.int64
    np.testing.assert_array_equal(g[:, 0], np.arange(10))
    for i, row in enumerate(g):
        others = row[1:][row[1:] != PAD]
        assert (labels[others] == labels[i]).all() and i not in others
        assert len(set(others)) == len(others) == min(3, (labels == labels[i]).sum() - 1)
    # class 1 has 3 members: both others, then one slot of padding; class 2 has one member
    assert (g[labels == 1, 3] == PAD).all() and (g[3, 1:] == PAD).all()
    np.testing.assert_array_equal(g, same_class_galleries(labels, 3, seed=1))
    assert any(not np.array_equal(g, same_class_galleries(labels, 3, seed=s)) for s in range(2, 6))
    assert same_class_galleries(labels, 0).shape == (10, 1)


def test_large_classes_draw_every_other_member_over_many_galleries():
    labels = np.zeros(50, dtype=int)
    g = same_class_galleries(labels, distractors=5, seed=0)
    assert set(g[:, 1:].ravel()) == set(range(50))  # uniform draws reach everyone
    assert all(len(set(row)) == 6 for row in g)


def test_gallery_recall_scores_only_inside_each_gallery_and_counts_lonely_queries():
    labels = np.array([0, 0, 0, 1])
    sim = np.array(
        [
            [0.5, 0.9, 0.1, 0.99],  # same-class 1 beats 0; object 3 (other class) is not in the gallery
            [0.1, 0.8, 0.2, 0.0],
            [0.4, 0.4, 0.4, 0.9],  # tied with both distractors → rank 3
            [0.0, 0.0, 0.0, 0.1],  # alone in its class
        ]
    )
    r = gallery_recall(sim, same_class_galleries(labels, distractors=5), ks=(1, 2))
    np.testing.assert_array_equal(r.ranks, [2, 1, 3, 1])
    np.testing.assert_array_equal(r.gallery_sizes, [3, 3, 3, 1])
    assert r.no_distractors == 1 and r.recall == pytest.approx((0.5, 0.75))
    assert r.chance == pytest.approx(((1 / 3 * 3 + 1) / 4, (2 / 3 * 3 + 1) / 4))
    # against the full gallery, query 0 also loses to the other-class object 3
    assert recall_at_k(sim, np.arange(4)).ranks[0] == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: recall_at_k(np.eye(3), [0, 1]), r"target must be \[Q\]"),
        (lambda: recall_at_k(np.eye(3), [0, 1, 3]), "gallery indices"),
        (lambda: recall_at_k(np.full((2, 2), np.nan), [0, 1]), "NaN"),
        (lambda: recall_at_k(np.eye(3), [0, 1, 2], ks=(0,)), "ks"),
        (lambda: recall_at_k(np.ones(3), [0]), r"\[Q, G\]"),
        (lambda: gallery_recall(np.eye(2), np.array([[PAD], [1]])), "true match"),
        (lambda: gallery_recall(np.eye(2), np.array([[0, 2], [1, 0]])), "lie in"),
        (lambda: same_class_galleries([0, 1], -1), "distractors"),
        (lambda: cosine_similarity(np.ones((2, 3)), np.ones((2, 4))), r"\[Q, D\]"),
    ],
)
def test_bad_input_is_refused_with_the_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()
