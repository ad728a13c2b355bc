"""The Gaussian memory itself: posed frames in, a 3DGS scene out (see the package docstring).

Single-threaded: call it from one thread. It owns no thread and no lock; in background mode
(``threaded=True``) a keyframe only *owes* optimisation steps, and whoever owns the memory runs them when it
has nothing better to do (:meth:`GaussianMemory.run_owed`; in the node, the pipeline worker between frames,
pipeline/worker.py). One thread then owns the memory and the GPU, and nothing waits for a lock.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time

import torch
from torch import Tensor

from ..cameras import Intrinsics, viewmat_from_pose
from ..frames import Frame, FrameError
from ..gaussians import GaussianCloud
from ..parameters import cloud_from_parameters, edit_parameters, gaussian_parameters, per_parameter_adam
from ..ply import read_ply, write_ply
from ..render import render
from ..runtime import resolve_device, seeded_generator
from . import extraction
from .config import MemoryConfig
from .depth import DepthGuess, DepthlessInsertion
from .insertion import seed_gaussians, unexplained_pixels
from .keyframes import Keyframe, gate, pick_keyframes, working_keyframe
from .optimisation import deterministic_algorithms, prune_index, window_loss
from .proposals import Proposer, keep_proposed, object_centre
from .results import InsertResult, MemoryRender, MemoryStats


class GaussianMemory:
    """An incrementally built Gaussian scene (see the package docstring).

    Args:
        config: Settings (defaults: :class:`MemoryConfig`).
        proposer: Proposes Gaussians for each keyframe (a feed-forward predictor); required when
            ``config.insertion`` is 'predicted' or 'predicted+alpha', unused otherwise.

    Raises:
        ValueError: A predicted insertion without a proposer.
    """

    def __init__(self, config: MemoryConfig | None = None, proposer: Proposer | None = None):
        self.config = config = MemoryConfig() if config is None else config
        if config.insertion != "alpha" and proposer is None:
            raise ValueError(
                f"memory.insertion={config.insertion!r} needs a predictor (pipeline predictor.path)"
            )
        self._proposer = proposer if config.insertion != "alpha" else None
        self.device = resolve_device(config.device)
        self.backend = config.render.resolve(self.device)
        self.working_scale = (
            config.working_scale_gpu if self.device.type == "cuda" else config.working_scale_cpu
        )
        self._background = torch.tensor(config.background, dtype=torch.float32, device=self.device)
        self._clear()

    # -- frames --------------------------------------------------------------------------------------------
    def add_frame(self, frame: Frame) -> InsertResult:
        """Gate a frame; for a keyframe insert Gaussians, store it and optimise (now, or owe the steps in
        background mode).

        Raises:
            FrameError: The frame is invalid (the memory is left untouched).
        """
        start = time.perf_counter()
        frame.validate()  # a Frame is mutable: check again before anything changes
        if not bool(torch.isfinite(frame.rgb).all()):
            raise FrameError(f"frame {frame.frame_id} at {frame.stamp_ns} ns: rgb has non-finite values")
        keyframe, reason = gate(self._keyframes[-1] if self._keyframes else None, frame, self.config)
        self._frames += 1
        self._last_stamp = int(frame.stamp_ns)
        inserted = 0
        if keyframe:
            scale = min(1.0, max(self.working_scale, self.config.working_min_width / frame.size[0]))
            kf = working_keyframe(frame, scale, self._background, self.device)
            inserted = self._insert(kf)
            self._keyframes.append(kf)
            if self.config.threaded:
                c = self.config
                self._owed = min(self._owed + c.steps_per_keyframe, c.max_pending_steps)
            else:
                self.optimise(self.config.steps_per_keyframe)
        return InsertResult(keyframe, reason, inserted, self.num_gaussians, time.perf_counter() - start)

    def _insert(self, kf: Keyframe) -> int:
        """Insert Gaussians for ``kf``; without depth at the depth :mod:`.depth` gives (maybe later, with the
        keyframes that waited for it)."""
        if kf.depth is not None:
            self._depthless.note(DepthGuess(None, "sensor", "from depth images"))
            return self._insert_keyframe(kf, self.config.fallback_depth_m)  # measured depth wins everywhere
        poses = [k.T_world_cam for k in self._keyframes if k.depth is None] + [kf.T_world_cam]
        return sum(self._insert_keyframe(k, z) for k, z in self._depthless.ready(kf, torch.stack(poses)))

    def _insert_keyframe(self, kf: Keyframe, default_depth: float) -> int:
        """Predicted Gaussians first (if a proposer is set), then back-projected ones (unless ``insertion`` is
        'predicted'); ``default_depth`` (metres) is where unmeasured pixels and the object are expected."""
        inserted = 0 if self._proposer is None else self._insert_predicted(kf, default_depth)
        if self.config.insertion != "predicted":
            inserted += self._insert_at(kf, default_depth)
        return inserted

    def _insert_predicted(self, kf: Keyframe, default_depth: float) -> int:
        """Insert the proposer's Gaussians of pixels the memory does not explain (:func:`keep_proposed`)."""
        cloud = self._cloud().detach()
        with torch.no_grad():
            out = self._render_cloud(cloud, kf.viewmat[None], kf.K[None], *kf.size)
            rgb, alpha, depth = out.colors[0], out.alphas[0, ..., 0], out.depths[0, ..., 0]
            unexplained = unexplained_pixels(kf, rgb, alpha, depth, self.config)
            proposal = self._proposer(kf, object_centre(kf, cloud, default_depth))
        new = keep_proposed(proposal, unexplained, self.config)
        if new.num:
            edit_parameters(self._params, self._optimizers, extra=new.to(self.device))
            self._inserted_total += new.num
            self._prune()
        return new.num

    def _insert_at(self, kf: Keyframe, default_depth: float) -> int:
        with torch.no_grad():
            out = self._render_cloud(self._cloud(), kf.viewmat[None], kf.K[None], *kf.size)
        rgb, alpha, depth = out.colors[0], out.alphas[0, ..., 0], out.depths[0, ..., 0]
        unexplained = unexplained_pixels(kf, rgb, alpha, depth, self.config)
        new = seed_gaussians(kf, unexplained, alpha, depth, self.config, default_depth)
        if new.num:
            edit_parameters(self._params, self._optimizers, extra=new)
            self._inserted_total += new.num
            self._prune()  # enforces the budget
        return new.num

    # -- optimisation --------------------------------------------------------------------------------------
    def optimise(self, steps: int) -> float:
        """Run ``steps`` optimisation steps now (in the caller's thread; with torch's deterministic algorithms
        in deterministic mode), then prune. Returns the mean loss (0.0 when there is nothing to optimise)."""
        exact = deterministic_algorithms() if not self.config.threaded else contextlib.nullcontext()
        with exact:
            losses = [self._step() for _ in range(steps)]
            self._prune()
        return sum(losses) / len(losses) if losses else 0.0

    @property
    def owed_steps(self) -> int:
        """Optimisation steps owed in background mode (at most ``max_pending_steps``)."""
        return self._owed

    def run_owed(self, max_steps: int | None = None) -> int:
        """Run up to ``max_steps`` (None: all) owed steps now, pruning every ``prune_every`` steps and when
        none is left. Returns how many ran. An exception forgets the owed steps (a failing step is not
        retried forever) and propagates."""
        n = self._owed if max_steps is None else min(max_steps, self._owed)
        try:
            for _ in range(n):
                self._owed -= 1
                self._step()
                self._since_prune += 1
                if self._since_prune >= self.config.prune_every or self._owed == 0:
                    self._prune()
                    self._since_prune = 0
        except BaseException:
            self._owed = 0
            raise
        return n

    def _step(self) -> float:
        """One Adam step on the window's keyframes (the caller holds the lock)."""
        if self.num_gaussians == 0 or not self._keyframes:
            return 0.0
        picked = pick_keyframes(len(self._keyframes), self.config, self._gen)
        loss = window_loss(
            self._cloud(), [self._keyframes[i] for i in picked], self._render_cloud, self.config
        )
        for opt in self._optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        self._steps += 1
        return loss

    def _prune(self) -> None:
        """Drop non-finite and nearly transparent Gaussians, then the least opaque beyond the budget."""
        n = self.num_gaussians
        keep = prune_index(self._params, self.config.prune_opacity, self.config.max_gaussians)
        if keep.numel() < n:
            edit_parameters(self._params, self._optimizers, keep=keep)
            self._pruned_total += n - keep.numel()

    # -- reading -------------------------------------------------------------------------------------------
    def render(self, T_world_cam: Tensor, intrinsics: Intrinsics) -> MemoryRender:
        """The memory seen from a camera (``T_world_cam`` [4, 4] camera→world, OpenCV axes), at the full
        resolution of ``intrinsics``; no autograd."""
        T = torch.as_tensor(T_world_cam, dtype=torch.float32).to(self.device)
        if T.shape != (4, 4) or not bool(torch.isfinite(T).all()):
            raise ValueError(f"render needs a finite [4, 4] T_world_cam, got shape {tuple(T.shape)}")
        cloud, K = self.snapshot(), intrinsics.K(self.device)[None]
        with torch.no_grad():
            out = self._render_cloud(
                cloud, viewmat_from_pose(T)[None], K, intrinsics.width, intrinsics.height
            )
        return MemoryRender(out.colors[0].clamp(0, 1), out.depths[0, ..., 0], out.alphas[0, ..., 0])

    def _render_cloud(self, cloud: GaussianCloud, viewmats: Tensor, Ks: Tensor, w: int, h: int):
        backend = self.backend if cloud.num else "torch"  # gsplat does not take an empty cloud; torch does
        return render(cloud, viewmats, Ks, w, h, backgrounds=self._background, backend=backend)

    def _cloud(self) -> GaussianCloud:
        return cloud_from_parameters(self._params)

    def snapshot(self) -> GaussianCloud:
        """A detached copy of the Gaussians (world frame, on the memory's device)."""
        return self._cloud().detach()

    @property
    def num_gaussians(self) -> int:
        return int(self._params["means"].shape[0])

    @property
    def stats(self) -> MemoryStats:
        """Counters, consistent with each other."""
        return MemoryStats(
            self._frames, len(self._keyframes), self.num_gaussians, self._steps, self._owed,
            self._inserted_total, self._pruned_total, self._last_stamp, self._depthless.text,
        )  # fmt: skip

    def extract_region(
        self, center: Tensor | None = None, radius: float = 0.0, box: tuple[Tensor, Tensor] | None = None,
        cloud: GaussianCloud | None = None,
    ) -> GaussianCloud:  # fmt: skip
        """The Gaussians (of ``cloud``, default a fresh snapshot) within ``radius`` metres of ``center`` [3]
        or inside the axis-aligned ``box`` (lo [3], hi [3]), world frame; give one of the two."""
        return extraction.extract_region(self.snapshot() if cloud is None else cloud, center, radius, box)

    def clusters(
        self, voxel_size: float, min_points: int = 10, cloud: GaussianCloud | None = None,
        min_opacity: float = 0.1,
    ) -> list[Tensor]:  # fmt: skip
        """Objects: index tensors into ``cloud`` (default: a fresh snapshot; pass the snapshot you will index,
        since indices into the live memory go stale when it prunes), largest first. Connected cells
        of a ``voxel_size`` grid over the Gaussians with opacity ≥ ``min_opacity``; deterministic."""
        cloud = self.snapshot() if cloud is None else cloud
        return extraction.clusters(cloud, voxel_size, min_points, min_opacity)

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the Gaussians as an INRIA PLY (atomically)."""
        write_ply(path, self.snapshot().to("cpu"))

    def load(self, path: str | os.PathLike) -> None:
        """Replace the memory by a PLY's Gaussians (SH cut or padded to ``sh_degree``, non-finite rows
        dropped, budget applied). Keyframes and counters are cleared as by :meth:`reset` (a new session)."""
        cloud = read_ply(path).with_sh_degree(self.config.sh_degree).to(self.device)
        self._clear()
        edit_parameters(self._params, self._optimizers, extra=cloud)
        self._prune()
        self._pruned_total = 0

    def reset(self) -> None:
        """Forget everything (Gaussians, keyframes, owed steps, counters)."""
        self._clear()

    def _clear(self) -> None:
        c = self.config
        empty = GaussianCloud.from_points(torch.zeros(0, 3), scale=1.0, sh_degree=c.sh_degree)
        self._params = gaussian_parameters(empty, self.device)
        self._optimizers = per_parameter_adam(
            self._params, c.lr_means, c.lr_scales, c.lr_quats, c.lr_opacities, c.lr_sh0
        )
        self._keyframes: collections.deque[Keyframe] = collections.deque(maxlen=c.max_keyframes)
        self._gen = seeded_generator(c.seed)
        self._frames = self._steps = self._inserted_total = self._pruned_total = 0
        self._owed = self._since_prune = 0
        self._last_stamp: int | None = None
        self._depthless = DepthlessInsertion(c)
