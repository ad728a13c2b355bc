#!/usr/bin/env python3
"""Dataset generation benchmark: the shapes10 CPU preset end to end (and 800² × 64 views on a GPU).

Prints the figures for docs/benchmarks.md: total wall time, objects per minute, mean held-out PSNR and
Gaussian count, per class. Resumable like any generation: rerunning with the same --out finishes an
interrupted benchmark (its wall time then covers only the last run; use a fresh --out for a clean figure).

    python benchmarks/bench_dataset.py --out runs/bench_shapes10_cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import torch  # noqa: E402

from gs_perception.config import dataclass_from_yaml  # noqa: E402
from gs_perception.data.generate import DatasetConfig, generate_dataset  # noqa: E402
from gs_perception.eval.dataset_report import markdown_table, summarise, write_report  # noqa: E402

PRESET = Path(__file__).resolve().parents[1] / "config" / "dataset_shapes10_cpu.yaml"


def cpu_preset(out: Path, workers: int) -> None:
    config = dataclass_from_yaml(DatasetConfig, str(PRESET))
    config = dataclasses.replace(config, device="cpu", workers=workers)
    summary = generate_dataset(out, config)
    write_report(out, summary.entries, f"shapes10 CPU preset ({PRESET.name})", summary.seconds)
    ok = [e for e in summary.entries if e.ok]
    print(markdown_table(summarise(summary.entries)))
    print(
        f"\nshapes10 CPU preset: {len(ok)} objects ok, {summary.failed} failed, built {summary.built} in "
        f"{summary.seconds / 60:.1f} min ({60 * summary.built / max(summary.seconds, 1e-9):.1f} obj/min); "
        f"mean held-out PSNR {statistics.fmean(e.psnr_test for e in ok):.2f} dB, "
        f"mean Gaussians {statistics.fmean(e.num_gaussians for e in ok):.0f}"
    )


def gpu_study(out: Path, objects: int) -> None:
    """The study's setting on CUDA: 64 views at 800², the default (7k-step) fit, a few objects."""
    config = DatasetConfig(train_per_class=1, test_per_class=0, val_fraction=0.0, max_objects=objects)
    summary = generate_dataset(out, dataclasses.replace(config, device="cuda"))
    ok = [e for e in summary.entries if e.ok]
    print(markdown_table(summarise(summary.entries)))
    print(
        f"\nGPU 800² × 64 views: {len(ok)} objects, "
        f"per object {statistics.fmean(e.total_seconds for e in ok):.1f} s "
        f"(fit {statistics.fmean(e.fit_seconds for e in ok):.1f} s), mean held-out PSNR "
        f"{statistics.fmean(e.psnr_test for e in ok):.2f} dB, mean Gaussians "
        f"{statistics.fmean(e.num_gaussians for e in ok):.0f}; {torch.cuda.get_device_name()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_dataset"))
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--fresh", action="store_true", help="delete --out first (a clean timing)")
    parser.add_argument("--gpu-objects", type=int, default=3, help="objects in the GPU run (CUDA only)")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(args.out, ignore_errors=True)
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    start = time.perf_counter()
    cpu_preset(args.out / "shapes10_cpu", args.workers)
    if torch.cuda.is_available():
        gpu_study(args.out / "gpu_800", args.gpu_objects)
    print(f"benchmark wall time {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
