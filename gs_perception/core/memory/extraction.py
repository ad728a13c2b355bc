"""Objects out of a memory snapshot: regions (a ball or a box) and voxel clusters. World frame, metres."""

from __future__ import annotations

import torch
from torch import Tensor

from ..gaussians import GaussianCloud


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
