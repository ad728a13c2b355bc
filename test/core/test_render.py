"""The rasteriser's twins: tiled torch ↔ dense oracle (values and gradients), ↔ gsplat's pure-torch projection
and SH on CPU, ↔ gsplat's CUDA rasteriser (``gpu`` marker); plus gradcheck and compositing semantics.

Scenes are small (≤ 200 Gaussians, ≤ 48 px) so the dense oracle's Python loop stays quick on 2 cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import pytest
import torch
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, look_at, viewmat_from_pose
from gs_perception.core.cpu_kernel import cpp_available
from gs_perception.core.gaussians import GaussianCloud, num_sh_bases, rgb_to_sh
from gs_perception.core.projection import covariance_3d, project_gaussians
from gs_perception.core.rasterize import RasterConfig
from gs_perception.core.render import RenderOutput, render, resolve_backend
from gs_perception.core.sh import eval_sh

PARAMS = tuple(f.name for f in fields(GaussianCloud))  # means, log_scales, quats, opacity_logits, sh
EYES = torch.tensor([[2.6, 0.4, 0.9], [-0.5, 2.4, 1.3], [0.6, -2.2, -1.1]])


# -- scene builders --------------------------------------------------------------------------------------


def cameras(width: int, height: int, eyes: Tensor = EYES, fov_deg: float = 50.0) -> tuple[Tensor, Tensor]:
    """viewmats [C, 4, 4] and Ks [C, 3, 3] of cameras at ``eyes`` looking at the origin."""
    T_world_cam = look_at(eyes, torch.zeros(3))
    K = Intrinsics.from_fov(math.radians(fov_deg), width, height).K()
    return viewmat_from_pose(T_world_cam), K.expand(len(eyes), 3, 3).clone()


def camera_frame_points(viewmat: Tensor, p_cam: Tensor) -> Tensor:
    """World points of camera-frame points [M, 3] (OpenCV axes) for one world→camera ``viewmat``."""
    T = torch.linalg.inv(viewmat)
    return p_cam @ T[:3, :3].T + T[:3, 3]


def edge_case_means(viewmats: Tensor, g: torch.Generator) -> Tensor:
    """Per camera: Gaussians just past the near plane (one far off-axis so gsplat's Jacobian clamp acts),
    behind the camera, and between the camera and the near plane (culled) — [C * 6, 3] world points."""
    out = []
    for view in viewmats:
        z_near = 0.012 + 0.038 * torch.rand(3, generator=g)  # 0.012..0.05 m: above near_plane = 0.01
        xy_near = torch.stack(
            [torch.tensor([0.2, -0.1]), torch.tensor([-0.3, 0.25]), torch.tensor([0.9, 0.1])]
        )
        near = torch.cat([xy_near * z_near[:, None], z_near[:, None]], dim=1)  # x/z = 0.9 is beyond the clamp
        behind = torch.tensor([[0.1, 0.0, -0.5], [-0.2, 0.1, -1.5], [0.0, 0.02, 0.004]])
        out.append(camera_frame_points(view, torch.cat([near, behind])))
    return torch.cat(out)


def random_scene(
    viewmats: Tensor, n: int = 150, degree: int = 3, seed: int = 0, n_opaque: int = 12
) -> GaussianCloud:
    """A blob of ``n`` Gaussians around the origin plus :func:`edge_case_means` for every camera. The first
    ``n_opaque`` are big and opaque so that alpha clamps at 0.999 and pixels run out of transmittance."""
    g = torch.Generator().manual_seed(seed)
    means = torch.cat([torch.randn(n, 3, generator=g) * 0.5, edge_case_means(viewmats, g)])
    m = means.shape[0]
    log_scales = torch.randn(m, 3, generator=g) * 0.4 - 3.0
    log_scales[n:] = math.log(0.02) + 0.3 * torch.randn(m - n, 3, generator=g)  # σ ≈ the image near the lens
    opacity_logits = torch.randn(m, generator=g) * 1.5
    opacity_logits[n:] = -1.0  # translucent, so the near Gaussians do not hide the blob
    log_scales[:n_opaque] = math.log(0.12) + 0.1 * torch.randn(n_opaque, 3, generator=g)
    opacity_logits[:n_opaque] = 8.0  # sigmoid ≈ 0.9997 > alpha_max
    sh = torch.randn(m, num_sh_bases(degree), 3, generator=g) * 0.3
    sh[:, 0] = rgb_to_sh(torch.rand(m, 3, generator=g))
    quats = torch.randn(m, 4, generator=g)
    return GaussianCloud(means, log_scales, quats, opacity_logits, sh)


def leaf_cloud(cloud: GaussianCloud) -> GaussianCloud:
    """A copy whose parameters are fresh autograd leaves."""
    return GaussianCloud(**{k: getattr(cloud, k).detach().clone().requires_grad_(True) for k in PARAMS})


def weighted_loss(out: RenderOutput, seed: int = 7) -> Tensor:
    """Random positive weights on every output so no gradient term cancels by symmetry."""
    g = torch.Generator().manual_seed(seed)
    w_col = torch.rand(out.colors.shape, generator=g).to(out.colors)
    w_alpha = torch.rand(out.alphas.shape, generator=g).to(out.alphas)
    w_depth = torch.rand(out.depths.shape, generator=g).to(out.depths)
    return (w_col * out.colors).sum() + (w_alpha * out.alphas).sum() + 0.1 * (w_depth * out.depths).sum()


@dataclass
class Rendered:
    """One backend's output and the gradients of :func:`weighted_loss` w.r.t. every cloud parameter."""

    out: RenderOutput
    grads: dict[str, Tensor]


def render_with_grads(
    cloud: GaussianCloud, viewmats: Tensor, Ks: Tensor, width: int, height: int, **kw
) -> Rendered:
    """Render fresh leaves of ``cloud`` (``kw`` go to :func:`render`); backpropagate :func:`weighted_loss`."""
    leaf = leaf_cloud(cloud)
    out = render(leaf, viewmats, Ks, width, height, **kw)
    weighted_loss(out).backward()
    return Rendered(out, {k: getattr(leaf, k).grad for k in PARAMS})


def assert_grads_close(
    actual: Tensor, expected: Tensor, name: str, rel: float = 1e-4, companion: Tensor | None = None
) -> None:
    """Close to ``rel`` of each Gaussian's own gradient size (floored at 1e-3 of the whole tensor's), so
    the huge gradients of Gaussians at the lens do not hide errors in the ordinary ones.

    ``companion`` (a gradient of the same Gaussians) also sets the row size: a nearly isotropic Gaussian's
    rotation gradient is what is left after terms as large as its scale gradient cancel, so its float32
    error is relative to those terms, not to the small remainder.
    """
    assert expected.abs().max() > 0, f"{name}: reference gradient is all zero; the check would be empty"

    def row_size(g: Tensor) -> Tensor:
        return g.reshape(len(g), -1).abs().amax(dim=1)

    per_row = (
        row_size(expected) if companion is None else torch.maximum(row_size(expected), row_size(companion))
    )
    scale = torch.maximum(per_row, 1e-3 * per_row.max()).reshape(-1, *([1] * (expected.dim() - 1)))
    err = (actual - expected).abs() / scale
    worst = int(err.reshape(len(err), -1).amax(dim=1).argmax())
    assert err.max() <= rel, f"{name}: max error {err.max():.2e} of the row scale at Gaussian {worst}"


# -- tiled vs dense --------------------------------------------------------------------------------------

# Both sizes leave partial tiles at the right/bottom border for their tile size.
TWIN_CASES = {
    "37x29-tile4-deg0-grey-bg": dict(width=37, height=29, tile=4, degree=0, per_camera_bg=False, seed=0),
    "48x30-tile16-deg3-camera-bgs": dict(width=48, height=30, tile=16, degree=3, per_camera_bg=True, seed=1),
}


@pytest.fixture(scope="module", params=list(TWIN_CASES), ids=list(TWIN_CASES))
def twins(request) -> tuple[Rendered, Rendered, GaussianCloud, int]:
    """The same random scene through the tiled and the dense backends (computed once per case)."""
    case = TWIN_CASES[request.param]
    W, H = case["width"], case["height"]
    viewmats, Ks = cameras(W, H)
    cloud = random_scene(viewmats, degree=case["degree"], seed=case["seed"])
    if case["per_camera_bg"]:
        bg = torch.rand(len(viewmats), 3, generator=torch.Generator().manual_seed(5))  # [C, 3]
    else:
        bg = torch.tensor([0.5, 0.5, 0.5])  # [3], broadcast by render()
    kw = dict(backgrounds=bg, config=RasterConfig(torch_tile_size=case["tile"]))
    tiled = render_with_grads(cloud, viewmats, Ks, W, H, backend="torch", **kw)
    dense = render_with_grads(cloud, viewmats, Ks, W, H, backend="dense", **kw)
    return tiled, dense, cloud, case["tile"]


def test_twin_scene_exercises_the_edge_cases(twins):
    tiled, _, cloud, tile = twins
    out = tiled.out
    C, n_edge = out.radii.shape[0], 6 * out.radii.shape[0]
    visible = (out.radii > 0).all(dim=-1)  # [C, N]
    assert visible[:, : cloud.num - n_edge].float().mean() > 0.9  # the blob is in view
    for c in range(C):
        edge = slice(cloud.num - n_edge + 6 * c, cloud.num - n_edge + 6 * (c + 1))
        assert visible[c, edge][:3].all(), "Gaussians at 0.012..0.05 m must be drawn"
        assert not visible[c, edge][3:].any(), "Gaussians behind the camera or the near plane must be culled"
    assert 0.05 < out.alphas.mean() < 0.99  # neither empty nor saturated
    assert out.width % tile != 0 or out.height % tile != 0  # partial tiles at the border
    # The alpha clamp and the transmittance stop both decide some pixels: moving either changes the image.
    viewmats, Ks = cameras(out.width, out.height)
    base = RasterConfig(torch_tile_size=tile)
    for changed in (replace(base, alpha_max=0.99), replace(base, transmittance_min=3e-4)):
        other = render(cloud, viewmats, Ks, out.width, out.height, backend="torch", config=changed)
        assert (other.alphas - out.alphas).abs().max() > 1e-4, changed


def test_tiled_forward_matches_dense(twins):
    tiled, dense, _, _ = twins
    torch.testing.assert_close(tiled.out.colors, dense.out.colors, atol=1e-5, rtol=0)
    torch.testing.assert_close(tiled.out.alphas, dense.out.alphas, atol=1e-5, rtol=0)
    # Expected depth is a ratio by alpha: float32 noise grows where alpha is small, hence the relative part.
    torch.testing.assert_close(tiled.out.depths, dense.out.depths, atol=1e-5, rtol=2e-5)
    assert torch.equal(tiled.out.radii, dense.out.radii)


@pytest.mark.parametrize("name", PARAMS)
def test_tiled_gradients_match_dense(twins, name):
    tiled, dense, _, _ = twins
    companion = dense.grads["log_scales"] if name == "quats" else None
    assert_grads_close(tiled.grads[name], dense.grads[name], name, companion=companion)


def test_tile_size_does_not_change_the_image():
    W, H = 37, 29
    viewmats, Ks = cameras(W, H)
    cloud = random_scene(viewmats, degree=1, seed=3)
    outs = [
        render(cloud, viewmats, Ks, W, H, backend="torch", config=RasterConfig(torch_tile_size=ts))
        for ts in (1, 4, 16)
    ]
    for other in outs[1:]:
        torch.testing.assert_close(other.colors, outs[0].colors, atol=1e-6, rtol=0)
        torch.testing.assert_close(other.alphas, outs[0].alphas, atol=1e-6, rtol=0)
        torch.testing.assert_close(other.depths, outs[0].depths, atol=1e-5, rtol=1e-5)


# -- gradcheck -------------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Run on one torch thread: gradcheck makes hundreds of tiny renders, where the thread pool's
    synchronisation costs more than the work and stalls when a shared machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_render_passes_gradcheck_in_float64(one_thread):
    """4 big, half-opaque Gaussians covering an 8×8 image: every alpha is far above 1/255, transmittance far
    above 1e-4 and every tile is touched, so no threshold sits within gradcheck's finite-difference step."""
    W = H = 8
    viewmats, Ks = cameras(W, H, eyes=torch.tensor([[3.0, 0.5, 0.8]]), fov_deg=40.0)
    viewmats, Ks = viewmats.double(), Ks.double()
    g = torch.Generator().manual_seed(0)
    means = (torch.randn(4, 3, generator=g) * 0.1).double()
    log_scales = torch.full((4, 3), math.log(1.2), dtype=torch.float64) + 0.1 * torch.randn(4, 3, generator=g)
    quats = torch.randn(4, 4, generator=g).double()
    opacity_logits = torch.tensor([-0.5, 0.0, 0.3, 0.6], dtype=torch.float64)
    sh = torch.zeros(4, num_sh_bases(1), 3, dtype=torch.float64)
    sh[:, 0] = rgb_to_sh(0.2 + 0.6 * torch.rand(4, 3, generator=g)).double()
    sh[:, 1:] = 0.1 * torch.randn(4, 3, 3, generator=g)  # view dependence that keeps colours > 0
    config = RasterConfig(torch_tile_size=4)

    def fn(means, log_scales, quats, opacity_logits, sh):
        out = render(
            GaussianCloud(means, log_scales, quats, opacity_logits, sh),
            viewmats,
            Ks,
            W,
            H,
            backgrounds=torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64),
            backend="torch",
            config=config,
        )
        return out.colors, out.alphas, out.depths

    inputs = [t.requires_grad_(True) for t in (means, log_scales, quats, opacity_logits, sh)]
    with torch.no_grad():
        out = fn(*inputs)
    assert out[1].min() > 0.3 and out[1].max() < 0.99 and out[0].min() > 0.0  # no threshold nearby
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


# -- gsplat's pure-torch twins (run on CPU) --------------------------------------------------------------


def test_projection_matches_gsplat_torch_impl():
    from gsplat.cuda._torch_impl import _fully_fused_projection

    W, H = 48, 32
    viewmats, Ks = cameras(W, H)
    cloud = random_scene(viewmats, n=200, degree=0, seed=4).to(dtype=torch.float64)
    viewmats, Ks = viewmats.double(), Ks.double()
    covars = covariance_3d(cloud.quats, cloud.scales())
    ours = project_gaussians(cloud.means, covars, viewmats, Ks, W, H)
    radii, means2d, depths, conics, _ = _fully_fused_projection(cloud.means, covars, viewmats, Ks, W, H)
    assert torch.equal(ours.radii, radii)
    both = (radii > 0).all(dim=-1)
    assert 0.5 < both.float().mean() < 1.0  # some visible, some culled
    torch.testing.assert_close(ours.means2d[both], means2d[both], rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(ours.conics[both], conics[both], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.depths, depths, rtol=1e-12, atol=1e-12)


def test_projection_gradients_match_gsplat_torch_impl():
    """The written-out projection (per-component planes) differentiates like gsplat's matrix form."""
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    W, H = 48, 32
    viewmats, Ks = cameras(W, H)
    cloud = random_scene(viewmats, n=120, degree=0, seed=5).to(dtype=torch.float64)
    viewmats, Ks = viewmats.double(), Ks.double()
    g = torch.Generator().manual_seed(1)
    n = cloud.means.shape[0]
    weights = [torch.randn(len(viewmats), n, k, generator=g, dtype=torch.float64) for k in (2, 3)]

    def grads(ours: bool) -> list[Tensor]:
        leaves = [x.detach().clone().requires_grad_() for x in (cloud.means, cloud.quats, cloud.scales())]
        means, quats, scales = leaves
        if ours:
            proj = project_gaussians(means, covariance_3d(quats, scales), viewmats, Ks, W, H)
            radii, means2d, conics = proj.radii, proj.means2d, proj.conics
        else:
            covars = _quat_scale_to_covar_preci(quats, scales, compute_preci=False)[0]
            radii, means2d, _, conics, _ = _fully_fused_projection(means, covars, viewmats, Ks, W, H)
        seen = ((radii > 0).all(-1))[..., None].double()
        ((means2d * weights[0] * seen).sum() + (conics * weights[1] * seen).sum()).backward()
        return [x.grad for x in leaves]

    for ours, theirs in zip(grads(True), grads(False)):
        assert theirs.abs().max() > 0
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_eval_sh_matches_gsplat_torch_impl(degree):
    from gsplat.cuda._torch_impl import _spherical_harmonics

    g = torch.Generator().manual_seed(degree)
    dirs = torch.randn(300, 3, generator=g, dtype=torch.float64) * 2.0  # not unit: both normalise
    coeffs = torch.randn(300, 16, 3, generator=g, dtype=torch.float64)  # extra bases must be ignored
    expected = _spherical_harmonics(degree, dirs, coeffs)
    torch.testing.assert_close(eval_sh(degree, dirs, coeffs), expected, rtol=1e-10, atol=1e-12)
    k = num_sh_bases(degree)
    torch.testing.assert_close(eval_sh(degree, dirs, coeffs[:, :k]), expected, rtol=1e-10, atol=1e-12)


def test_covariance_matches_gsplat_torch_impl():
    from gsplat.cuda._torch_impl import _quat_scale_to_covar_preci

    g = torch.Generator().manual_seed(0)
    quats = torch.randn(100, 4, generator=g, dtype=torch.float64) * 3.0  # unnormalised, wxyz
    scales = torch.exp(torch.randn(100, 3, generator=g, dtype=torch.float64))
    expected = _quat_scale_to_covar_preci(quats, scales, compute_preci=False)[0]
    torch.testing.assert_close(covariance_3d(quats, scales), expected, rtol=1e-12, atol=1e-14)


# -- semantics -------------------------------------------------------------------------------------------


def frontal_camera(size: int = 16) -> tuple[Tensor, Tensor]:
    """One camera at x = -4 looking along world +x (REP-103 forward) at the origin; float32."""
    return cameras(size, size, eyes=torch.tensor([[-4.0, 0.0, 0.0]]), fov_deg=60.0)


def flat_cloud(
    means: list[list[float]], rgb: list[list[float]], opacity: list[float], scale: float
) -> GaussianCloud:
    """Isotropic Gaussians with given colours and opacities (degree 0)."""
    cloud = GaussianCloud.from_points(torch.tensor(means), rgb=torch.tensor(rgb), scale=scale)
    cloud.opacity_logits = torch.logit(torch.tensor(opacity, dtype=torch.float64)).float()
    return cloud


@pytest.mark.parametrize("backend", ["torch", "dense"])
def test_opaque_front_gaussian_hides_the_one_behind(backend):
    viewmats, Ks = frontal_camera()
    bg = torch.tensor([0.0, 0.0, 1.0])
    front, back = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]  # the camera at x = -4 looks along +x
    cloud = flat_cloud([back, front], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [0.99999, 0.99999], scale=10.0)
    out = render(cloud, viewmats, Ks, 16, 16, backgrounds=bg, backend=backend)
    centre = out.colors[0, 7:9, 7:9].reshape(-1, 3)
    # Alpha is clamped to 0.999; the back one would take T from 1e-3 to ~1e-6 ≤ 1e-4, so the pixel stops
    # before it and the remaining 0.1 % is background.
    expected = 0.999 * torch.tensor([1.0, 0.0, 0.0]) + 0.001 * bg
    torch.testing.assert_close(centre, expected.expand_as(centre), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.alphas[0, 7:9, 7:9], torch.full((2, 2, 1), 0.999), atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "dense"])
def test_translucent_back_gaussian_is_still_composited_behind_an_opaque_one(backend):
    viewmats, Ks = frontal_camera()
    cloud = flat_cloud(
        [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [0.5, 0.99999], 10.0
    )
    out = render(cloud, viewmats, Ks, 16, 16, backend=backend)
    # T after the front one is 1e-3; times (1 - 0.5) stays above 1e-4, so the back one contributes.
    green = out.colors[0, 7, 7, 1].item()
    assert green == pytest.approx(0.001 * 0.5, rel=1e-2)
    assert out.alphas[0, 7, 7, 0].item() == pytest.approx(1.0 - 0.001 * 0.5, abs=1e-6)


@pytest.mark.parametrize("backend", ["torch", "dense"])
def test_empty_or_behind_camera_scene_gives_background_and_zero_alpha(backend):
    viewmats, Ks = frontal_camera(size=12)
    bg = torch.tensor([0.1, 0.2, 0.3])
    empty = GaussianCloud(
        torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, 1, 3)
    )
    behind = flat_cloud([[-5.0, 0.0, 0.0], [-3.995, 0.0, 0.0]], [[1.0, 1.0, 1.0]] * 2, [0.9, 0.9], scale=1.0)
    for cloud in (empty, behind):
        out = render(cloud, viewmats, Ks, 12, 12, backgrounds=bg, backend=backend)
        assert torch.equal(out.colors, bg.expand(1, 12, 12, 3))
        assert torch.equal(out.alphas, torch.zeros(1, 12, 12, 1))
        assert torch.equal(out.depths, torch.zeros(1, 12, 12, 1))
        assert not (out.radii > 0).any()


@pytest.mark.parametrize("backend", ["torch", "dense"])
def test_expected_depth_of_one_gaussian_is_its_camera_z(backend):
    W, H = 24, 18
    viewmats, Ks = cameras(W, H, eyes=torch.tensor([[2.0, -1.5, 1.0]]))
    cloud = flat_cloud([[0.1, 0.2, -0.1]], [[0.5, 0.5, 0.5]], [0.8], scale=0.1)
    out = render(cloud, viewmats, Ks, W, H, backend=backend)
    z = (viewmats[0, :3, :3] @ cloud.means[0] + viewmats[0, :3, 3])[2]
    drawn = out.alphas[0, ..., 0] > 0
    assert 20 < drawn.sum() < W * H  # a blob, not a dot and not the whole image
    torch.testing.assert_close(out.depths[0, drawn, 0], z.expand(int(drawn.sum())), atol=1e-5, rtol=1e-6)
    assert torch.equal(out.depths[0, ~drawn], torch.zeros(int((~drawn).sum()), 1))


def test_render_output_shapes_and_backend_name():
    W, H = 20, 12
    viewmats, Ks = cameras(W, H, eyes=EYES[:2])
    cloud = random_scene(viewmats, n=30, degree=2)
    out = render(cloud, viewmats, Ks, W, H, backend="auto")
    assert out.backend == ("cpp" if cpp_available() else "torch")  # on CPU: the C++ kernel where it builds
    assert out.colors.shape == (2, H, W, 3)
    assert out.alphas.shape == out.depths.shape == (2, H, W, 1)
    assert out.means2d.shape == (2, cloud.num, 2)
    assert out.radii.shape == (2, cloud.num, 2) and out.radii.dtype == torch.int32
    assert (out.width, out.height) == (W, H)


def test_lower_sh_degree_ignores_the_higher_coefficients():
    W, H = 20, 12
    viewmats, Ks = cameras(W, H, eyes=EYES[:2])
    cloud = random_scene(viewmats, n=30, degree=3)
    low = render(cloud, viewmats, Ks, W, H, sh_degree=1, backend="torch")
    truncated = render(cloud.with_sh_degree(1), viewmats, Ks, W, H, backend="torch")
    full = render(cloud, viewmats, Ks, W, H, backend="torch")
    assert torch.equal(low.colors, truncated.colors)
    assert not torch.allclose(low.colors, full.colors, atol=1e-3)


def test_strategy_info_feeds_gsplat_default_strategy():
    from gsplat.strategy import DefaultStrategy

    W, H = 32, 24
    viewmats, Ks = cameras(W, H, eyes=EYES[:2])
    cloud = leaf_cloud(random_scene(viewmats, n=40, degree=0))
    out = render(cloud, viewmats, Ks, W, H, backend="torch")
    info = out.strategy_info()
    assert set(info) >= {"means2d", "radii", "width", "height", "n_cameras", "gaussian_ids"}
    assert info["means2d"].shape == (2, cloud.num, 2) and info["radii"].shape == (2, cloud.num, 2)
    assert (info["width"], info["height"], info["n_cameras"], info["gaussian_ids"]) == (W, H, 2, None)

    strategy = DefaultStrategy()
    params = {"means": cloud.means, "scales": cloud.log_scales, "quats": cloud.quats}
    state = strategy.initialize_state()
    strategy.step_pre_backward(params, {}, state, step=1, info=info)  # retain_grad on means2d
    out.colors.sum().backward()
    visible = (out.radii > 0).all(dim=-1)  # [C, N]
    grad_norm = info["means2d"].grad.norm(dim=-1)
    assert (grad_norm[visible] > 0).float().mean() > 0.9  # view-space gradients exist where drawn
    assert torch.equal(grad_norm[~visible], torch.zeros(int((~visible).sum())))
    strategy.step_post_backward(params, {}, state, step=1, info=info)  # step 1: statistics only
    assert torch.equal(state["count"], visible.sum(dim=0).float())
    # gsplat normalises view-space gradients to [-1, 1] screen units times the camera count, then sums norms.
    n_cameras = 2
    ndc = info["means2d"].grad * torch.tensor([W / 2.0 * n_cameras, H / 2.0 * n_cameras])
    expected = torch.where(visible, ndc.norm(dim=-1), 0.0).sum(dim=0)
    torch.testing.assert_close(state["grad2d"], expected)


def test_resolve_backend_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_backend("auto", cpu) == ("cpp" if cpp_available() else "torch")
    assert resolve_backend("torch", cpu) == "torch" and resolve_backend("dense", cpu) == "dense"
    with pytest.raises(RuntimeError, match="gsplat"):
        resolve_backend("gsplat", cpu)
    with pytest.raises(ValueError, match="unknown render backend"):
        resolve_backend("cuda-magic", cpu)


# -- gsplat's CUDA rasteriser (gpu marker) ---------------------------------------------------------------


@pytest.mark.gpu
class TestTorchBackendMatchesGsplatOnCuda:
    """Our tiled torch backend on CUDA vs ``gsplat.rasterization``: same scene, forward and backward."""

    W, H = 64, 48

    @pytest.fixture(scope="class")
    def pair(self) -> tuple[Rendered, Rendered]:
        viewmats, Ks = cameras(self.W, self.H, eyes=EYES[:2])
        g = torch.Generator().manual_seed(11)
        n = 3000
        sh = torch.randn(n, num_sh_bases(3), 3, generator=g) * 0.2
        sh[:, 0] = rgb_to_sh(torch.rand(n, 3, generator=g))
        cloud = GaussianCloud(
            means=torch.randn(n, 3, generator=g) * 0.5,
            log_scales=torch.randn(n, 3, generator=g) * 0.3 - 3.5,
            quats=torch.randn(n, 4, generator=g),
            opacity_logits=torch.randn(n, generator=g),
            sh=sh,
        ).to("cuda")
        viewmats, Ks = viewmats.cuda(), Ks.cuda()
        bg = torch.tensor([0.3, 0.2, 0.1], device="cuda")
        ours = render_with_grads(cloud, viewmats, Ks, self.W, self.H, backgrounds=bg, backend="torch")
        theirs = render_with_grads(cloud, viewmats, Ks, self.W, self.H, backgrounds=bg, backend="gsplat")
        return ours, theirs

    @staticmethod
    def assert_mostly_close(actual: Tensor, expected: Tensor, atol: float, what: str) -> None:
        # gsplat's kernel uses fast-math __expf: a rare pixel may flip the 1/255 alpha or 1e-4 transmittance
        # test and differ by ~1/255 of a colour, so allow 0.1 % of values past atol but bound all of them.
        bad = ((actual - expected).abs() > atol).float().mean().item()
        assert bad <= 1e-3, f"{what}: {bad:.2%} of values differ by more than {atol}"
        assert (actual - expected).abs().max() < 2e-2, what

    def test_forward(self, pair):
        ours, theirs = pair
        assert theirs.out.backend == "gsplat" and ours.out.backend == "torch"
        assert 0.2 < theirs.out.alphas.mean() < 0.99
        self.assert_mostly_close(ours.out.colors, theirs.out.colors, 1e-3, "colors")
        self.assert_mostly_close(ours.out.alphas, theirs.out.alphas, 1e-3, "alphas")
        drawn = theirs.out.alphas > 0.1  # expected depth is ill-conditioned where almost nothing is drawn
        rel = (ours.out.depths[drawn] - theirs.out.depths[drawn]).abs() / theirs.out.depths[drawn]
        assert (rel > 1e-3).float().mean() <= 1e-3 and rel.max() < 5e-2
        # gsplat bounds radii by opacity (tighter, arXiv:2402.00525) and culls opacity < 1/255: every
        # Gaussian it draws we draw too, with radii at least as large.
        assert ((ours.out.radii >= theirs.out.radii) | (theirs.out.radii == 0)).all()

    @pytest.mark.parametrize("name", PARAMS)
    def test_backward(self, pair, name):
        ours, theirs = pair
        a, b = ours.grads[name], theirs.grads[name]
        scale = b.abs().max()
        assert scale > 0
        err = (a - b).abs() / scale
        # Float32 atomics sum in a different order; a flipped threshold moves one Gaussian's gradient.
        assert err.max() < 1e-2, f"{name}: max error {err.max():.2e} of the gradient scale"
        assert (err > 1e-3).float().mean() < 1e-2, f"{name}: too many gradients off by > 0.1 % of scale"
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        assert cos > 0.9999, f"{name}: gradient direction differs (cosine {cos:.6f})"


def test_gaussian_in_the_camera_plane_gets_zero_not_nan_gradients():
    """Regression: a culled Gaussian at camera z = 0 used to give 0·inf = NaN gradients."""
    from gs_perception.core.cameras import Intrinsics, look_at, viewmat_from_pose
    from gs_perception.core.gaussians import GaussianCloud
    from gs_perception.core.render import render

    pose = look_at(torch.tensor([-4.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.0]))
    pts = torch.tensor([[0.0, 0.0, 0.0], [-4.0, 1.0, 0.5]])
    cloud = GaussianCloud.from_points(pts, scale=0.2, opacity=0.8)
    for name in ("means", "log_scales", "quats", "opacity_logits", "sh"):
        getattr(cloud, name).requires_grad_(True)
    K = Intrinsics.from_fov(0.8, 16, 16).K()[None]
    out = render(cloud, viewmat_from_pose(pose)[None], K, 16, 16, backend="torch")
    out.colors.sum().backward()
    assert out.radii[0, 1].eq(0).all() and out.radii[0, 0].gt(0).all()
    for name in ("means", "log_scales", "quats", "opacity_logits", "sh"):
        grad = getattr(cloud, name).grad
        assert torch.isfinite(grad).all(), name
        assert grad[1].abs().max() == 0, name
    assert cloud.means.grad[0].abs().max() > 0


def test_opacity_aware_radii_follow_gsplat_cuda_rule():
    """With opacities, radii shrink to min(3.33, sqrt(2 ln(255·o)))·σ and o < 1/255 is culled."""
    from gs_perception.core.projection import project_gaussians

    means = torch.tensor([[0.0, 0.0, 3.0]] * 3)
    covars = torch.eye(3).expand(3, 3, 3) * 0.01
    view, K = torch.eye(4)[None], torch.tensor([[[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]]])
    opac = torch.tensor([0.9, 0.02, 0.003])
    full = project_gaussians(means, covars, view, K, 64, 64)
    tight = project_gaussians(means, covars, view, K, 64, 64, opacities=opac)
    sigma = math.sqrt(0.01 * (100 / 3) ** 2 + 0.3)
    assert full.radii[0, :, 0].tolist() == [math.ceil(3.33 * sigma)] * 3
    expected = [math.ceil(min(3.33, math.sqrt(2 * math.log(o * 255))) * sigma) for o in (0.9, 0.02)]
    assert tight.radii[0, :2, 0].tolist() == expected
    assert tight.radii[0, 2].tolist() == [0, 0]


def test_count_contributing_pairs_matches_a_per_pixel_walk():
    """The pair count benchmarks measure against, held to the obvious loop: each pixel walks its Gaussians
    front to back, counting those with alpha ≥ alpha_min until its transmittance would reach the floor."""
    from gs_perception.core.rasterize import count_contributing_pairs

    W, H = 13, 9  # not a multiple of the torch tile: border pixels outside the image must not count
    viewmats, Ks = cameras(W, H)
    cloud = random_scene(viewmats, n=40, seed=3)
    proj = project_gaussians(
        cloud.means, covariance_3d(cloud.quats, cloud.scales()), viewmats, Ks, W, H,
        opacities=cloud.opacities(), alpha_min=1 / 255,
    )  # fmt: skip
    config = RasterConfig(torch_tile_size=4)
    got = count_contributing_pairs(
        proj.means2d, proj.conics, cloud.opacities(), proj.radii, proj.depths, W, H, config
    )
    expected = 0
    for c in range(viewmats.shape[0]):
        order = torch.argsort(proj.depths[c], stable=True).tolist()
        for y in range(H):
            for x in range(W):
                t = 1.0
                for i in order:
                    if not (proj.radii[c, i] > 0).all():
                        continue
                    dx, dy = x + 0.5 - proj.means2d[c, i, 0].item(), y + 0.5 - proj.means2d[c, i, 1].item()
                    a, b, cc = proj.conics[c, i].tolist()
                    sigma = 0.5 * (a * dx * dx + cc * dy * dy) + b * dx * dy
                    alpha = min(cloud.opacities()[i].item() * math.exp(-sigma), config.alpha_max)
                    if sigma < 0 or alpha < config.alpha_min:
                        continue
                    if t * (1 - alpha) <= config.transmittance_min:
                        break
                    t *= 1 - alpha
                    expected += 1
    # float32 cumulative transmittance vs the loop's float64 product could split a borderline pixel.
    assert got > 1000 and abs(got - expected) <= 2, (got, expected)
