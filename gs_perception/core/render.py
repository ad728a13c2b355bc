"""One entry point for rendering a :class:`GaussianCloud`: gsplat on CUDA, our C++ kernel on CPU.

Backends (``backend=``):

- ``"gsplat"``: ``gsplat.rasterization`` (CUDA only; imported lazily, never on a machine without a usable
  GPU, because importing its CUDA backend there starts a JIT compile that fails after minutes).
- ``"torch"``: :func:`~gs_perception.core.rasterize.rasterize_tiled`, CPU or GPU, differentiable.
- ``"dense"``: :func:`~gs_perception.core.rasterize_reference.rasterize_dense`, the slow oracle.
- ``"cpp"``: :func:`~gs_perception.core.cpu_kernel.rasterize_cpp`, a fused C++ kernel (CPU only; compiled by
  ``make setup`` or on first use, cached; the same pixels as ``"torch"``, 13–40× faster on one thread).
- ``"auto"``: gsplat when the cloud is on a CUDA device and gsplat imports; on CPU the C++ kernel where it
  builds (else the torch backend, after one warning); torch on any other device.

All backends take world→camera ``viewmats`` (OpenCV axes) and return the same :class:`RenderOutput`,
so the fitter and the densification strategy do not care which one ran.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor

from .choices import check_choices
from .gaussians import GaussianCloud
from .projection import covariance_3d, project_gaussians
from .rasterize import RasterConfig, rasterize_tiled
from .rasterize_reference import rasterize_dense
from .sh import eval_sh

BACKENDS = ("auto", "gsplat", "torch", "dense", "cpp")


@dataclass(frozen=True)
class RenderConfig:
    """Which rasteriser draws Gaussians: one choice, made once, that fitting, the memory, recognition and
    evaluation all follow (each command and node has one of these; nothing else picks a backend)."""

    backend: Literal["auto", "gsplat", "torch", "cpp"] = "auto"
    """'auto' (gsplat on CUDA, the C++ kernel on CPU where it builds, else the torch rasteriser), 'gsplat'
    (CUDA only), 'torch' or 'cpp' (CPU only)."""

    def __post_init__(self):
        check_choices(self)

    def resolve(self, device: torch.device | str) -> str:
        """The concrete backend for Gaussians on ``device`` ('gsplat', 'torch' or 'cpp')."""
        return resolve_backend(self.backend, torch.device(device))


@dataclass
class RenderOutput:
    """Images from C cameras plus what densification needs.

    Attributes:
        colors: [C, H, W, 3] RGB composited over the background.
        alphas: [C, H, W, 1] accumulated opacity.
        depths: [C, H, W, 1] expected z-depth (Σ wᵢ zᵢ / alpha, metres; 0 where nothing was drawn).
        means2d: [C, N, 2] projected centres; call ``retain_grad()`` before backward to read
            view-space gradients (:meth:`strategy_info` does it for gsplat's strategies).
        radii: [C, N, 2] int32 screen radii, 0 = not visible.
        width, height: Image size.
        backend: Backend that ran ("gsplat", "torch", "dense" or "cpp").
    """

    colors: Tensor
    alphas: Tensor
    depths: Tensor
    means2d: Tensor
    radii: Tensor
    width: int
    height: int
    backend: str

    def strategy_info(self) -> dict[str, Any]:
        """The ``info`` dict gsplat's densification strategies read (unpacked layout)."""
        return {
            "means2d": self.means2d,
            "radii": self.radii,
            "width": self.width,
            "height": self.height,
            "n_cameras": self.colors.shape[0],
            "gaussian_ids": None,
        }


@functools.cache
def gsplat_usable() -> bool:
    """True when CUDA works and gsplat imports (checked once; CUDA is tested first so nothing compiles)."""
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except Exception:  # an import-time compile failure is as final as a missing package
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """Concrete backend for a request and a device; raises for an impossible request."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown render backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        if device.type == "cuda" and gsplat_usable():
            return "gsplat"
        if device.type == "cpu":
            from .cpu_kernel import cpp_available

            return "cpp" if cpp_available() else "torch"
        return "torch"
    if backend == "gsplat" and (device.type != "cuda" or not gsplat_usable()):
        raise RuntimeError("backend 'gsplat' needs the Gaussians on a CUDA device and gsplat installed")
    if backend == "cpp":
        if device.type != "cpu":
            raise RuntimeError(f"backend 'cpp' runs on CPU only, but the Gaussians are on {device}")
        from .cpu_kernel import cpp_available

        if not cpp_available():
            raise RuntimeError("backend 'cpp' needs the C++ CPU rasteriser, which did not build here")
    return backend


def render(
    cloud: GaussianCloud,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    backend: str = "auto",
    config: RasterConfig = RasterConfig(),
) -> RenderOutput:
    """Render Gaussians into C pinhole cameras (differentiable w.r.t. every cloud parameter).

    Args:
        cloud: N Gaussians (raw parameters; activated here).
        viewmats: [C, 4, 4] world→camera, OpenCV axes (``inv(T_world_cam)``).
        Ks: [C, 3, 3] intrinsics.
        width, height: Image size in pixels.
        sh_degree: SH degree to use (default: all the cloud has); lower during a stepwise schedule.
        backgrounds: [C, 3] or [3] background RGB (default black).
        backend: "auto", "gsplat", "torch", "dense" or "cpp" (see the module docstring).
        config: Rasterisation constants (gsplat's defaults).

    Returns:
        A :class:`RenderOutput`.
    """
    C = viewmats.shape[0]
    assert viewmats.shape == (C, 4, 4) and Ks.shape == (C, 3, 3), (viewmats.shape, Ks.shape)
    degree = cloud.sh_degree if sh_degree is None else min(sh_degree, cloud.sh_degree)
    if backgrounds is not None and backgrounds.dim() == 1:
        backgrounds = backgrounds.expand(C, 3)
    which = resolve_backend(backend, cloud.device)
    if which == "gsplat":
        return _render_gsplat(cloud, viewmats, Ks, width, height, degree, backgrounds, config)

    return _render_projected(
        cloud.means, covariance_3d(cloud.quats, cloud.scales()), cloud.opacities(), cloud.sh, degree,
        viewmats, Ks, width, height, backgrounds, which, config,
    )  # fmt: skip


def render_batch(
    clouds: Sequence[GaussianCloud],
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None = None,
    backend: str = "auto",
    config: RasterConfig = RasterConfig(),
) -> RenderOutput:
    """Render B clouds, each into its own C cameras, in one call (differentiable like :func:`render`).

    The same images as ``render(clouds[b], viewmats[b], Ks[b], ...)`` for each b, in b-major order; on CPU
    the batch shares one projection and one rasteriser call, which saves the per-call overhead of many
    small tensor operations and gives the C++ kernel B·C cameras to spread over its threads (a training
    step of the feed-forward predictor renders 4 objects × 3 views). gsplat renders them one by one.

    Args:
        clouds: B clouds of N Gaussians each (raw parameters), all of one SH degree.
        viewmats: [B, C, 4, 4] world→camera, OpenCV axes.
        Ks: [B, C, 3, 3] intrinsics.
        width, height: Image size in pixels.
        backgrounds: [B, C, 3] or [3] background RGB (default black).
        backend: As :func:`render`.
        config: Rasterisation constants.

    Returns:
        A :class:`RenderOutput` of B·C cameras: camera c of cloud b at index b·C + c.
    """
    B, C = viewmats.shape[:2]
    assert len(clouds) == B and viewmats.shape == (B, C, 4, 4) and Ks.shape == (B, C, 3, 3)
    if backgrounds is not None:
        backgrounds = backgrounds.expand(B, C, 3).reshape(B * C, 3)
    if len({cloud.num for cloud in clouds}) > 1 or len({cloud.sh_degree for cloud in clouds}) > 1:
        raise ValueError(
            f"render_batch needs clouds of one size and SH degree, got {[len(c) for c in clouds]}"
        )
    which = resolve_backend(backend, clouds[0].device)
    if which == "gsplat":
        return _concat([
            render(cloud, viewmats[b], Ks[b], width, height, None,
                   None if backgrounds is None else backgrounds[b * C : (b + 1) * C], which, config)
            for b, cloud in enumerate(clouds)
        ])  # fmt: skip

    stacked = {
        f.name: torch.stack([getattr(cloud, f.name) for cloud in clouds]) for f in fields(GaussianCloud)
    }
    # covariances and activations once per Gaussian, not per camera
    stacked["covars"] = covariance_3d(stacked["quats"], torch.exp(stacked["log_scales"]))
    stacked["opacities"] = torch.sigmoid(stacked["opacity_logits"])

    def per_camera(name: str) -> Tensor:  # [B·C, N, ...]: each camera gets its own cloud's Gaussians
        return stacked[name][:, None].expand(B, C, *stacked[name].shape[1:]).flatten(0, 1)

    return _render_projected(
        per_camera("means"), per_camera("covars"), per_camera("opacities"), per_camera("sh"),
        clouds[0].sh_degree, viewmats.flatten(0, 1), Ks.flatten(0, 1), width, height, backgrounds, which,
        config,
    )  # fmt: skip


def _render_projected(
    means: Tensor,
    covars: Tensor,
    opacities: Tensor,
    sh: Tensor,
    degree: int,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None,
    which: str,
    config: RasterConfig,
) -> RenderOutput:
    """The CPU backends' render of N Gaussians (means [N, 3], ...) or of per-camera ones ([C, N, 3], ...)."""
    C = viewmats.shape[0]
    proj = project_gaussians(
        means, covars, viewmats, Ks, width, height, config.eps2d, config.near_plane, config.far_plane,
        opacities=opacities, alpha_min=config.alpha_min,
    )  # fmt: skip
    campos = -viewmats[:, :3, :3].transpose(1, 2) @ viewmats[:, :3, 3:]  # [C, 3, 1] camera centres
    dirs = means - campos[:, None, :, 0]  # [C, N, 3]
    if sh.dim() == 3:  # one set of coefficients for every camera
        sh = sh[None].expand(C, -1, -1, -1)
    rgb = torch.clamp_min(eval_sh(degree, dirs, sh) + 0.5, 0.0)
    feats = torch.cat([rgb, proj.depths[..., None]], dim=-1)  # depth rides along as a 4th channel
    bg = None if backgrounds is None else torch.cat([backgrounds, backgrounds.new_zeros(C, 1)], dim=-1)
    raster = {"torch": rasterize_tiled, "dense": rasterize_dense}.get(which)
    if raster is None:  # "cpp": imported here so that other backends never touch the compiler
        from .cpu_kernel import rasterize_cpp as raster
    img, alphas = raster(
        proj.means2d, proj.conics, opacities, feats, proj.radii, proj.depths, width, height, bg, config
    )
    depth = img[..., 3:] / alphas.clamp_min(1e-10)
    return RenderOutput(img[..., :3], alphas, depth, proj.means2d, proj.radii, width, height, which)


def _concat(outs: list[RenderOutput]) -> RenderOutput:
    """Renders of several clouds as one output, camera after camera."""
    joined = {
        f: torch.cat([getattr(o, f) for o in outs])
        for f in ("colors", "alphas", "depths", "means2d", "radii")
    }
    return RenderOutput(**joined, width=outs[0].width, height=outs[0].height, backend=outs[0].backend)


def _render_gsplat(
    cloud: GaussianCloud,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    degree: int,
    backgrounds: Tensor | None,
    config: RasterConfig,
) -> RenderOutput:
    from gsplat import rasterization

    colors, alphas, meta = rasterization(
        means=cloud.means,
        quats=cloud.quats,
        scales=cloud.scales(),
        opacities=cloud.opacities(),
        colors=cloud.sh,
        viewmats=viewmats,
        Ks=Ks,
        width=width,
        height=height,
        sh_degree=degree,
        backgrounds=backgrounds,
        render_mode="RGB+ED",
        packed=False,
        eps2d=config.eps2d,
        near_plane=config.near_plane,
        far_plane=config.far_plane,
        tile_size=config.tile_size,
    )
    return RenderOutput(
        colors[..., :3], alphas, colors[..., 3:], meta["means2d"], meta["radii"], width, height, "gsplat"
    )
