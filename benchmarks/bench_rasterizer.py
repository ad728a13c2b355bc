"""Benchmark the rasterisers: tiled torch (per tile size) vs the dense oracle, plus gsplat when CUDA is there.

Times one optimisation step's rendering work, forward and backward of ``colors.sum() + depths.sum()``, on a
deterministic object-like scene (Gaussians near a unit sphere, cameras on a spiral at radius 3, 40° FOV), and
checks that every backend draws the dense oracle's image. Not a test: it prints figures
(docs/architecture.md §8).

Usage::

    python benchmarks/bench_rasterizer.py                 # 5k Gaussians, 8 views, 64 px (dense: minutes)
    python benchmarks/bench_rasterizer.py --quick         # 500 Gaussians, 32 px: a smoke run
    python benchmarks/bench_rasterizer.py --json out.json # also write the numbers
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, spiral_poses, viewmat_from_pose
from gs_perception.core.gaussians import GaussianCloud, num_sh_bases, rgb_to_sh
from gs_perception.core.rasterize import RasterConfig
from gs_perception.core.render import RenderOutput, gsplat_usable, render


@dataclass
class Timing:
    """One row of the results table (seconds; ``max_abs_diff`` is the colour difference to dense)."""

    backend: str
    tile: int | None
    forward_s: float
    backward_s: float
    max_abs_diff: float | None = None
    runs: list[tuple[float, float]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gaussians", type=int, default=5000, help="number of Gaussians")
    p.add_argument("--views", type=int, default=8, help="cameras rendered per step")
    p.add_argument("--size", type=int, default=64, help="square image size in pixels")
    p.add_argument("--sh-degree", type=int, default=3, help="SH degree of the scene (0..3)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per torch/gsplat backend (median)")
    p.add_argument("--dense-repeats", type=int, default=1, help="timed runs of the dense oracle (slow)")
    p.add_argument("--tile-sizes", default="1,2,4,8,16", help="comma-separated torch_tile_size values")
    p.add_argument("--seed", type=int, default=0, help="scene seed")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--atol", type=float, default=1e-4, help="max colour difference to dense before failing")
    p.add_argument("--json", metavar="OUT", help="write the configuration, environment and timings here")
    p.add_argument("--quick", action="store_true", help="smoke run: 500 Gaussians at 32 px")
    args = p.parse_args(argv)
    if args.quick:
        args.gaussians, args.size = 500, 32
    args.tile_sizes = [int(t) for t in args.tile_sizes.split(",") if t.strip()]
    return args


def build_scene(n: int, sh_degree: int, seed: int) -> GaussianCloud:
    """Gaussians on a slightly thick unit sphere: random colours, σ ≈ 0.03 m, opacity ≈ 0.5."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = dirs * (1.0 + 0.02 * torch.randn(n, 1, generator=g))
    sh = 0.05 * torch.randn(n, num_sh_bases(sh_degree), 3, generator=g)  # mild view dependence
    sh[:, 0] = rgb_to_sh(torch.rand(n, 3, generator=g))
    return GaussianCloud(
        means=means,
        log_scales=math.log(0.03) + 0.2 * torch.randn(n, 3, generator=g),
        quats=torch.randn(n, 4, generator=g),
        opacity_logits=0.3 * torch.randn(n, generator=g),
        sh=sh,
    )


def build_cameras(views: int, size: int) -> tuple[Tensor, Tensor]:
    """viewmats [V, 4, 4] on the study's spiral at radius 3 and Ks [V, 3, 3] with a 40° FOV."""
    viewmats = viewmat_from_pose(spiral_poses(views, radius=3.0))
    K = Intrinsics.from_fov(math.radians(40.0), size, size).K()
    return viewmats, K.expand(views, 3, 3).contiguous()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(
    cloud: GaussianCloud, step: Callable[[GaussianCloud], RenderOutput]
) -> tuple[float, float, Tensor]:
    """Forward and backward seconds of one step on fresh leaves, and the rendered colours (detached)."""
    leaf = GaussianCloud(
        **{f.name: getattr(cloud, f.name).detach().clone().requires_grad_(True) for f in fields(cloud)}
    )
    device = cloud.device
    _sync(device)
    t0 = time.perf_counter()
    out = step(leaf)
    _sync(device)
    t1 = time.perf_counter()
    (out.colors.sum() + out.depths.sum()).backward()
    _sync(device)
    return t1 - t0, time.perf_counter() - t1, out.colors.detach()


def time_backend(
    cloud: GaussianCloud,
    viewmats: Tensor,
    Ks: Tensor,
    size: int,
    backend: str,
    config: RasterConfig,
    repeats: int,
    warmup: bool = True,
) -> tuple[Timing, Tensor]:
    """Median forward/backward time over ``repeats`` runs after an untimed warm-up run; last run's colours."""

    def step(leaf: GaussianCloud) -> RenderOutput:
        return render(leaf, viewmats, Ks, size, size, backend=backend, config=config)

    if warmup:
        time_step(cloud, step)
    runs, colors = [], None
    for _ in range(repeats):
        fwd, bwd, colors = time_step(cloud, step)
        runs.append((fwd, bwd))
    fwd = statistics.median(r[0] for r in runs)
    bwd = statistics.median(r[1] for r in runs)
    tile = config.torch_tile_size if backend == "torch" else config.tile_size if backend == "gsplat" else None
    return Timing(backend, tile, fwd, bwd, runs=runs), colors


def time_dense(
    cloud: GaussianCloud, viewmats: Tensor, Ks: Tensor, size: int, repeats: int
) -> tuple[Timing, Tensor]:
    """The dense oracle, one camera at a time: its autograd graph (a few image-sized tensors per Gaussian)
    then holds one view, and progress can be printed. Views are independent, so the sum over views is the
    cost of one batched step."""
    runs, colors = [], None
    for r in range(repeats):
        fwd_total, bwd_total, per_view = 0.0, 0.0, []
        for v in range(len(viewmats)):

            def step(leaf: GaussianCloud, v: int = v) -> RenderOutput:
                return render(leaf, viewmats[v : v + 1], Ks[v : v + 1], size, size, backend="dense")

            fwd, bwd, col = time_step(cloud, step)
            fwd_total, bwd_total = fwd_total + fwd, bwd_total + bwd
            per_view.append(col)
            where = f"dense run {r + 1}/{repeats}: view {v + 1}/{len(viewmats)}"
            print(f"  {where}: forward {fwd:.1f} s, backward {bwd:.1f} s", flush=True)
        runs.append((fwd_total, bwd_total))
        colors = torch.cat(per_view)
    fwd = statistics.median(r[0] for r in runs)
    bwd = statistics.median(r[1] for r in runs)
    return Timing("dense", None, fwd, bwd, max_abs_diff=0.0, runs=runs), colors


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else whatever platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, object]:
    """What the figures depend on; the load average matters on shared machines (OpenMP threads stall)."""
    env: dict[str, object] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def markdown_table(rows: list[Timing], dense_total: float | None) -> str:
    """The results as a Markdown table (speed-up relative to the dense oracle's total; colour difference is
    the max over all pixels and channels against the dense image)."""
    lines = [
        "| backend | tile | forward s | backward s | total s | speed-up vs dense | max abs colour diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        speedup = f"{dense_total / r.total_s:.1f}×" if dense_total else "–"
        diff = "–" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}"
        tile = "–" if r.tile is None else str(r.tile)
        times = f"{r.forward_s:.3f} | {r.backward_s:.3f} | {r.total_s:.3f}"
        lines.append(f"| {r.backend} | {tile} | {times} | {speedup} | {diff} |")
    return "\n".join(lines)


def run_all(args: argparse.Namespace) -> tuple[list[Timing], float | None]:
    """Time every backend; fills in each row's colour difference to the dense image."""
    cloud = build_scene(args.gaussians, args.sh_degree, args.seed)
    viewmats, Ks = build_cameras(args.views, args.size)
    rows: list[Timing] = []
    images: dict[int, Tensor] = {}
    for ts in args.tile_sizes:
        print(f"torch backend, tile {ts} ...", flush=True)
        timing, colors = time_backend(
            cloud, viewmats, Ks, args.size, "torch", RasterConfig(torch_tile_size=ts), args.repeats
        )
        rows.append(timing)
        images[len(rows) - 1] = colors
    if gsplat_usable():
        print("gsplat (CUDA) ...", flush=True)
        cuda = cloud.to("cuda")
        timing, colors = time_backend(
            cuda, viewmats.cuda(), Ks.cuda(), args.size, "gsplat", RasterConfig(), args.repeats
        )
        rows.append(timing)
        images[len(rows) - 1] = colors.cpu()
    dense_total = None
    if args.dense_repeats > 0:
        print(f"dense oracle ({args.dense_repeats} run(s), one view at a time) ...", flush=True)
        dense, dense_colors = time_dense(cloud, viewmats, Ks, args.size, args.dense_repeats)
        rows.append(dense)
        dense_total = dense.total_s
        for i, colors in images.items():
            rows[i].max_abs_diff = (colors - dense_colors).abs().max().item()
    return rows, dense_total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment()
    scene = f"{args.gaussians} Gaussians (SH degree {args.sh_degree}), {args.views} views of {args.size} px²"
    print(f"{scene}; torch {env['torch']}, {env['threads']} threads, CPU {env['cpu']}", flush=True)
    rows, dense_total = run_all(args)
    print()
    print(markdown_table(rows, dense_total))
    print(
        f"\ntorch {env['torch']} · {env['threads']} threads · CPU: {env['cpu']} ({env['cpu_count']} logical)"
        + (f" · GPU: {env['gpu']}" if "gpu" in env else "")
        + f" · 1-min load average at start {env['load_average_1m']:.2f}"
    )
    print("Times are the median of the repeats after one warm-up (dense: no warm-up, summed over views).")
    # Only our backends must match the oracle to float32 rounding; gsplat's fast-math kernel is reported.
    bad = [
        r for r in rows if r.backend == "torch" and r.max_abs_diff is not None and r.max_abs_diff > args.atol
    ]
    for r in bad:
        print(f"MISMATCH: {r.backend} tile {r.tile} differs from dense by {r.max_abs_diff:.2e} > {args.atol}")
    if args.json:
        payload = {
            "config": vars(args),
            "environment": env,
            "results": [asdict(r) | {"total_s": r.total_s} for r in rows],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
