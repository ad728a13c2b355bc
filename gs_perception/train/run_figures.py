"""What ``evaluate`` measures for one SSL run, as typed records, and the tables (results.md) made of them.

Cells of every table are mean ± std over the runs (one per seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..eval.tables import format_mean_std, markdown_table


@dataclass
class PairFigures:
    """Correspondence (same object?) on one kind of test pairs, mean over the pair draws."""

    accuracy: float
    balanced_accuracy: float
    roc_auc: float
    always_yes_accuracy: float
    """What a head that always says "same object" scores on these pairs."""


@dataclass
class ProbeFigure:
    """Test accuracy of one linear probe on frozen embeddings."""

    features: Literal["gaussians", "views"]
    views: int
    """Views max-pooled per object (0 for Gaussian features)."""
    labels: float
    """Share of the training labels the probe saw."""
    accuracy: float


@dataclass
class MemoryFigures:
    """Image probes on views they were not trained on (the study's memory-based vision), each trained (all
    labels) on pools of as many real training views as the test pool has."""

    train_poses: float
    """Views rendered from the Gaussians at the training poses (the study's 64*)."""
    heldout_poses: float
    """Views rendered from the Gaussians at held-out poses."""
    real_heldout: float
    """Real renders at the held-out poses."""


@dataclass
class RunFigures:
    """Everything ``evaluate`` measured for one run (metrics.json holds a list of these)."""

    study_pairs: PairFigures
    """The study's 2:1 positive:negative pairs."""
    balanced_pairs: PairFigures
    distance_positive: float
    """Mean distance between embeddings of two views of one object (raw projections)."""
    distance_negative: float
    """… of views of two different objects."""
    probes: list[ProbeFigure] = field(default_factory=list)
    memory: MemoryFigures | None = None
    supervised: dict[str, float] = field(default_factory=dict)
    """Test accuracy of each supervised baseline, by name."""

    def probe(self, features: str, views: int, labels: float) -> float | None:
        """The accuracy of one probe, or None when it was not measured."""
        for p in self.probes:
            if (p.features, p.views, p.labels) == (features, views, labels):
                return p.accuracy
        return None


def _cell(values: Sequence[float | None], percent: bool = False) -> str:
    return format_mean_std([v for v in values if v is not None], digits=3, percent=percent)


def _pretext_table(runs: list[RunFigures]) -> str:
    rows = []
    for name, pairs in (
        ("study", [r.study_pairs for r in runs]),
        ("balanced", [r.balanced_pairs for r in runs]),
    ):
        rows.append(
            [name]
            + [
                _cell([getattr(p, key) for p in pairs], percent=key != "roc_auc")
                for key in ("accuracy", "balanced_accuracy", "roc_auc", "always_yes_accuracy")
            ]
        )
    header = ["pairs", "CM accuracy", "balanced accuracy", "ROC-AUC", "always-yes accuracy"]
    positive, negative = (
        _cell([r.distance_positive for r in runs]),
        _cell([r.distance_negative for r in runs]),
    )
    distances = f"Mean paired distance of view embeddings (raw): positive {positive}, negative {negative}."
    return markdown_table(header, rows) + "\n\n" + distances


def _probe_table(runs: list[RunFigures], view_counts: Sequence[int], label_fractions: Sequence[float]) -> str:
    named = [("gaussians", 0, "Gaussians")]
    named += [("views", n, f"images, {n} view{'s' * (n > 1)}") for n in view_counts]
    rows = [
        [title] + [_cell([r.probe(kind, n, f) for r in runs], percent=True) for f in label_fractions]
        for kind, n, title in named
        if runs[0].probe(kind, n, label_fractions[0]) is not None
    ]
    header = ["features"] + [f"{round(100 * f)}% labels" for f in label_fractions]
    return markdown_table(header, rows)


def _memory_table(runs: list[RunFigures]) -> str:
    rows = [
        ("rendered from the Gaussians at the training poses (the study's 64*)", "train_poses"),
        ("rendered from the Gaussians at held-out poses", "heldout_poses"),
        ("real renders at the held-out poses", "real_heldout"),
    ]
    cells = [
        [title, _cell([getattr(r.memory, key) for r in runs if r.memory], percent=True)]
        for title, key in rows
    ]
    return markdown_table(["test views", "accuracy"], cells)


def _baseline_table(runs: list[RunFigures], point_arch: str) -> str:
    titles = {"pointnet": f"{point_arch} on mesh-sampled points", "mvcnn": "multi-view CNN"}
    rows = [
        [titles[name], _cell([r.supervised.get(name) for r in runs], percent=True)]
        for name in runs[0].supervised
    ]
    return markdown_table(["model", "accuracy"], rows)


def results_markdown(
    runs: list[RunFigures],
    run_names: Sequence[str],
    view_counts: Sequence[int],
    label_fractions: Sequence[float],
    point_arch: str,
) -> str:
    """Tables mirroring the study's: pretext, linear probes by feature and view count, supervised baselines,
    memory views (each only when measured)."""
    parts = [
        f"Runs (one per seed): {', '.join(f'`{r}`' for r in run_names)}. Cells: mean ± std over runs.",
        "### Pretext tasks (test split)",
        _pretext_table(runs),
        "### Linear probes (test accuracy; linear SVM, C chosen on the validation split)",
        _probe_table(runs, view_counts, label_fractions),
    ]
    if runs[0].supervised:
        parts += [
            "### Supervised baselines (all training labels; test accuracy)",
            _baseline_table(runs, point_arch),
        ]
    if runs[0].memory is not None:
        parts += ["### Memory-based vision (probe on real views, tested on other views)", _memory_table(runs)]
    return "\n\n".join(parts) + "\n"
