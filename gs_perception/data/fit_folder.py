"""Fit Gaussians to a posed image folder (ours, NeRF-synthetic, Instant-NGP or nerfstudio) and write the PLY
plus a metrics JSON with the held-out PSNR beside the mean-colour baseline.

The project's own rendered folders (split files, every image present, no distortion) load as before, with
depth and the mesh for initialisation; anything else — one ``transforms.json``, distortion, missing frames,
``--downscale`` / ``--max-size``, SfM points — goes through :mod:`~gs_perception.data.captures`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.fit import FitConfig, FitResult, FitViews, fit_gaussians
from ..core.metrics import psnr
from ..core.ply import atomic_open, write_ply
from ..provenance import provenance
from .captures import CaptureConfig, CaptureViews, capture_json, has_capture, load_capture
from .meshes import MeshError, load_mesh, sample_surface
from .nerf_synthetic import image_path_or_none, load_nerf_synthetic

#: What ``gs-perception fit`` uses on a photo capture (see :func:`is_photo_capture`). The object defaults
#: of :class:`FitConfig` (500 steps, a 1-scene-scale ball, big Gaussians pruned) leave a capture's floor,
#: walls and sky to the background colour: 18.1 dB on the project's synthetic capture against a 17.2 dB
#: mean-colour baseline; these reach 30.0 dB in 7.6 min on 2 CPU cores (docs/benchmarks.md).
CAPTURE_FIT = dataclasses.replace(
    FitConfig(),
    steps=1200,
    refine_stop=1000,
    max_gaussians=30000,
    init_points=5000,
    init_extent=3.0,
    init_background=0.3,
    prune_scale=1.0,
)


def is_photo_capture(folder: str | Path) -> bool:
    """A capture of a scene rather than a render of an object: one ``transforms.json``, or images without
    alpha (photos), so that nothing in the image is empty background."""
    folder = Path(folder)
    if not (folder / "transforms_train.json").is_file():
        return (folder / "transforms.json").is_file()
    frames = json.loads((folder / "transforms_train.json").read_text()).get("frames", [])
    first = next((p for f in frames if (p := image_path_or_none(folder, f.get("file_path", "")))), None)
    if first is None:
        return True  # images missing: only the capture loader can cope
    from PIL import Image

    with Image.open(first) as image:
        return not (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info)


def default_fit_config(folder: str | Path) -> FitConfig:
    """:data:`CAPTURE_FIT` for a photo capture, else the object defaults of :class:`FitConfig`."""
    return CAPTURE_FIT if is_photo_capture(folder) else FitConfig()


@dataclass
class FolderFit:
    """What :func:`fit_folder` produced."""

    result: FitResult
    ply_path: Path
    metrics_path: Path
    test_views: FitViews | None
    baseline_psnr: float | None
    """Held-out PSNR of a flat image of each view's mean colour: what a fit must beat."""


def load_fit_views(folder: Path, split: str, background: tuple[float, float, float]) -> FitViews | None:
    """A split of a NeRF-synthetic folder as :class:`FitViews` (None when the split's json is absent)."""
    if not (Path(folder) / f"transforms_{split}.json").exists():
        return None
    images = load_nerf_synthetic(folder, split)
    K = images.intrinsics.K()[None].expand(len(images), 3, 3).clone()
    bg = torch.tensor(background, dtype=torch.float32)
    return FitViews(images.composite(background), images.T_world_cam, K, images.depth, bg)


def _capture_views(views: CaptureViews | None, bg: torch.Tensor) -> FitViews | None:
    if views is None:
        return None
    a = views.alpha[..., None]
    return FitViews(views.rgb * a + bg * (1.0 - a), views.T_world_cam, views.K, None, bg)


def _is_plain_split_folder(folder: Path, capture: CaptureConfig) -> bool:
    """The layout the project writes: split files, pinhole, every image present, no resizing asked for."""
    train = folder / "transforms_train.json"
    if capture != CaptureConfig() or not train.is_file():
        return False
    meta = json.loads(train.read_text())
    if "ply_file_path" in meta or any(float(meta.get(k, 0.0)) for k in ("k1", "k2", "k3", "k4", "p1", "p2")):
        return False
    return all(image_path_or_none(folder, f.get("file_path", "")) for f in meta.get("frames", []))


def load_views(
    folder: Path,
    background: tuple[float, float, float] | None = None,
    capture: CaptureConfig = CaptureConfig(),
) -> tuple[FitViews, FitViews | None, torch.Tensor | None, torch.Tensor | None]:
    """(train, test, init points, their colours) of a folder in any supported layout.

    ``background`` None: white for the project's object renders (their alpha cuts the object out), and the
    training images' mean colour for a capture, where whatever the Gaussians do not cover is unbounded scene.
    """
    if _is_plain_split_folder(folder, capture):
        bg = (1.0, 1.0, 1.0) if background is None else background
        return load_fit_views(folder, "train", bg), load_fit_views(folder, "test", bg), None, None
    if not has_capture(folder):
        raise FileNotFoundError(f"{folder}: no transforms_train.json nor transforms.json")
    loaded = load_capture(folder, capture)
    if background is None:
        bg = loaded.train.rgb.mean(dim=(0, 1, 2))
    else:
        bg = torch.tensor(background, dtype=torch.float32)
    train, test = _capture_views(loaded.train, bg), _capture_views(loaded.test, bg)
    return train, test, loaded.points, loaded.points_rgb


def mean_colour_psnr(views: FitViews) -> float:
    """Mean PSNR of a flat image of each view's own mean colour against the view (the trivial baseline)."""
    flat = views.rgb.mean(dim=(1, 2), keepdim=True).expand_as(views.rgb)
    return float(torch.stack([psnr(f, t) for f, t in zip(flat, views.rgb)]).mean())


def _surface_points(folder: Path, n: int, seed: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Samples of the folder's mesh (``mesh_path`` in its transforms file) when it has one."""
    meta = json.loads(capture_json(folder).read_text())
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
    background: tuple[float, float, float] | None = None,
    device: str = "cpu",
    show_progress: bool = True,
    capture: CaptureConfig = CaptureConfig(),
) -> FolderFit:
    """Fit a posed image folder; write ``out_ply`` and ``<out_ply stem>.metrics.json`` beside it.

    Args:
        folder: Folder with ``transforms_train.json`` (and optionally ``transforms_test.json``, depth, mesh)
            or one ``transforms.json`` (see :mod:`~gs_perception.data.captures`).
        out_ply: Where the INRIA-layout PLY goes.
        config: Fit settings.
        background: Colour RGBA images are composited on (and the renderer's background); None: white for
            object renders, the images' mean colour for captures (see :func:`load_views`).
        device: "cpu" or "cuda" (gsplat is used on CUDA when available).
        show_progress: Draw a tqdm progress bar.
        capture: Resizing and held-out split of captures.

    Returns:
        A :class:`FolderFit`.
    """
    folder, out_ply = Path(folder), Path(out_ply)
    train, test, points, rgb = load_views(folder, background, capture)
    if train is None:
        raise FileNotFoundError(f"{folder}: no transforms_train.json")
    mesh_points, mesh_rgb = _surface_points(folder, 4 * config.init_points, config.seed)
    if mesh_points is not None:
        points, rgb = mesh_points, mesh_rgb
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
    baseline = mean_colour_psnr(test) if test is not None else None
    with atomic_open(metrics_path) as f:
        f.write(json.dumps(_metrics(folder, result, config, device, baseline), indent=2).encode())
    return FolderFit(result, out_ply, metrics_path, test, baseline)


def _metrics(folder: Path, result: FitResult, config: FitConfig, device: str, baseline: float | None) -> dict:
    return {
        "folder": str(folder),
        "psnr_test": result.psnr,
        "psnr_test_mean_colour_baseline": baseline,
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
