"""The posed views of a generated dataset's objects, held in memory for feed-forward training and evaluation.

Each object folder of a generated dataset (data/generate.py) has ``views/transforms_train.json`` (the spiral
the 3DGS fit saw) and ``views/transforms_test.json`` (held-out poses). Both load here, composited on the
dataset's background, into one :class:`ObjectViews` per split of the manifest, with the coverage (alpha)
and, for the training poses, the z-depth the renderer wrote: training may supervise with them, prediction
never sees them. Colours are kept as uint8 (the PNGs' own precision) and become float per batch: 600
objects × 20 views at 64² take about 300 MB.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..core.fit import FitViews
from ..data.manifest import MANIFEST_NAME, read_manifest
from ..data.nerf_synthetic import load_nerf_synthetic
from ..models.splatter import ball_in_view


def dataset_background(root: str | Path) -> tuple[float, float, float]:
    """The colour a generated dataset's views were rendered on (its ``dataset.json``; white if absent)."""
    path = Path(root) / "dataset.json"
    if path.is_file():
        view = json.loads(path.read_text()).get("config", {}).get("view", {})
        if "background" in view:
            return tuple(float(c) for c in view["background"])  # type: ignore[return-value]
    return (1.0, 1.0, 1.0)


@dataclass
class Views:
    """Posed views of one object, float, composited on ``background``.

    Attributes:
        rgb: [V, H, W, 3] colours in [0, 1].
        alpha: [V, H, W] coverage of the object in [0, 1].
        depth: [V, H, W] z-depth in metres (0 where no surface), or None.
        T_world_cam: [V, 4, 4] camera→world, OpenCV axes.
        K: [V, 3, 3] intrinsics.
        background: [3] the background colour.
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor | None
    T_world_cam: Tensor
    K: Tensor
    background: Tensor

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[2], self.rgb.shape[1]

    def fit_views(self) -> FitViews:
        """The same views as the fitter and core/fit.py ``evaluate`` take them (no depth: RGB only)."""
        return FitViews(self.rgb, self.T_world_cam, self.K, None, self.background)


@dataclass
class SplitViews:
    """The views of O objects at one set of poses, stacked: colours and coverage as uint8 (the PNGs' own
    precision), depth as float16.

    Attributes:
        rgb: [O, V, H, W, 3] uint8, composited on the background.
        alpha: [O, V, H, W] uint8 coverage.
        depth: [O, V, H, W] float16 z-depth in metres (0 = none), or None where not loaded.
        T_world_cam: [O, V, 4, 4] float32 camera→world, OpenCV axes.
        K: [O, V, 3, 3] float32 intrinsics.
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor | None
    T_world_cam: Tensor
    K: Tensor

    @property
    def num_views(self) -> int:
        return self.rgb.shape[1]


@dataclass
class ObjectViews:
    """The views of O objects of one dataset split (every object has the same view counts and size).

    Attributes:
        object_ids: [O] manifest ids, sorted.
        labels: [O] class names.
        train: The training poses (the spiral the 3DGS fits saw), with depth.
        test: The held-out poses (``num_views`` may be 0), without depth.
        background: [3] the background colour.
    """

    object_ids: list[str]
    labels: list[str]
    train: SplitViews
    test: SplitViews
    background: Tensor

    def __len__(self) -> int:
        return len(self.object_ids)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the views."""
        return self.train.rgb.shape[3], self.train.rgb.shape[2]

    def views(self, obj: int, index: Tensor | list[int] | range, held_out: bool = False) -> Views:
        """Views ``index`` of object ``obj``: training poses, or held-out ones with ``held_out``."""
        split = self.test if held_out else self.train
        i = torch.as_tensor(list(index) if isinstance(index, range) else index, dtype=torch.long)
        depth = None if split.depth is None else split.depth[obj, i].float()
        return Views(
            split.rgb[obj, i].float() / 255.0,
            split.alpha[obj, i].float() / 255.0,
            depth,
            split.T_world_cam[obj, i],
            split.K[obj, i],
            self.background,
        )


def _load_split(folder: Path, split: str, background: tuple[float, float, float], depth: bool) -> SplitViews:
    """One object's views at the poses of ``transforms_{split}.json`` (none when that file is absent)."""
    if not (folder / f"transforms_{split}.json").is_file():
        return SplitViews(
            *(torch.zeros(0) for _ in range(2)), None, torch.zeros(0, 4, 4), torch.zeros(0, 3, 3)
        )
    images = load_nerf_synthetic(folder, split)
    to_byte = lambda x: (x * 255.0).round().to(torch.uint8)  # noqa: E731
    K = images.intrinsics.K()[None].expand(len(images), 3, 3).contiguous()
    d = images.depth.half() if depth and images.depth is not None else None
    return SplitViews(to_byte(images.composite(background)), to_byte(images.alpha), d, images.T_world_cam, K)


def load_objects(
    root: str | Path, split: str, max_objects: int = 0, show_progress: bool = False
) -> ObjectViews:
    """The ``split`` objects of a generated dataset with their training and held-out views.

    Args:
        root: Dataset folder (``manifest.jsonl``, ``objects/``).
        split: 'train', 'val' or 'test' (objects recorded as failed are skipped).
        max_objects: Keep only this many, evenly spaced in object-id order (ids start with the class, so
            the classes keep their shares); 0 keeps all.
        show_progress: A tqdm bar over the objects.

    Raises:
        FileNotFoundError: No manifest in ``root``.
        ValueError: The split has no object, or objects differ in view counts or size.
    """
    root = Path(root)
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{root}: no {MANIFEST_NAME} (a dataset from gs-perception generate-dataset)")
    entries = sorted(
        (e for e in read_manifest(manifest).values() if e.ok and e.split == split and e.folder),
        key=lambda e: e.object_id,
    )
    if 0 < max_objects < len(entries):  # evenly spaced over the sorted ids: every class keeps a share
        entries = [
            entries[round(i * (len(entries) - 1) / max(max_objects - 1, 1))] for i in range(max_objects)
        ]
    if not entries:
        raise ValueError(f"{root}: no '{split}' objects in {MANIFEST_NAME}")
    background = dataset_background(root)
    if show_progress:
        from tqdm import tqdm

        entries = tqdm(entries, desc=f"load {split}", unit="obj", file=sys.stderr)
    train, test = [], []
    for e in entries:
        train.append(_load_split(root / e.folder / "views", "train", background, depth=True))
        test.append(_load_split(root / e.folder / "views", "test", background, depth=False))
    return ObjectViews(
        [e.object_id for e in entries],
        [e.label for e in entries],
        _stack(train, root, split),
        _stack(test, root, split),
        torch.tensor(background, dtype=torch.float32),
    )


def _stack(parts: list[SplitViews], root: Path, split: str) -> SplitViews:
    shapes = {tuple(p.rgb.shape) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"{root}: '{split}' objects differ in view counts or image size: {sorted(shapes)}")
    depth = None if any(p.depth is None for p in parts) else torch.stack([p.depth for p in parts])
    fields = ("rgb", "alpha", "T_world_cam", "K")
    rgb, alpha, T, K = (torch.stack([getattr(p, f) for p in parts]) for f in fields)
    return SplitViews(rgb, alpha, depth, T, K)


def draw_views(
    n_views: int, n_inputs: int, n_targets: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Disjoint random input and target view indices of one object (targets are always other views).

    Returns:
        ([n_inputs], [n_targets]) indices into the object's ``n_views`` training poses.

    Raises:
        ValueError: The object has fewer than ``n_inputs + n_targets`` views.
    """
    if n_inputs + n_targets > n_views:
        raise ValueError(
            f"{n_inputs} input + {n_targets} target views need more than the {n_views} there are"
        )
    order = torch.randperm(n_views, generator=generator)
    return order[:n_inputs], order[n_inputs : n_inputs + n_targets]


def ball_fraction(views: SplitViews, radius: float) -> float:
    """Mean projected radius of the ball of ``radius`` around the world origin over half the shorter image
    side, over all of ``views`` (see :class:`PredictorInfo`)."""
    K, T = views.K.double().reshape(-1, 3, 3), views.T_world_cam.double().reshape(-1, 4, 4)
    _, rho = ball_in_view(K, T, torch.zeros(3), radius)
    return float((rho / (0.5 * min(views.rgb.shape[2:4]))).mean())
