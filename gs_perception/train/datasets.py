"""torch Datasets over a generated dataset: Gaussians from the feature caches, views from the PNGs.

- :class:`SSLDataset`: an object's sampled Gaussians plus K of its views drawn at random (self-supervised
  training: two views of one object are a triplet's anchor and positive; the Gaussians pair with a view).
- :class:`ClassificationDataset`: an object's Gaussians and its first V views with the class label.

Sampling never touches PLY files: caches hold each object's Gaussians in farthest-point order, so 'fps'
takes a prefix (deterministic) and 'uniform' draws without replacement from the cached Gaussians. Objects
with fewer Gaussians than asked for repeat them cyclically so a batch stacks. Random choices come from a
generator seeded by (seed, epoch, index): results do not depend on DataLoader workers; call
:meth:`set_epoch` each epoch for fresh draws. Images are ``[3, H, W]`` float in [0, 1], composited on the
dataset's background colour.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..core.choices import check_choices
from ..core.features import GaussianFeatures
from ..core.runtime import seeded_generator
from ..core.sampling import uniform_sample
from ..data.catalog import SPLITS
from ..data.feature_cache import read_feature_cache
from ..data.manifest import MANIFEST_NAME, ManifestEntry, read_manifest


@dataclass(frozen=True)
class SampleConfig:
    """What one sample holds and how it is drawn."""

    num_points: int = 2048
    """Gaussians per sample (the study used 2,048)."""
    sampling: Literal["fps", "uniform"] = "fps"
    """'fps': the first num_points in farthest-point order (deterministic); 'uniform': random subset."""
    feature_groups: tuple[str, ...] = ("xyz", "scale", "rot", "opacity", "rgb")
    """Per-Gaussian columns, in order (see core/features.py FEATURE_GROUPS)."""
    views_per_sample: int = 2
    """SSL: views drawn per object (K ≥ 2 gives an anchor and a positive)."""
    num_views: int = 0
    """Classification: the first V training views per object; 0 = all."""
    image_size: int = 0
    """Resize views to this square size (area interpolation); 0 keeps the rendered size."""
    preload: bool = True
    """Keep every object's feature cache in memory after its first use."""
    colour_augment: bool = False
    """SSL: give each view a random colour-channel permutation (and grey with probability 0.2), so
    matching views and Gaussians cannot rest on colour alone (with random appearance, colour identifies an
    instance but says nothing about its class)."""
    crop_augment: float = 0.0
    """SSL: if > 0, each view is cropped to a random square of side in [1 − crop_augment, 1] × its size
    at a random place and resized back, so the two views of a pair differ in scale and framing as well
    as pose. 0 = off."""
    gaussian_yaw: bool = False
    """SSL: turn each sample's Gaussians by a random angle about the object's vertical (z) axis
    (positions and rotations), so the Gaussian encoder cannot rest on the object's heading; the views
    stay as rendered. Not with the 'sh' group (higher SH bands would have to turn too)."""
    gaussian_jitter: float = 0.0
    """SSL: standard deviation of Gaussian noise added to each position, in the features' normalised
    units (the object fits the unit sphere). 0 = off."""
    fit: int = 1
    """Which of an object's independent 3DGS fits the Gaussians come from (1 = the first; datasets made
    with ``fits_per_object`` > 1 have more)."""
    random_fit: bool = False
    """SSL: each sample takes the Gaussians of a random fit of its object instead of ``fit``, so the views
    must match every independent reconstruction of the object (fits as positives)."""
    seed: int = 0
    """Seed of the random draws (combined with the epoch and the index)."""

    def __post_init__(self):
        check_choices(self)
        if self.fit < 1:
            raise ValueError(f"fit counts from 1, got {self.fit}")
        if self.gaussian_yaw and "sh" in self.feature_groups:
            raise ValueError("gaussian_yaw cannot turn the 'sh' feature group; drop one of them")
        if not self.gaussian_jitter >= 0:
            raise ValueError(f"gaussian_jitter must be ≥ 0, got {self.gaussian_jitter}")


@dataclass
class SSLSample:
    """gaussians [P, C]; views [K, 3, H, W]; view_ids [K] indices into the object's training views;
    label (class index, for monitoring only); index of the object in the dataset."""

    gaussians: Tensor
    views: Tensor
    view_ids: Tensor
    label: int
    index: int


@dataclass
class ObjectSample:
    """gaussians [P, C]; views [V, 3, H, W]; label; index of the object in the dataset."""

    gaussians: Tensor
    views: Tensor
    label: int
    index: int


@dataclass
class Batch:
    """Stacked samples: gaussians [B, P, C]; views [B, K, 3, H, W]; labels [B]; indices [B];
    view_ids [B, K] (SSL only, else None)."""

    gaussians: Tensor
    views: Tensor
    labels: Tensor
    indices: Tensor
    view_ids: Tensor | None = None


def collate(samples: list[SSLSample] | list[ObjectSample]) -> Batch:
    """Stack samples into a :class:`Batch` (the ``collate_fn`` for a DataLoader)."""
    view_ids = [getattr(s, "view_ids", None) for s in samples]
    return Batch(
        gaussians=torch.stack([s.gaussians for s in samples]),
        views=torch.stack([s.views for s in samples]),
        labels=torch.tensor([s.label for s in samples]),
        indices=torch.tensor([s.index for s in samples]),
        view_ids=None if view_ids[0] is None else torch.stack(view_ids),
    )


class _GaussianViewSet(Dataset):
    """Objects of one split of a generated dataset (the successful ones), with class indices."""

    def __init__(self, root: str | Path, split: str | tuple[str, ...], config: SampleConfig = SampleConfig()):
        self.root, self.config, self.epoch = Path(root), config, 0
        splits = (split,) if isinstance(split, str) else tuple(split)
        if not set(splits) <= set(SPLITS):
            raise ValueError(f"unknown split in {splits}; expected some of {SPLITS}")
        if config.sampling not in ("fps", "uniform"):
            raise ValueError(f"unknown sampling {config.sampling!r}; expected 'fps' or 'uniform'")
        entries = read_manifest(self.root / MANIFEST_NAME)
        if not entries:
            raise FileNotFoundError(f"{self.root}: no {MANIFEST_NAME}; generate the dataset first")
        ok = sorted((e for e in entries.values() if e.ok), key=lambda e: e.object_id)
        #: Class names of the whole dataset (every split), so indices agree between splits.
        self.class_names: tuple[str, ...] = tuple(sorted({e.label for e in ok}))
        self.entries: list[ManifestEntry] = [e for e in ok if e.split in splits]
        fits = min((len(e.fit_features()) for e in self.entries), default=0)
        if self.entries and config.fit > fits:
            raise ValueError(
                f"{self.root}: fit {config.fit} asked for, but some objects have only {fits} fit(s); "
                "add fits with generate-dataset --fits-per-object"
            )
        #: Independent fits every object of the splits has (``random_fit`` draws among these).
        self.num_fits = fits
        saved = json.loads((self.root / "dataset.json").read_text())["config"]
        self.background = np.asarray(saved["view"]["background"], dtype=np.float32)
        self._features: dict[tuple[int, int], GaussianFeatures] = {}
        self._frames: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (uniform sampling, SSL views) for a new epoch."""
        self.epoch = int(epoch)

    def label(self, index: int) -> int:
        return self.class_names.index(self.entries[index].label)

    def _generator(self, index: int) -> torch.Generator:
        return seeded_generator(self.config.seed, self.epoch, index)

    def features(self, index: int, fit: int = 0) -> GaussianFeatures:
        """The cached features (all of them, in FPS order) of fit ``fit`` of the object (0: the config's)."""
        key = (index, fit or self.config.fit)
        if key in self._features:
            return self._features[key]
        features = read_feature_cache(self.root / self.entries[index].fit_features()[key[1] - 1])
        if self.config.preload:
            self._features[key] = features
        return features

    def gaussians(
        self, index: int, generator: torch.Generator | None = None, augment: bool = False
    ) -> Tensor:
        """[P, C] sampled Gaussians of an object (P = num_points, C from feature_groups); ``augment``
        applies the config's Gaussian augmentations and fit draw (SSL training only). ``generator``
        defaults to the object's own for this epoch."""
        generator = self._generator(index) if generator is None else generator
        fit = 0
        if augment and self.config.random_fit and self.num_fits > 1:
            fit = 1 + int(torch.randint(self.num_fits, (), generator=generator))
        features, n = self.features(index, fit), self.config.num_points
        if self.config.sampling == "fps" or len(features) <= n:
            picked = torch.arange(n) % len(features)  # FPS prefix; cyclic repeat when too few
        else:
            picked = uniform_sample(len(features), n, generator)
        features = features.subset(picked)
        if augment and (self.config.gaussian_yaw or self.config.gaussian_jitter > 0):
            features = gaussian_augment(
                features, generator, self.config.gaussian_yaw, self.config.gaussian_jitter
            )
        return features.columns(self.config.feature_groups)

    def view_files(self, index: int) -> list[str]:
        """The object's training-view PNGs (relative to the dataset root), in pose order."""
        if index not in self._frames:
            folder = Path(self.entries[index].folder) / "views"
            meta = json.loads((self.root / folder / "transforms_train.json").read_text())
            self._frames[index] = [(folder / f["file_path"]).as_posix() for f in meta["frames"]]
        return self._frames[index]

    def load_views(self, index: int, view_ids: Tensor) -> Tensor:
        """[K, 3, H, W] float views composited on the background (resized if ``image_size``)."""
        files = self.view_files(index)
        images = [self._load_image(self.root / files[int(i)]) for i in view_ids]
        return torch.stack(images)

    def _load_image(self, path: Path) -> Tensor:
        with Image.open(path) as img:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        rgb = rgba[..., :3] * rgba[..., 3:] + self.background * (1.0 - rgba[..., 3:])
        image = torch.from_numpy(rgb).permute(2, 0, 1)
        size = self.config.image_size
        if size and image.shape[-2:] != (size, size):
            image = torch.nn.functional.interpolate(image[None], (size, size), mode="area")[0]
        return image


def colour_augment(views: Tensor, generator: torch.Generator, grey_probability: float = 0.2) -> Tensor:
    """Per view: permute the RGB channels at random, then with ``grey_probability`` average them.

    Args:
        views: [K, 3, H, W] RGB in [0, 1]. A white or grey background stays unchanged.
        generator: Source of the draws.

    Returns:
        [K, 3, H, W] augmented views.
    """
    out = []
    for view in views:
        view = view[torch.randperm(3, generator=generator)]
        if float(torch.rand((), generator=generator)) < grey_probability:
            view = view.mean(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(view)
    return torch.stack(out)


def crop_augment(views: Tensor, generator: torch.Generator, strength: float) -> Tensor:
    """Per view: a random square crop of side ``s ∈ [1 − strength, 1] × size`` resized back (bilinear).

    Args:
        views: [K, 3, H, W] RGB in [0, 1].
        generator: Source of the draws.
        strength: Largest fraction of the side cut away, in [0, 1).

    Returns:
        [K, 3, H, W] augmented views.
    """
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"crop strength must lie in [0, 1), got {strength}")
    _, _, h, w = views.shape
    out = []
    for view in views:
        side = 1.0 - strength * float(torch.rand((), generator=generator))
        ch, cw = max(1, round(side * h)), max(1, round(side * w))
        top = int(torch.randint(0, h - ch + 1, (), generator=generator))
        left = int(torch.randint(0, w - cw + 1, (), generator=generator))
        crop = view[None, :, top : top + ch, left : left + cw]
        out.append(torch.nn.functional.interpolate(crop, (h, w), mode="bilinear", align_corners=False)[0])
    return torch.stack(out)


def gaussian_augment(
    features: GaussianFeatures, generator: torch.Generator | None, yaw: bool, jitter: float
) -> GaussianFeatures:
    """A random turn about the vertical axis and position noise, applied to an object's Gaussians.

    Args:
        features: N Gaussians in the normalised object frame (z up, centred on the object).
        generator: Source of the angle and the noise.
        yaw: Turn by θ ~ U[0, 2π) about z: positions by R_z(θ), rotations by the quaternion
            (cos θ/2, 0, 0, sin θ/2) ⊗ q (wxyz; w ≥ 0 kept). Scales, opacity and DC colour do not change.
        jitter: Standard deviation of the noise added to each position (normalised units); 0 = none.

    Returns:
        The augmented :class:`GaussianFeatures` (the input is not modified).
    """
    xyz, quats = features.xyz, features.quats
    if yaw:
        theta = 2.0 * math.pi * float(torch.rand((), generator=generator))
        c, s = math.cos(theta), math.sin(theta)
        x, y = xyz[:, 0], xyz[:, 1]
        xyz = torch.stack([c * x - s * y, s * x + c * y, xyz[:, 2]], dim=-1)
        ch, sh = math.cos(theta / 2), math.sin(theta / 2)
        w, qx, qy, qz = quats.unbind(-1)
        quats = torch.stack(
            [ch * w - sh * qz, ch * qx - sh * qy, ch * qy + sh * qx, ch * qz + sh * w], dim=-1
        )
        quats = torch.where(quats[:, :1] < 0, -quats, quats)  # q and -q are one rotation; features keep w ≥ 0
    if jitter > 0:
        xyz = xyz + jitter * torch.randn(xyz.shape, generator=generator, dtype=xyz.dtype)
    return replace(features, xyz=xyz, quats=quats)


class SSLDataset(_GaussianViewSet):
    """Self-supervised samples: an object's Gaussians and K distinct random training views."""

    def __getitem__(self, index: int) -> SSLSample:
        generator = self._generator(index)
        n_views, k = len(self.view_files(index)), self.config.views_per_sample
        if k > n_views:
            raise ValueError(f"views_per_sample {k} > the {n_views} views of {self.entries[index].object_id}")
        view_ids = uniform_sample(n_views, k, generator)
        views = self.load_views(index, view_ids)
        if self.config.colour_augment:
            views = colour_augment(views, generator)
        if self.config.crop_augment > 0:
            views = crop_augment(views, generator, self.config.crop_augment)
        gaussians = self.gaussians(index, generator, augment=True)
        return SSLSample(gaussians, views, view_ids, self.label(index), index)


class ClassificationDataset(_GaussianViewSet):
    """Labelled objects: Gaussians, the first V training views and the class index."""

    def __getitem__(self, index: int) -> ObjectSample:
        n_views = len(self.view_files(index))
        count = min(self.config.num_views or n_views, n_views)
        views = self.load_views(index, torch.arange(count))
        return ObjectSample(self.gaussians(index), views, self.label(index), index)
