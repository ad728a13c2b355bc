"""Figures of learned features: t-SNE scatter coloured by class and an annotated confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .arrays import as_numpy

_MARKERS = ("o", "s", "^", "D")  # cycled every 20 classes so 40 classes stay distinguishable


def _pyplot():
    """pyplot on the non-interactive Agg backend (headless machines, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_labels(labels: np.ndarray, class_names: Sequence[str], what: str) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"{what} must index class_names (0..{len(class_names) - 1})")


def tsne_plot(
    features,
    labels,
    class_names: Sequence[str],
    path: str | Path,
    title: str,
    seed: int = 0,
    perplexity: float | None = None,
) -> np.ndarray:
    """Embed features in 2-D with t-SNE and save a scatter coloured by class.

    Args:
        features: [N, D] features (N ≥ 2).
        labels: [N] int class indices into ``class_names``.
        class_names: [K] legend entries.
        path: PNG to write (parent folders are created).
        title: Figure title.
        seed: t-SNE ``random_state``.
        perplexity: None → min(30, (N - 1) / 3), which keeps it valid (< N) for small N.

    Returns:
        [N, 2] t-SNE embedding.
    """
    from sklearn.manifold import TSNE

    x = as_numpy(features, np.float64)
    y = as_numpy(labels).astype(np.int64).reshape(-1)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"features must be [N, D] with N = len(labels) ≥ 2; got {x.shape}, {y.shape}")
    _check_labels(y, class_names, "labels")
    perp = min(30.0, (len(x) - 1) / 3) if perplexity is None else float(perplexity)
    emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x)

    plt = _pyplot()
    k = len(class_names)
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for c in np.unique(y):
        m = y == c
        color = cmap(c % cmap.N)
        marker = _MARKERS[(c // 20) % len(_MARKERS)]
        ax.scatter(emb[m, 0], emb[m, 1], s=10, alpha=0.8, color=color, marker=marker, label=class_names[c])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize="small",
        markerscale=1.5,
        ncol=1 + (len(np.unique(y)) - 1) // 20,
        frameon=False,
    )
    _save(fig, plt, path)
    return np.asarray(emb, dtype=np.float64)


def confusion_plot(y_true, y_pred, class_names: Sequence[str], path: str | Path, title: str) -> np.ndarray:
    """Save an annotated confusion matrix (colour = row-normalised rate, text = count).

    Colouring by the per-class rate keeps rare classes readable; zero cells are left blank when there are
    more than 10 classes so the figure stays legible.

    Args:
        y_true: [N] int true class indices into ``class_names``.
        y_pred: [N] int predicted class indices.
        class_names: [K] axis labels.
        path: PNG to write (parent folders are created).
        title: Figure title.

    Returns:
        [K, K] int64 counts; entry [i, j] = samples of class i predicted as j.
    """
    t = as_numpy(y_true).astype(np.int64).reshape(-1)
    p = as_numpy(y_pred).astype(np.int64).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    _check_labels(t, class_names, "y_true")
    _check_labels(p, class_names, "y_pred")
    k = len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    rate = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)

    plt = _pyplot()
    size = max(3.5, 0.3 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    fontsize = 8 if k <= 10 else 5
    for i, j in zip(*np.nonzero(cm if k > 10 else np.ones_like(cm))):
        ax.text(
            j,
            i,
            str(cm[i, j]),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if rate[i, j] > 0.5 else "black",
        )
    ax.set_xticks(range(k), class_names, rotation=90, fontsize=fontsize + 1)
    ax.set_yticks(range(k), class_names, fontsize=fontsize + 1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save(fig, plt, path)
    return cm


def _save(fig, plt, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # "tight" keeps the legend placed outside the axes inside the image
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
