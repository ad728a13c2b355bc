"""Per-Gaussian features of a fitted cloud: activated, normalised, in farthest-point order, and cached.

Encoders consume these instead of raw clouds, so the conventions are fixed here once
(docs/architecture.md §4, fixing the original study's bugs):

- ``xyz = (means - centre) / radius``: centred on the mean of the kept Gaussians, inside the unit sphere.
- ``scales = exp(log_scales) / radius``: the same normalisation as the positions.
- ``quats``: unit, wxyz, with w ≥ 0 (q and -q are the same rotation; one sign makes them one feature).
- ``opacity = sigmoid(logit)``; the ``opacity_min`` filter compares this activated value.
- ``rgb = clamp(0.5 + SH_C0 · dc, 0, 1)``; higher SH bands, if kept, stay raw.

Gaussians are stored in farthest-point order, so any prefix of the arrays is an FPS sample of the object:
a training loader takes ``features.subset(slice(0, n))`` instead of running FPS over 100k Gaussians per
sample. This is the contract between the Gaussians and the encoders, shared by the offline datasets
(data/feature_cache.py stores it) and online recognition (pipeline/recognition.py computes it live).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from .gaussians import GaussianCloud, num_sh_bases
from .sampling import farthest_point_sample

FEATURE_GROUPS: dict[str, int | None] = {"xyz": 3, "scale": 3, "rot": 4, "opacity": 1, "rgb": 3, "sh": None}
"""Column groups of :meth:`GaussianFeatures.columns` and their widths; ``sh`` is 3·(K-1) for the SH degree
kept (0 at degree 0), see :func:`feature_width`."""

FEATURE_CACHE_VERSION = 1
"""Version of these conventions: the ``format_version`` of feature cache files, and a bundle's
``features_version``."""

_PER_GAUSSIAN = ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest")


@dataclass(frozen=True)
class FeatureConfig:
    """How a fitted cloud becomes features (part of a dataset's identity: caches built with different
    settings are different data)."""

    max_points: int = 8192
    """Gaussians kept per object, in farthest-point order, so any prefix is an FPS sample."""
    opacity_min: float = 0.005
    """Drop Gaussians whose sigmoid opacity is below this."""
    sh_degree: int = 0
    """0 keeps DC colour only; 1–3 also keep the higher SH coefficients (zero-padded if the cloud has
    fewer)."""
    seed: int = 0
    """The FPS start is drawn from a generator seeded with this."""


def feature_width(names: Sequence[str], sh_degree: int = 0) -> int:
    """Number of columns :meth:`GaussianFeatures.columns` gives for ``names`` at an SH degree (0..3)."""
    _check_group_names(names)
    widths = {**FEATURE_GROUPS, "sh": 3 * (num_sh_bases(sh_degree) - 1)}
    return sum(widths[name] for name in names)


def _check_group_names(names: Sequence[str]) -> None:
    if isinstance(names, str):  # a bare string would silently iterate as characters
        raise ValueError(f"feature group names must be a sequence of names, got the string {names!r}")
    unknown = [name for name in names if name not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown}; valid: {', '.join(FEATURE_GROUPS)}")


@dataclass
class GaussianFeatures:
    """Activated, normalised features of N Gaussians of one object, in farthest-point order.

    Attributes:
        xyz: [N, 3] positions, ``(means - centre) / radius`` (inside the unit sphere).
        scales: [N, 3] standard deviations, ``exp(log_scales) / radius``.
        quats: [N, 4] unit quaternions, wxyz, w ≥ 0.
        opacity: [N] sigmoid opacities.
        rgb: [N, 3] DC colour in [0, 1].
        sh_rest: [N, K-1, 3] raw SH coefficients of degree ≥ 1 (K-1 = 0 at SH degree 0).
        centre: [3] centre of the object in the cloud's frame.
        radius: Scale of the normalisation: max distance of a kept mean from ``centre`` (1 if that is 0).
        dropped_invalid: Input Gaussians dropped for non-finite parameters or a zero quaternion.
        dropped_transparent: Input Gaussians dropped for an opacity below ``opacity_min``.
    """

    xyz: Tensor
    scales: Tensor
    quats: Tensor
    opacity: Tensor
    rgb: Tensor
    sh_rest: Tensor
    centre: Tensor
    radius: float
    dropped_invalid: int = 0
    dropped_transparent: int = 0

    def __post_init__(self) -> None:
        n = self.xyz.shape[0]
        expected = {"xyz": (n, 3), "scales": (n, 3), "quats": (n, 4), "opacity": (n,), "rgb": (n, 3)}
        expected["centre"] = (3,)
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"GaussianFeatures.{name} has shape {got}, expected {shape}")
        sh = tuple(self.sh_rest.shape)
        if len(sh) != 3 or sh[0] != n or sh[2] != 3 or sh[1] + 1 not in (1, 4, 9, 16):
            raise ValueError(
                f"GaussianFeatures.sh_rest has shape {sh}, expected ({n}, K-1, 3), K in 1/4/9/16"
            )
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise ValueError(f"GaussianFeatures.radius must be finite and positive, got {self.radius}")

    def __len__(self) -> int:
        return self.xyz.shape[0]

    @property
    def sh_degree(self) -> int:
        """SH degree (0..3) of the kept coefficients."""
        return round((self.sh_rest.shape[1] + 1) ** 0.5) - 1

    def subset(self, index: Tensor | slice) -> GaussianFeatures:
        """The Gaussians selected by a boolean mask [N], integer indices [M] or a slice; the normalisation
        and drop counts are kept. ``subset(slice(0, m))`` is an FPS sample of m Gaussians."""
        return replace(self, **{name: getattr(self, name)[index] for name in _PER_GAUSSIAN})

    def columns(self, names: Sequence[str]) -> Tensor:
        """Named feature groups concatenated per Gaussian, in the order given.

        Args:
            names: Groups from :data:`FEATURE_GROUPS`: ``xyz`` (3), ``scale`` (3), ``rot`` (4, wxyz),
                ``opacity`` (1), ``rgb`` (3), ``sh`` (3·(K-1)). ``sh`` is flattened channel-major like the
                INRIA ``f_rest``: all R coefficients of degree ≥ 1, then all G, then all B, i.e. column
                ``c·(K-1) + (k-1)`` holds ``sh_rest[:, k-1, c]``.

        Returns:
            [N, C] tensor, C = :func:`feature_width` of the names.
        """
        _check_group_names(names)
        n = len(self)
        groups = {
            "xyz": lambda: self.xyz,
            "scale": lambda: self.scales,
            "rot": lambda: self.quats,
            "opacity": lambda: self.opacity[:, None],
            "rgb": lambda: self.rgb,
            "sh": lambda: self.sh_rest.transpose(1, 2).reshape(n, -1),
        }
        if not names:
            return self.xyz.new_zeros(n, 0)
        return torch.cat([groups[name]() for name in names], dim=1)


# -- computing features ----------------------------------------------------------------------------------


def _check_config(config: FeatureConfig) -> None:
    if config.max_points < 1:
        raise ValueError(f"FeatureConfig.max_points must be ≥ 1, got {config.max_points}")
    if config.sh_degree not in range(4):
        raise ValueError(f"FeatureConfig.sh_degree must be in 0..3, got {config.sh_degree}")
    if not 0.0 <= config.opacity_min < 1.0:
        raise ValueError(f"FeatureConfig.opacity_min must be in [0, 1), got {config.opacity_min}")


def _valid_mask(cloud: GaussianCloud) -> Tensor:
    """[N] True where every parameter and the activated scale are finite and the quaternion is nonzero."""
    valid = torch.ones(cloud.num, dtype=torch.bool, device=cloud.device)
    for f in fields(cloud):
        valid &= torch.isfinite(getattr(cloud, f.name)).reshape(cloud.num, -1).all(dim=1)
    # exp overflows to inf for log-scales above ~88, and a zero quaternion has no rotation to normalise.
    valid &= torch.isfinite(cloud.scales()).all(dim=1)
    valid &= cloud.quats.norm(dim=1) > 0
    return valid


@torch.no_grad()
def gaussian_features(
    cloud: GaussianCloud,
    config: FeatureConfig = FeatureConfig(),
) -> GaussianFeatures:
    """Features of a fitted cloud: filtered, activated, normalised and ordered by farthest-point sampling.

    Gaussians with non-finite parameters (bad fits produce them) or a zero quaternion are dropped first,
    then those with ``sigmoid(logit) < opacity_min``. The FPS start is
    ``torch.randint(N, (1,), generator=torch.Generator().manual_seed(config.seed))`` over the kept ones.

    Args:
        cloud: N Gaussians, any float dtype and device (the result stays on that device).
        config: Filtering, SH degree, size cap and seed.

    Returns:
        Float32 features of min(max_points, kept) Gaussians in FPS order.

    Raises:
        ValueError: No Gaussian survives the filters (the message gives the counts), or a bad config.
    """
    _check_config(config)
    cloud = cloud.detach().to(dtype=torch.float32).with_sh_degree(config.sh_degree)
    valid = _valid_mask(cloud)
    opaque = cloud.opacities() >= config.opacity_min
    keep = valid & opaque
    num_kept = int(keep.sum())
    dropped_invalid, dropped_transparent = cloud.num - int(valid.sum()), int((valid & ~opaque).sum())
    if num_kept == 0:
        raise ValueError(
            f"no Gaussians left of {cloud.num}: {dropped_invalid} non-finite or with a zero quaternion, "
            f"{dropped_transparent} with opacity below opacity_min={config.opacity_min}"
        )
    cloud = cloud.subset(keep)

    centre = cloud.means.mean(dim=0)
    radius = float((cloud.means - centre).norm(dim=1).max())
    radius = radius if radius > 0 else 1.0  # one Gaussian, or all at one point: nothing to scale
    xyz = (cloud.means - centre) / radius

    generator = torch.Generator().manual_seed(config.seed)
    start = int(torch.randint(num_kept, (1,), generator=generator))
    order = farthest_point_sample(xyz, min(config.max_points, num_kept), start=start)
    cloud = cloud.subset(order)

    quats = cloud.unit_quats()
    quats = torch.where(quats[:, :1] < 0, -quats, quats)
    return GaussianFeatures(
        xyz=xyz[order],
        scales=cloud.scales() / radius,
        quats=quats,
        opacity=cloud.opacities(),
        rgb=cloud.rgb(),
        sh_rest=cloud.sh[:, 1:].contiguous(),
        centre=centre,
        radius=radius,
        dropped_invalid=dropped_invalid,
        dropped_transparent=dropped_transparent,
    )
