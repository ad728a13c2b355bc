"""Benchmark the fused C++ CPU rasteriser against the tiled torch one, side by side, on one thread.

Times forward and backward of the rasteriser alone (projection and SH done once beforehand, outside the
timing) on an object-like scene: Gaussians near a unit sphere seen from cameras on a spiral at radius 3
(40° FOV), the setting of ``benchmarks/bench_rasterizer.py``. Prints a Markdown table, with the largest
colour difference between the two backends as a check; the C++ kernel is also timed on ``--threads2``
threads (fwd + bwd, default 2) for its OpenMP scaling, and without footprint culling (whole screen boxes,
the kernel's slow twin). Then the distance from the compute bound: the pairs that contribute (counted
exactly) times the kernel's floating-point operations per pair, at this core's measured float32 matmul
rate, against the C++ kernel's time. Not a test.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_rasterizer_cpp.py    # 5k Gaussians, 8 views, 64², 128², 256²
    OMP_NUM_THREADS=1 python benchmarks/bench_rasterizer_cpp.py --sizes 32 --gaussians 500  # smoke run
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, spiral_poses, viewmat_from_pose
from gs_perception.core.cpu_kernel import cpp_available, rasterize_cpp
from gs_perception.core.projection import covariance_3d, project_gaussians
from gs_perception.core.rasterize import RasterConfig, count_contributing_pairs, rasterize_tiled


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gaussians", type=int, default=5000, help="number of Gaussians")
    p.add_argument("--views", type=int, default=8, help="cameras rendered per step")
    p.add_argument("--sizes", default="64,128,256", help="comma-separated square image sizes in pixels")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per backend (median)")
    p.add_argument("--threads", type=int, default=1, help="torch / OpenMP threads")
    p.add_argument("--threads2", type=int, default=2, help="threads of the extra C++ column (0: none)")
    p.add_argument("--seed", type=int, default=0, help="scene seed")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def projected_scene(n: int, views: int, size: int, seed: int) -> dict[str, Tensor | int]:
    """Rasteriser inputs of n Gaussians on a slightly thick unit sphere (σ ≈ 3 cm, opacity ≈ 0.5, random
    RGB plus depth as a 4th channel, like render()) seen by ``views`` spiral cameras at ``size``²."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = dirs * (1.0 + 0.02 * torch.randn(n, 1, generator=g))
    scales = torch.exp(math.log(0.03) + 0.2 * torch.randn(n, 3, generator=g))
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    opacities = torch.sigmoid(0.3 * torch.randn(n, generator=g))
    viewmats = viewmat_from_pose(spiral_poses(views, radius=3.0))
    Ks = Intrinsics.from_fov(math.radians(40.0), size, size).K().expand(views, 3, 3).contiguous()
    proj = project_gaussians(
        means, covariance_3d(quats, scales), viewmats, Ks, size, size, opacities=opacities, alpha_min=1 / 255
    )
    rgb = torch.rand(views, n, 3, generator=g)
    return dict(
        means2d=proj.means2d,
        conics=proj.conics,
        opacities=opacities,
        colors=torch.cat([rgb, proj.depths[..., None]], dim=-1),
        radii=proj.radii,
        depths=proj.depths,
        width=size,
        height=size,
        backgrounds=torch.rand(views, 4, generator=g),
    )


def time_backend(raster: Callable, scene: dict, repeats: int) -> tuple[float, float, Tensor]:
    """Median forward and backward seconds of ``colors.sum() + alphas.sum()``, and the image."""
    runs = []
    for _ in range(repeats + 1):  # the first run warms up caches and allocators
        leaves = {
            k: scene[k].detach().clone().requires_grad_(True) for k in ("means2d", "conics", "opacities")
        }
        others = {k: v for k, v in scene.items() if k not in leaves}
        t0 = time.perf_counter()
        img, alphas = raster(**leaves, **others, config=RasterConfig())
        t1 = time.perf_counter()
        (img.sum() + alphas.sum()).backward()
        runs.append((t1 - t0, time.perf_counter() - t1))
    fwd = statistics.median(r[0] for r in runs[1:])
    bwd = statistics.median(r[1] for r in runs[1:])
    return fwd, bwd, img.detach()


# Floating-point operations per contributing pair, counted from rasterize.cpp with D = 4 channels (RGB +
# depth): the forward evaluates the Gaussian (dx, sigma: 7; exp_lanes: 23; opacity, clamp, tests: 4) and
# composites it (transmittance and weight: 4; D colour channels: 2 D); the backward evaluates again (34),
# recovers the transmittance (4), forms the colour terms (4 D), d alpha and the colour behind (4) and the
# six shape and opacity gradients (25).
FLOPS_FORWARD = 34 + 4 + 2 * 4
FLOPS_BACKWARD = 34 + 4 + 4 * 4 + 4 + 25


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """This core's float32 matmul rate (GFLOP/s, best of ``repeats``): the compute bound's unit."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def print_bound(args: argparse.Namespace, cpp_seconds: dict[int, float]) -> None:
    """The compute-bound table: contributing pairs, their GFLOP, the bound and the kernel's distance."""
    peak = matmul_gflops()
    print()
    print(
        f"Compute bound at {peak:.0f} GFLOP/s (float32 matmul, {torch.get_num_threads()} thread(s)), "
        f"{FLOPS_FORWARD + FLOPS_BACKWARD} FLOP per contributing pair (fwd + bwd):"
    )
    print()
    print("| image | contributing pairs | GFLOP | bound (s) | cpp fwd+bwd (s) | × the bound |")
    print("|---|---:|---:|---:|---:|---:|")
    for size, seconds in cpp_seconds.items():
        s = projected_scene(args.gaussians, args.views, size, args.seed)
        pairs = count_contributing_pairs(
            s["means2d"], s["conics"], s["opacities"], s["radii"], s["depths"], size, size
        )
        gflop = pairs * (FLOPS_FORWARD + FLOPS_BACKWARD) / 1e9
        bound = gflop / peak
        print(f"| {size}² | {pairs:,} | {gflop:.3f} | {bound:.4f} | {seconds:.4f} | {seconds / bound:.0f}× |")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not cpp_available():
        raise SystemExit("the C++ rasteriser did not build here; nothing to compare")
    threads = torch.get_num_threads()
    print(f"{args.gaussians} Gaussians, {args.views} views, {threads} thread(s), torch {torch.__version__}")
    print()
    t2 = args.threads2
    extra = f" cpp fwd+bwd, {t2} threads (s) | speed-up, {t2} threads |" if t2 else ""
    head = "| image | torch fwd (s) | torch bwd (s) | cpp fwd (s) | cpp bwd (s) | speed-up | max abs diff |"
    print(head + " cpp unculled fwd+bwd (s) |" + extra)
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if t2 else ""))
    cpp_seconds = {}
    for size in args.sizes:
        scene = projected_scene(args.gaussians, args.views, size, args.seed)
        tf, tb, img_t = time_backend(rasterize_tiled, scene, args.repeats)
        cf, cb, img_c = time_backend(rasterize_cpp, scene, args.repeats)
        uf, ub, _ = time_backend(
            functools.partial(rasterize_cpp, footprint_culling=False), scene, args.repeats
        )
        cpp_seconds[size] = cf + cb
        diff = (img_t[..., :3] - img_c[..., :3]).abs().max().item()
        speedup = (tf + tb) / (cf + cb)
        row = f"| {size}² | {tf:.3f} | {tb:.3f} | {cf:.4f} | {cb:.4f} | {speedup:.1f}× | {diff:.1e} |"
        row += f" {uf + ub:.4f} |"
        if t2:
            torch.set_num_threads(t2)
            cf2, cb2, _ = time_backend(rasterize_cpp, scene, args.repeats)
            torch.set_num_threads(threads)
            row += f" {cf2 + cb2:.4f} | {(tf + tb) / (cf2 + cb2):.1f}× |"
        print(row)
    print_bound(args, cpp_seconds)


if __name__ == "__main__":
    main()
