#!/usr/bin/env python3
"""Online pipeline figures: step latency, keyframe integration time and memory render FPS (CPU, and GPU when
one is available).

Simulates a camera orbiting a procedural chair at each resolution, feeds the frames to the pipeline in
deterministic mode (insertion and optimisation inside the step, as bag replay runs them), then renders the
final memory at 640×480 repeatedly. Prints a Markdown table for docs/benchmarks.md.

    python benchmarks/bench_online.py [--sizes 160x120 640x480] [--frames 16] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from gs_perception.core.cameras import Intrinsics
from gs_perception.core.memory import MemoryConfig
from gs_perception.core.render import RenderConfig
from gs_perception.data.sim import SimConfig, simulate
from gs_perception.pipeline.step import Pipeline, PipelineConfig


def run(size: tuple[int, int], frames: int, device: str, steps_per_keyframe: int, backend: str) -> dict:
    """Step latencies (ms) and 640×480 render FPS for one resolution, device and render backend."""
    width, height = size
    sim = SimConfig(width=width, height=height, frames=frames, held_out_every=0)
    memory = MemoryConfig(
        device=device, threaded=False, steps_per_keyframe=steps_per_keyframe, render=RenderConfig(backend)
    )
    config = PipelineConfig(memory=memory, recognise_every=0, cloud_every=0)
    steps, keyframe_steps = [], []
    pipeline = Pipeline(config)
    for sim_frame in simulate(sim):
        out = pipeline.step(sim_frame.frame)
        steps.append(out.latency_s * 1e3)
        if out.insert.keyframe:
            keyframe_steps.append(out.latency_s * 1e3)
    last = sim_frame.frame
    intr = Intrinsics.from_fov(math.radians(sim.fov_x_deg), 640, 480)
    pipeline.render_at(last.T_world_cam, intr)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start, n = time.perf_counter(), 5 if device == "cpu" else 50
    for _ in range(n):
        pipeline.render_at(last.T_world_cam, intr)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    fps = n / (time.perf_counter() - start)
    gaussians = pipeline.memory.stats.gaussians
    return {
        "step_ms": statistics.median(steps),
        "keyframe_ms": statistics.mean(keyframe_steps),
        "keyframes": len(keyframe_steps),
        "fps": fps,
        "gaussians": gaussians,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["160x120", "640x480"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument(
        "--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    parser.add_argument("--steps-per-keyframe", type=int, default=MemoryConfig.steps_per_keyframe)
    parser.add_argument(
        "--backends", nargs="+", default=["auto"], help="render backends to compare (e.g. torch cpp)"
    )
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {args.frames} frames, chair orbit"
    )
    print(
        "| device | backend | input | median step ms | keyframe step ms | keyframes | Gaussians "
        "| render FPS 640×480 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for device in args.devices:
        for backend in args.backends:
            for size in args.sizes:
                w, h = (int(v) for v in size.split("x"))
                r = run((w, h), args.frames, device, args.steps_per_keyframe, backend)
                print(
                    f"| {device} | {RenderConfig(backend).resolve(device)} | {w}×{h} | {r['step_ms']:.0f} | "
                    f"{r['keyframe_ms']:.0f} | {r['keyframes']} | {r['gaussians']} | {r['fps']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
