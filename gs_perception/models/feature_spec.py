"""What an encoder bundle's encoders were trained on (:class:`FeatureSpec`, with the view camera of its image
probe, :class:`ViewSpec`), which every caller must reproduce exactly; a bundle refuses callers that differ."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import config_from_dict
from ..core.features import FEATURE_CACHE_VERSION, feature_width


def to_json_types(value: Any, what: str) -> Any:
    """``value`` as JSON would give it back (tuples become lists); raises ValueError for other types."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must hold JSON types only: {err}") from err


class SampleSettings(Protocol):
    """What :meth:`FeatureSpec.from_configs` reads of a training run's sample settings (the learning datasets'
    ``SampleConfig``; models do not import the datasets)."""

    num_points: int
    sampling: str
    feature_groups: tuple[str, ...]
    image_size: int


@dataclass(frozen=True)
class ViewSpec:
    """The camera of the views the image probe was trained on, so recognition renders an object's memory
    views the same way: a spiral of ``spiral`` cameras around the object (z up), of which the first ``pool``
    are max-pooled. The defaults are what bundles before this field were used with."""

    fov_deg: float = 40.0
    """Horizontal field of view, degrees (square pixels, principal point at the centre)."""
    radius: float = 3.0
    """Camera distance in object radii (objects were normalised to the unit sphere)."""
    elevation_deg: tuple[float, float] = (-15.0, 60.0)
    """(first, last) elevation of the spiral, degrees above the object's horizontal plane."""
    turns: float = 2.0
    """Azimuth turns of the spiral."""
    spiral: int = 8
    """Cameras on the spiral."""
    pool: int = 8
    """The first this many are max-pooled into one embedding (≤ ``spiral``)."""

    def __post_init__(self):
        object.__setattr__(self, "elevation_deg", tuple(float(e) for e in self.elevation_deg))
        if not 1 <= int(self.pool) <= int(self.spiral) or len(self.elevation_deg) != 2:
            raise ValueError(f"need 1 ≤ pool ≤ spiral and two elevations, got {self}")


@dataclass(frozen=True)
class FeatureSpec:
    """What the encoders were trained on, which every caller must reproduce exactly.

    Sequences are stored as tuples (lists from JSON compare equal after a round trip), and ``sh_degree``
    is 0 unless ``sh`` is among the feature groups: the degree changes no other column.
    """

    feature_groups: tuple[str, ...]
    """Per-Gaussian column groups, in order (core/features.py FEATURE_GROUPS)."""
    sh_degree: int
    """SH degree (0..3) of the cached features; only the ``sh`` group depends on it."""
    num_points: int
    """Gaussians per object fed to the Gaussian encoder."""
    sampling: str
    """How those were drawn from the cache: 'fps' (farthest-point prefix) or 'uniform'."""
    image_size: tuple[int, int]
    """(H, W) of the views the image encoder saw."""
    background: tuple[float, float, float]
    """RGB in [0, 1] the views were composited on."""
    features_version: int = FEATURE_CACHE_VERSION
    """Normalisation conventions of core/features.py (its FEATURE_CACHE_VERSION) the features followed."""
    views: ViewSpec = ViewSpec()
    """The view camera and pool of the image probe (recognition renders memory views with it)."""

    def __post_init__(self):
        if not 0 <= int(self.sh_degree) <= 3 or self.sampling not in ("fps", "uniform"):
            raise ValueError(
                f"bad sh_degree {self.sh_degree} (0..3) or sampling {self.sampling!r} (fps, uniform)"
            )
        feature_width(self.feature_groups)  # rejects unknown names and bare strings
        groups = tuple(str(name) for name in self.feature_groups)
        # object.__setattr__: the dataclass is frozen. Normalised once, equality then means "same input".
        normalised = {
            "feature_groups": groups,
            "sh_degree": int(self.sh_degree) if "sh" in groups else 0,
            "num_points": int(self.num_points),
            "image_size": tuple(int(s) for s in self.image_size),
            "background": tuple(float(c) for c in self.background),
            "features_version": int(self.features_version),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        if len(self.image_size) != 2 or len(self.background) != 3:
            raise ValueError(
                f"image_size must be (H, W) and background RGB, got {self.image_size}, {self.background}"
            )

    @classmethod
    def from_configs(
        cls,
        sample: SampleSettings,
        image_hw: tuple[int, int],
        background: Sequence[float],
        sh_degree: int = 0,
        views: ViewSpec = ViewSpec(),
    ) -> FeatureSpec:
        """The spec of a training run: its sample settings, the view size and background it rendered.

        Args:
            sample: The run's sample settings (num_points, sampling, feature_groups, image_size).
            image_hw: (H, W) of the views as the encoder saw them (after any ``image_size`` resize).
            background: Composite colour of the views, RGB in [0, 1].
            sh_degree: SH degree of the feature caches (ignored unless ``sh`` is a feature group).
            views: The view camera and pool of the image probe.

        Raises:
            ValueError: ``sample.image_size`` resizes to another size than ``image_hw``, or a bad value.
        """
        if sample.image_size and tuple(image_hw) != (sample.image_size, sample.image_size):
            raise ValueError(f"image_hw {tuple(image_hw)} contradicts sample.image_size {sample.image_size}")
        return cls(
            feature_groups=tuple(sample.feature_groups),
            sh_degree=sh_degree,
            num_points=sample.num_points,
            sampling=sample.sampling,
            image_size=tuple(image_hw),
            background=tuple(background),
            views=views,
        )

    @property
    def in_channels(self) -> int:
        """Per-Gaussian feature width C these groups give."""
        return feature_width(self.feature_groups, self.sh_degree)

    def _differing(self, other: FeatureSpec) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def differences(self, other: FeatureSpec) -> list[str]:
        """``"field: mine vs theirs"`` for every field that differs (empty when the specs agree)."""
        return [f"{n}: {getattr(self, n)!r} vs {getattr(other, n)!r}" for n in self._differing(other)]

    def to_dict(self) -> dict:
        """JSON types (tuples as lists); :meth:`from_dict` inverts it."""
        return to_json_types(dataclasses.asdict(self), "feature spec")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return config_from_dict(cls, data)
