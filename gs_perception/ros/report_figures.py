"""The replay report's figures, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Each function takes plain lists from metrics.json / steps.jsonl, so the report can be rebuilt from a replay
folder alone. Figures are drawn on a ``Figure`` of their own (no pyplot state), so a report can be written
from any thread or inside a process that uses matplotlib otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from ..pipeline.step_log import StepRecord

_DPI = 100
_KEYFRAME_COLOUR = "#d62728"


def _figure(width: float, height: float, rows: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    return figure, figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def psnr_figure(psnr_per_frame: Sequence[float]) -> bytes:
    """Held-out memory-render PSNR per held-out frame (dots and line), its mean dashed. PNG bytes."""
    figure, (ax,) = _figure(8.0, 2.8)
    values = np.asarray(psnr_per_frame, dtype=float)
    frames = np.arange(1, values.size + 1)
    ax.plot(frames, values, "o-", color="#1f77b4", markersize=4, label="per held-out frame")
    ax.axhline(values.mean(), color="grey", linestyle="--", label=f"mean {values.mean():.2f} dB")
    ax.set_xlabel("held-out frame (stamp order)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Memory render vs recorded image at held-out poses")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    if values.size <= 20:
        ax.set_xticks(frames)
    return _png(figure)


def timeline_figure(steps: Sequence[StepRecord]) -> bytes:
    """Gaussians in the memory (top) and step latency (bottom) against seconds since the first frame, with
    keyframes marked and recognition steps as vertical lines. PNG bytes."""
    figure, (top, bottom) = _figure(8.0, 5.0, rows=2)
    t0 = steps[0].stamp_ns
    t = np.array([(s.stamp_ns - t0) / 1e9 for s in steps])
    key = np.array([s.keyframe for s in steps])
    gaussians = np.array([s.gaussians for s in steps])
    latency = np.array([s.latency_ms for s in steps])
    top.plot(t, gaussians, "-", color="#2ca02c", label="Gaussians")
    top.plot(t[key], gaussians[key], "o", color=_KEYFRAME_COLOUR, markersize=3, label="keyframe")
    top.set_ylabel("Gaussians")
    top.set_title("Memory growth and step latency")
    bottom.plot(t, latency, "-", color="#1f77b4", label="step latency")
    bottom.plot(t[key], latency[key], "o", color=_KEYFRAME_COLOUR, markersize=3, label="keyframe")
    recognised = [ti for ti, s in zip(t, steps) if s.detections is not None]
    for axis in (top, bottom):
        for k, ti in enumerate(recognised):
            axis.axvline(ti, color="#9467bd", alpha=0.35, linewidth=1, label=None if k else "recognition")
        axis.grid(alpha=0.3)
        axis.legend(
            loc="upper left" if axis is top else "best", fontsize="small"
        )  # growth rises to the right
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("time since the first frame (s)")
    return _png(figure)


def growth_figure(gaussians_over_time: Sequence[tuple[float, int]]) -> bytes:
    """Gaussians against seconds since the first frame, from metrics.json alone (folders without
    steps.jsonl: no keyframes, no latency). PNG bytes."""
    figure, (ax,) = _figure(8.0, 2.8)
    t, n = zip(*gaussians_over_time) if gaussians_over_time else ((), ())
    ax.plot(t, n, "-", color="#2ca02c")
    ax.set_xlabel("time since the first frame (s)")
    ax.set_ylabel("Gaussians")
    ax.set_title("Memory growth")
    ax.grid(alpha=0.3)
    return _png(figure)
