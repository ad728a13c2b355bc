"""render_batch (B clouds, each at its own cameras, in one projection and one rasteriser call) against its
slow twin, one render() per cloud: the same images and the same gradients."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gs_perception.core.cpu_kernel import cpp_available
from gs_perception.core.gaussians import GaussianCloud
from gs_perception.core.projection import covariance_3d, project_gaussians
from gs_perception.core.render import RenderOutput, render, render_batch

from .test_render import EYES, PARAMS, assert_grads_close, cameras, leaf_cloud, random_scene, weighted_loss

BACKENDS = ["torch", pytest.param("cpp", marks=pytest.mark.skipif(not cpp_available(), reason="no C++"))]
W, H = 40, 32


def batch_scenes() -> tuple[list[GaussianCloud], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three clouds of one size (degree-1 SH), each with its own three cameras and backgrounds."""
    viewmats, Ks, clouds = [], [], []
    for b in range(3):
        eyes = EYES.roll(b, dims=0) * (1.0 + 0.15 * b)  # other cameras per cloud
        view, K = cameras(W, H, eyes, fov_deg=45.0 + 5 * b)
        viewmats.append(view)
        Ks.append(K)
        scene = random_scene(cameras(W, H)[0], n=120, degree=1, seed=b)  # same edge-case count: same size
        clouds.append(scene)
    backgrounds = torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(3))
    return clouds, torch.stack(viewmats), torch.stack(Ks), backgrounds


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_batch_matches_one_render_per_cloud(backend):
    clouds, viewmats, Ks, backgrounds = batch_scenes()
    leaves = [leaf_cloud(c) for c in clouds]
    batched = render_batch(leaves, viewmats, Ks, W, H, backgrounds, backend=backend)
    assert batched.colors.shape == (9, H, W, 3) and batched.means2d.shape == (9, clouds[0].num, 2)
    # each cloud's cameras get the weights the one-cloud render below gets
    sum(weighted_loss(part(batched, slice(3 * b, 3 * b + 3))) for b in range(3)).backward()

    for b, cloud in enumerate(clouds):
        leaf = leaf_cloud(cloud)
        one = render(leaf, viewmats[b], Ks[b], W, H, backgrounds=backgrounds[b], backend=backend)
        weighted_loss(one).backward()
        cams = slice(3 * b, 3 * b + 3)
        torch.testing.assert_close(batched.colors[cams], one.colors, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(batched.alphas[cams], one.alphas, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(batched.depths[cams], one.depths, rtol=1e-4, atol=1e-5)
        assert torch.equal(batched.radii[cams], one.radii)
        assert one.colors.std() > 0.05  # the scenes draw something
        for name in PARAMS:
            assert_grads_close(getattr(leaves[b], name).grad, getattr(leaf, name).grad, f"{b}:{name}")


def part(out: RenderOutput, cams: slice) -> RenderOutput:
    return replace(out, colors=out.colors[cams], alphas=out.alphas[cams], depths=out.depths[cams])


def test_render_batch_refuses_clouds_of_different_sizes():
    clouds, viewmats, Ks, _ = batch_scenes()
    short = GaussianCloud(*(getattr(clouds[1], name)[:-1] for name in PARAMS))
    with pytest.raises(ValueError, match="one size"):
        render_batch([clouds[0], short, clouds[2]], viewmats, Ks, W, H, backend="torch")


def test_projection_of_per_camera_gaussians_matches_shared_ones():
    """means [C, N, 3] with every camera given the same Gaussians is the shared-means projection."""
    clouds, viewmats, Ks, _ = batch_scenes()
    cloud, view, K = clouds[0], viewmats[0], Ks[0]
    covars = covariance_3d(cloud.quats, cloud.scales())
    shared = project_gaussians(cloud.means, covars, view, K, W, H, opacities=cloud.opacities())
    C = view.shape[0]
    per_camera = project_gaussians(
        cloud.means.expand(C, -1, -1),
        covars.expand(C, -1, -1, -1),
        view,
        K,
        W,
        H,
        opacities=cloud.opacities().expand(C, -1),
    )
    for name in ("means2d", "conics", "depths", "radii"):
        torch.testing.assert_close(getattr(per_camera, name), getattr(shared, name), rtol=0, atol=0)
