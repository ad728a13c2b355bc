"""Recognition's memory views frame an object as the training views did, whatever its size and position."""

from __future__ import annotations

import math
import types

import pytest
import torch

from gs_perception.core.gaussians import GaussianCloud
from gs_perception.models.feature_spec import ViewSpec
from gs_perception.pipeline.recognition import Recogniser, RecognitionConfig


def _sphere(centre: tuple[float, float, float], radius: float, n: int = 800) -> GaussianCloud:
    g = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    points = torch.tensor(centre) + radius * d
    cloud = GaussianCloud.from_points(points, rgb=torch.full((n, 3), 0.2), scale=0.04 * radius, opacity=0.99)
    return cloud


def _recogniser(views: ViewSpec | None = None, num_views: int = 0) -> Recogniser:
    spec = types.SimpleNamespace(
        num_points=256, sh_degree=0, sampling="fps", image_size=(48, 48), background=(1.0, 1.0, 1.0),
        views=ViewSpec(pool=3) if views is None else views,
    )  # fmt: skip
    return Recogniser(types.SimpleNamespace(feature_spec=spec), RecognitionConfig(num_views=num_views))


@pytest.mark.parametrize(("centre", "radius"), [((0.0, 0.0, 0.0), 1.0), ((2.0, -1.0, 0.5), 0.3)])
def test_canonical_views_centre_the_object_and_fill_the_frame_like_training(centre, radius):
    views = _recogniser().canonical_views(_sphere(centre, radius))
    assert views.shape == (3, 48, 48, 3)
    mask = views.mean(dim=-1) < 0.6  # the dark sphere on the white background
    for m in mask:
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert abs(float(xs.float().mean()) - 23.5) < 1.5 and abs(float(ys.float().mean()) - 23.5) < 1.5
        # A unit sphere seen from 3 radii with a 40° camera: angular radius asin(1/3) = 19.5° of the 20°
        # half-field, so its silhouette spans ≈ tan(19.5°) / tan(20°) = 97 % of the width.
        width = float(xs.max() - xs.min() + 1) / 48
        expected = math.tan(math.asin(1 / 3)) / math.tan(math.radians(20))
        assert width == pytest.approx(expected, abs=0.12)


def _silhouette_width(views: torch.Tensor) -> float:
    xs = torch.nonzero(views[0].mean(dim=-1) < 0.6, as_tuple=True)[1]
    return float(xs.max() - xs.min() + 1) / views.shape[2]


def test_memory_views_follow_the_bundles_view_camera_and_pool():
    sphere = _sphere((0.0, 0.0, 0.0), 1.0)
    far = ViewSpec(radius=6.0, spiral=16, pool=5)
    views = _recogniser(far, num_views=0).canonical_views(sphere)
    assert views.shape[0] == 5  # 0: as many as the bundle's probe pooled
    # From 6 radii: angular radius asin(1/6) = 9.6° of the 20° half-field, ≈ 46 % of the width.
    expected = math.tan(math.asin(1 / 6)) / math.tan(math.radians(20))
    assert _silhouette_width(views) == pytest.approx(expected, abs=0.08)
    with pytest.warns(RuntimeWarning, match="num_views=16 differs from the 5 views the bundle's probe"):
        other_pool = _recogniser(far, num_views=16)
    assert other_pool.canonical_views(sphere).shape[0] == 16
    with pytest.raises(ValueError, match="num_views=17, but the bundle's view spiral has 16 cameras"):
        _recogniser(far, num_views=17)
