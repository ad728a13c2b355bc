"""EWA projection of 3D Gaussians into pinhole cameras, following gsplat 1.5's conventions exactly.

The 2D covariance is ``J W Σ Wᵀ Jᵀ + eps2d·I`` with the perspective Jacobian evaluated at the mean, whose
x/z and y/z are clamped to 1.3× the half field of view (gsplat's guard against huge off-screen splats).
Radii are per axis, ``ceil(3.33·σ_axis)`` (tighter when opacities are given, as in gsplat's CUDA
projection); a zero radius marks a Gaussian culled for that camera (behind the
near plane, beyond the far plane, or wholly off-image). Cameras use OpenCV axes; ``viewmats`` are
world→camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Projection:
    """Gaussians as seen by C cameras.

    Attributes:
        means2d: [C, N, 2] projected centres in pixels.
        conics: [C, N, 3] upper triangle (a, b, c) of the inverse 2D covariance;
            the Mahalanobis term is ``sigma = 0.5·(a·dx² + c·dy²) + b·dx·dy``.
        depths: [C, N] z of the centre in the camera frame (metres).
        radii: [C, N, 2] int32 per-axis screen radii in pixels; 0 = culled.
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor

    @property
    def visible(self) -> Tensor:
        """[C, N] bool: Gaussians that reach the image of each camera."""
        return (self.radii > 0).all(dim=-1)


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices from quaternions. [..., 4] wxyz (normalised here) → [..., 3, 3]."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return R.reshape(quats.shape[:-1] + (3, 3))


def covariance_3d(quats: Tensor, scales: Tensor) -> Tensor:
    """World covariances Σ = R S Sᵀ Rᵀ. quats [N, 4] wxyz, scales [N, 3] (activated) → [N, 3, 3]."""
    M = quat_to_rotmat(quats) * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def project_gaussians(
    means: Tensor,
    covars: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    opacities: Tensor | None = None,
    alpha_min: float = 1.0 / 255.0,
) -> Projection:
    """Project 3D Gaussians into C pinhole cameras (differentiable w.r.t. means and covariances).

    Args:
        means: [N, 3] world centres.
        covars: [N, 3, 3] world covariances.
        viewmats: [C, 4, 4] world→camera transforms (OpenCV axes).
        Ks: [C, 3, 3] intrinsics.
        width, height: Image size in pixels.
        eps2d: Added to the 2D covariance's diagonal (low-pass filter; gsplat's default 0.3).
        near_plane, far_plane: Depth range kept, metres.
        opacities: [N] activated opacities. When given (as gsplat's CUDA path does), Gaussians below
            ``alpha_min`` are culled and the box shrinks to
            ``min(3.33, sqrt(2 ln(opacity / alpha_min)))·σ``, beyond which no pixel can reach
            ``alpha_min``; without them the box is 3.33σ (gsplat's torch code).
        alpha_min: The rasteriser's alpha cut-off (1/255).

    Returns:
        A :class:`Projection`.
    """
    N, C = means.shape[0], viewmats.shape[0]
    assert means.shape == (N, 3), means.shape
    assert covars.shape == (N, 3, 3), covars.shape
    assert viewmats.shape == (C, 4, 4) and Ks.shape == (C, 3, 3), (viewmats.shape, Ks.shape)
    R, t = viewmats[:, None, :3, :3], viewmats[:, None, :3, 3]  # [C, 1, 3, 3], [C, 1, 3]
    p = (R @ means[None, :, :, None])[..., 0] + t  # [C, N, 3]
    cov_c = R @ covars[None] @ R.transpose(-1, -2)  # [C, N, 3, 3]

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tx, ty, tz = p.unbind(-1)
    # Culled Gaussians near z = 0 would give 0·inf = NaN gradients; divide them by 1 instead (gsplat: 0).
    tz = torch.where(tz > near_plane, tz, torch.ones_like(tz))
    # gsplat clamps the Jacobian's evaluation point to 1.3× the half-FOV so off-screen splats stay sane.
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    u = (tx / tz).clamp(-(cx / fx + 0.3 * tan_x), (width - cx) / fx + 0.3 * tan_x)
    v = (ty / tz).clamp(-(cy / fy + 0.3 * tan_y), (height - cy) / fy + 0.3 * tan_y)
    zero = torch.zeros_like(tz)
    J = torch.stack([fx / tz, zero, -fx * u / tz, zero, fy / tz, -fy * v / tz], dim=-1).reshape(C, N, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    cov2d = cov2d + eps2d * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)

    a, b, c = cov2d[..., 0, 0], 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0]), cov2d[..., 1, 1]
    det = (a * c - b * b).clamp_min(1e-10)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    means2d = torch.stack([fx * tx / tz + cx, fy * ty / tz + cy], dim=-1)

    with torch.no_grad():
        extend = torch.full_like(a, 3.33)
        ok = (a * c - b * b > 0) & (p[..., 2] > near_plane) & (p[..., 2] < far_plane)
        if opacities is not None:
            op = opacities.detach()[None].expand_as(a)
            ok &= op >= alpha_min
            ratio = (op / alpha_min).clamp_min(1.0)
            extend = torch.minimum(extend, torch.sqrt(2.0 * torch.log(ratio)))
        radii = torch.ceil(extend[..., None] * torch.sqrt(torch.stack([a, c], dim=-1).clamp_min(0.0)))
        ok &= (means2d[..., 0] + radii[..., 0] > 0) & (means2d[..., 0] - radii[..., 0] < width)
        ok &= (means2d[..., 1] + radii[..., 1] > 0) & (means2d[..., 1] - radii[..., 1] < height)
        radii = torch.where(ok[..., None], radii, torch.zeros_like(radii)).to(torch.int32)
    return Projection(means2d=means2d, conics=conics, depths=p[..., 2], radii=radii)
