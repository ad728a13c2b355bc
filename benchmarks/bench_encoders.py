#!/usr/bin/env python3
"""Encoder throughput (objects/s): ResNet-18 on views, PointNet and PointNet++ on Gaussians, CPU and GPU.

Inference (eval, no grad) and training (forward + backward) on random inputs of the shapes the trainer uses.
Prints a Markdown table for docs/benchmarks.md.

    python benchmarks/bench_encoders.py [--batch 32] [--points 2048] [--channels 14] [--image 64] [--views 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from gs_perception.models.gaussian_encoder import build_gaussian_encoder
from gs_perception.models.image_encoder import ImageEncoder
from gs_perception.models.pointnet import GaussianEncoderConfig


def measure(model: torch.nn.Module, inputs: torch.Tensor, train: bool, repeats: int) -> float:
    """Median seconds of one batch."""
    model.train(train)
    times = []
    for i in range(repeats + 1):
        if inputs.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.set_grad_enabled(train):
            out = model(inputs)
            if train:
                out.sum().backward()
        if inputs.is_cuda:
            torch.cuda.synchronize()
        if i:  # the first call warms up (allocations, cuDNN autotuning)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--channels", type=int, default=14)
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--views", type=int, default=2, help="views per object for the image encoder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; batch {args.batch} objects")
    print("| encoder | input per object | device | inference obj/s | training obj/s |")
    print("|---|---|---|---|---|")
    for device in devices:
        gaussians = torch.rand(args.batch, args.points, args.channels, device=device)
        images = torch.rand(args.batch * args.views, 3, args.image, args.image, device=device)
        models = {
            "ResNet-18": (ImageEncoder(), images, f"{args.views} views {args.image}²"),
            "PointNet": (build_gaussian_encoder(GaussianEncoderConfig(), args.channels), gaussians, None),
            "PointNet++": (
                build_gaussian_encoder(GaussianEncoderConfig(arch="pointnet2"), args.channels),
                gaussians,
                None,
            ),
        }
        for name, (model, inputs, what) in models.items():
            model.to(device)
            what = what or f"{args.points} Gaussians × {args.channels}"
            infer = measure(model, inputs, False, args.repeats)
            train = measure(model, inputs, True, args.repeats)
            print(f"| {name} | {what} | {device} | {args.batch / infer:.1f} | {args.batch / train:.1f} |")


if __name__ == "__main__":
    main()
