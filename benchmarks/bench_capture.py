"""A phone-style photo capture, fitted the way a user would: held-out PSNR beside the mean-colour baseline.

    .venv/bin/python benchmarks/bench_capture.py                    # 50 photos, 96×128, `fit` defaults
    .venv/bin/python benchmarks/bench_capture.py --sfm-points 3000   # with nerfstudio-style SfM points
    .venv/bin/python benchmarks/bench_capture.py --flags --steps 1500 --init-extent 3

The capture is made by the project (gs_perception/data/capture_synth.py): textured objects 4–6 m from the
camera on a checkered floor inside a striped backdrop, OpenCV lens distortion, portrait JPEGs, one
``transforms.json`` with three listed frames missing. It is fitted with ``gs-perception fit`` exactly as a
user runs it (every 8th frame held out); prints the figures. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from gs_perception.data.capture_synth import SyntheticCaptureConfig, write_synthetic_capture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--sfm-points", type=int, default=0)
    parser.add_argument(
        "--flags", nargs=argparse.REMAINDER, default=[], help="extra `gs-perception fit` flags"
    )
    args = parser.parse_args(argv)
    config = replace(SyntheticCaptureConfig(), views=args.views, sfm_points=args.sfm_points)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic_capture(Path(tmp) / "capture", config)
        command = [sys.executable, "-m", "gs_perception.cli", "fit", str(folder), "--out", f"{tmp}/fit.ply"]
        start = time.monotonic()
        subprocess.run([*command, *args.flags], check=True)
        seconds = time.monotonic() - start
        metrics = json.loads(Path(f"{tmp}/fit.metrics.json").read_text())
    psnr, baseline = metrics["psnr_test"], metrics["psnr_test_mean_colour_baseline"]
    print(
        "| photos | size | SfM points | held-out PSNR | mean-colour baseline | gain | Gaussians | wall time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {config.views - len(config.missing)} | {config.width}×{config.height} | "
        f"{args.sfm_points or 'none'} | "
        f"{psnr:.2f} dB | {baseline:.2f} dB | {psnr - baseline:+.2f} dB | {metrics['num_gaussians']} | "
        f"{seconds / 60:.1f} min |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
