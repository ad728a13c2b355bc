#!/usr/bin/env python3
"""The memory with and without feed-forward insertion: held-out PSNR after N frames, optimisation steps and
per-keyframe latency (issue 15's online target: today's held-out PSNR with ≤ 1/3 of the steps).

Simulates the demo's camera orbiting procedural objects (data/sim.py, the replay pipeline in deterministic
mode), feeds the live frames to the pipeline and renders the memory at every held-out pose after each
``--every`` live frames. Each insertion mode runs at ``--steps`` optimisation steps per keyframe, with the
depth images and without them (the memory then guesses depths, core/memory/depth.py, or the predictor
gives them). Prints a Markdown table for docs/feedforward.md.

    python benchmarks/bench_ff_memory.py --predictor runs/ff/shapes10hard/predictor.pt [--objects chair table]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, replace

import torch

from gs_perception.core.memory import MemoryConfig
from gs_perception.core.metrics import psnr
from gs_perception.data.sim import SimConfig, SimFrame, simulate
from gs_perception.pipeline.feedforward import PredictorConfig
from gs_perception.pipeline.step import Pipeline, PipelineConfig

INSERTIONS = ("alpha", "predicted", "predicted+alpha")


@dataclass
class Run:
    """One variant's figures."""

    psnr_after: dict[int, float]  # live frames → mean held-out PSNR (dB)
    steps: int  # optimisation steps run in all
    keyframe_ms: float  # mean latency of keyframe steps
    gaussians: int


def run(frames: list[SimFrame], insertion: str, steps: int, depth: bool, predictor: str, every: int) -> Run:
    memory = MemoryConfig(threaded=False, steps_per_keyframe=steps, insertion=insertion)
    config = PipelineConfig(
        memory=memory,
        predictor=PredictorConfig(predictor if insertion != "alpha" else ""),
        recognise_every=0,
        render_every=0,
        cloud_every=0,
    )
    pipeline = Pipeline(config)
    live = [f.frame if depth else replace(f.frame, depth=None) for f in frames if not f.held_out]
    held = [f.frame for f in frames if f.held_out]
    scores, latencies = {}, []
    for i, frame in enumerate(live, 1):
        out = pipeline.step(frame)
        if out.insert.keyframe:
            latencies.append(out.latency_s * 1e3)
        if i % every == 0 or i == len(live):
            renders = [pipeline.render_at(h.T_world_cam, h.intrinsics).rgb for h in held]
            scores[i] = statistics.mean(float(psnr(r[None], h.rgb[None])) for r, h in zip(renders, held))
    stats = pipeline.memory.stats
    return Run(scores, stats.optimise_steps, statistics.mean(latencies), stats.gaussians)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--predictor", required=True, help="train-ff's predictor.pt")
    parser.add_argument("--objects", nargs="+", default=["chair"], help="procedural shapes in the scene")
    parser.add_argument("--frames", type=int, default=24, help="live frames (the demo's 24)")
    parser.add_argument("--every", type=int, default=4, help="score the held-out frames every this many")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 7], help="steps per keyframe to try")
    parser.add_argument("--depth", nargs="+", choices=["yes", "no"], default=["yes", "no"],
                        help="with the depth images, without them, or both")  # fmt: skip
    parser.add_argument("--insertions", nargs="+", choices=INSERTIONS, default=list(INSERTIONS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = SimConfig(objects=tuple(args.objects), frames=args.frames, held_out_every=4)
    frames = list(simulate(sim))
    n_held = sum(f.held_out for f in frames)
    print(
        f"scene: {' + '.join(args.objects)}, {sim.width}×{sim.height}, "
        f"{len(frames) - n_held} live + {n_held} held-out frames"
    )
    header = None
    for depth in (d == "yes" for d in args.depth):
        for insertion in args.insertions:
            for steps in args.steps:
                r = run(frames, insertion, steps, depth, args.predictor, args.every)
                if header is None:
                    header = [f"PSNR after {n}" for n in r.psnr_after]
                    print("| depth | insertion | steps/keyframe | " + " | ".join(header)
                          + " | steps run | keyframe ms | Gaussians |")  # fmt: skip
                    print("|---" * (len(header) + 6) + "|")
                cells = " | ".join(f"{v:.2f}" for v in r.psnr_after.values())
                print(f"| {'yes' if depth else 'no'} | {insertion} | {steps} | {cells} | {r.steps} | "
                      f"{r.keyframe_ms:.0f} | {r.gaussians} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
