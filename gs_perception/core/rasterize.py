"""Tiled, differentiable Gaussian rasterisation in pure torch (the CPU backend).

Same semantics as gsplat's CUDA kernel, per pixel: Gaussians in increasing depth, pixel centres at
``+0.5``, ``alpha = min(alpha_max, opacity·exp(-sigma))``, a Gaussian is skipped where ``sigma < 0`` or
``alpha < alpha_min`` (1/255), and a pixel stops *before* the Gaussian that would drop its transmittance to
``transmittance_min`` (1e-4) or below; ``colour = Σ cᵢ αᵢ Tᵢ + T_final · background``.

How it is fast without a custom kernel: each Gaussian is listed once per screen tile its screen box (the
projection's radii) touches; one sort orders the list by (camera, tile, depth), and every (Gaussian, tile)
pair is evaluated on the tile's ``P = tile_size²`` pixels as one ``[M, P]`` tensor. Front-to-back compositing
is a *segmented* cumulative sum of ``log(1 - α)`` along that list: one global cumsum (in float64, so the
segments' offsets cancel exactly enough) minus each tile's starting value. A first pass without autograd
finds which pairs contribute (above the cut-off, before the pixel is finished); only those are evaluated
again with autograd, which does the backward pass. Small tiles (2 px by default) waste the fewest pixel
evaluations on CPU (docs/benchmarks.md). The brute-force twin is
:func:`gs_perception.core.rasterize_reference.rasterize_dense`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class RasterConfig:
    """Rasterisation constants (defaults are gsplat 1.5's)."""

    eps2d: float = 0.3
    """Low-pass term added to every 2D covariance's diagonal (pixels²)."""
    near_plane: float = 0.01
    """Gaussians with camera z below this (metres) are culled."""
    far_plane: float = 1e10
    """Gaussians with camera z above this (metres) are culled."""
    alpha_max: float = 0.999
    """Per-Gaussian alpha clamp (gsplat: 0.999; the INRIA reference implementation uses 0.99)."""
    alpha_min: float = 1.0 / 255.0
    """Contributions below this alpha are skipped."""
    transmittance_min: float = 1e-4
    """A pixel stops before a Gaussian that would take its transmittance to this or below."""
    tile_size: int = 16
    """Tile edge in pixels for gsplat's CUDA kernel."""
    torch_tile_size: int = 2
    """Tile edge for the torch backend: small tiles waste fewer pixel evaluations on CPU (measured fastest,
    see docs/benchmarks.md)."""


@dataclass
class _Intersections:
    """(camera, Gaussian, tile) triples sorted by (camera, tile, depth); tile ids are global over cameras."""

    flat_ids: Tensor  # [M] index into the flattened [C * N] per-camera arrays
    tile_ids: Tensor  # [M] global tile index, camera-major
    seg_start: Tensor  # [M] position in the list where this pair's tile segment starts


@torch.no_grad()
def _intersect_tiles(means2d: Tensor, radii: Tensor, depths: Tensor, tiles_x: int, tiles_y: int, tile: int):
    C, N = depths.shape
    vis = (radii > 0).all(dim=-1).flatten()
    flat = torch.nonzero(vis).squeeze(1)
    m, r = means2d.reshape(-1, 2)[flat], radii.reshape(-1, 2)[flat].to(means2d.dtype)
    x0 = torch.floor((m[:, 0] - r[:, 0]) / tile).clamp(0, tiles_x).long()
    x1 = torch.ceil((m[:, 0] + r[:, 0]) / tile).clamp(0, tiles_x).long()
    y0 = torch.floor((m[:, 1] - r[:, 1]) / tile).clamp(0, tiles_y).long()
    y1 = torch.ceil((m[:, 1] + r[:, 1]) / tile).clamp(0, tiles_y).long()
    wx, counts = x1 - x0, (x1 - x0) * (y1 - y0)
    dev = means2d.device
    owner = torch.repeat_interleave(torch.arange(flat.numel(), device=dev), counts)
    local = torch.arange(owner.numel(), device=dev) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts
    )
    tx = x0[owner] + local % wx[owner]
    ty = y0[owner] + local // wx[owner]
    cam = flat[owner] // N
    tile_ids = (cam * tiles_y + ty) * tiles_x + tx
    flat_ids = flat[owner]
    # One sort by the key (tile, depth rank within the camera) gives gsplat's (camera, tile, depth) order.
    rank = torch.empty_like(depths, dtype=torch.long)
    rank.scatter_(1, torch.argsort(depths, dim=1, stable=True), torch.arange(N, device=dev).expand(C, N))
    order = torch.argsort(tile_ids * N + rank.flatten()[flat_ids])
    flat_ids, tile_ids = flat_ids[order], tile_ids[order]
    return _Intersections(flat_ids, tile_ids, _segment_starts(tile_ids)), C * tiles_y * tiles_x


def _segment_starts(sorted_ids: Tensor) -> Tensor:
    """[M] index of the first entry of each entry's run of equal ids in a sorted id list."""
    new_run = torch.ones_like(sorted_ids, dtype=torch.bool)
    new_run[1:] = sorted_ids[1:] != sorted_ids[:-1]
    run_start = torch.where(new_run, torch.arange(sorted_ids.numel(), device=sorted_ids.device), 0)
    return torch.cummax(run_start, dim=0).values


def _segmented_exclusive_cumsum(x: Tensor, seg_start: Tensor) -> Tensor:
    """Exclusive cumsum of x [M, P] along dim 0, restarting at every segment start (float64 inside)."""
    inclusive = torch.cumsum(x.double(), dim=0)
    exclusive = inclusive - x.double()
    return (exclusive - exclusive[seg_start]).to(x.dtype)


def _alphas(isect: _Intersections, corner_px: Tensor, local: Tensor, means2d, conics, opacities, alpha_max):
    """sigma and clamped alpha of every (intersection, tile pixel) pair: [M, P] each."""
    mu = means2d.reshape(-1, 2)[isect.flat_ids]  # [M, 2]
    con = conics.reshape(-1, 3)[isect.flat_ids]
    delta = corner_px[:, None, :] + local[None] - mu[:, None, :]  # [M, P, 2]
    dx, dy = delta[..., 0], delta[..., 1]
    sigma = 0.5 * (con[:, 0:1] * dx * dx + con[:, 2:3] * dy * dy) + con[:, 1:2] * dx * dy
    alpha = (opacities.reshape(-1)[isect.flat_ids][:, None] * torch.exp(-sigma)).clamp_max(alpha_max)
    return sigma, alpha


@torch.no_grad()
def _contributing(isect, corner_px, local, means2d, conics, opacities, config: RasterConfig) -> Tensor:
    """[M, P] bool: the pairs a pixel composites (above alpha_min, before its transmittance runs out)."""
    sigma, alpha = _alphas(isect, corner_px, local, means2d, conics, opacities, config.alpha_max)
    keep = (sigma >= 0) & (alpha >= config.alpha_min)
    log_t = torch.log1p(-torch.where(keep, alpha, torch.zeros_like(alpha)))
    # Transmittance *after* each Gaussian; the first one at or below the floor ends the pixel.
    after = _segmented_exclusive_cumsum(log_t, isect.seg_start) + log_t
    return keep & (after > math.log(config.transmittance_min))


def _tile_pixels(ts: int, like: Tensor) -> Tensor:
    """[ts·ts, 2] pixel centres (x, y) within a tile, row-major, in ``like``'s dtype and device."""
    r = torch.arange(ts, dtype=like.dtype, device=like.device)
    ly, lx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([lx.flatten(), ly.flatten()], dim=-1) + 0.5


def _tile_corners(tile_ids: Tensor, tiles_x: int, tiles_y: int, ts: int, like: Tensor) -> Tensor:
    """[M, 2] pixel corner (x, y) of each global (camera-major) tile id."""
    in_cam = tile_ids % (tiles_x * tiles_y)
    return torch.stack([in_cam % tiles_x, in_cam // tiles_x], dim=-1).to(like.dtype) * ts


@torch.no_grad()
def count_contributing_pairs(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    config: RasterConfig = RasterConfig(),
) -> int:
    """How many (Gaussian, pixel) pairs a render composites: alpha at least ``alpha_min``, before the
    pixel's transmittance runs out. The work any exact rasteriser must do; benchmarks measure against it.

    Args: as :func:`rasterize_tiled` (means2d [C, N, 2], conics [C, N, 3], opacities [C, N] or [N],
    radii [C, N, 2], depths [C, N]).
    """
    C, N = depths.shape
    ts = config.torch_tile_size
    tiles_x, tiles_y = math.ceil(width / ts), math.ceil(height / ts)
    if opacities.dim() == 1:
        opacities = opacities.expand(C, N)
    isect, _ = _intersect_tiles(means2d, radii, depths, tiles_x, tiles_y, ts)
    local = _tile_pixels(ts, means2d)
    corner = _tile_corners(isect.tile_ids, tiles_x, tiles_y, ts, means2d)
    keep = _contributing(isect, corner, local, means2d, conics, opacities, config)
    inside = (corner[:, None, 0] + local[None, :, 0] < width) & (
        corner[:, None, 1] + local[None, :, 1] < height
    )
    return int((keep & inside).sum())


def rasterize_tiled(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None = None,
    config: RasterConfig = RasterConfig(),
) -> tuple[Tensor, Tensor]:
    """Composite projected Gaussians into C images, tile by tile (differentiable).

    Args:
        means2d: [C, N, 2] pixel centres of the Gaussians.
        conics: [C, N, 3] inverse 2D covariances (a, b, c).
        opacities: [C, N] or [N] activated opacities.
        colors: [C, N, D] per-camera colours (any D, e.g. RGB + depth).
        radii: [C, N, 2] int screen radii; Gaussians with a zero radius are skipped.
        depths: [C, N] camera z, the compositing order.
        width, height: Image size.
        backgrounds: [C, D] colour behind everything (default none, i.e. zeros).
        config: Rasterisation constants.

    Returns:
        colors: [C, H, W, D] composited colours.
        alphas: [C, H, W, 1] accumulated opacity, 1 - T_final.
    """
    C, N, D = colors.shape
    ts = config.torch_tile_size
    tiles_x, tiles_y = math.ceil(width / ts), math.ceil(height / ts)
    if opacities.dim() == 1:
        opacities = opacities.expand(C, N)
    dtype, dev = means2d.dtype, means2d.device
    isect, n_tiles = _intersect_tiles(means2d, radii, depths, tiles_x, tiles_y, ts)
    local = _tile_pixels(ts, means2d)  # [P, 2] pixel centres in a tile

    def corners(tile_ids: Tensor) -> Tensor:
        return _tile_corners(tile_ids, tiles_x, tiles_y, ts, means2d)

    # Pass 1 without autograd finds what contributes; pass 2 differentiates only that (often far fewer).
    keep = _contributing(isect, corners(isect.tile_ids), local, means2d, conics, opacities, config)
    rows = keep.any(dim=1)
    isect = _Intersections(isect.flat_ids[rows], isect.tile_ids[rows], _segment_starts(isect.tile_ids[rows]))
    keep = keep[rows]
    _, alpha = _alphas(isect, corners(isect.tile_ids), local, means2d, conics, opacities, config.alpha_max)
    alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
    weights = alpha * torch.exp(_segmented_exclusive_cumsum(torch.log1p(-alpha), isect.seg_start))  # [M, P]

    P = ts * ts
    col = colors.reshape(-1, D)[isect.flat_ids]  # [M, D]
    out = torch.zeros(n_tiles, P, D, dtype=dtype, device=dev)
    out = out.index_add(0, isect.tile_ids, weights[..., None] * col[:, None, :])
    acc = torch.zeros(n_tiles, P, dtype=dtype, device=dev).index_add(0, isect.tile_ids, weights)

    def untile(x: Tensor) -> Tensor:
        x = x.reshape(C, tiles_y, tiles_x, ts, ts, -1).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(C, tiles_y * ts, tiles_x * ts, -1)[:, :height, :width]

    img, alphas = untile(out), untile(acc)
    if backgrounds is not None:
        img = img + backgrounds[:, None, None, :] * (1.0 - alphas)
    return img, alphas
