"""Point subsampling: farthest-point sampling (FPS) and uniform sampling without replacement.

FPS picks a start point, then repeatedly the point whose squared distance to the already selected set is
largest. It is deterministic given the start (ties go to the lowest index) and **prefix-consistent**: the
first ``m`` indices of an ``n``-sample are the ``m``-sample with the same start, so a list stored in FPS
order can be truncated to any size and still be an FPS sample.

Selected points are never picked again, even when duplicates leave every remaining distance at zero, so
``n == N`` gives a permutation. Points must be finite (a NaN distance would win every argmax).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _distance_dtype(dtype: torch.dtype) -> torch.dtype:
    # Half-precision squared distances lose too much to rank points reliably; float64 stays float64.
    return torch.promote_types(dtype, torch.float32)


def _squared_distance(dx: Tensor, dy: Tensor, dz: Tensor) -> Tensor:
    # One fixed evaluation order, shared with the reference, so both produce bit-identical distances and
    # the oracle comparison can demand exact equality even on near-ties.
    return (dx * dx + dy * dy) + dz * dz


def _start_indices(
    start: int | Tensor | None, batch: int, num_points: int, generator: torch.Generator | None
) -> Tensor:
    """First index of each batch item as a CPU int64 tensor [B], validated against N."""
    if start is None:
        if generator is None:
            return torch.zeros(batch, dtype=torch.long)
        return torch.randint(num_points, (batch,), generator=generator, device=generator.device).cpu()
    first = torch.as_tensor(start, dtype=torch.long).cpu().reshape(-1)
    if first.numel() == 1:
        first = first.expand(batch)
    if first.shape != (batch,):
        raise ValueError(f"start has {first.numel()} entries for a batch of {batch}")
    if bool(((first < 0) | (first >= num_points)).any()):
        raise ValueError(f"start {first.tolist()} out of range for {num_points} points")
    return first


def farthest_point_sample(
    points: Tensor,
    n: int,
    start: int | Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Farthest-point sample of ``n`` points, vectorised over an optional batch; O(n·N) work per item.

    Args:
        points: [N, 3] or [B, N, 3] finite points, any float dtype, on any device (the work runs there).
        n: Number of points to select, 0 ≤ n ≤ N.
        start: First index: an int (for every batch item) or a [B] tensor. Default: drawn uniformly from
            ``generator`` if one is given (``torch.randint(N, (B,), generator=generator)``), else 0.
        generator: Random generator for the start when ``start`` is None.

    Returns:
        [n] or [B, n] int64 indices on the points' device, in selection order. Prefix-consistent: the
        first m indices equal ``farthest_point_sample(points, m, start)``.

    Raises:
        ValueError: n > N or n < 0, a bad ``points`` shape, or a start out of range.
    """
    if points.ndim not in (2, 3) or points.shape[-1] != 3:
        raise ValueError(f"points must be [N, 3] or [B, N, 3], got {tuple(points.shape)}")
    batched = points.ndim == 3
    pts = points if batched else points[None]
    batch, num_points = pts.shape[0], pts.shape[1]
    if n > num_points or n < 0:
        raise ValueError(f"cannot sample n={n} points from N={num_points} points")
    device = points.device
    index = torch.empty(batch, n, dtype=torch.long, device=device)
    if n == 0:
        return index if batched else index[0]

    # x, y, z as contiguous [B, N] arrays: strided views of [B, N, 3] make every step several times slower.
    coords = pts.to(_distance_dtype(pts.dtype)).permute(2, 0, 1).contiguous().unbind(dim=0)
    current = _start_indices(start, batch, num_points, generator).to(device)[:, None]  # [B, 1]
    min_dist = torch.full_like(coords[0], float("inf"))
    # Preallocated buffers: fresh N-sized temporaries every step cost more than the arithmetic on CPU.
    dist, tmp = torch.empty_like(min_dist), torch.empty_like(min_dist)
    for k in range(n):
        index[:, k : k + 1] = current
        # (dx·dx + dy·dy) + dz·dz in place, the same operations in the same order as _squared_distance.
        for axis, c in enumerate(coords):
            out = dist if axis == 0 else tmp
            torch.sub(c, c.gather(1, current), out=out)
            out.mul_(out)
            if axis:
                dist.add_(tmp)
        torch.minimum(min_dist, dist, out=min_dist)
        # -inf keeps selected points out of every later argmax (minimum() preserves it).
        min_dist.scatter_(1, current, float("-inf"))
        current = min_dist.argmax(dim=1, keepdim=True)  # first maximum: ties go to the lowest index
    return index if batched else index[0]


def farthest_point_sample_reference(points: Tensor, n: int, start: int = 0) -> Tensor:
    """Slow, obvious FPS: the test oracle for :func:`farthest_point_sample`.

    Each step recomputes, for every unselected candidate, its squared distance to every selected point
    from scratch (no running minimum), and takes the candidate with the largest minimum; ties go to the
    lowest index. O(n²·N) work in a Python loop, so only for small inputs.

    Args:
        points: [N, 3] points.
        n: Number of points to select, 0 ≤ n ≤ N.
        start: First index.

    Returns:
        [n] int64 indices on CPU, in selection order.
    """
    num_points = points.shape[0]
    if n > num_points or n < 0:
        raise ValueError(f"cannot sample n={n} points from N={num_points} points")
    pts = points.detach().cpu().to(_distance_dtype(points.dtype))
    selected = [start] if n else []
    while len(selected) < n:
        chosen = pts[selected]  # [m, 3]
        best, best_dist = -1, float("-inf")
        for i in range(num_points):
            if i in selected:
                continue
            diff = pts[i] - chosen
            dist = float(_squared_distance(diff[:, 0], diff[:, 1], diff[:, 2]).min())
            if dist > best_dist:  # strict: an equal later candidate does not replace a lower index
                best, best_dist = i, dist
        selected.append(best)
    return torch.tensor(selected, dtype=torch.long)


def uniform_sample(
    num_points: int,
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` distinct indices drawn uniformly from ``range(num_points)`` (a random permutation's prefix).

    Args:
        num_points: Size N of the set sampled from.
        n: Number of indices, 0 ≤ n ≤ N.
        generator: Random generator (deterministic per seed); the permutation is drawn on its device.
        device: Device of the result (default: the generator's device, else CPU).

    Returns:
        [n] int64 indices without repetition.
    """
    if n > num_points or n < 0:
        raise ValueError(f"cannot sample n={n} points from N={num_points} points")
    draw_device = generator.device if generator is not None else device
    perm = torch.randperm(num_points, generator=generator, device=draw_device)[:n]
    return perm if device is None else perm.to(device)
