"""The one online step shared by the ROS nodes and by bag replay: posed frame → memory → encoders → outputs.

``Pipeline.step(frame)`` updates the Gaussian memory (keyframe gate, insertion, optimisation — in a worker
thread, or synchronously in deterministic mode), and at configurable rates renders the memory at the frame's
pose, cuts objects out of the memory and recognises them with the encoder bundle, and hands out a decimated
copy of the Gaussians. It returns plain dataclasses; converting them to messages is the caller's business
(ros/frames.py, ros/sensor_conversions.py).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.cameras import Intrinsics
from ..core.frames import Frame
from ..core.gaussians import GaussianCloud
from ..core.memory import GaussianMemory, InsertResult, MemoryConfig, MemoryRender, MemoryStats
from ..core.runtime import resolve_device
from ..models.bundle import Bundle, load_bundle
from .feedforward import PredictorConfig, SplatterProposer
from .recognition import RecognisedObject, Recogniser, RecognitionConfig


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the online pipeline does, and how often. Nodes and replay derive their parameters and
    flags from this (nested fields become ``memory.<name>`` parameters and ``--memory-<name>`` flags)."""

    memory: MemoryConfig = MemoryConfig()
    """The Gaussian memory (keyframes, insertion, optimisation, budget)."""
    recognition: RecognitionConfig = RecognitionConfig()
    """Object extraction and the encoder bundle."""
    predictor: PredictorConfig = PredictorConfig()
    """The feed-forward predictor for ``memory.insertion`` 'predicted' / 'predicted+alpha'."""
    recognise_every: int = 4
    """Recognise objects after every this many keyframes (0 = never; replay also recognises at the end)."""
    render_every: int = 1
    """Render the memory at the input pose every this many frames (0 = never)."""
    render_scale: float = 1.0
    """Size of memory views relative to the input image (renders on CPU cost ∝ pixels)."""
    cloud_every: int = 4
    """Hand out the (decimated) Gaussians every this many keyframes (0 = never)."""
    cloud_max_points: int = 20000
    """At most this many Gaussians in a cloud output (the most opaque)."""


@dataclass
class StepOutputs:
    """What one frame produced. ``None`` fields were not due at this step.

    Attributes:
        stamp_ns: The input frame's stamp (outputs carry it, docs/architecture.md §4).
        frame_id: The input frame's camera frame. insert: What the memory did with the frame.
        memory_view: The memory rendered at the frame's pose.
        objects: Recognised objects, largest first (empty list: recognition ran and found none).
        cloud: Decimated copy of the memory (world frame).
        latency_s: Wall time of this step.
        stats: Memory counters after the step.
    """

    stamp_ns: int
    frame_id: str
    insert: InsertResult
    memory_view: MemoryRender | None
    objects: list[RecognisedObject] | None
    cloud: GaussianCloud | None
    latency_s: float
    stats: MemoryStats


class Pipeline:
    """Memory plus recognition behind one :meth:`step`.

    Args:
        config: What to do and how often.
        bundle: A loaded bundle; None loads ``config.recognition.bundle`` when set (else no recognition).
    """

    def __init__(self, config: PipelineConfig = PipelineConfig(), bundle: Bundle | None = None):
        self.config = config
        self.device = resolve_device(config.memory.device)
        self.memory = GaussianMemory(config.memory, _proposer(config, self.device))
        if bundle is None and config.recognition.bundle:
            bundle = load_bundle(Path(config.recognition.bundle).expanduser(), map_location=self.device)
        self.recogniser = (
            None if bundle is None else Recogniser(bundle, config.recognition, config.memory.render)
        )
        self.frames = 0
        self.objects: list[RecognisedObject] = []

    def background_step(self) -> bool:
        """Run one optimisation step the memory owes (background mode); False when none is owed. The owner of
        the pipeline calls it when no frame waits (pipeline/worker.py)."""
        return self.memory.run_owed(1) > 0

    def step(self, frame: Frame) -> StepOutputs:
        """Feed one frame; returns what was due (see :class:`PipelineConfig` for the rates)."""
        start = time.perf_counter()
        insert = self.memory.add_frame(frame)
        self.frames += 1
        keyframes = self.memory.stats.keyframes
        due = lambda every: insert.keyframe and every > 0 and keyframes % every == 0  # noqa: E731
        view = None
        if self.config.render_every > 0 and self.frames % self.config.render_every == 0:
            view = self.render_at(frame.T_world_cam, frame.intrinsics.scaled(self.config.render_scale))
        objects = (
            self.recognise() if self.recogniser is not None and due(self.config.recognise_every) else None
        )
        cloud = self.cloud() if due(self.config.cloud_every) else None
        return StepOutputs(
            stamp_ns=frame.stamp_ns,
            frame_id=frame.frame_id,
            insert=insert,
            memory_view=view,
            objects=objects,
            cloud=cloud,
            latency_s=time.perf_counter() - start,
            stats=self.memory.stats,
        )

    def render_at(self, T_world_cam: torch.Tensor, intrinsics: Intrinsics) -> MemoryRender:
        """The memory seen from any camera (``T_world_cam`` camera→world, OpenCV axes)."""
        return self.memory.render(T_world_cam, intrinsics)

    def recognise(self) -> list[RecognisedObject]:
        """Cut objects (voxel clusters) out of the memory and recognise the largest ones.

        Returns:
            Objects, largest first; empty without a bundle or when no cluster is large enough.
        """
        if self.recogniser is None:
            return []
        config = self.config.recognition
        cloud = self.memory.snapshot()
        if cloud.num == 0:
            self.objects = []
            return []
        clusters = self.memory.clusters(config.cluster_voxel_m, config.min_gaussians, cloud=cloud)
        clusters = sorted(clusters, key=len, reverse=True)[: config.max_objects]
        self.objects = [
            self.recogniser.recognise(cloud, index, f"object_{k}") for k, index in enumerate(clusters)
        ]
        return self.objects

    def cloud(self) -> GaussianCloud:
        """The memory's most opaque ``cloud_max_points`` Gaussians (a detached copy)."""
        cloud = self.memory.snapshot()
        if cloud.num > self.config.cloud_max_points:
            keep = torch.topk(cloud.opacity_logits, self.config.cloud_max_points).indices.sort().values
            cloud = cloud.subset(keep)
        return cloud

    def reset(self) -> None:
        """Forget everything (memory and objects)."""
        self.memory.reset()
        self.objects, self.frames = [], 0


def _proposer(config: PipelineConfig, device: torch.device) -> SplatterProposer | None:
    """The predictor the memory's insertion asks for, if any; a predictor the memory would not use is not
    loaded (with a warning)."""
    if config.memory.insertion == "alpha":
        if config.predictor.path:
            warnings.warn(
                f"predictor.path={config.predictor.path!r} is unused: memory.insertion is 'alpha' "
                "(set it to 'predicted' or 'predicted+alpha')",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    if not config.predictor.path:
        raise ValueError(
            f"memory.insertion={config.memory.insertion!r} needs predictor.path (train-ff's predictor.pt)"
        )
    return SplatterProposer(config.predictor, device)
