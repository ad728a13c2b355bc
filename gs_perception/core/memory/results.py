"""What the memory returns: per-frame insertion results, renders and consistent counters."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class InsertResult:
    """What :meth:`GaussianMemory.add_frame` did with a frame.

    Attributes:
        keyframe: Whether the frame became a keyframe.
        reason: 'first', 'moved' or 'turned' (keyframes); 'too_soon', 'not_moved' or 'stamp_backwards'.
        inserted: Gaussians added.
        num_gaussians: Gaussians in the memory afterwards.
        seconds: Wall time of the call (includes the optimisation in deterministic mode).
    """

    keyframe: bool
    reason: str
    inserted: int
    num_gaussians: int
    seconds: float


@dataclass
class MemoryRender:
    """The memory seen from one camera, on the memory's device.

    Attributes:
        rgb: [H, W, 3] colour in [0, 1] over the configured background.
        depth: [H, W] expected z-depth in metres (0 where nothing was drawn).
        alpha: [H, W] accumulated opacity.
    """

    rgb: Tensor
    depth: Tensor
    alpha: Tensor


@dataclass
class MemoryStats:
    """Counters of a memory: frames seen, keyframes stored, Gaussians now, optimisation steps run and still
    owed, Gaussians inserted and pruned so far, the last frame's stamp, and where insertion places what the
    memory has not seen ('' before the first keyframe; see :mod:`.depth`)."""

    frames: int
    keyframes: int
    gaussians: int
    optimise_steps: int
    pending_steps: int
    inserted_total: int
    pruned_total: int
    last_stamp_ns: int | None
    insertion_depth: str = ""
