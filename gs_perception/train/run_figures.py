"""What ``evaluate`` measures for one SSL run, as typed records, and the tables (results.md) made of them.

Cells of every table are mean ± std over the runs (one per seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..eval.retrieval import RetrievalFigures
from ..eval.stats import bootstrap_over_runs
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
    correct: list[int] = field(default_factory=list)
    """[N] 1 where the probe got the test object right (the bootstrap intervals resample these)."""
    source: str = "ssl"
    """Whose features: 'ssl' (the run), 'untrained' (same architecture, random init), 'descriptor' or
    'descriptor_yaw' (the hand-made shape descriptor of the Gaussians, as given or yaw-invariant)."""


@dataclass
class GalleryRecall:
    """Retrieval among same-class distractors (eval/retrieval.py ``gallery_recall``), per-query hits kept.

    Attributes:
        recall_at_1, recall_at_5: Fraction of queries whose target ranks first / in the top 5.
        chance_at_1, chance_at_5: What a random ranking scores on the same galleries.
        hits_at_1, hits_at_5: [Q] per-query 0/1 (the bootstrap intervals resample these).
    """

    recall_at_1: float
    recall_at_5: float
    chance_at_1: float
    chance_at_5: float
    hits_at_1: list[int]
    hits_at_5: list[int]

    @staticmethod
    def fields_of(recall: RetrievalFigures) -> dict:
        """The keyword arguments of these fields from a ``gallery_recall(..., ks=(1, 5))`` result."""
        return {
            "recall_at_1": recall.recall_at(1),
            "recall_at_5": recall.recall_at(5),
            "chance_at_1": recall.chance[0],
            "chance_at_5": recall.chance[1],
            "hits_at_1": recall.hits(1).astype(int).tolist(),
            "hits_at_5": recall.hits(5).astype(int).tolist(),
        }


@dataclass
class CrossModalFigures(GalleryRecall):
    """Cross-modality on the test split, for one source of features and head (train/controls.py); the
    recall fields are image (view 0) → Gaussians retrieval by the head's score among up to nine same-class
    distractors.

    Attributes:
        source: 'ssl' (the run's encoders and head) or 'untrained' (frozen untrained encoders, head trained).
        balanced_accuracy: Balanced pairs, negatives from any other object (mostly other classes).
        same_class_balanced_accuracy: Balanced pairs whose negatives share the object's class.
        same_class_auc: ROC-AUC on those pairs.
    """

    source: str
    balanced_accuracy: float
    same_class_balanced_accuracy: float
    same_class_auc: float


@dataclass
class InstanceFigures(GalleryRecall):
    """Retrieval of an object's fit 2 among same-class distractors, for one source and query (the instance
    test, train/instance.py).

    Attributes:
        dataset: Name of the dataset folder.
        split: The split scored.
        source: 'ssl', 'untrained' or 'descriptor'.
        query: 'gaussians' (fit 1) or 'images' (view 0).
    """

    dataset: str
    split: str
    source: str
    query: str


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
    supervised_correct: dict[str, list[int]] = field(default_factory=dict)
    """… and its per-object test correctness (1 = right), for the intervals."""
    cross_modal: list[CrossModalFigures] = field(default_factory=list)
    """The run's head and the frozen-untrained control on harder pairs and retrieval (with controls)."""
    instance: list[InstanceFigures] = field(default_factory=list)
    """The instance test: fit 2 found from fit 1 or a view (datasets with two fits per object)."""

    def probe_figure(
        self, features: str, views: int, labels: float, source: str = "ssl"
    ) -> ProbeFigure | None:
        """One probe's figure, or None when it was not measured."""
        for p in self.probes:
            if (p.features, p.views, p.labels, p.source) == (features, views, labels, source):
                return p
        return None

    def probe(self, features: str, views: int, labels: float, source: str = "ssl") -> float | None:
        """The accuracy of one probe, or None when it was not measured."""
        figure = self.probe_figure(features, views, labels, source)
        return None if figure is None else figure.accuracy


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
        [
            titles[name],
            _cell([r.supervised.get(name) for r in runs], percent=True),
            _interval([r.supervised_correct.get(name, []) for r in runs]),
        ]
        for name in runs[0].supervised
    ]
    return markdown_table(["model", "accuracy", "[95 % interval over test objects]"], rows)


CONTROL_SOURCES = {
    "ssl": "self-supervised (this run)",
    "untrained": "untrained encoders",
    "descriptor": "hand-made descriptor",
    "descriptor_yaw": "hand-made descriptor, yaw-invariant",
}


def _interval(rows: Sequence[Sequence[int]]) -> str:
    """Mean over runs with a 95 % bootstrap interval over test objects, from per-run 0/1 rows [R][N]."""
    rows = [r for r in rows if r]
    if not rows or len({len(r) for r in rows}) != 1:
        return "–"
    return bootstrap_over_runs(np.asarray(rows, dtype=float)).format(percent=True)


def _controls_table(
    runs: list[RunFigures], view_counts: Sequence[int], label_fractions: Sequence[float]
) -> str:
    """Probe accuracy of every source side by side: the run's features against the controls."""
    named = [("gaussians", 0, "Gaussians")] + [
        ("views", n, f"images, {n} view{'s' * (n > 1)}") for n in view_counts
    ]
    sources = [s for s in CONTROL_SOURCES if any(p.source == s for p in runs[0].probes)]
    rows = []
    for kind, n, title in named:
        for f in label_fractions:
            cells = []
            for source in sources:
                figures = [r.probe_figure(kind, n, f, source) for r in runs]
                cells.append(_interval([fig.correct for fig in figures if fig is not None]))
            if any(c != "–" for c in cells):
                rows.append([f"{title}, {round(100 * f)}% labels"] + cells)
    return markdown_table(["probe"] + [CONTROL_SOURCES[s] for s in sources], rows)


def _cross_modal_table(runs: list[RunFigures]) -> str:
    sources = [c.source for c in runs[0].cross_modal]
    titles = {"ssl": "self-supervised (this run)", "untrained": "head on frozen untrained encoders"}
    rows = []
    for key, title in (
        ("balanced_accuracy", "balanced accuracy, negatives from any object"),
        ("same_class_balanced_accuracy", "balanced accuracy, same-class negatives"),
        ("same_class_auc", "ROC-AUC, same-class negatives"),
    ):
        cells = [
            _cell([getattr(r.cross_modal[j], key) for r in runs], percent=key != "same_class_auc")
            for j in range(len(sources))
        ]
        rows.append([title] + cells)
    for k in (1, 5):
        cells = [
            _interval([getattr(r.cross_modal[j], f"hits_at_{k}") for r in runs]) for j in range(len(sources))
        ]
        chance = _cell([getattr(r.cross_modal[0], f"chance_at_{k}") for r in runs], percent=True)
        rows.append([f"image→Gaussians recall@{k} among same-class distractors (chance {chance})"] + cells)
    return markdown_table(["measure"] + [titles.get(s, s) for s in sources], rows)


INSTANCE_SOURCES = {
    "ssl": "self-supervised",
    "untrained": "untrained encoders",
    "descriptor": "hand-made descriptor (yaw-invariant)",
}


def _instance_table(runs: list[RunFigures]) -> str:
    """One row per (dataset, split, query), one column per source; cells recall@1 with intervals."""
    keys = list(dict.fromkeys((f.dataset, f.split, f.query) for f in runs[0].instance))
    sources = [s for s in INSTANCE_SOURCES if any(f.source == s for f in runs[0].instance)]
    rows = []
    for dataset, split, query in keys:
        pick = [
            [f for r in runs for f in r.instance if (f.dataset, f.split, f.query, f.source) == (*k, s)]
            for k in [(dataset, split, query)]
            for s in sources
        ]
        cells = [_interval([f.hits_at_1 for f in found]) for found in pick]
        chance = next(f.chance_at_1 for found in pick for f in found)
        what = "fit 1 → fit 2" if query == "gaussians" else "view → fit 2"
        rows.append([f"`{dataset}` {split}: {what} (chance {100 * chance:.1f} %)"] + cells)
    return markdown_table(["query"] + [INSTANCE_SOURCES[s] for s in sources], rows)


def results_markdown(
    runs: list[RunFigures],
    run_names: Sequence[str],
    view_counts: Sequence[int],
    label_fractions: Sequence[float],
    point_arch: str,
    scored: str = "test",
) -> str:
    """Tables mirroring the study's: pretext, linear probes by feature and view count, supervised baselines,
    memory views, controls (each only when measured). ``scored`` names the split the figures score."""
    chosen = "the validation split" if scored == "test" else "cross-validation on train (test not read)"
    parts = [
        f"Runs (one per seed): {', '.join(f'`{r}`' for r in run_names)}. Cells: mean ± std over runs. "
        f"Scored on the **{scored}** split.",
        f"### Pretext tasks ({scored} split)",
        _pretext_table(runs),
        f"### Linear probes ({scored} accuracy; linear SVM, C chosen on {chosen})",
        _probe_table(runs, view_counts, label_fractions),
    ]
    if runs[0].supervised:
        parts += [
            "### Supervised baselines (all training labels; test accuracy)",
            _baseline_table(runs, point_arch),
        ]
    if runs[0].memory is not None:
        parts += ["### Memory-based vision (probe on real views, tested on other views)", _memory_table(runs)]
    if any(p.source != "ssl" for p in runs[0].probes):
        parts += [
            f"### Controls: the same probes on features made without the learning ({scored} accuracy, mean "
            f"over runs, [95 % bootstrap interval over {scored} objects])",
            _controls_table(runs, view_counts, label_fractions),
        ]
    if runs[0].cross_modal:
        parts += [f"### Cross-modality against its control ({scored} split)", _cross_modal_table(runs)]
    if runs[0].instance:
        parts += [
            "### Instance test: find an object's second 3DGS fit among up to 9 same-class objects (recall@1, "
            "mean over runs [95 % bootstrap interval over objects])",
            _instance_table(runs),
        ]
    return "\n\n".join(parts) + "\n"
