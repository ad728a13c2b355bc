"""Real spherical harmonics up to degree 3, as used by 3DGS and gsplat for view-dependent colour.

Basis order is the usual one (DC, then degree 1: y, z, x with alternating signs, ...); coefficients are
``[..., K, 3]`` with ``K = (degree + 1)²``. Colour = max(SH(dir) + 0.5, 0), the 0.5 offset applied by the
caller (:mod:`gs_perception.core.render`) exactly where gsplat applies it.
"""

from __future__ import annotations

import torch
from torch import Tensor

_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """Real SH basis functions evaluated at unit directions.

    Args:
        degree: 0..3.
        dirs: [..., 3] unit vectors.

    Returns:
        [..., (degree + 1)²] basis values.
    """
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be in 0..3, got {degree}")
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, _C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            _C2[0] * x * y,
            _C2[1] * y * z,
            _C2[2] * (2.0 * zz - xx - yy),
            _C2[3] * x * z,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            _C3[0] * y * (3.0 * xx - yy),
            _C3[1] * x * y * z,
            _C3[2] * y * (4.0 * zz - xx - yy),
            _C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            _C3[4] * x * (4.0 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(out, dim=-1)


def eval_sh(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Evaluate SH colour (without the +0.5 offset) using the first (degree+1)² coefficients.

    Args:
        degree: SH degree to use, ≤ the coefficients' degree.
        dirs: [..., 3] view directions (camera centre → Gaussian), any length (normalised here).
        coeffs: [..., K, 3] coefficients with K ≥ (degree + 1)².

    Returns:
        [..., 3] colour before offset and clamp.
    """
    k = (degree + 1) ** 2
    assert coeffs.shape[-2] >= k, (coeffs.shape, degree)
    basis = sh_basis(degree, torch.nn.functional.normalize(dirs, dim=-1))
    return (basis[..., :, None] * coeffs[..., :k, :]).sum(dim=-2)
