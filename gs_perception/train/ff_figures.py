"""eval-ff's figures: the quality-vs-compute curve and a gallery of predictions at held-out poses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..core.fit import render_at_views
from ..eval.pictures import image_grid
from .ff_data import ObjectViews, Views


class GallerySource(Protocol):
    """What the gallery needs of eval-ff's context (its config, objects and view choice)."""

    config: Any
    objects: ObjectViews

    def inputs(self, obj: int, count: int) -> Views: ...

    def held_out(self, obj: int) -> Views: ...


def prediction_gallery(ctx: GallerySource, clouds: dict, path: Path) -> Path:
    """gallery.png: per object (evenly spaced, ``gallery_objects``), its first input view, the held-out
    targets, and the predictions from the fewest and the most input views rendered there.

    Args:
        ctx: eval-ff's context (model, objects, config).
        clouds: ``clouds[(obj, n)]``: the prediction of object ``obj`` from ``n`` input views (CPU).
        path: Output PNG.
    """
    counts = (min(ctx.config.input_views), max(ctx.config.input_views))
    n_obj, n_held = len(ctx.objects), ctx.objects.test.num_views
    picks = sorted({round(i) for i in np.linspace(0, n_obj - 1, min(ctx.config.gallery_objects, n_obj))})
    backend = ctx.config.fit.render.resolve(torch.device("cpu"))
    rows, captions = [], []
    for obj in picks:
        targets = ctx.held_out(obj)
        renders = [
            render_at_views(clouds[obj, n], targets.fit_views(), backend) for n in dict.fromkeys(counts)
        ]
        rows.append([ctx.inputs(obj, 1).rgb[0], *targets.rgb, *torch.cat(renders)])
        captions.append(f"{ctx.objects.labels[obj]} ({ctx.objects.object_ids[obj]})")
    titles = ["input", *(f"held-out {k + 1}" for k in range(n_held))]
    titles += [f"from {n} view{'s' * (n > 1)}" for n in dict.fromkeys(counts) for _ in range(n_held)]
    return image_grid(rows, titles, captions, path)


def curve_plot(curve: Sequence[Any], path: Path) -> Path:
    """curve.png: held-out PSNR against wall time per object, from a random start and from the prediction
    (``curve``: eval-ff's ``CurvePoint`` rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in sorted({p.input_views for p in curve}):
        for start, style in (("random", "--"), ("prediction", "-")):
            pts = sorted((p.seconds, p.psnr) for p in curve if p.input_views == n and p.start == start)
            ax.plot(*zip(*pts), style, marker="o", label=f"{n} view(s), from {start}")
    ax.set_xscale("log")
    ax.set_xlabel("wall time per object (s)")
    ax.set_ylabel("held-out PSNR (dB)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
