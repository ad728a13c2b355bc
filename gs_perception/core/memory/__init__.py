"""The online Gaussian memory: posed frames in, a 3DGS scene out (SplaTAM / MonoGS / RTG-SLAM style, with the
robot's poses given — no tracking; docs/architecture.md §6).

Per frame, a keyframe gate (time and motion); per keyframe, insertion of Gaussians where the memory rendered
at its pose does not explain it (back-projected from depth, or placed where :mod:`.depth` finds without
it), then optimisation of (1−λ)·L1 + λ·(1−SSIM) (+ depth L1) over the latest keyframes plus random older
ones, pruning and a Gaussian budget. In background mode (``threaded=True``) a keyframe owes optimisation
steps that its owner runs when idle (the node's pipeline worker, between frames); else ``add_frame``
optimises synchronously with seeded randomness (deterministic mode). The memory is single-threaded.
Keyframes are kept at a working resolution (``working_scale_cpu`` on CPU, ``working_scale_gpu`` on CUDA);
renders use any camera.

The parts, one module each: :mod:`.config` (settings), :mod:`.keyframes` (gate, working copies, the
window), :mod:`.insertion` and :mod:`.depth` (what is new, and where), :mod:`.optimisation` (loss, budget),
:mod:`.extraction` (regions and objects), :mod:`.memory` (:class:`GaussianMemory`, which ties them),
:mod:`.results` (what it returns).

Conventions (docs/architecture.md §4): ``T_world_cam`` camera→world, OpenCV axes; stamps in integer
nanoseconds; quaternions wxyz; raw Gaussian parameters; PLY files in the INRIA layout.
"""

from .config import MemoryConfig
from .memory import GaussianMemory
from .results import InsertResult, MemoryRender, MemoryStats

__all__ = [
    "GaussianMemory",
    "InsertResult",
    "MemoryConfig",
    "MemoryRender",
    "MemoryStats",
]
