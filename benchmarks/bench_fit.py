"""Per-object fitting benchmark: time, held-out PSNR/SSIM and Gaussian count (prints figures; not a test).

CPU: procedural objects at 64² from 16 training views (+4 held-out), default FitConfig.
GPU (when CUDA is usable): the same objects at 256² and 800² with gsplat and a longer schedule.

    python benchmarks/bench_fit.py [--shapes chair,table,monitor,mug] [--out runs/bench_fit] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import torch  # noqa: E402

from gs_perception.core.fit import FitConfig  # noqa: E402
from gs_perception.data.fit_folder import fit_folder  # noqa: E402
from gs_perception.data.shapes import make_shape  # noqa: E402
from gs_perception.data.views import ViewRenderConfig, write_nerf_synthetic  # noqa: E402

GPU_FIT = FitConfig(
    steps=7000,
    refine_start=500,
    refine_stop=5000,
    refine_every=100,
    reset_every=3000,
    sh_degree_interval=1000,
    max_gaussians=300_000,
    init_points=5000,
)


def run(shape: str, size: int, device: str, config: FitConfig, out: Path) -> dict:
    folder = out / f"{shape}_{size}"
    views = ViewRenderConfig(width=size, height=size, n_train=16, n_test=4)
    if not (folder / "transforms_test.json").exists():
        write_nerf_synthetic(folder, make_shape(shape, 0), views)
    fitted = fit_folder(folder, folder / "object.ply", config, views.background, device, show_progress=True)
    r = fitted.result
    return {
        "shape": shape,
        "size": size,
        "device": device,
        "backend": r.backend,
        "seconds": r.seconds,
        "psnr": r.psnr,
        "ssim": r.ssim,
        "gaussians": r.num_gaussians,
        "steps": config.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="chair,table,monitor,mug")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_fit"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = [run(s, 64, "cpu", FitConfig(), args.out) for s in args.shapes.split(",")]
    if torch.cuda.is_available():
        rows += [
            run(s, size, "cuda", GPU_FIT, args.out) for size in (256, 800) for s in args.shapes.split(",")
        ]
    cpu_name = platform.processor() or platform.machine()
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name}")
    print("| object | size | device | backend | steps | time (s) | held-out PSNR (dB) | SSIM | Gaussians |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['shape']} | {r['size']}² | {r['device']} | {r['backend']} | {r['steps']} "
            f"| {r['seconds']:.1f} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['gaussians']} |"
        )
    cpu = [r for r in rows if r["device"] == "cpu"]
    mean = {k: sum(r[k] for r in cpu) / len(cpu) for k in ("seconds", "psnr", "gaussians")}
    print(f"CPU mean: {mean['seconds']:.1f} s, {mean['psnr']:.2f} dB, {mean['gaussians']:.0f} Gaussians")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
