"""Linear probes on frozen features: a standardised linear SVM with C chosen on validation data, the
class-stratified label subsets of the 50 %-of-labels experiment, and pooling of per-view embeddings."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from .arrays import as_numpy

_CV_FOLDS = 3  # the study chose C by 3-fold cross-validation on the training set


@dataclass(frozen=True)
class LinearProbe:
    """A fitted linear SVM on standardised features, stored as plain arrays (no scikit-learn object).

    Attributes:
        C: Regularisation constant that was kept.
        val_accuracy: Accuracy on the validation set with that C (nan when C came from cross-validation).
        mean, scale: [D] standardisation fitted on the training features (zero-variance dims have scale 1).
        coef: [K', D] weights on standardised features; K' = 1 for two classes, else K (one-vs-rest).
        intercept: [K'] biases.
        classes: [K] sorted labels seen in training.
    """

    C: float
    val_accuracy: float
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray

    def decision(self, x) -> np.ndarray:
        """Decision values. x: [N, D] raw features → [N, K'] (column 0 > 0 means ``classes[1]`` if K' = 1)."""
        z = (as_numpy(x, np.float64) - self.mean) / self.scale
        return z @ self.coef.T + self.intercept

    def predict(self, x) -> np.ndarray:
        """Predicted labels. x: [N, D] → [N] from ``classes`` (ties → the first class, as in sklearn)."""
        d = self.decision(x)
        if d.shape[1] == 1:
            return self.classes[(d[:, 0] > 0).astype(np.int64)]
        return self.classes[np.argmax(d, axis=1)]

    def accuracy(self, x, y) -> float:
        """Fraction of correct predictions. x: [N, D], y: [N] labels; nan when N = 0."""
        y = as_numpy(y)
        if len(y) == 0:
            return float("nan")
        return float(np.mean(self.predict(x) == y))


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and scale of x [N, D]; constant dims get scale 1 so they stay finite (at 0)."""
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 1e-12, std, 1.0)


def _fit_svm(x: np.ndarray, y: np.ndarray, C: float, seed: int, max_iter: int) -> LinearProbe:
    """LinearSVC on x standardised with its own statistics; val_accuracy is left as nan."""
    mean, scale = _standardiser(x)
    svm = LinearSVC(C=C, dual="auto", random_state=seed, max_iter=max_iter)
    # Unconverged liblinear runs at tiny or huge C are expected while sweeping; other warnings still show.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit((x - mean) / scale, y)
    return LinearProbe(
        C=float(C),
        val_accuracy=float("nan"),
        mean=mean,
        scale=scale,
        coef=np.array(svm.coef_, dtype=np.float64),
        intercept=np.array(svm.intercept_, dtype=np.float64).reshape(-1),
        classes=np.array(svm.classes_),
    )


def _choose_c_by_cv(x: np.ndarray, y: np.ndarray, Cs: list[float], seed: int, max_iter: int) -> float:
    """The study's protocol: C with the best mean 3-fold stratified CV accuracy (1.0 if a class is tiny)."""
    if np.unique(y, return_counts=True)[1].min() < _CV_FOLDS:
        return 1.0
    folds = list(StratifiedKFold(_CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
    best_c, best_acc = Cs[0], -1.0
    for c in Cs:
        acc = np.mean([_fit_svm(x[tr], y[tr], c, seed, max_iter).accuracy(x[te], y[te]) for tr, te in folds])
        if acc > best_acc:  # strict: ties keep the smaller C
            best_c, best_acc = c, acc
    return best_c


def fit_linear_probe(
    train_x,
    train_y,
    val_x,
    val_y,
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
    seed: int = 0,
    max_iter: int = 20000,
) -> LinearProbe:
    """Fit a linear SVM on standardised frozen features, choosing C on the validation split.

    One model per C is fitted on the training set; the one with the best validation accuracy is kept
    as-is (ties → smaller C; no refit on train + val, so validation stays untouched by the final fit).
    With an empty validation set C is chosen by 3-fold stratified cross-validation on train instead
    (C = 1.0 when some class has fewer than 3 samples) and ``val_accuracy`` is nan.

    Args:
        train_x: [N, D] training features.
        train_y: [N] training labels (at least two classes).
        val_x: [M, D] validation features (M may be 0).
        val_y: [M] validation labels.
        Cs: Candidate regularisation constants.
        seed: ``random_state`` of LinearSVC and of the CV fold shuffle.
        max_iter: liblinear iteration cap.

    Returns:
        The chosen :class:`LinearProbe`.
    """
    x, y = as_numpy(train_x, np.float64), as_numpy(train_y)
    vx, vy = as_numpy(val_x, np.float64), as_numpy(val_y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"train_x must be [N, D] with N = len(train_y); got {x.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("a linear probe needs at least two classes in train_y")
    cs = sorted(float(c) for c in Cs)
    if not cs:
        raise ValueError("Cs is empty")
    if len(vy) == 0:
        return _fit_svm(x, y, _choose_c_by_cv(x, y, cs, seed, max_iter), seed, max_iter)
    best, best_acc = None, -1.0
    for c in cs:
        probe = _fit_svm(x, y, c, seed, max_iter)
        acc = probe.accuracy(vx, vy)
        if acc > best_acc:  # strict: ties keep the smaller C
            best, best_acc = probe, acc
    return replace(best, val_accuracy=best_acc)


def label_subset(labels, fraction: float, seed: int) -> np.ndarray:
    """Seeded, class-stratified subset of sample indices (e.g. the 50 %-of-labels experiment).

    Each class keeps round(fraction · n_class) samples (halves round up), but never fewer than one, so the
    total can differ slightly from fraction · N.

    Args:
        labels: [N] class labels.
        fraction: Share of each class to keep, in (0, 1].
        seed: Seed of the draw.

    Returns:
        [M] sorted int64 indices into ``labels``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = as_numpy(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = min(len(idx), max(1, int(fraction * len(idx) + 0.5)))
        keep.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(keep)).astype(np.int64) if keep else np.zeros(0, np.int64)


def pool_views(emb, count: int, mode: str = "max", seed: int | None = None) -> np.ndarray:
    """Pool per-view embeddings into one vector per object (the study max-pooled 1/4/32/64 views).

    Args:
        emb: [N, V, D] per-view embeddings.
        count: Number of views to pool, 1 ≤ count ≤ V.
        mode: ``"max"`` (element-wise, as the study) or ``"mean"``.
        seed: None pools the first ``count`` views; otherwise a seeded random subset of ``count`` distinct
            views per object (drawn independently for each object).

    Returns:
        [N, D] pooled embeddings.
    """
    emb = as_numpy(emb)
    if emb.ndim != 3:
        raise ValueError(f"emb must be [N, V, D], got {emb.shape}")
    n, v, _ = emb.shape
    if not 1 <= count <= v:
        raise ValueError(f"count must be in [1, {v}], got {count}")
    if mode not in ("max", "mean"):
        raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
    if seed is None:
        chosen = emb[:, :count]
    else:
        # argsort of uniform noise is a random permutation per row, all rows at once
        order = np.argsort(np.random.default_rng(seed).random((n, v)), axis=1)[:, :count]
        chosen = np.take_along_axis(emb, order[:, :, None], axis=1)
    return chosen.max(axis=1) if mode == "max" else chosen.mean(axis=1)
