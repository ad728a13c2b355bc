"""Frozen-encoder features of a split: real views, Gaussians, and views re-rendered from the Gaussians.

"Memory-based vision" (the study's 64* column) classifies images rendered from each object's fitted Gaussians
instead of the real renders. The study rendered them only at the training poses, which the Gaussians were
fitted to; here they are also rendered at the held-out poses (``memory_test``), the honest test of a memory.
Renders use the project's renderer (gsplat on CUDA, the torch rasteriser on CPU) on the dataset's background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core.fit import render_at_views
from ..core.ply import read_ply
from ..core.render import RenderConfig
from ..data.fit_folder import load_fit_views
from ..models.dual_encoder import DualEncoder
from .datasets import ClassificationDataset


@dataclass
class Embeddings:
    """Features of the O objects of one split (numpy, float32).

    Attributes:
        object_ids: [O] dataset ids.
        labels: [O] class indices (into the dataset's class_names).
        views: [O, V, D] image embeddings of the real training views.
        gaussians: [O, D'] Gaussian embeddings (the dataset's sampling: FPS prefix by default).
        heldout: [O, V', D] real held-out views, or None.
        memory_train: [O, V, D] views rendered from the Gaussians at the training poses, or None.
        memory_test: [O, V', D] views rendered from the Gaussians at the held-out poses, or None.
    """

    object_ids: list[str]
    labels: np.ndarray
    views: np.ndarray
    gaussians: np.ndarray
    heldout: np.ndarray | None = None
    memory_train: np.ndarray | None = None
    memory_test: np.ndarray | None = None


def _to_chw(images: Tensor, size: int) -> Tensor:
    """[V, H, W, 3] → [V, 3, H, W], area-resized to ``size`` when it is non-zero."""
    out = images.permute(0, 3, 1, 2).contiguous()
    if size and tuple(out.shape[-2:]) != (size, size):
        out = torch.nn.functional.interpolate(out, (size, size), mode="area")
    return out


def object_views(
    dataset: ClassificationDataset,
    index: int,
    split: str,
    memory: bool,
    render: RenderConfig = RenderConfig(),
) -> Tensor:
    """Views of one object: real renders, or renders of its fitted Gaussians (with ``render``'s
    rasteriser), at a split's poses.

    Returns:
        [V, 3, H, W] RGB in [0, 1] composited on the dataset background (resized as the dataset does).
    """
    entry = dataset.entries[index]
    background = tuple(float(c) for c in dataset.background)
    views = load_fit_views(Path(dataset.root) / entry.folder / "views", split, background)
    if views is None:
        raise FileNotFoundError(f"{entry.folder}: no {split} views")
    if not memory:
        return _to_chw(views.rgb, dataset.config.image_size)
    cloud = read_ply(Path(dataset.root) / entry.ply)
    with torch.no_grad():
        rendered = render_at_views(cloud, views, render.resolve(cloud.means.device))
    return _to_chw(rendered.cpu(), dataset.config.image_size)


@torch.no_grad()
def compute_embeddings(
    model: DualEncoder,
    dataset: ClassificationDataset,
    memory: bool = True,
    heldout: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = False,
    render: RenderConfig = RenderConfig(),
) -> Embeddings:
    """Embed every object of ``dataset`` with the frozen ``model`` (eval mode).

    Args:
        model: Trained dual encoder.
        dataset: A split; its SampleConfig sets the Gaussian sampling and the image size.
        memory: Also embed views re-rendered from the Gaussians (training and held-out poses).
        heldout: Also embed the real held-out views.
        device: Where the encoders run.
        progress: Show a progress bar.
        render: The rasteriser of the memory views.
    """
    model.eval().to(device)
    rows: dict[str, list] = {k: [] for k in ("views", "gaussians", "heldout", "memory_train", "memory_test")}
    indices = range(len(dataset))
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="embed", unit="obj")

    def embed(images: Tensor) -> np.ndarray:
        return model.image(images.to(device)).float().cpu().numpy()

    for i in indices:
        sample = dataset[i]
        rows["views"].append(embed(sample.views))
        rows["gaussians"].append(
            model.embed_gaussians(sample.gaussians[None].to(device))[0].float().cpu().numpy()
        )
        if heldout:
            rows["heldout"].append(embed(object_views(dataset, i, "test", memory=False)))
        if memory:
            rows["memory_train"].append(embed(object_views(dataset, i, "train", memory=True, render=render)))
            rows["memory_test"].append(embed(object_views(dataset, i, "test", memory=True, render=render)))
    stacked = {k: np.stack(v) if v else None for k, v in rows.items()}
    return Embeddings(
        object_ids=[e.object_id for e in dataset.entries],
        labels=np.array([dataset.label(i) for i in range(len(dataset))]),
        **stacked,
    )
