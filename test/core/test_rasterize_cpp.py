"""The fused C++ CPU rasteriser (backend "cpp") against the tiled torch one: values, gradients, determinism,
float64 gradcheck, and ``render(..., backend="cpp")``.

Scenes are given directly in screen space (means2d, conics, radii), so the edge cases are put where they are
wanted: culled Gaussians (zero radius, negative depth), huge and sub-pixel ones, opaque ones that clamp at
alpha_max and end pixels, equal depths, and empty tiles. Skipped where no C++ compiler builds the kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest
import torch
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, look_at, viewmat_from_pose
from gs_perception.core.cpu_kernel import cpp_available, rasterize_cpp
from gs_perception.core.gaussians import GaussianCloud, num_sh_bases, rgb_to_sh
from gs_perception.core.rasterize import RasterConfig, rasterize_tiled
from gs_perception.core.render import RenderConfig, render, resolve_backend

pytestmark = pytest.mark.skipif(
    not cpp_available(), reason="the C++ CPU rasteriser did not build here (no working C++ compiler/OpenMP)"
)

INPUTS = ("means2d", "conics", "opacities", "colors", "backgrounds")


@dataclass
class Scene:
    """Rasteriser inputs; the float ones in ``INPUTS`` order, then radii and depths."""

    means2d: Tensor  # [C, N, 2]
    conics: Tensor  # [C, N, 3]
    opacities: Tensor  # [N] or [C, N]
    colors: Tensor  # [C, N, D]
    backgrounds: Tensor | None  # [C, D]
    radii: Tensor  # [C, N, 2] int32
    depths: Tensor  # [C, N]
    width: int
    height: int


def screen_scene(
    seed: int,
    C: int = 2,
    N: int = 300,
    width: int = 37,
    height: int = 29,
    D: int = 4,
    per_camera_opacity: bool = False,
    left_third_only: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Scene:
    """Random screen-space Gaussians with every edge case in it (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    span = torch.tensor([width / 3 if left_third_only else width + 12.0, height + 12.0])
    means = torch.rand(C, N, 2, generator=g) * span - torch.tensor([0.0 if left_third_only else 6.0, 6.0])
    sigma = torch.exp(torch.empty(C, N, 2).uniform_(math.log(0.4), math.log(6.0), generator=g))
    sigma[:, :5] = 40.0  # huge: covers the image, many tiles
    sigma[:, 5:15] = 0.05  # sub-pixel: only eps2d (0.3 px²) is left of it
    if left_third_only:
        sigma = sigma.clamp_max(1.5)  # so the right part of the image stays empty
    angle = torch.rand(C, N, generator=g) * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    R = torch.stack([cos, -sin, sin, cos], dim=-1).reshape(C, N, 2, 2)
    cov = R @ torch.diag_embed(sigma**2) @ R.transpose(-1, -2) + 0.3 * torch.eye(2)
    inv = torch.linalg.inv(cov.double())
    conics = torch.stack([inv[..., 0, 0], inv[..., 0, 1], inv[..., 1, 1]], dim=-1)
    radii = torch.ceil(3.0 * torch.sqrt(torch.stack([cov[..., 0, 0], cov[..., 1, 1]], dim=-1))).int()
    depths = 0.5 + 4.5 * torch.rand(C, N, generator=g)
    depths[:, 20:30] = depths[:, 20:21]  # equal depths: composited by index
    depths[:, 30:40] = -1.0  # behind the camera: culled by a zero radius, as projection does
    radii[:, 30:40] = 0
    radii[:, 40:45, 0] = 0  # one zero radius is enough to skip a Gaussian
    shape = (C, N) if per_camera_opacity else (N,)
    opacities = torch.rand(shape, generator=g) * 0.95 + 0.05
    opacities[..., 45:60] = 0.9999  # above alpha_max: clamped, and pixels run out of transmittance
    colors = torch.rand(C, N, D, generator=g)
    backgrounds = torch.rand(C, D, generator=g)
    f = dict(dtype=dtype)
    return Scene(
        means.to(**f), conics.to(**f), opacities.to(**f), colors.to(**f), backgrounds.to(**f),
        radii, depths.to(**f), width, height,
    )  # fmt: skip


def run(raster, scene: Scene, config: RasterConfig = RasterConfig(), seed: int = 3):
    """Images, alphas and the gradients (dict by input name) of a randomly weighted loss."""
    leaves = {k: getattr(scene, k).detach().clone().requires_grad_(True) for k in INPUTS}
    img, alphas = raster(
        leaves["means2d"], leaves["conics"], leaves["opacities"], leaves["colors"],
        scene.radii, scene.depths, scene.width, scene.height, leaves["backgrounds"], config,
    )  # fmt: skip
    g = torch.Generator().manual_seed(seed)
    w_img = torch.rand(img.shape, generator=g).to(img)
    w_alpha = torch.rand(alphas.shape, generator=g).to(img) - 0.5  # negative too: no cancelling by sign
    ((w_img * img).sum() + (w_alpha * alphas).sum()).backward()
    return img.detach(), alphas.detach(), {k: v.grad for k, v in leaves.items()}


def assert_grads_close(actual: Tensor, expected: Tensor, name: str, rel: float = 1e-4) -> None:
    """Within ``rel`` of each Gaussian's own gradient size (floored at 1e-3 of the tensor's largest), so a few
    large gradients do not hide errors in the small ones; plus an absolute 1e-4 for tiny rows."""
    assert actual.shape == expected.shape, (name, actual.shape, expected.shape)
    rows = expected.reshape(-1, expected.shape[-1]) if expected.dim() > 1 else expected[:, None]
    got = actual.reshape(rows.shape)
    scale = rows.abs().amax(dim=1, keepdim=True)
    scale = torch.maximum(scale, 1e-3 * scale.max())
    err = (got - rows).abs() - 1e-4
    worst = (err / scale).max()
    assert worst <= rel, f"{name}: max error {worst:.2e} of the row scale"


CONFIGS = {
    "torch-tile2-bin16": RasterConfig(),
    "torch-tile4-bin8": RasterConfig(torch_tile_size=4, tile_size=8),
    "torch-tile16-bin4": RasterConfig(torch_tile_size=16, tile_size=4, alpha_max=0.99),
}
SCENES = {
    "opacity-N": dict(seed=0),
    "opacity-CN": dict(seed=1, per_camera_opacity=True),
    "empty-tiles": dict(seed=2, left_third_only=True),
    "3-cameras-64x17-D3": dict(seed=4, C=3, width=64, height=17, D=3),
}


@pytest.fixture(scope="module", params=[(s, c) for s in SCENES for c in CONFIGS], ids=lambda p: "-".join(p))
def pair(request):
    """A scene through both rasterisers (computed once per scene and config)."""
    scene_name, config_name = request.param
    scene, config = screen_scene(**SCENES[scene_name]), CONFIGS[config_name]
    return scene, run(rasterize_tiled, scene, config), run(rasterize_cpp, scene, config)


def test_forward_matches_torch(pair):
    scene, (img_t, alpha_t, _), (img_c, alpha_c, _) = pair
    assert img_c.shape == (*scene.colors.shape[:1], scene.height, scene.width, scene.colors.shape[2])
    assert alpha_c.shape == (*img_c.shape[:3], 1)
    torch.testing.assert_close(img_c, img_t, atol=1e-5, rtol=0)
    torch.testing.assert_close(alpha_c, alpha_t, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", INPUTS)
def test_gradients_match_torch(pair, name):
    scene, (_, _, grads_t), (_, _, grads_c) = pair
    assert grads_c[name].shape == getattr(scene, name).shape
    assert grads_t[name].abs().max() > 0, "reference gradient is all zero; the check would be empty"
    assert_grads_close(grads_c[name], grads_t[name], name)


def test_scenes_exercise_the_edge_cases():
    scene = screen_scene(seed=0)
    img, alphas, _ = run(rasterize_cpp, scene)
    assert (alphas > 0.998).any(), "some pixels should saturate (alpha clamp, transmittance stop)"
    # Both the alpha clamp and the transmittance stop decide some pixels: moving either changes the image.
    for changed in (replace(RasterConfig(), alpha_max=0.99), replace(RasterConfig(), transmittance_min=3e-3)):
        assert (run(rasterize_cpp, scene, changed)[1] - alphas).abs().max() > 1e-4, changed
    empty = screen_scene(seed=2, left_third_only=True)
    _, alphas, _ = run(rasterize_cpp, empty, RasterConfig(tile_size=4))
    assert (alphas[..., -8:, :] == 0).all(), "the right of the image should hold no Gaussian"


def test_backward_is_bitwise_reproducible_across_runs_and_thread_counts():
    scene = screen_scene(seed=5, N=400)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = run(rasterize_cpp, scene)
        torch.set_num_threads(2)
        runs = [run(rasterize_cpp, scene) for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    for other in runs:
        assert torch.equal(other[0], first[0]) and torch.equal(other[1], first[1])
        for name in INPUTS:
            assert torch.equal(other[2][name], first[2][name]), name


def needle_scene(seed: int, dtype: torch.dtype = torch.float32) -> Scene:
    """The footprint's hard cases: needles at every angle (σ 0.3–60 px, up to a 200:1 aspect), opacities
    just above and below alpha_min, and near-degenerate conics, on a 70×50 image."""
    scene = screen_scene(seed=seed, C=2, N=250, width=70, height=50, dtype=dtype)
    g = torch.Generator().manual_seed(seed + 100)
    C, N = scene.means2d.shape[:2]
    long_ = torch.exp(torch.empty(C, N).uniform_(math.log(2.0), math.log(60.0), generator=g))
    short = torch.full((C, N), 0.3)
    angle = torch.rand(C, N, generator=g) * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    R = torch.stack([cos, -sin, sin, cos], dim=-1).reshape(C, N, 2, 2)
    cov = R @ torch.diag_embed(torch.stack([long_, short], dim=-1) ** 2) @ R.transpose(-1, -2)
    inv = torch.linalg.inv(cov.double())
    scene.conics = torch.stack([inv[..., 0, 0], inv[..., 0, 1], inv[..., 1, 1]], dim=-1).to(dtype)
    scene.radii = torch.ceil(3.0 * torch.sqrt(torch.stack([cov[..., 0, 0], cov[..., 1, 1]], dim=-1))).int()
    scene.radii[:, 30:40] = 0
    opacities = scene.opacities.clone()
    opacities[60:90] = (1.0 / 255.0) * (0.9 + 0.3 * torch.rand(30, generator=g)).to(dtype)
    scene.opacities = opacities
    return scene


TWIN_SCENES = {
    **{k: lambda k=k: screen_scene(**SCENES[k]) for k in SCENES},
    "needles": lambda: needle_scene(8),
}
TWIN_SCENES["needles-float64"] = lambda: needle_scene(9, torch.float64)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("scene_name", TWIN_SCENES)
def test_footprint_culling_changes_no_bit(scene_name, config):
    """The fast path (rows and tiles cut to the footprint) against its slow twin (whole screen boxes)."""
    scene = TWIN_SCENES[scene_name]()

    def raster(cull: bool):
        return lambda *args: rasterize_cpp(*args, footprint_culling=cull)

    fast, slow = run(raster(True), scene, config), run(raster(False), scene, config)
    assert slow[1].max() > 0.5, "the scene should draw something"
    assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1])
    for name in INPUTS:
        assert torch.equal(fast[2][name], slow[2][name]), name


def test_footprint_culling_skips_tiles_the_ellipse_misses():
    """A 45° needle's box covers a 6×6-tile square; its footprint only the diagonal band of tiles."""
    from gs_perception.core.cpu_kernel import _constants, _extension

    R = torch.tensor([[1.0, -1.0], [1.0, 1.0]]) / math.sqrt(2.0)
    cov = R @ torch.diag(torch.tensor([30.0, 0.5]) ** 2) @ R.T
    inv = torch.linalg.inv(cov)
    means = torch.tensor([[[48.0, 48.0]]])
    conics = torch.stack([inv[0, 0], inv[0, 1], inv[1, 1]])[None, None]
    radii = torch.ceil(3.0 * torch.sqrt(torch.diagonal(cov)))[None, None].int()
    args = (means, conics, torch.tensor([[0.8]]), torch.ones(1, 1, 3), radii, torch.ones(1, 1), None)
    counts = {}
    for cull in (True, False):
        *_, offsets, ids = _extension().forward(*args, *_constants(96, 96, RasterConfig(), cull))
        counts[cull] = ids.numel()
    assert counts[False] == 36 and counts[True] <= 16, counts


def test_nothing_visible_gives_the_background():
    scene = screen_scene(seed=6, N=20)
    scene.radii = torch.zeros_like(scene.radii)
    img, alphas, grads = run(rasterize_cpp, scene)
    assert (alphas == 0).all()
    torch.testing.assert_close(img, scene.backgrounds[:, None, None, :].expand_as(img))
    assert (grads["means2d"] == 0).all() and (grads["colors"] == 0).all()
    assert grads["backgrounds"].abs().min() > 0


def test_without_backgrounds_and_float64_matches_torch():
    scene = screen_scene(seed=7, N=120, dtype=torch.float64)
    scene.backgrounds = None
    inputs = [scene.means2d, scene.conics, scene.opacities, scene.colors, scene.radii, scene.depths]
    img_c, alpha_c = rasterize_cpp(*inputs, scene.width, scene.height)
    img_t, alpha_t = rasterize_tiled(*inputs, scene.width, scene.height)
    assert img_c.dtype == torch.float64
    torch.testing.assert_close(img_c, img_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(alpha_c, alpha_t, atol=1e-12, rtol=0)


def test_gradcheck_in_float64():
    """4 broad, half-opaque Gaussians on a 9×7 image: alphas far from 1/255 and transmittance far from 1e-4
    everywhere, so no threshold lies within gradcheck's finite-difference step."""
    g = torch.Generator().manual_seed(0)
    C, N, D, W, H = 2, 4, 3, 9, 7
    means = (torch.rand(C, N, 2, generator=g) * torch.tensor([W, H])).double()
    conics = torch.tensor([0.04, 0.01, 0.05], dtype=torch.float64).repeat(C, N, 1)
    conics = conics * (1 + 0.3 * torch.rand(C, N, 3, generator=g, dtype=torch.float64))
    radii = torch.full((C, N, 2), 40, dtype=torch.int32)
    depths = torch.rand(C, N, generator=g, dtype=torch.float64)
    opacities = 0.3 + 0.4 * torch.rand(N, generator=g, dtype=torch.float64)
    colors = torch.rand(C, N, D, generator=g, dtype=torch.float64)
    bgs = torch.rand(C, D, generator=g, dtype=torch.float64)
    leaves = [t.requires_grad_(True) for t in (means, conics, opacities, colors, bgs)]

    def f(m, con, op, col, bg):
        return rasterize_cpp(m, con, op, col, radii, depths, W, H, bg)

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-6)


def tiny_cloud(n: int = 60, seed: int = 0) -> GaussianCloud:
    g = torch.Generator().manual_seed(seed)
    sh = 0.2 * torch.randn(n, num_sh_bases(1), 3, generator=g)
    sh[:, 0] = rgb_to_sh(torch.rand(n, 3, generator=g))
    return GaussianCloud(
        means=0.4 * torch.randn(n, 3, generator=g),
        log_scales=math.log(0.08) + 0.3 * torch.randn(n, 3, generator=g),
        quats=torch.randn(n, 4, generator=g),
        opacity_logits=1.5 * torch.randn(n, generator=g),
        sh=sh,
    )


def test_render_cpp_equals_render_torch():
    W, H = 33, 25
    eyes = torch.tensor([[2.2, 0.3, 0.8], [-0.4, 2.0, 1.1]])
    viewmats = viewmat_from_pose(look_at(eyes, torch.zeros(3)))
    Ks = Intrinsics.from_fov(math.radians(50.0), W, H).K().expand(2, 3, 3).clone()
    cloud = tiny_cloud()
    outs, grads = {}, {}
    for backend in ("torch", "cpp"):
        leaf = GaussianCloud(**{k: v.detach().clone().requires_grad_(True) for k, v in vars(cloud).items()})
        out = render(leaf, viewmats, Ks, W, H, backgrounds=torch.tensor([0.2, 0.3, 0.4]), backend=backend)
        (out.colors.sum() + out.alphas.sum() + 0.1 * out.depths.sum()).backward()
        outs[backend], grads[backend] = out, {k: v.grad for k, v in vars(leaf).items()}
    assert outs["cpp"].backend == "cpp" and outs["torch"].alphas.max() > 0.5
    for field in ("colors", "alphas", "depths"):
        torch.testing.assert_close(
            getattr(outs["cpp"], field), getattr(outs["torch"], field), atol=1e-5, rtol=1e-5
        )
    for name, expected in grads["torch"].items():
        assert_grads_close(grads["cpp"][name], expected, name, rel=1e-3)


def test_backend_choice():
    assert RenderConfig(backend="cpp").resolve("cpu") == "cpp"
    assert resolve_backend("auto", torch.device("cpu")) == "cpp"  # the CPU default where it builds
    with pytest.raises(RuntimeError, match="CPU only"):
        resolve_backend("cpp", torch.device("cuda"))
    with pytest.raises(ValueError, match="CPU tensors"):
        scene = screen_scene(seed=0, N=5)
        rasterize_cpp(
            scene.means2d.to("meta"), scene.conics, scene.opacities, scene.colors,
            scene.radii, scene.depths, scene.width, scene.height,
        )  # fmt: skip


def test_without_a_working_compiler_auto_falls_back_to_the_torch_backend(monkeypatch):
    import gs_perception.core.cpu_kernel as kernel

    monkeypatch.setattr(kernel, "_extension", lambda: None)  # as when the build failed (it warned once)
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    with pytest.raises(RuntimeError, match="did not build"):
        resolve_backend("cpp", torch.device("cpu"))
