"""Object recognition from the Gaussian memory with an exported encoder bundle.

An object's Gaussians come out of the memory in world coordinates (REP-103, z up, metres). The encoders were
trained on objects normalised to the unit sphere and rendered from a spiral of cameras at a multiple of the
object's radius; the bundle records that camera (its feature spec's :class:`ViewSpec`) and recognition
reproduces exactly that:

- **Gaussian embedding**: the object's Gaussians → core/features.py features (centred, scaled to the unit
  sphere, activated; farthest-point prefix of the bundle's ``num_points``) → the Gaussian encoder.
- **Memory views** (the study's "memory-based vision"): the object's Gaussians rendered alone from the
  bundle's spiral around its centre (the first ``pool`` poses), at the bundle's image size and background →
  the image encoder, max-pooled over views → the bundle's linear classifier.

Both work at any robot camera resolution and pose, because neither reads the robot's frames directly.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.cameras import Intrinsics, spiral_poses, viewmat_from_pose
from ..core.features import FeatureConfig, gaussian_features
from ..core.gaussians import GaussianCloud
from ..core.render import RenderConfig, render
from ..core.sampling import uniform_sample
from ..models.bundle import Bundle
from ..models.image_encoder import pool_views


@dataclass(frozen=True)
class RecognitionConfig:
    """How objects are cut out of the memory and shown to the encoders."""

    bundle: str = ""
    """Encoder bundle file (`gs-perception evaluate` writes <out>/bundle.pt); empty: no recognition."""
    cluster_voxel_m: float = 0.1
    """Objects are connected components of occupied voxels of this size (metres)."""
    min_gaussians: int = 50
    """Smaller clusters are not objects (noise, stray Gaussians)."""
    max_objects: int = 8
    """At most this many objects (the largest clusters) are recognised per step."""
    num_views: int = 0
    """Memory views rendered and max-pooled per object: 0 = as many as the bundle's image probe pooled (its
    view camera comes from the bundle too); another number is refused unless the bundle allows it."""
    radius_quantile: float = 0.98
    """Object box and radius from this quantile of the Gaussians' coordinates and distances (robust to a
    few stray Gaussians)."""


@dataclass
class RecognisedObject:
    """One object found in the memory, with what the encoders make of it.

    Attributes:
        id: Persistent name, "object_<k>" by cluster order (largest first) — stable while the scene is.
        index: [M] long, the object's rows in the memory snapshot it was cut from.
        centre: [3] centre of its Gaussians' axis-aligned box (world frame, metres).
        size: [3] axis-aligned extent (world frame, metres).
        image_embedding: [D_image] max-pooled embedding of its memory views.
        gaussian_embedding: [D_gaussian] embedding of its Gaussians.
        class_name: Predicted class ('' without a classifier).
        class_names: All class names, in the order of ``scores``.
        scores: [K] class probabilities (empty without a classifier).
        views: [V, H, W, 3] the memory views it was classified from.
    """

    id: str
    index: Tensor
    centre: Tensor
    size: Tensor
    image_embedding: Tensor
    gaussian_embedding: Tensor
    class_name: str
    class_names: tuple[str, ...]
    scores: Tensor
    views: Tensor


class Recogniser:
    """Embeds and classifies objects of a Gaussian cloud with a bundle.

    Args:
        bundle: Loaded encoder bundle (its feature spec fixes features, view camera, size and background).
        config: Object extraction and view settings.
        render_config: The rasteriser of the memory views (the pipeline passes the memory's).
    """

    def __init__(
        self,
        bundle: Bundle,
        config: RecognitionConfig = RecognitionConfig(),
        render_config: RenderConfig = RenderConfig(),
    ):
        self.bundle, self.config, self.render_config = bundle, config, render_config
        spec = bundle.feature_spec
        # 'fps': the farthest-point prefix of num_points, exactly what the dataset's cache prefix holds;
        # 'uniform': a random subset of the (cache-sized) set.
        max_points = spec.num_points if spec.sampling == "fps" else FeatureConfig().max_points
        self.features = FeatureConfig(max_points=max_points, sh_degree=spec.sh_degree)
        height, width = spec.image_size
        self.views = spec.views
        if config.num_views and config.num_views > self.views.spiral:
            raise ValueError(
                f"pipeline.recognition.num_views={config.num_views}, but the bundle's view spiral has "
                f"{self.views.spiral} cameras (its probe pools {self.views.pool}); use 0 for the bundle's"
            )
        if config.num_views and config.num_views != self.views.pool:
            # A probe trained on pools of one size misjudges pools of another (measured: 95 % → 30 % going
            # from 8-view to 2-view pools at equal poses), so a different size is allowed but said aloud.
            warnings.warn(
                f"pipeline.recognition.num_views={config.num_views} differs from the {self.views.pool} views "
                "the bundle's probe was trained on; class predictions may be unreliable (0 = the bundle's)",
                RuntimeWarning,
                stacklevel=2,
            )
        self.num_views = config.num_views or self.views.pool
        self.intrinsics = Intrinsics.from_fov(math.radians(self.views.fov_deg), width, height)

    @torch.no_grad()
    def canonical_views(self, cloud: GaussianCloud) -> Tensor:
        """Render an object's Gaussians alone from the training spiral around their centre.

        Args:
            cloud: The object's Gaussians (world frame).

        Returns:
            [V, H, W, 3] RGB in [0, 1] on the bundle's background, (H, W) = the bundle's image size.
        """
        centre, radius = self._centre_radius(cloud)
        v = self.views
        poses = spiral_poses(
            v.spiral, v.radius * radius, v.elevation_deg, v.turns, target=tuple(float(c) for c in centre)
        )[: self.num_views].to(cloud.device)
        background = torch.tensor(self.bundle.feature_spec.background, device=cloud.device)
        K = self.intrinsics.K(device=cloud.device).expand(len(poses), 3, 3)
        out = render(
            cloud,
            viewmat_from_pose(poses),
            K,
            self.intrinsics.width,
            self.intrinsics.height,
            backgrounds=background,
            backend=self.render_config.resolve(cloud.device) if cloud.num else "torch",
        )
        return out.colors.clamp(0.0, 1.0)

    def _centre_radius(self, cloud: GaussianCloud) -> tuple[Tensor, float]:
        """Bounding-box centre and farthest distance, as the dataset normalised its meshes (data/meshes.py),
        with quantiles instead of extremes so a few stray Gaussians do not shift the framing."""
        if cloud.num < 2:
            return cloud.means.mean(dim=0), 1e-3
        q = self.config.radius_quantile
        lo, hi = torch.quantile(cloud.means, 1 - q, dim=0), torch.quantile(cloud.means, q, dim=0)
        centre = (lo + hi) / 2
        radius = float(torch.quantile((cloud.means - centre).norm(dim=1), q))
        return centre, max(radius, 1e-3)

    @torch.no_grad()
    def recognise(self, cloud: GaussianCloud, index: Tensor, object_id: str) -> RecognisedObject:
        """Embed and classify one object.

        Args:
            cloud: The whole memory snapshot (world frame).
            index: [M] long, the object's rows in ``cloud``.
            object_id: Name reported for it.

        Returns:
            A :class:`RecognisedObject`.
        """
        part = cloud.subset(index)
        spec = self.bundle.feature_spec
        points = gaussian_features(part, self.features).columns(spec.feature_groups)
        if len(points) < spec.num_points:  # cyclic repeat, as the training datasets do with small clouds
            points = points[torch.arange(spec.num_points) % len(points)]
        elif spec.sampling == "uniform":  # a seeded random subset, as the training datasets draw them
            points = points[uniform_sample(len(points), spec.num_points, torch.Generator().manual_seed(0))]
        gaussian_embedding = self.bundle.embed_gaussians(points[None])[0]
        views = self.canonical_views(part)
        per_view = self.bundle.embed_views(views.permute(0, 3, 1, 2)[None])  # [1, V, D]
        image_embedding = pool_views(per_view, "max")[0]
        class_name, scores = "", torch.empty(0)
        classifier = self.bundle.classifier
        if classifier is not None:
            source = image_embedding if classifier.source == "image" else gaussian_embedding
            scores = classifier.logits(source[None]).softmax(dim=1)[0]
            class_name = self.bundle.class_names[int(scores.argmax())]
        lo, hi = part.means.min(dim=0).values, part.means.max(dim=0).values
        return RecognisedObject(
            id=object_id,
            index=index,
            centre=(lo + hi) / 2,
            size=hi - lo,
            image_embedding=image_embedding.cpu(),
            gaussian_embedding=gaussian_embedding.cpu(),
            class_name=class_name,
            class_names=self.bundle.class_names,
            scores=scores.cpu(),
            views=views.cpu(),
        )
