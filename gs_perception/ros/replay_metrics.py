"""Metrics of a bag replay: memory quality on held-out frames, recognition, latency and memory growth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.frames import Frame
from ..core.metrics import psnr
from ..pipeline.recognition import RecognisedObject
from ..pipeline.step import StepOutputs


@dataclass
class ReplayMetrics:
    """What one replay measured (JSON-ready).

    Attributes:
        frames: Live frames stepped through the pipeline.
        keyframes: Of which keyframes.
        dropped_frames: Images the assembler dropped (no pose/camera info in time, bad sizes).
        skipped_messages: Messages that failed to convert, per topic.
        heldout_frames: Held-out frames rendered from the final memory.
        heldout_psnr_db: Mean PSNR of those renders against the recorded images (None without any).
        heldout_psnr_per_frame: Per held-out frame, in stamp order.
        ground_truth: True class names from the bag (empty when it has none).
        predicted: Predicted class of each recognised object on the final memory, largest first.
        predicted_scores: The winning class probability of each.
        accuracy: Share of ground-truth names matched by the prediction for the same rank (None without
            ground truth or without predictions).
        latency_ms_mean / latency_ms_p50 / latency_ms_p95 / latency_ms_max: Wall time of pipeline steps.
        keyframe_latency_ms_mean: Mean time of keyframe steps (insertion + optimisation when deterministic).
        gaussians_over_time: (seconds since the first frame, Gaussians) after every step.
        final_gaussians: Gaussians in the final memory.
        wall_s: Total replay wall time (reading, stepping, writing, evaluating).
        unreadable_messages: Recorded messages that could not be read: lost to a damaged (cut) bag, or
            undecodable. None when the bag was damaged and nothing tells how many it had.
        bag_damage: What was wrong with a damaged bag, one line per file (empty for an intact bag).
        insertion_depth: Where the memory placed what it had not seen: 'from depth images', or what it
            assumed without them (core/memory/depth.py); '' without keyframes.
    """

    frames: int
    keyframes: int
    dropped_frames: int
    skipped_messages: dict[str, int]
    heldout_frames: int
    heldout_psnr_db: float | None
    heldout_psnr_per_frame: list[float]
    ground_truth: list[str]
    predicted: list[str]
    predicted_scores: list[float]
    accuracy: float | None
    latency_ms_mean: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_max: float | None
    keyframe_latency_ms_mean: float | None
    gaussians_over_time: list[tuple[float, int]]
    final_gaussians: int
    wall_s: float
    unreadable_messages: int | None = 0
    bag_damage: list[str] = field(default_factory=list)
    insertion_depth: str = ""


def _stat(values: list[float], fn) -> float | None:
    return float(fn(np.asarray(values))) if values else None


def summarise(
    records: list[StepOutputs],
    renders: list[tuple[Frame, torch.Tensor]],
    objects: list[RecognisedObject],
    truth: list[str],
    skipped: dict[str, int],
    dropped: int,
    wall_s: float,
    unreadable: int | None = 0,
    damage: list[str] | None = None,
) -> ReplayMetrics:
    """Reduce a replay's step outputs, held-out renders and final recognition to :class:`ReplayMetrics`.

    ``unreadable`` and ``damage`` describe the bag (see the fields of the same meaning); the rest is measured.
    """
    latency = [r.latency_s * 1e3 for r in records]
    key_latency = [r.latency_s * 1e3 for r in records if r.insert.keyframe]
    per_frame = [float(psnr(render[None], frame.rgb[None].clamp(0, 1))) for frame, render in renders]
    predicted = [o.class_name for o in objects if o.class_name]
    scores = [float(o.scores.max()) for o in objects if o.class_name]
    accuracy = None
    if truth and predicted:
        accuracy = sum(p == t for p, t in zip(predicted, truth)) / len(truth)
    t0 = records[0].stamp_ns if records else 0
    return ReplayMetrics(
        frames=len(records),
        keyframes=sum(r.insert.keyframe for r in records),
        dropped_frames=dropped,
        skipped_messages=skipped,
        heldout_frames=len(renders),
        heldout_psnr_db=float(np.mean(per_frame)) if per_frame else None,
        heldout_psnr_per_frame=per_frame,
        ground_truth=list(truth),
        predicted=predicted,
        predicted_scores=scores,
        accuracy=accuracy,
        latency_ms_mean=_stat(latency, np.mean),
        latency_ms_p50=_stat(latency, np.median),
        latency_ms_p95=_stat(latency, lambda a: np.percentile(a, 95)),
        latency_ms_max=_stat(latency, np.max),
        keyframe_latency_ms_mean=_stat(key_latency, np.mean),
        gaussians_over_time=[((r.stamp_ns - t0) / 1e9, r.stats.gaussians) for r in records],
        final_gaussians=records[-1].stats.gaussians if records else 0,
        wall_s=wall_s,
        unreadable_messages=unreadable,
        bag_damage=list(damage or []),
        insertion_depth=records[-1].stats.insertion_depth if records else "",
    )
