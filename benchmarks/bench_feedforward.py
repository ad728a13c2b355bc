#!/usr/bin/env python3
"""Feed-forward predictor speed: ms per input view at 64² (U-Net + lifting to world-frame Gaussians) on 1 and
2 CPU threads, and the time of one training step; prints a Markdown table (figures, not a test).

Untrained weights take exactly as long as trained ones, so no run is needed; ``--run`` times a train-ff run's
own architecture instead of the default one. Inference is measured one view at a time (the online case)
and as a batch of 4 views of one object (multi-view fusion); the training step is that of FFConfig's
defaults (4 objects, 1 input view, 3 target views rendered with the C++ kernel, forward + backward), with
the 12 renders in one ``render_batch`` call as train-ff does, and one render per object beside it.

    GS_PERCEPTION_THREADS=2 python benchmarks/bench_feedforward.py [--size 64] [--repeats 20] [--run RUN]

Set GS_PERCEPTION_THREADS to the largest count measured (OpenMP keeps the thread pool it starts with); on a
loaded machine the two-thread figures collapse (docs/benchmarks.md, "CPU threads"). With more than one
thread the project's CLI defaults to sleeping OpenMP workers (OMP_WAIT_POLICY=PASSIVE), which costs a
training step ~1.7× on an idle machine; set OMP_WAIT_POLICY=ACTIVE there to measure what train-ff gets.
"""

from __future__ import annotations

import argparse
import os
import time

from gs_perception.core.runtime import configure_threads

configure_threads()  # before torch loads: the OpenMP wait policy is read once

import torch  # noqa: E402

from gs_perception.core.cameras import Intrinsics, orbit_poses, viewmat_from_pose  # noqa: E402
from gs_perception.core.render import render, render_batch  # noqa: E402
from gs_perception.models.splatter import SplatterConfig, SplatterImage, depth_range_around  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def inputs(views: int, size: int):
    azimuth = torch.linspace(0.0, 360.0, views + 1)[:views]
    T = orbit_poses(azimuth, torch.full((views,), 20.0), 3.0, (0.0, 0.0, 0.0))
    K = Intrinsics.from_fov(0.698, size, size).K()[None].expand(views, 3, 3)
    return torch.rand(views, size, size, 3), K, T, depth_range_around(T, torch.zeros(3), 1.0)


def train_step(model: SplatterImage, size: int, batched: bool = True) -> None:
    """FFConfig's default step: 4 objects, 1 input view each, rendered at 3 other views (fwd + bwd); the
    renders in one render_batch call as train-ff does, or (``batched=False``) one render per object."""
    images, K, T, ranges = inputs(4, size)
    gaussians = model(images, K, T, ranges)
    _, K_target, T_target, _ = inputs(3, size)
    viewmats = viewmat_from_pose(T_target)
    clouds = [gaussians.cloud([i]) for i in range(4)]
    if batched:
        batch = viewmats.expand(4, -1, -1, -1), K_target.expand(4, -1, -1, -1)
        loss = render_batch(clouds, *batch, size, size, backend="cpp").colors.mean()
    else:
        renders = [render(cloud, viewmats, K_target, size, size, backend="cpp") for cloud in clouds]
        loss = sum(out.colors.mean() for out in renders) / 4
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--run", default=None, help="a train-ff run folder: time its architecture")
    args = parser.parse_args()
    config = SplatterConfig()
    if args.run:
        from gs_perception.train.feedforward import load_ff_run

        config = load_ff_run(args.run)[1].model
    model = SplatterImage(config).eval()
    params = sum(p.numel() for p in model.parameters())
    available = torch.get_num_threads()
    print(
        f"torch {torch.__version__}; U-Net {config.channels}, {params / 1e6:.2f} M parameters; {args.size}²"
    )
    policy = os.environ.get("OMP_WAIT_POLICY", "(OpenMP default)")
    print(
        f"load average {os.getloadavg()[0]:.2f}; threads measured up to {available}; "
        f"OMP_WAIT_POLICY {policy}\n"
    )
    print(
        "| threads | 1 view (ms/view) | 4 views at once (ms/view) | training step (ms) "
        "| training step, one render per object (ms) |"
    )
    print("|---|---|---|---|---|")
    one, four = inputs(1, args.size), inputs(4, args.size)
    for threads in sorted({1, min(2, available)}):
        torch.set_num_threads(threads)
        with torch.no_grad():
            t1 = median_seconds(lambda: model(*one), args.repeats)
            t4 = median_seconds(lambda: model(*four), args.repeats) / 4
        model.train()
        step = median_seconds(lambda: train_step(model, args.size), max(3, args.repeats // 5))
        looped = median_seconds(lambda: train_step(model, args.size, False), max(3, args.repeats // 5))
        model.eval()
        print(f"| {threads} | {1000 * t1:.1f} | {1000 * t4:.1f} | {1000 * step:.0f} | {1000 * looped:.0f} |")


if __name__ == "__main__":
    main()
