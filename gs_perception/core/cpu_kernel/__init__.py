"""Fused C++ CPU rasteriser (forward + backward): the opt-in ``"cpp"`` render backend.

:func:`rasterize_cpp` takes and returns exactly what :func:`gs_perception.core.rasterize.rasterize_tiled`
does and composites the same (Gaussian, pixel) pairs: a Gaussian's screen box is rounded out to
``config.torch_tile_size`` like the torch backend's tiles, while the kernel itself works on
``config.tile_size`` tiles (16 px, gsplat's) and visits, within the box, only the rows, pixels and tiles of
the Gaussian's footprint (where its alpha can reach ``alpha_min``). One OpenMP task per (camera, tile); the
backward walks each pixel back to front from the last Gaussian the forward composited, and reduces
per-(Gaussian, tile) partial gradients in a fixed order, so two backward passes give bitwise equal gradients.

The extension (``rasterize.cpp``) is compiled on first use with ``torch.utils.cpp_extension.load`` into
``~/.cache/gs_perception/cpu_kernel/<key>`` (``$GS_PERCEPTION_CACHE`` replaces ``~/.cache/gs_perception``),
keyed by torch, Python and the CPU so that a ``-march=native`` build is never loaded on another CPU.
Later imports load the cached build. :func:`cpp_available` says whether that worked.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..rasterize import RasterConfig

_SOURCE = Path(__file__).with_name("rasterize.cpp")
# -ffp-contract=off: the forward and the backward must compute bitwise the same alpha for a pair, or a
# Gaussian at the alpha_min threshold could be composited by one and skipped by the other.
# -fno-trapping-math: lets GCC turn the kernel's float selects (clamps, masks) into vector blends. Without
# it the pixel loops stayed scalar everywhere but AVX-512 (masked stores): on AVX2, SSE2 and NEON (with it,
# all but the backward's last per-lane loop vectorise on NEON). It changes no value, only the assumption
# that float compares may trap, which nothing here relies on.
_CFLAGS = ["-O3", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math"]
# The first build tried: -march=$GS_PERCEPTION_KERNEL_ARCH (default native: this CPU's vector units), then
# the compiler's generic target. Set it to build for another CPU (e.g. haswell for AVX2 robots).
_ARCH_ENV = "GS_PERCEPTION_KERNEL_ARCH"


def _cpu_key() -> str:
    """A short hash of what a native build depends on: torch, Python, and the CPU's model and flags."""
    cpu = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu += "".join(ln for ln in lines if ln.startswith(("model name", "flags")))[:4096]
    except OSError:
        pass
    text = f"{torch.__version__}|{sys.version_info[:2]}|{platform.machine()}|{cpu}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _build_root() -> Path:
    base = os.environ.get("GS_PERCEPTION_CACHE") or Path.home() / ".cache" / "gs_perception"
    return Path(base) / "cpu_kernel" / _cpu_key()


def _load(arch: str | None) -> ModuleType:
    """Builds (or loads the cached build of) the extension for ``-march=arch``; None: the generic target."""
    # Importing cpp_extension logs "No CUDA runtime is found, using CUDA_HOME=…" on every CPU machine; it
    # concerns CUDA builds, which this one is not.
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load
    finally:
        logger.setLevel(level)

    flavour = re.sub(r"[^A-Za-z0-9]", "_", arch) if arch else "generic"
    build = _build_root() / flavour
    build.mkdir(parents=True, exist_ok=True)
    flags = _CFLAGS + ([f"-march={arch}"] if arch else [])
    return load(
        name=f"gs_rasterize_cpu_{flavour}",
        sources=[str(_SOURCE)],
        extra_cflags=flags,
        extra_ldflags=["-fopenmp"],
        build_directory=str(build),
        with_cuda=False,
        verbose=False,
    )


@functools.cache
def _extension() -> ModuleType | None:
    """The compiled module (``-march=native``, or $GS_PERCEPTION_KERNEL_ARCH, if that builds, else
    generic), or None with one warning."""
    errors = []
    for arch in (os.environ.get(_ARCH_ENV) or "native", None):
        try:
            return _load(arch)
        except Exception as e:  # a compiler error, a missing compiler or ninja: all mean "not here"
            # A compiler's own message is at the end of the exception text; keep that part.
            errors.append(f"{arch and '-march=' + arch or 'generic'}: {type(e).__name__}: ...{str(e)[-600:]}")
    warnings.warn(
        "gs_perception: the C++ CPU rasteriser could not be built, so backend 'cpp' is unavailable "
        "(needs a C++ compiler with OpenMP and ninja). " + " | ".join(errors),
        RuntimeWarning,
        stacklevel=3,
    )
    return None


def cpp_available() -> bool:
    """True when the C++ rasteriser builds and loads here (tried once per process; warns once if not)."""
    return _extension() is not None


def _constants(width: int, height: int, config: RasterConfig, cull: bool) -> tuple:
    return (
        int(width),
        int(height),
        int(config.torch_tile_size),
        int(config.tile_size),
        float(config.alpha_max),
        float(config.alpha_min),
        float(config.transmittance_min),
        bool(cull),
    )


class _RasterizeCpp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, backgrounds, radii, depths, consts):
        ext = _extension()
        out_color, out_alpha, final_t, last, footprints, offsets, ids = ext.forward(
            means2d, conics, opacities, colors, radii, depths, backgrounds, *consts
        )
        ctx.consts = consts
        ctx.has_bg = backgrounds is not None
        ctx.save_for_backward(
            means2d, conics, opacities, colors, backgrounds, final_t, last, footprints, offsets, ids
        )
        return out_color, out_alpha

    @staticmethod
    @once_differentiable  # the backward is a kernel too: no double backward
    def backward(ctx, g_color, g_alpha):
        means2d, conics, opacities, colors, backgrounds, final_t, last, footprints, offsets, ids = (
            ctx.saved_tensors
        )
        d_mean, d_con, d_op, d_col, d_bg = _extension().backward(
            means2d,
            conics,
            opacities,
            colors,
            backgrounds,
            final_t,
            last,
            footprints,
            offsets,
            ids,
            g_color.contiguous(),
            g_alpha.contiguous(),
            *ctx.consts,
        )
        return d_mean, d_con, d_op, d_col, (d_bg if ctx.has_bg else None), None, None, None


def rasterize_cpp(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None = None,
    config: RasterConfig = RasterConfig(),
    footprint_culling: bool = True,
) -> tuple[Tensor, Tensor]:
    """Composite projected Gaussians into C images with the fused C++ kernel (CPU, differentiable).

    Args:
        means2d: [C, N, 2] pixel centres of the Gaussians.
        conics: [C, N, 3] inverse 2D covariances (a, b, c).
        opacities: [C, N] or [N] activated opacities.
        colors: [C, N, D] per-camera colours (any D, e.g. RGB + depth).
        radii: [C, N, 2] int screen radii; Gaussians with a zero radius are skipped.
        depths: [C, N] camera z, the compositing order (ties by index).
        width, height: Image size.
        backgrounds: [C, D] colour behind everything (default none, i.e. zeros).
        config: Rasterisation constants.
        footprint_culling: Visit only the pixels and tiles where a Gaussian can reach ``alpha_min`` (its
            ellipse ``sigma <= ln(opacity / alpha_min)``, conservatively widened) rather than its whole
            screen box. The result is bitwise the same either way; False is the slow twin the tests hold
            the fast path to.

    Returns:
        colors: [C, H, W, D] composited colours.
        alphas: [C, H, W, 1] accumulated opacity, 1 - T_final.

    Gradients flow to means2d, conics, opacities, colors and backgrounds (float32 or float64), not to
    radii or depths.
    """
    if not cpp_available():
        raise RuntimeError("the C++ CPU rasteriser is not available here (see the warning on its build)")
    tensors = [means2d, conics, opacities, colors, radii, depths] + (
        [] if backgrounds is None else [backgrounds]
    )
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError("rasterize_cpp needs CPU tensors; use the 'torch' or 'gsplat' backend on a GPU")
    C, N, D = colors.shape
    dtype = means2d.dtype
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"rasterize_cpp supports float32 and float64, not {dtype}")
    if opacities.dim() == 1:
        # expand() then autograd sums the [C, N] gradient back to [N] for us.
        opacities = opacities.expand(C, N)
    as_float = [t.to(dtype).contiguous() for t in (means2d, conics, opacities, colors, depths)]
    bg = None if backgrounds is None else backgrounds.to(dtype).contiguous()
    radii = radii.to(torch.int32).contiguous()
    m, con, op, col, dep = as_float
    return _RasterizeCpp.apply(
        m, con, op, col, bg, radii, dep, _constants(width, height, config, footprint_culling)
    )
