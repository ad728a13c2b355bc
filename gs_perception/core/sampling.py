"""Point subsampling and grouping: farthest-point sampling (FPS), uniform sampling, ball query.

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


# Largest B·m·N distance block ball_query builds at once (float32 distances, int32 keys: ~0.6 GiB peak).
_BALL_QUERY_BLOCK = 2**26


def _ball_query_block(points: Tensor, centres: Tensor, radius_sq: float, k: int) -> Tensor:
    """:func:`ball_query` on one block of centres: points [B, N, 3], centres [B, m, 3] -> [B, m, k]."""
    num_points = points.shape[1]
    # Per axis and in place, so at most two [B, m, N] float blocks are alive; the same operations in the
    # same order as _squared_distance, (dx·dx + dy·dy) + dz·dz, so distances match the reference bit for bit.
    diff = centres[:, :, None, 0] - points[:, None, :, 0]  # [B, m, N]
    dist = diff.mul_(diff)
    for axis in (1, 2):
        diff = centres[:, :, None, axis] - points[:, None, :, axis]
        dist.add_(diff.mul_(diff))
    del diff
    order = torch.arange(num_points, dtype=torch.int32, device=points.device)
    # Out-of-ball points get key N, so the k smallest keys are the first k in-ball indices in index order.
    keys = torch.where(dist <= radius_sq, order, num_points)
    found = keys.topk(min(k, num_points), dim=-1, largest=False, sorted=True).values.long()
    # The first in-ball index pads the list; a centre with an empty ball falls back to its nearest point
    # (argmin returns the first minimum, the same tie rule as the reference).
    first = found[..., :1].clone()  # [B, m, 1]
    empty = first[..., 0] == num_points
    if bool(empty.any()):  # never for centres that are points, the usual case: skip the extra pass
        first[empty] = dist[empty].argmin(dim=-1, keepdim=True)
    found = torch.where(found < num_points, found, first)
    if k > num_points:
        found = torch.cat([found, first.expand(*first.shape[:-1], k - num_points)], dim=-1)
    return found


def ball_query(points: Tensor, centres: Tensor, radius: float, k: int) -> Tensor:
    """Up to ``k`` neighbours of each centre within ``radius``, vectorised over the batch and the centres.

    A point is in the ball when its squared distance is ``<= radius²``. Each list holds the first ``k``
    in-ball indices in index order, padded to ``k`` by repeating the first of them; a centre that is one of
    the points therefore always finds at least itself. A centre with an empty ball (only possible when it is
    not a point) gets ``k`` copies of its nearest point's index (lowest index on ties). Work is O(B·M·N);
    centres are processed in blocks so that no more than ~2^26 distances are held at once.

    Args:
        points: [B, N, 3] finite points, N ≥ 1, any float dtype, on any device (the work runs there).
        centres: [B, M, 3] ball centres on the same device (usually an FPS subset of ``points``).
        radius: Ball radius, ≥ 0.
        k: Neighbours per centre, ≥ 1 (may exceed N; the list is then padded).

    Returns:
        [B, M, k] int64 indices into the N points, on the points' device.

    Raises:
        ValueError: Bad shapes, a batch mismatch, N = 0, radius < 0 or k < 1.
    """
    if points.ndim != 3 or points.shape[-1] != 3 or centres.ndim != 3 or centres.shape[-1] != 3:
        raise ValueError(
            f"points and centres must be [B, N, 3] and [B, M, 3], got {tuple(points.shape)} and "
            f"{tuple(centres.shape)}"
        )
    if points.shape[0] != centres.shape[0]:
        raise ValueError(f"batch of {points.shape[0]} points but {centres.shape[0]} centres")
    if points.shape[1] == 0:
        raise ValueError("ball_query needs at least one point")
    if radius < 0 or k < 1:
        raise ValueError(f"need radius >= 0 and k >= 1, got radius={radius}, k={k}")
    batch, num_points = points.shape[:2]
    dtype = _distance_dtype(torch.promote_types(points.dtype, centres.dtype))
    pts, ctr = points.to(dtype), centres.to(dtype)
    # Squared in Python float, compared in the distance dtype, exactly as in the reference.
    radius_sq = float(radius) ** 2
    step = max(1, _BALL_QUERY_BLOCK // max(1, batch * num_points))
    blocks = [
        _ball_query_block(pts, ctr[:, i : i + step], radius_sq, k) for i in range(0, ctr.shape[1], step)
    ]
    if not blocks:
        return torch.empty(batch, 0, k, dtype=torch.long, device=points.device)
    return torch.cat(blocks, dim=1)


def ball_query_reference(points: Tensor, centres: Tensor, radius: float, k: int) -> Tensor:
    """Slow, obvious ball query: the test oracle for :func:`ball_query` (one item, no batch).

    For each centre, walk the points in index order and keep those with squared distance ``<= radius²``
    until ``k`` are kept; pad with the first kept index, or with the nearest point's index when none was.

    Args:
        points: [N, 3] points, N ≥ 1.
        centres: [M, 3] ball centres.
        radius: Ball radius.
        k: Neighbours per centre.

    Returns:
        [M, k] int64 indices on CPU.
    """
    dtype = _distance_dtype(torch.promote_types(points.dtype, centres.dtype))
    pts, ctr = points.detach().cpu().to(dtype), centres.detach().cpu().to(dtype)
    radius_sq = float(radius) ** 2
    rows = []
    for centre in ctr:
        diff = centre - pts  # [N, 3]
        dist = _squared_distance(diff[:, 0], diff[:, 1], diff[:, 2])  # same operations as ball_query
        kept = []
        for i in range(pts.shape[0]):
            if len(kept) == k:
                break
            if bool(dist[i] <= radius_sq):
                kept.append(i)
        if not kept:
            nearest = min(range(pts.shape[0]), key=lambda i: (float(dist[i]), i))
            kept = [nearest]
        rows.append(kept + [kept[0]] * (k - len(kept)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), k)
