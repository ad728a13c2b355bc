"""Pretext-task metrics: cross-modality (CM) correspondence, its same-class negatives, and paired distances
between view embeddings.

The study reported CM accuracy on pairs with positives : negatives = 2 : 1, where a head that always says
"same object" already scores 66.7 %; :class:`CorrespondenceMetrics` therefore also carries the balanced
accuracy, the ROC-AUC and that always-yes baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from .arrays import as_numpy

_CHUNK = 4096  # pairs per vectorised distance block: bounds memory at _CHUNK × D floats


@dataclass(frozen=True)
class CorrespondenceMetrics:
    """Binary "same object?" classification scores over P pairs (positive = same object).

    Attributes:
        accuracy: Fraction of pairs classified correctly at the threshold.
        balanced_accuracy: (TPR + TNR) / 2; nan unless both classes are present.
        roc_auc: Threshold-free ranking quality; nan unless both classes are present.
        always_yes_accuracy: What a head answering "same" for every pair scores (= positive_fraction).
        positive_fraction: Share of positive pairs.
        num_pairs: P.
    """

    accuracy: float
    balanced_accuracy: float
    roc_auc: float
    always_yes_accuracy: float
    positive_fraction: float
    num_pairs: int


def correspondence_metrics(logits, target, threshold: float = 0.0) -> CorrespondenceMetrics:
    """Score a correspondence head's outputs.

    Args:
        logits: [P] scores, higher = "same object"; a pair is called positive when its score > threshold.
        target: [P] ground truth in {0, 1} (bools accepted).
        threshold: Decision threshold on the logits (0 for logits, 0.5 for probabilities).

    Returns:
        :class:`CorrespondenceMetrics`.
    """
    scores = as_numpy(logits, np.float64).reshape(-1)
    t = as_numpy(target).reshape(-1)
    if len(scores) != len(t) or len(t) == 0:
        raise ValueError(f"need equally many logits and targets, at least one; got {len(scores)}, {len(t)}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("target must hold only 0 and 1")
    t = t.astype(bool)
    pred = scores > threshold
    pos_frac = float(t.mean())
    both = 0 < t.sum() < len(t)
    if both:
        tpr, tnr = pred[t].mean(), (~pred[~t]).mean()
        balanced, auc = float((tpr + tnr) / 2), float(roc_auc_score(t, scores))
    else:
        balanced = auc = float("nan")
    return CorrespondenceMetrics(
        accuracy=float((pred == t).mean()),
        balanced_accuracy=balanced,
        roc_auc=auc,
        always_yes_accuracy=pos_frac,
        positive_fraction=pos_frac,
        num_pairs=len(t),
    )


@dataclass(frozen=True)
class PairedDistances:
    """Euclidean distances between view embeddings of the same object (positive) and of different ones.

    Attributes:
        positive_mean, positive_std: Over all pairs of distinct views within each object (std with ddof=0).
        negative_mean, negative_std: Over cross-object view pairs (all, or a uniform subsample).
        ratio: negative_mean / positive_mean (> 1 when objects separate; inf if views of an object coincide).
        num_positive, num_negative: Pairs averaged over.
    """

    positive_mean: float
    positive_std: float
    negative_mean: float
    negative_std: float
    ratio: float
    num_positive: int
    num_negative: int


def _within_object_distances(x: np.ndarray) -> np.ndarray:
    """Distances between every pair of distinct views of each object. x: [O, V, D] → [O · V(V-1)/2]."""
    o, v, _ = x.shape
    iu, ju = np.triu_indices(v, k=1)
    step, out = max(1, _CHUNK // max(v, 1)), []
    # Gram-matrix form per block of objects: one batched matmul instead of O·V² difference vectors.
    for s in range(0, o, step):
        blk = x[s : s + step]
        sq = np.einsum("ovd,ovd->ov", blk, blk)
        d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * blk @ blk.transpose(0, 2, 1)
        out.append(np.sqrt(np.clip(d2[:, iu, ju], 0.0, None)).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0)


def _cross_object_pairs(o: int, v: int, max_pairs: int, rng: np.random.Generator):
    """Flat point indices (object · V + view) of cross-object pairs: all, or ``max_pairs`` distinct ones."""
    total = o * (o - 1) // 2 * v * v
    if total <= max_pairs:
        obj = np.repeat(np.arange(o), v)
        p, q = np.triu_indices(o * v, k=1)
        keep = obj[p] != obj[q]
        return p[keep], q[keep]
    # Distinct ordered pairs (i, a, j', b) with j' indexing the O-1 objects other than i: uniform over
    # cross-object pairs, and never a same-object pair.
    flat = rng.choice(o * (o - 1) * v * v, size=max_pairs, replace=False)
    flat, b = np.divmod(flat, v)
    flat, a = np.divmod(flat, v)
    i, j = np.divmod(flat, o - 1)
    j = j + (j >= i)
    return i * v + a, j * v + b


def _distances(points: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """‖points[p] - points[q]‖ for index arrays p, q [K] → [K], in blocks to bound memory."""
    out = [
        np.linalg.norm(points[p[s : s + _CHUNK]] - points[q[s : s + _CHUNK]], axis=1)
        for s in range(0, len(p), _CHUNK)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def _mean_std(d: np.ndarray) -> tuple[float, float]:
    return (float(d.mean()), float(d.std())) if len(d) else (float("nan"), float("nan"))


def paired_distances(
    view_emb, normalise: bool = False, max_pairs: int = 20000, seed: int = 0
) -> PairedDistances:
    """Mean distance between embeddings of views of the same object versus of different objects.

    The study's 5.34 (positive) / 13.57 (negative) are on raw embeddings, hence ``normalise=False`` by
    default; the ratio is the scale-free figure to compare across encoders.

    Args:
        view_emb: [O, V, D] embeddings of V views of each of O objects.
        normalise: L2-normalise every embedding first (distances then lie in [0, 2]).
        max_pairs: Cap on negative pairs; above it a seeded uniform sample of distinct pairs is used.
            Positive pairs (O · V(V-1)/2) are always all used.
        seed: Seed of that sample.

    Returns:
        :class:`PairedDistances` (means nan where there are no pairs: V < 2 or O < 2).
    """
    x = as_numpy(view_emb, np.float64)
    if x.ndim != 3:
        raise ValueError(f"view_emb must be [O, V, D], got {x.shape}")
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    o, v, d = x.shape
    pos = _within_object_distances(x)
    p, q = _cross_object_pairs(o, v, max_pairs, np.random.default_rng(seed))
    neg = _distances(x.reshape(o * v, d), p, q)
    (pm, ps), (nm, ns) = _mean_std(pos), _mean_std(neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(nm) / np.float64(pm))
    return PairedDistances(pm, ps, nm, ns, ratio, len(pos), len(neg))


@dataclass(frozen=True)
class SameClassPairs:
    """(image, Gaussian) pairs whose negatives come from the same class, indexed like ``make_pairs``'s.

    The study's negatives are mostly other-class objects, so its correspondence accuracy largely measures
    category matching; with same-class negatives a head has to tell this chair from another chair.

    Attributes:
        image_index: [P] int64 rows into the ``[O·V, D]`` image embeddings (object · V + view).
        gaussian_index: [P] int64 rows into the ``[O, D']`` Gaussian embeddings.
        target: [P] int64, 1 = same object, 0 = different objects of the same class.
        unpaired: [U] int64 objects left out entirely because no other object shares their class: they have
            no negative, and keeping only their positives would tilt the positive share.
        views_per_object: V, to decode ``image_index``.
    """

    image_index: np.ndarray
    gaussian_index: np.ndarray
    target: np.ndarray
    unpaired: np.ndarray
    views_per_object: int

    def __len__(self) -> int:
        return int(len(self.target))

    @property
    def image_object(self) -> np.ndarray:
        """[P] the object each pair's image shows (= ``gaussian_index`` exactly on the positives)."""
        return self.image_index // self.views_per_object


def same_class_pairs(
    labels, views_per_object: int, negatives_per_object: int | None = None, seed: int = 0
) -> SameClassPairs:
    """Correspondence pairs with negatives drawn only from other objects of the same class.

    For each object i with at least one same-class partner: V positives (each of its views with its
    Gaussians) and ``negatives_per_object`` negatives (a uniformly random view of a uniformly random other
    object of i's class, drawn with replacement, with i's Gaussians). The other-class pairs of
    :func:`gs_perception.models.losses.make_pairs` stay available unchanged; score both and compare.

    Args:
        labels: [O] class label of each object.
        views_per_object: V (≥ 1).
        negatives_per_object: Negatives per object; None = V (balanced, 1:1), 1 = the study's V:1.
        seed: Seed of the draw (same seed, same pairs).

    Returns:
        :class:`SameClassPairs`: positives first, then negatives, each in ascending object order.
    """
    labels = as_numpy(labels).reshape(-1)
    v = int(views_per_object)
    k = v if negatives_per_object is None else int(negatives_per_object)
    if v < 1 or k < 1:
        raise ValueError(f"views_per_object and negatives_per_object must be ≥ 1, got {v} and {k}")
    rng = np.random.default_rng(seed)
    other = np.full((len(labels), k), -1, dtype=np.int64)  # [O, k] negative objects; -1 = unpaired
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        # Draw among the m - 1 others and skip over the own position: uniform, never the object itself.
        r = rng.integers(0, len(members) - 1, size=(len(members), k))
        other[members] = members[r + (r >= np.arange(len(members))[:, None])]
    paired = other[:, 0] >= 0
    obj, other = np.flatnonzero(paired), other[paired]
    views = rng.integers(0, v, size=other.shape)
    pos_image = (obj[:, None] * v + np.arange(v)).reshape(-1)
    return SameClassPairs(
        image_index=np.concatenate([pos_image, (other * v + views).reshape(-1)]).astype(np.int64),
        gaussian_index=np.concatenate([np.repeat(obj, v), np.repeat(obj, k)]).astype(np.int64),
        target=np.concatenate([np.ones(len(obj) * v), np.zeros(len(obj) * k)]).astype(np.int64),
        unpaired=np.flatnonzero(~paired).astype(np.int64),
        views_per_object=v,
    )
