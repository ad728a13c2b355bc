"""The Gaussian memory's result types and pure helpers (:mod:`.memory` holds the state, lock and thread): the
keyframe gate, working-resolution keyframes, insertion (unexplained pixels → back-projected Gaussians), Adam
state surgery, the loss, pruning and the budget, object extraction (regions, voxel clusters). Conventions
(docs/architecture.md §4): ``T_world_cam`` camera→world (OpenCV axes), viewmats world→camera, quaternions
wxyz, raw Gaussian parameters; pixel ``(u, v)``'s centre is at ``(u + 0.5, v + 0.5)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .cameras import viewmat_from_pose
from .fit import _parameters
from .frames import Frame
from .gaussians import GaussianCloud
from .metrics import ssim

if TYPE_CHECKING:
    from .memory import MemoryConfig

# Below this rendered alpha the rendered depth (Σ wᵢ zᵢ / alpha) is too noisy to place a Gaussian at.
_PARTIAL_ALPHA = 0.1


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
    """Counters of a memory, consistent with each other (copied under the lock): frames seen, keyframes
    stored, Gaussians now, optimisation steps run and still owed, Gaussians inserted and pruned so far, the
    last frame's stamp, whether the worker thread runs, and where insertion places what the memory has not
    seen ('' before the first keyframe; see :mod:`.memory_depth`)."""

    frames: int
    keyframes: int
    gaussians: int
    optimise_steps: int
    pending_steps: int
    inserted_total: int
    pruned_total: int
    last_stamp_ns: int | None
    worker_alive: bool
    insertion_depth: str = ""


@dataclass
class Keyframe:
    """A keyframe at the memory's working resolution, on the memory's device.

    Attributes:
        rgb: [h, w, 3] optimisation target; outside the mask (if any) the background colour: with masks the
            memory models only the masked objects.
        depth: [h, w] z-depth in metres, 0 = no measurement (and 0 outside the mask), or None.
        mask: [h, w] bool, or None.
        T_world_cam, viewmat: [4, 4] camera→world and its inverse.
        K: [3, 3] intrinsics at working resolution.
        stamp_ns: The frame's stamp.
    """

    rgb: Tensor
    depth: Tensor | None
    mask: Tensor | None
    T_world_cam: Tensor
    viewmat: Tensor
    K: Tensor
    stamp_ns: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def gate(last: Keyframe | None, frame: Frame, config: MemoryConfig) -> tuple[bool, str]:
    """Keyframe decision against the last keyframe: (is_keyframe, reason). Reasons: 'first', 'moved',
    'turned' for keyframes; 'stamp_backwards' (e.g. a looping bag: reset the memory), 'too_soon',
    'not_moved' otherwise. Time gates first: a keyframe needs ``keyframe_min_interval_s`` *and* motion."""
    if last is None:
        return True, "first"
    dt = (int(frame.stamp_ns) - last.stamp_ns) * 1e-9
    if dt < 0:
        return False, "stamp_backwards"
    if dt < config.keyframe_min_interval_s:
        return False, "too_soon"
    translation, rotation = pose_change(last.T_world_cam, frame.T_world_cam)
    if translation > config.keyframe_translation_m:
        return True, "moved"
    return (True, "turned") if rotation > config.keyframe_rotation_deg else (False, "not_moved")


def pose_change(T_a: Tensor, T_b: Tensor) -> tuple[float, float]:
    """Distance between two camera→world poses: (translation in metres, rotation angle in degrees)."""
    T_a, T_b = T_a.detach().double().cpu(), T_b.detach().double().cpu()
    cos = (float(torch.trace(T_a[:3, :3].T @ T_b[:3, :3])) - 1.0) / 2.0
    return float((T_a[:3, 3] - T_b[:3, 3]).norm()), math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def working_keyframe(frame: Frame, scale: float, background: Tensor, device: torch.device) -> Keyframe:
    """A frame resized by ``scale`` (area-averaged colour; nearest depth and mask, so that invalid zeros and
    edges are not blended into false depths), non-finite depth set to 0, the mask applied."""
    intr = frame.intrinsics.scaled(scale) if scale != 1.0 else frame.intrinsics
    w, h = intr.width, intr.height
    rgb = frame.rgb.to(device=device, dtype=torch.float32)
    depth = None if frame.depth is None else frame.depth.to(device=device, dtype=torch.float32)
    mask = None if frame.mask is None else frame.mask.to(device=device, dtype=torch.bool)
    if (w, h) != frame.size:
        rgb = F.interpolate(rgb.permute(2, 0, 1)[None], size=(h, w), mode="area")[0].permute(1, 2, 0)
        if depth is not None:
            depth = F.interpolate(depth[None, None], size=(h, w), mode="nearest")[0, 0]
        if mask is not None:
            mask = F.interpolate(mask[None, None].float(), size=(h, w), mode="nearest")[0, 0] > 0.5
    if depth is not None:
        depth = torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.zeros_like(depth))
    if mask is not None:
        rgb = torch.where(mask[..., None], rgb, background.to(rgb).expand_as(rgb))
        depth = None if depth is None else depth * mask
    T = frame.T_world_cam.to(device=device, dtype=torch.float32)
    return Keyframe(
        rgb.contiguous(), depth, mask, T, viewmat_from_pose(T), intr.K(device), int(frame.stamp_ns)
    )


def unexplained_pixels(
    kf: Keyframe, rgb: Tensor, alpha: Tensor, depth: Tensor, config: MemoryConfig
) -> Tensor:
    """Pixels the memory (rendered at the keyframe: rgb [h, w, 3], alpha and depth [h, w]) does not explain.

    With depth: pixels with a measurement where the rendered alpha is below ``insert_alpha_threshold`` or the
    measured surface is more than ``insert_depth_error_m`` in front of the rendered one (a rendered surface in
    front of the measurement is left to the optimiser: a Gaussian added behind it would be hidden). Without
    depth: low-alpha pixels whose colour differs from the rendered one by more than ``insert_color_error``.
    With a mask, only masked pixels. Returns [h, w] bool.
    """
    out = alpha < config.insert_alpha_threshold
    if kf.depth is None:
        out = out & ((rgb - kf.rgb).abs().mean(dim=-1) > config.insert_color_error)
    else:
        out = (out | (depth > kf.depth + config.insert_depth_error_m)) & (kf.depth > 0)
    return out if kf.mask is None else out & kf.mask


def seed_gaussians(
    kf: Keyframe,
    unexplained: Tensor,
    alpha: Tensor,
    depth: Tensor,
    config: MemoryConfig,
    default_depth: float,
) -> GaussianCloud:
    """New Gaussians at every ``insert_stride``-th unexplained pixel (both axes), at most
    ``max_new_per_frame`` (evenly spread over the candidates: deterministic and spatially uniform).

    Depth per pixel: the measurement when the keyframe has depth; else the rendered ``depth`` where the memory
    is partly there (alpha ≥ 0.1), else ``default_depth`` (metres; :mod:`.memory_depth` chooses it). Colour
    is the pixel's, rotation identity (wxyz),
    isotropic standard deviation ``insert_scale · depth · stride / fx`` (∝ the samples' world spacing).
    Returns a cloud on the keyframe's device (possibly empty).
    """
    stride, offset = config.insert_stride, config.insert_stride // 2
    grid = torch.zeros_like(unexplained)
    grid[offset::stride, offset::stride] = True
    v, u = torch.nonzero(unexplained & grid, as_tuple=True)
    cap = min(config.max_new_per_frame, config.max_gaussians)
    if v.numel() > cap:
        pick = torch.linspace(0, v.numel() - 1, cap, device=v.device).round().long()
        v, u = v[pick], u[pick]
    if kf.depth is not None:
        z = kf.depth[v, u]
    else:
        z = torch.where(alpha[v, u] >= _PARTIAL_ALPHA, depth[v, u], torch.zeros_like(depth[v, u]))
        z = torch.where(torch.isfinite(z) & (z > 0), z, torch.full_like(z, default_depth))
    K, T = kf.K, kf.T_world_cam
    p_cam = torch.stack(
        [(u.to(z) + 0.5 - K[0, 2]) / K[0, 0] * z, (v.to(z) + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1
    )
    scale = config.insert_scale * z * stride / K[0, 0]
    return GaussianCloud.from_points(
        p_cam @ T[:3, :3].T + T[:3, 3], kf.rgb[v, u], scale, config.new_opacity, config.sh_degree
    )


def edit_parameters(
    params: torch.nn.ParameterDict,
    optimizers: dict[str, torch.optim.Optimizer],
    keep: Tensor | None = None,
    extra: GaussianCloud | None = None,
) -> None:
    """Keep the rows ``keep`` (indices [M] or bool [N]; None: all) of every parameter (gsplat-named, as
    :func:`~.fit._parameters` builds them) and append ``extra``'s Gaussians, in place, carrying each Adam's
    moments along: kept rows keep theirs, new rows start at zero (rebuilding the optimisers instead would
    forget every Gaussian's moments each time a keyframe adds a few)."""
    added = None if extra is None else _parameters(extra, params["means"].device)
    for name in list(params.keys()):
        old = params[name]
        data = old.detach() if keep is None else old.detach()[keep]
        if added is not None:
            data = torch.cat([data, added[name].detach().to(data)])
        new = torch.nn.Parameter(data.contiguous())
        optimizer = optimizers[name]
        state = optimizer.state.pop(old, None)
        if state:
            for key, value in state.items():
                if key == "step" or not torch.is_tensor(value) or value.shape != old.shape:
                    continue
                value = value if keep is None else value[keep]
                if added is not None:
                    value = torch.cat([value, value.new_zeros((added[name].shape[0],) + value.shape[1:])])
                state[key] = value
            optimizer.state[new] = state
        optimizer.param_groups[0]["params"] = [new]
        params[name] = new


def memory_loss(
    rgb: Tensor, target: Tensor, depth: Tensor, alpha: Tensor, target_depth: Tensor, config: MemoryConfig
) -> Tensor:
    """``(1 - λ)·L1 + λ·(1 - SSIM)`` on colour ([C, h, w, 3]), plus ``depth_lambda ·`` mean |depth error|
    (metres; [C, h, w], target 0 = none) where the memory is mostly opaque (alpha > 0.5): there the rendered
    depth Σ wᵢ zᵢ / alpha is well defined, elsewhere its gradient through 1/alpha explodes."""
    lam = config.ssim_lambda
    loss = (1 - lam) * (rgb - target).abs().mean() + lam * (1 - ssim(rgb, target))
    valid = (target_depth > 0) & (alpha.detach() > 0.5)
    if config.depth_lambda > 0 and bool(valid.any()):
        loss = loss + config.depth_lambda * (depth[valid] - target_depth[valid]).abs().mean()
    return loss


def window_loss(
    cloud: GaussianCloud, keyframes: list[Keyframe], render_fn: Callable[..., Any], config: MemoryConfig
) -> float:
    """Render ``cloud`` at the keyframes (batched per image size, one batch per camera), back-propagate
    :func:`memory_loss` (weighted by each batch's share of the keyframes) and return the loss."""
    groups: dict[tuple[int, int], list[Keyframe]] = {}
    for kf in keyframes:
        groups.setdefault(kf.size, []).append(kf)
    total = 0.0
    for (w, h), group in groups.items():
        out = render_fn(
            cloud, torch.stack([k.viewmat for k in group]), torch.stack([k.K for k in group]), w, h
        )
        target_depth = torch.stack([k.rgb.new_zeros(h, w) if k.depth is None else k.depth for k in group])
        target = torch.stack([k.rgb for k in group])
        loss = memory_loss(out.colors, target, out.depths[..., 0], out.alphas[..., 0], target_depth, config)
        loss = loss * (len(group) / len(keyframes))
        loss.backward()
        total += float(loss.detach())
    return total


def pick_keyframes(n: int, config: MemoryConfig, generator: torch.Generator) -> list[int]:
    """Indices of one step's keyframes: the latest ``window_keyframes`` plus ``random_old_keyframes`` drawn
    from the older ones (so the memory does not forget what it saw first), ascending."""
    recent = list(range(max(0, n - config.window_keyframes), n))
    older = torch.randperm(n - len(recent), generator=generator)[: config.random_old_keyframes]
    return sorted(older.tolist()) + recent


def prune_index(params: torch.nn.ParameterDict, prune_opacity: float, max_gaussians: int) -> Tensor:
    """Rows to keep [M] (ascending): finite, opacity ≥ ``prune_opacity``, and the ``max_gaussians`` most
    opaque of those (the budget)."""
    values = [v.detach() for v in params.values()]
    rows = [v[:, None] if v.ndim == 1 else v.flatten(1) for v in values]
    finite = torch.stack([torch.isfinite(r).all(dim=1) for r in rows]).all(dim=0)
    opacity = torch.sigmoid(params["opacities"].detach())
    keep = torch.nonzero(finite & (opacity >= prune_opacity)).flatten()
    if keep.numel() > max_gaussians:
        keep = keep[torch.topk(opacity[keep], max_gaussians).indices].sort().values
    return keep


def cluster_indices(means: Tensor, voxel_size: float, min_points: int = 1) -> list[Tensor]:
    """Connected components of the occupied cells (26-neighbourhood) of a voxel grid (cell edge ``voxel_size``
    metres) over ``means`` [N, 3], with at least ``min_points`` points. Deterministic (min-label propagation
    with pointer jumping); largest first, ties by smallest index. Returns ascending long index tensors."""
    if voxel_size <= 0:
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    if means.shape[0] == 0:
        return []
    coords = torch.floor(means.detach().double().cpu() / voxel_size).long()
    coords -= coords.min(dim=0).values
    dims = coords.max(dim=0).values + 1

    def encode(c: Tensor) -> Tensor:
        return (c[..., 0] * dims[1] + c[..., 1]) * dims[2] + c[..., 2]

    keys, inverse = torch.unique(encode(coords), sorted=True, return_inverse=True)
    cells = torch.stack([keys // (dims[1] * dims[2]), (keys // dims[2]) % dims[1], keys % dims[2]], dim=-1)
    offsets = torch.cartesian_prod(*[torch.tensor([-1, 0, 1])] * 3)
    src, dst = [], []
    for offset in offsets[(offsets != 0).any(dim=-1)]:
        nb = cells + offset
        nb_keys = encode(nb.clamp_min(0))
        pos = torch.searchsorted(keys, nb_keys).clamp_max(keys.shape[0] - 1)
        hit = ((nb >= 0) & (nb < dims)).all(dim=-1) & (keys[pos] == nb_keys)
        src.append(torch.nonzero(hit).flatten())
        dst.append(pos[hit])
    src, dst = torch.cat(src), torch.cat(dst)
    labels = torch.arange(keys.shape[0])
    while True:
        new = labels.scatter_reduce(0, src, labels[dst], reduce="amin")
        new = new[new]  # pointer jumping: a label is always a cell of the same component
        if torch.equal(new, labels):
            break
        labels = new
    point_labels = labels[inverse]
    order = torch.argsort(point_labels, stable=True)
    counts = torch.unique_consecutive(point_labels[order], return_counts=True)[1]
    groups = [g for g in torch.split(order, counts.tolist()) if g.numel() >= min_points]
    groups.sort(key=lambda g: (-g.numel(), int(g[0])))
    return [g.to(means.device) for g in groups]


def clusters(cloud: GaussianCloud, voxel_size: float, min_points: int, min_opacity: float) -> list[Tensor]:
    """Objects of a memory snapshot: :func:`cluster_indices` of its Gaussians with opacity ≥ ``min_opacity``
    (faint floaters would bridge separate objects). Returns index tensors into ``cloud``, largest first."""
    solid = torch.nonzero(cloud.opacities() >= min_opacity).flatten()
    return [solid[g] for g in cluster_indices(cloud.means[solid], voxel_size, min_points)]


def extract_region(
    cloud: GaussianCloud, center: Tensor | None = None, radius: float = 0.0, box: tuple | None = None
) -> GaussianCloud:
    """The Gaussians whose centres lie within ``radius`` metres of ``center`` [3], or inside the axis-aligned
    ``box`` (lo [3], hi [3]); give one of the two. Order is kept."""
    if (center is None) == (box is None):
        raise ValueError("extract_region needs either center and radius, or box")
    like = dict(dtype=cloud.means.dtype, device=cloud.means.device)
    if box is not None:
        lo, hi = (torch.as_tensor(b).to(**like) for b in box)
        return cloud.subset(((cloud.means >= lo) & (cloud.means <= hi)).all(dim=-1))
    return cloud.subset((cloud.means - torch.as_tensor(center).to(**like)).norm(dim=-1) <= radius)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """torch's deterministic algorithms on for the block, then the previous setting back (process-wide: the
    deterministic mode's price). Needed for bitwise-equal runs with several CPU threads: the torch
    rasteriser's backward otherwise differs by ~1e-9 between runs, which Adam amplifies (measured)."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def validate_config(c: MemoryConfig) -> None:
    """Raise ValueError naming the first impossible :class:`~.memory.MemoryConfig` setting."""
    checks = [
        (len(c.background) == 3, "background needs three values (RGB)"),
        (0 < c.working_scale_cpu <= 1 and 0 < c.working_scale_gpu <= 1, "working scales must be in (0, 1]"),
        (0 < c.insert_alpha_threshold <= 1, "insert_alpha_threshold must be in (0, 1]"),
        (0 <= c.prune_opacity < c.new_opacity < 1, "need 0 <= prune_opacity < new_opacity < 1"),
        (c.sh_degree in range(4), "sh_degree must be in 0..3"),
        (min(c.insert_stride, c.max_gaussians, c.max_keyframes, c.window_keyframes, c.prune_every) >= 1,
         "insert_stride, max_gaussians, max_keyframes, window_keyframes and prune_every must be >= 1"),
        (min(c.random_old_keyframes, c.steps_per_keyframe, c.max_new_per_frame, c.max_pending_steps) >= 0,
         "random_old_keyframes, steps_per_keyframe, max_new_per_frame, max_pending_steps must be >= 0"),
        (c.default_depth_m >= 0, "default_depth_m must be ≥ 0 (0: estimated)"),
        (c.fallback_depth_m > 0 and c.insert_scale > 0, "fallback_depth_m and insert_scale must be positive"),
        (c.depthless_wait_keyframes >= 0, "depthless_wait_keyframes must be ≥ 0"),
    ]  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise ValueError(f"MemoryConfig: {message}")
