"""The online Gaussian memory: posed frames in, a 3DGS scene out (SplaTAM / MonoGS / RTG-SLAM style, with the
robot's poses given — no tracking; docs/architecture.md §6). Per frame: a keyframe gate (time and motion);
per keyframe, insertion of Gaussians where the memory rendered at its pose does not explain it
(back-projected from depth when present), then optimisation of (1−λ)·L1 + λ·(1−SSIM) (+ depth L1) over the
latest keyframes plus random older ones, pruning and a Gaussian budget. A worker thread optimises in the
background (``threaded=True``); else ``add_frame`` optimises synchronously with seeded randomness
(deterministic mode). Keyframes are kept at a working resolution (``working_scale_cpu`` on CPU,
``working_scale_gpu`` on CUDA); renders use any camera.

Thread safety: every public method may be called from any thread. One lock guards parameters, optimiser state
and keyframes; the worker holds it for one step at a time and lets waiting callers in between steps; renders
work on a detached snapshot. Conventions (docs/architecture.md §4): ``T_world_cam`` camera→world, OpenCV
axes; stamps in integer nanoseconds; quaternions wxyz; raw Gaussian parameters; PLY files in the INRIA layout.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from . import memory_depth
from . import memory_ops as ops
from .cameras import Intrinsics, viewmat_from_pose
from .fit import _cloud, _parameters
from .frames import Frame, FrameError
from .gaussians import GaussianCloud
from .memory_ops import InsertResult, Keyframe, MemoryRender, MemoryStats
from .ply import read_ply, write_ply
from .render import render, resolve_backend
from .runtime import resolve_device, seeded_generator


@dataclass(frozen=True)
class MemoryConfig:
    """Settings of the Gaussian memory; the single source of its defaults (nodes derive parameters)."""

    device: str = "auto"
    """Where the memory lives: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1' …"""
    backend: str = "auto"
    """Renderer: 'auto' (gsplat on CUDA, else the torch rasteriser), 'gsplat', 'torch'."""
    keyframe_min_interval_s: float = 0.2
    """A frame is a keyframe only if at least this long after the last keyframe …"""
    keyframe_translation_m: float = 0.05
    """… and the camera moved more than this since the last keyframe …"""
    keyframe_rotation_deg: float = 5.0
    """… or turned more than this. The first frame is always a keyframe."""
    max_keyframes: int = 500
    """Keyframes kept (the oldest are forgotten); they cost working-resolution RGB + depth each."""
    working_scale_cpu: float = 0.25
    """On CPU, frames are resized by this factor for insertion and optimisation (640×480 → 160×120): the
    torch rasteriser's cost grows with pixels. Use 1.0 for tiny inputs (tests, 64 px simulations)."""
    working_scale_gpu: float = 1.0
    """The same on CUDA (gsplat)."""
    working_min_width: int = 96
    """… but working images are never narrower than this (nor wider than the input)."""
    insert_alpha_threshold: float = 0.5
    """Pixels where the memory renders less opacity than this are unexplained."""
    insert_depth_error_m: float = 0.05
    """With depth: pixels whose measured surface is this far in front of the rendered one are unexplained."""
    insert_color_error: float = 0.1
    """Without depth, a low-alpha pixel is unexplained only if its colour differs from the rendered one by
    more than this (mean |ΔRGB|): where the image shows the background colour, the empty memory is right."""
    insert_stride: int = 2
    """One new Gaussian per this many unexplained pixels along each image axis (working resolution)."""
    insert_scale: float = 0.6
    """New Gaussians' standard deviation as a fraction of their sample spacing (depth · stride / fx)."""
    max_new_per_frame: int = 4000
    """At most this many Gaussians inserted per keyframe (evenly spread over the candidates)."""
    default_depth_m: float = 0.0
    """Without depth images: unexplained pixels that the memory does not partly render are placed at this
    z-depth (metres). 0: found by the memory, where the keyframes' optical axes converge (memory_depth.py)."""
    depthless_wait_keyframes: int = 10
    """Without depth images and before the axes converge, at most this many keyframes wait for insertion …"""
    fallback_depth_m: float = 1.5
    """… after which they are inserted at this z-depth, with a warning (metres)."""
    new_opacity: float = 0.5
    """Opacity of inserted Gaussians."""
    sh_degree: int = 0
    """SH degree of the memory (0: view-independent colour; higher needs many views of each Gaussian)."""
    max_gaussians: int = 200000
    """Budget: never more Gaussians than this (the least opaque are dropped)."""
    prune_opacity: float = 0.005
    """Gaussians whose opacity falls below this are removed."""
    prune_every: int = 20
    """The worker prunes every this many steps (and when it runs out of steps)."""
    window_keyframes: int = 3
    """Each step renders the latest this many keyframes …"""
    random_old_keyframes: int = 1
    """… plus this many drawn at random from the older ones (so old views are not forgotten)."""
    steps_per_keyframe: int = 20
    """Optimisation steps owed per new keyframe (run by the worker, or inside add_frame when not threaded)."""
    max_pending_steps: int = 100
    """The worker owes at most this many steps: one that cannot keep up (CPU) optimises the latest window
    rather than falling ever further behind."""
    lr_means: float = 1e-3
    """Learning rate of the centres, in metres (Adam steps are about this long)."""
    lr_scales: float = 5e-3
    """Learning rate of the log standard deviations."""
    lr_quats: float = 1e-3
    """Learning rate of the quaternions."""
    lr_opacities: float = 5e-2
    """Learning rate of the opacity logits."""
    lr_sh0: float = 5e-3
    """Learning rate of the DC colour; higher SH bands use 1/20 of it."""
    ssim_lambda: float = 0.2
    """Weight λ of the D-SSIM term."""
    depth_lambda: float = 0.2
    """Weight of the depth L1 term (metres) on keyframes with depth (0 = colour only)."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """RGB that renders show where the memory is empty, and that masked-out pixels are compared with."""
    threaded: bool = True
    """True: a worker thread optimises in the background (call start()/stop()). False: deterministic mode,
    add_frame optimises synchronously with seeded randomness (bitwise reproducible on CPU; on CUDA gsplat's
    backward sums with atomics, so runs agree only to rounding)."""
    seed: int = 0
    """Seed of the keyframe sampling."""


class MemoryWorkerError(RuntimeError):
    """The background optimisation failed; ``__cause__`` is the original exception."""


class GaussianMemory:
    """An incrementally built Gaussian scene (see the module docstring).

    Args:
        config: Settings (defaults: :class:`MemoryConfig`).
    """

    def __init__(self, config: MemoryConfig | None = None):
        self.config = config = MemoryConfig() if config is None else config
        ops.validate_config(config)
        self.device = resolve_device(config.device)
        self.backend = resolve_backend(config.backend, self.device)
        self.working_scale = (
            config.working_scale_gpu if self.device.type == "cuda" else config.working_scale_cpu
        )
        self._background = torch.tensor(config.background, dtype=torch.float32, device=self.device)
        self._lock = threading.Condition(threading.RLock())
        self._waiting = 0  # callers waiting for the lock; the worker lets them in before its next step
        self._waiting_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._clear()

    # -- frames --------------------------------------------------------------------------------------------
    def add_frame(self, frame: Frame) -> InsertResult:
        """Gate a frame; for a keyframe insert Gaussians, store it and optimise (now or in the worker).

        Raises:
            FrameError: The frame is invalid (the memory is left untouched).
            MemoryWorkerError: The worker thread has failed (see :meth:`stop`).
        """
        start = time.perf_counter()
        self._raise_worker_error()
        frame.validate()  # a Frame is mutable: check again before anything changes
        if not bool(torch.isfinite(frame.rgb).all()):
            raise FrameError(f"frame {frame.frame_id} at {frame.stamp_ns} ns: rgb has non-finite values")
        with self._locked():
            keyframe, reason = ops.gate(self._keyframes[-1] if self._keyframes else None, frame, self.config)
            self._frames += 1
            self._last_stamp = int(frame.stamp_ns)
            inserted = 0
            if keyframe:
                scale = min(1.0, max(self.working_scale, self.config.working_min_width / frame.size[0]))
                kf = ops.working_keyframe(frame, scale, self._background, self.device)
                inserted = self._insert(kf)
                self._keyframes.append(kf)
                if self.config.threaded:
                    self._pending = min(
                        self._pending + self.config.steps_per_keyframe, self.config.max_pending_steps
                    )
                    self._lock.notify_all()
        if keyframe and not self.config.threaded:
            self.optimise(self.config.steps_per_keyframe)
        return InsertResult(keyframe, reason, inserted, self.num_gaussians, time.perf_counter() - start)

    def _insert(self, kf: Keyframe) -> int:
        """Insert Gaussians for ``kf``; without depth where :mod:`.memory_depth` says (maybe later)."""
        if kf.depth is not None:
            self._depthless.note(memory_depth.DepthGuess(None, "sensor", "from depth images"))
            return self._insert_at(kf, self.config.fallback_depth_m)  # the depth image wins everywhere
        poses = [k.T_world_cam for k in self._keyframes if k.depth is None] + [kf.T_world_cam]
        return sum(self._insert_at(k, z) for k, z in self._depthless.ready(kf, torch.stack(poses)))

    def _insert_at(self, kf: Keyframe, default_depth: float) -> int:
        with torch.no_grad():
            out = self._render_cloud(_cloud(self._params), kf.viewmat[None], kf.K[None], *kf.size)
        rgb, alpha, depth = out.colors[0], out.alphas[0, ..., 0], out.depths[0, ..., 0]
        unexplained = ops.unexplained_pixels(kf, rgb, alpha, depth, self.config)
        new = ops.seed_gaussians(kf, unexplained, alpha, depth, self.config, default_depth)
        if new.num:
            ops.edit_parameters(self._params, self._optimizers, extra=new)
            self._inserted_total += new.num
            self._prune()  # enforces the budget
        return new.num

    # -- optimisation --------------------------------------------------------------------------------------
    def optimise(self, steps: int) -> float:
        """Run ``steps`` optimisation steps now (in the caller's thread; with torch's deterministic algorithms
        in deterministic mode), then prune. Returns the mean loss (0.0 when there is nothing to optimise)."""
        exact = ops.deterministic_algorithms() if not self.config.threaded else contextlib.nullcontext()
        with self._locked(), exact:
            losses = [self._step() for _ in range(steps)]
            self._prune()
        return sum(losses) / len(losses) if losses else 0.0

    def _step(self) -> float:
        """One Adam step on the window's keyframes (the caller holds the lock)."""
        if self.num_gaussians == 0 or not self._keyframes:
            return 0.0
        picked = ops.pick_keyframes(len(self._keyframes), self.config, self._gen)
        cloud = _cloud(self._params)
        loss = ops.window_loss(cloud, [self._keyframes[i] for i in picked], self._render_cloud, self.config)
        for opt in self._optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        self._steps += 1
        return loss

    def _prune(self) -> None:
        """Drop non-finite and nearly transparent Gaussians, then the least opaque beyond the budget."""
        n = self.num_gaussians
        keep = ops.prune_index(self._params, self.config.prune_opacity, self.config.max_gaussians)
        if keep.numel() < n:
            ops.edit_parameters(self._params, self._optimizers, keep=keep)
            self._pruned_total += n - keep.numel()

    # -- worker thread -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background optimisation thread (no-op when running).

        Raises:
            RuntimeError: In deterministic mode (``threaded=False``), which has no worker.
        """
        if not self.config.threaded:
            raise RuntimeError("MemoryConfig.threaded is False (deterministic mode): there is no worker")
        if self._thread is not None and self._thread.is_alive():
            return
        self._raise_worker_error(clear=True)  # a failed worker's error is reported, not dropped by a restart
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gaussian-memory", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker and join it (owed steps stay owed for a later start()); idempotent. Raises
        :class:`MemoryWorkerError` once if the worker had failed."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None if not self._thread.is_alive() else self._thread
        self._raise_worker_error(clear=True)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the worker has run every owed step. Returns False on timeout, or when steps are owed
        and no worker runs. Raises :class:`MemoryWorkerError` if the worker has failed."""
        with self._lock:
            done = lambda: self._pending == 0 or self._error is not None or not self._alive()  # noqa: E731
            self._lock.wait_for(done, timeout)
            idle = self._pending == 0
        self._raise_worker_error()
        return idle

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        try:
            since_prune = 0
            while not self._stop.is_set():
                while self._waiting and not self._stop.is_set():
                    time.sleep(0.0005)  # let add_frame/render in: Python locks are not fair
                with self._lock:
                    if self._pending == 0:
                        self._lock.wait(0.1)
                        continue
                    self._step()
                    self._pending -= 1
                    since_prune += 1
                    if since_prune >= self.config.prune_every or self._pending == 0:
                        self._prune()
                        since_prune = 0
                    self._lock.notify_all()
        except BaseException as err:  # stored and re-raised by stop()/wait_idle()/add_frame(), never lost
            with self._lock:
                self._error, self._pending = err, 0
                self._lock.notify_all()

    def _raise_worker_error(self, clear: bool = False) -> None:
        error = self._error
        if clear:
            self._error = None
        if error is not None:
            raise MemoryWorkerError(f"the memory's worker thread failed: {error!r}") from error

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The lock, announced to the worker while waiting for it (so it yields between steps)."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    # -- reading -------------------------------------------------------------------------------------------
    def render(self, T_world_cam: Tensor, intrinsics: Intrinsics) -> MemoryRender:
        """The memory seen from a camera (``T_world_cam`` [4, 4] camera→world, OpenCV axes), at the full
        resolution of ``intrinsics``; no autograd, rendered from a snapshot outside the lock."""
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

    def snapshot(self) -> GaussianCloud:
        """A detached copy of the Gaussians (world frame, on the memory's device)."""
        with self._locked():
            return _cloud(self._params).detach()

    @property
    def num_gaussians(self) -> int:
        return int(self._params["means"].shape[0])

    @property
    def stats(self) -> MemoryStats:
        """Counters, consistent with each other."""
        with self._locked():
            return MemoryStats(
                self._frames, len(self._keyframes), self.num_gaussians, self._steps, self._pending,
                self._inserted_total, self._pruned_total, self._last_stamp, self._alive(),
                self._depthless.text,
            )  # fmt: skip

    def extract_region(
        self, center: Tensor | None = None, radius: float = 0.0, box: tuple[Tensor, Tensor] | None = None,
        cloud: GaussianCloud | None = None,
    ) -> GaussianCloud:  # fmt: skip
        """The Gaussians (of ``cloud``, default a fresh snapshot) within ``radius`` metres of ``center`` [3]
        or inside the axis-aligned ``box`` (lo [3], hi [3]), world frame; give one of the two."""
        return ops.extract_region(self.snapshot() if cloud is None else cloud, center, radius, box)

    def clusters(
        self, voxel_size: float, min_points: int = 10, cloud: GaussianCloud | None = None,
        min_opacity: float = 0.1,
    ) -> list[Tensor]:  # fmt: skip
        """Objects: index tensors into ``cloud`` (default: a fresh snapshot; pass the snapshot you will index,
        since indices into the live memory go stale when the worker prunes), largest first. Connected cells
        of a ``voxel_size`` grid over the Gaussians with opacity ≥ ``min_opacity``; deterministic."""
        return ops.clusters(self.snapshot() if cloud is None else cloud, voxel_size, min_points, min_opacity)

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the Gaussians as an INRIA PLY (atomically)."""
        write_ply(path, self.snapshot().to("cpu"))

    def load(self, path: str | os.PathLike) -> None:
        """Replace the memory by a PLY's Gaussians (SH cut or padded to ``sh_degree``, non-finite rows
        dropped, budget applied). Keyframes and counters are cleared as by :meth:`reset` (a new session)."""
        cloud = read_ply(path).with_sh_degree(self.config.sh_degree).to(self.device)
        with self._locked():
            self._clear()
            ops.edit_parameters(self._params, self._optimizers, extra=cloud)
            self._prune()
            self._pruned_total = 0

    def reset(self) -> None:
        """Forget everything (Gaussians, keyframes, owed steps, counters); a running worker keeps running."""
        with self._locked():
            self._clear()

    def _clear(self) -> None:
        c = self.config
        empty = GaussianCloud.from_points(torch.zeros(0, 3), scale=1.0, sh_degree=c.sh_degree)
        self._params = _parameters(empty, self.device)
        lrs = dict(means=c.lr_means, scales=c.lr_scales, quats=c.lr_quats, opacities=c.lr_opacities)
        lrs.update(sh0=c.lr_sh0, shN=c.lr_sh0 / 20.0)
        self._optimizers = {
            k: torch.optim.Adam([{"params": [v], "lr": lrs[k], "name": k}], eps=1e-15)
            for k, v in self._params.items()
        }
        self._keyframes: collections.deque[Keyframe] = collections.deque(maxlen=c.max_keyframes)
        self._gen = seeded_generator(c.seed)
        self._frames = self._steps = self._pending = self._inserted_total = self._pruned_total = 0
        self._last_stamp: int | None = None
        self._depthless = memory_depth.DepthlessInsertion(c)
