"""Cross-modal retrieval: find an object's Gaussians from its image embedding (or the other way round).

Retrieval against the whole gallery is mostly solved by recognising the category; retrieval among
*same-class* distractors (:func:`same_class_galleries`, :func:`gallery_recall`) asks whether the embeddings
tell one chair from another chair, which is what a correspondence between modalities has to do.

Ranks are 1-based and conservative: a target tied with distractors gets the worst rank among them, so a
collapsed encoder (every similarity equal) scores chance, never a perfect recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .arrays import as_numpy

PAD = -1  # filler of gallery rows shorter than the widest one


@dataclass(frozen=True)
class RetrievalFigures:
    """Recall@k of Q queries, with the per-query ranks kept for bootstrap intervals.

    Recall is stored as tuples aligned with ``ks`` rather than a dict or one field per k: the ks are chosen
    by the caller, the order is fixed, and :meth:`hits` rebuilds the per-query 0/1 scores for any k from
    ``ranks`` (feed them to :func:`gs_perception.eval.stats.bootstrap_mean`).

    Attributes:
        ks: The k values, ascending.
        recall: Recall@k for each of ``ks`` (fraction of queries whose target ranks ≤ k).
        chance: Expected recall@k of a random ranking, mean over queries of min(k, size) / size.
        ranks: [Q] int64 1-based rank of each target (ties → worst rank).
        gallery_sizes: [Q] int64 candidates per query, the target included.
        no_distractors: Queries whose gallery holds only the target (trivially rank 1; count them in reports).
    """

    ks: tuple[int, ...]
    recall: tuple[float, ...]
    chance: tuple[float, ...]
    ranks: np.ndarray
    gallery_sizes: np.ndarray
    no_distractors: int

    @property
    def num_queries(self) -> int:
        return int(len(self.ranks))

    def hits(self, k: int) -> np.ndarray:
        """[Q] float64, 1.0 where the target ranks within the top k."""
        return (self.ranks <= k).astype(np.float64)

    def recall_at(self, k: int) -> float:
        """Recall@k for any k ≥ 1 (not only those in ``ks``)."""
        return float(self.hits(k).mean()) if len(self.ranks) else float("nan")

    @property
    def mean_reciprocal_rank(self) -> float:
        return float((1.0 / self.ranks).mean()) if len(self.ranks) else float("nan")


def cosine_similarity(queries, gallery) -> np.ndarray:
    """Cosine similarity of every query with every gallery item.

    Args:
        queries: [Q, D] embeddings (numpy or torch).
        gallery: [G, D] embeddings.

    Returns:
        [Q, G] float64 in [-1, 1]; a zero vector has similarity 0 with everything.
    """
    q, g = as_numpy(queries, np.float64), as_numpy(gallery, np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"need [Q, D] and [G, D] embeddings, got {q.shape} and {g.shape}")
    if not (np.isfinite(q).all() and np.isfinite(g).all()):
        raise ValueError("embeddings hold NaN or infinite values")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return np.clip(q @ g.T, -1.0, 1.0)


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    out = tuple(sorted({int(k) for k in ks}))
    if not out or out[0] < 1 or any(int(k) != k for k in ks):
        raise ValueError(f"ks must be positive integers, got {tuple(ks)}")
    return out


def _check_similarity(similarity) -> np.ndarray:
    s = as_numpy(similarity, np.float64)
    if s.ndim != 2:
        raise ValueError(f"similarity must be [Q, G], got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("similarity holds NaN values")
    return s


def _figures(ranks: np.ndarray, sizes: np.ndarray, ks: tuple[int, ...]) -> RetrievalFigures:
    empty = len(ranks) == 0
    recall = tuple(float("nan") if empty else float((ranks <= k).mean()) for k in ks)
    chance = tuple(float("nan") if empty else float((np.minimum(k, sizes) / sizes).mean()) for k in ks)
    return RetrievalFigures(
        ks=ks,
        recall=recall,
        chance=chance,
        ranks=ranks.astype(np.int64),
        gallery_sizes=sizes.astype(np.int64),
        no_distractors=int((sizes == 1).sum()),
    )


def recall_at_k(similarity, target, ks: Sequence[int] = (1, 5)) -> RetrievalFigures:
    """Recall@k of retrieval against the full gallery.

    Args:
        similarity: [Q, G] scores, higher = more alike (e.g. :func:`cosine_similarity`).
        target: [Q] index of each query's true match in the gallery.
        ks: The k values to report.

    Returns:
        :class:`RetrievalFigures`; every gallery size is G. A target tied with d distractors ranks d places
        lower than the strict count would put it.
    """
    s, ks = _check_similarity(similarity), _check_ks(ks)
    t = as_numpy(target).reshape(-1)
    q, g = s.shape
    if len(t) != q:
        raise ValueError(f"target must be [Q] = [{q}], got {len(t)} entries")
    if len(t) and (t.min() < 0 or t.max() >= g or not np.issubdtype(t.dtype, np.integer)):
        raise ValueError(f"target must hold integer gallery indices in [0, {g})")
    own = s[np.arange(q), t.astype(np.int64)]
    ranks = (s >= own[:, None]).sum(axis=1)  # counts the target itself, so ties push it down
    return _figures(ranks, np.full(q, g), ks)


def same_class_galleries(labels, distractors: int, seed: int = 0) -> np.ndarray:
    """Per-object galleries of same-class distractors, for retrieval that class alone cannot solve.

    Row i is object i's own index, then ``distractors`` other objects of its class drawn without replacement
    (all of them, in random order, when the class has fewer), then :data:`PAD` (-1) filler. A class with a
    single member gives a gallery of one: :func:`gallery_recall` ranks it 1 and counts it in
    ``no_distractors``.

    Args:
        labels: [N] class labels.
        distractors: Distractors per gallery (≥ 0).
        seed: Seed of the draw (same seed, same galleries).

    Returns:
        [N, 1 + distractors] int64 object indices.
    """
    labels = as_numpy(labels).reshape(-1)
    if int(distractors) != distractors or distractors < 0:
        raise ValueError(f"distractors must be a non-negative integer, got {distractors}")
    d = int(distractors)
    out = np.full((len(labels), 1 + d), PAD, dtype=np.int64)
    out[:, 0] = np.arange(len(labels))
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        m = len(members)
        take = min(d, m - 1)
        if take == 0:
            continue
        # Random keys with the own entry forced last: the first `take` of each row's argsort are distinct
        # others; rows in blocks bound the memory at ~1M keys for large classes.
        step = max(1, (1 << 20) // m)
        for s in range(0, m, step):
            rows = np.arange(s, min(s + step, m))
            keys = rng.random((len(rows), m))
            keys[np.arange(len(rows)), rows] = np.inf
            out[members[rows], 1 : 1 + take] = members[np.argsort(keys, axis=1)[:, :take]]
    return out


def gallery_recall(similarity, galleries, ks: Sequence[int] = (1, 5)) -> RetrievalFigures:
    """Recall@k of retrieval restricted to per-query galleries.

    Args:
        similarity: [Q, G] scores of every query against every gallery item (e.g. image embeddings of N
            objects against their Gaussian embeddings, Q = G = N).
        galleries: [Q, M] gallery indices per query, the true match first, :data:`PAD` (-1) for unused slots
            (as :func:`same_class_galleries` returns).
        ks: The k values to report.

    Returns:
        :class:`RetrievalFigures` with the worst-rank tie rule, per-query gallery sizes and the count of
        galleries without distractors.
    """
    s, ks = _check_similarity(similarity), _check_ks(ks)
    gal = as_numpy(galleries)
    q, g = s.shape
    if gal.ndim != 2 or len(gal) != q or gal.shape[1] < 1 or not np.issubdtype(gal.dtype, np.integer):
        raise ValueError(f"galleries must be integer [Q = {q}, M ≥ 1], got {gal.shape} {gal.dtype}")
    valid = gal != PAD
    if not valid[:, 0].all():
        raise ValueError("the first entry of every gallery (the true match) must be an index, not padding")
    if ((gal < PAD) | (gal >= g)).any():
        raise ValueError(f"gallery indices must lie in [0, {g}) or be {PAD}")
    scores = np.take_along_axis(s, np.where(valid, gal, 0), axis=1)  # [Q, M]
    ranks = ((scores >= scores[:, :1]) & valid).sum(axis=1)
    return _figures(ranks, valid.sum(axis=1), ks)
