"""The summary of a generated dataset: per-class table (Markdown) and plots of fit quality and size."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..data.manifest import ManifestEntry


@dataclass(frozen=True)
class ClassSummary:
    """Per-class (or overall, ``label='all'``) figures over the objects that were fitted."""

    label: str
    ok: int
    failed: int
    splits: dict[str, int]
    mean_gaussians: float
    mean_psnr: float | None
    min_psnr: float | None
    mean_ssim: float | None
    mean_seconds: float


def summarise(entries: list[ManifestEntry]) -> list[ClassSummary]:
    """One :class:`ClassSummary` per class (sorted by name), then one for all classes together."""
    by_class: dict[str, list[ManifestEntry]] = defaultdict(list)
    for e in entries:
        by_class[e.label].append(e)
    rows = [_summary(label, group) for label, group in sorted(by_class.items())]
    return rows + [_summary("all", entries)]


def _summary(label: str, entries: list[ManifestEntry]) -> ClassSummary:
    ok = [e for e in entries if e.ok]
    psnrs = [e.psnr_test for e in ok if e.psnr_test is not None]
    ssims = [e.ssim_test for e in ok if e.ssim_test is not None]
    splits: dict[str, int] = defaultdict(int)
    for e in ok:
        splits[e.split] += 1
    return ClassSummary(
        label=label,
        ok=len(ok),
        failed=len(entries) - len(ok),
        splits=dict(splits),
        mean_gaussians=statistics.fmean([e.num_gaussians for e in ok]) if ok else 0.0,
        mean_psnr=statistics.fmean(psnrs) if psnrs else None,
        min_psnr=min(psnrs) if psnrs else None,
        mean_ssim=statistics.fmean(ssims) if ssims else None,
        mean_seconds=statistics.fmean([e.total_seconds for e in ok]) if ok else 0.0,
    )


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(rows: list[ClassSummary]) -> str:
    """The per-class table as Markdown (train/val/test counts, Gaussians, held-out PSNR/SSIM, time)."""
    lines = [
        "| class | train | val | test | failed | mean Gaussians | held-out PSNR (dB) mean / min | SSIM "
        "| s / object |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = f"**{r.label}**" if r.label == "all" else r.label
        lines.append(
            f"| {name} | {r.splits.get('train', 0)} | {r.splits.get('val', 0)} | {r.splits.get('test', 0)} "
            f"| {r.failed} | {r.mean_gaussians:.0f} | {_fmt(r.mean_psnr, 2)} / {_fmt(r.min_psnr, 2)} "
            f"| {_fmt(r.mean_ssim, 3)} | {r.mean_seconds:.1f} |"
        )
    return "\n".join(lines)


def write_report(
    root: str | Path, entries: list[ManifestEntry], title: str, wall_seconds: float | None
) -> Path:
    """Write ``report.md``, ``psnr.png`` and ``gaussians.png`` into the dataset ``root``.

    Args:
        root: Dataset folder.
        entries: Its manifest entries.
        title: First heading of the report (say, the source and preset).
        wall_seconds: Wall time of the run that finished the dataset (None if unknown).

    Returns:
        Path of ``report.md``.
    """
    root = Path(root)
    rows = summarise(entries)
    _plot_psnr(entries, root / "psnr.png")
    _plot_gaussians(rows[:-1], root / "gaussians.png")
    failures = [e for e in entries if not e.ok]
    text = [f"# {title}", "", markdown_table(rows), ""]
    if wall_seconds is not None:
        text += [f"Wall time of the last run: {wall_seconds / 60:.1f} min.", ""]
    text += ["![held-out PSNR per class](psnr.png)", "", "![Gaussians per class](gaussians.png)", ""]
    if failures:
        text += ["## Failed objects", ""] + [f"- `{e.object_id}` ({e.source}): {e.error}" for e in failures]
    path = root / "report.md"
    path.write_text("\n".join(text) + "\n")
    return path


def _plot_psnr(entries: list[ManifestEntry], path: Path) -> None:
    """Box plot of held-out PSNR per class with every object as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_class: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        if e.ok and e.psnr_test is not None:
            by_class[e.label].append(e.psnr_test)
    labels = sorted(by_class)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(labels) + 1.5), 3.6))
    if labels:
        ax.boxplot([by_class[k] for k in labels], showfliers=False)
        for i, k in enumerate(labels, start=1):
            ax.scatter([i] * len(by_class[k]), by_class[k], s=8, alpha=0.6, color="tab:blue", zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right")
    ax.set_ylabel("held-out PSNR (dB)")
    ax.set_title("Fit quality on held-out poses")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_gaussians(rows: list[ClassSummary], path: Path) -> None:
    """Bar chart of the mean Gaussian count per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(rows) + 1.5), 3.2))
    ax.bar([r.label for r in rows], [r.mean_gaussians for r in rows], color="tab:orange")
    ax.set_ylabel("mean Gaussians per object")
    ax.tick_params(axis="x", rotation=30)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
