"""Fit Gaussians to a NeRF-synthetic folder (ours or anyone's) and write the PLY plus a metrics JSON."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.fit import FitConfig, FitResult, FitViews, fit_gaussians
from ..core.ply import atomic_open, write_ply
from ..provenance import provenance
from .meshes import MeshError, load_mesh, sample_surface
from .nerf_synthetic import load_nerf_synthetic


@dataclass
class FolderFit:
    """What :func:`fit_folder` produced."""

    result: FitResult
    ply_path: Path
    metrics_path: Path
    test_views: FitViews | None


def load_fit_views(folder: Path, split: str, background: tuple[float, float, float]) -> FitViews | None:
    """A split of a NeRF-synthetic folder as :class:`FitViews` (None when the split's json is absent)."""
    if not (Path(folder) / f"transforms_{split}.json").exists():
        return None
    images = load_nerf_synthetic(folder, split)
    K = images.intrinsics.K()[None].expand(len(images), 3, 3).clone()
    bg = torch.tensor(background, dtype=torch.float32)
    return FitViews(images.composite(background), images.T_world_cam, K, images.depth, bg)


def _surface_points(folder: Path, n: int, seed: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Samples of the folder's mesh (``mesh_path`` in transforms_train.json) when it has one."""
    meta = json.loads((Path(folder) / "transforms_train.json").read_text())
    if "mesh_path" not in meta:
        return None, None
    try:
        samples = sample_surface(load_mesh(Path(folder) / meta["mesh_path"]), n, seed)
    except MeshError as err:
        print(f"warning: {err}; initialising without the mesh", file=sys.stderr)
        return None, None
    return samples.points, samples.rgb


def fit_folder(
    folder: str | Path,
    out_ply: str | Path,
    config: FitConfig = FitConfig(),
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    device: str = "cpu",
    show_progress: bool = True,
) -> FolderFit:
    """Fit a NeRF-synthetic folder; write ``out_ply`` and ``<out_ply stem>.metrics.json`` beside it.

    Args:
        folder: Folder with ``transforms_train.json`` (and optionally ``transforms_test.json``, depth, mesh).
        out_ply: Where the INRIA-layout PLY goes.
        config: Fit settings.
        background: Colour RGBA images are composited on (and the renderer's background).
        device: "cpu" or "cuda" (gsplat is used on CUDA when available).
        show_progress: Draw a tqdm progress bar.

    Returns:
        A :class:`FolderFit`.
    """
    folder, out_ply = Path(folder), Path(out_ply)
    train = load_fit_views(folder, "train", background)
    if train is None:
        raise FileNotFoundError(f"{folder}: no transforms_train.json")
    test = load_fit_views(folder, "test", background)
    points, rgb = _surface_points(folder, 4 * config.init_points, config.seed)
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, desc=f"fit {folder.name}", unit="step", dynamic_ncols=True)

    def progress(step: int, stats: dict) -> None:
        if bar is not None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{stats['loss']:.4f}", gaussians=stats["gaussians"])

    result = fit_gaussians(train, config, test, points, rgb, device=device, progress=progress)
    if bar is not None:
        bar.close()
    write_ply(out_ply, result.cloud)
    metrics_path = out_ply.with_suffix(".metrics.json")
    with atomic_open(metrics_path) as f:
        f.write(json.dumps(_metrics(folder, result, config, device), indent=2).encode())
    return FolderFit(result, out_ply, metrics_path, test)


def _metrics(folder: Path, result: FitResult, config: FitConfig, device: str) -> dict:
    return {
        "folder": str(folder),
        "psnr_test": result.psnr,
        "ssim_test": result.ssim,
        "num_gaussians": result.num_gaussians,
        "seconds": round(result.seconds, 2),
        "backend": result.backend,
        "device": device,
        "init": result.init,
        "final_loss": result.loss_history[-1] if result.loss_history else None,
        "config": dataclasses.asdict(config),
        "provenance": provenance(),
    }
