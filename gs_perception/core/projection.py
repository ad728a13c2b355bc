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
    # Entry by entry on flat planes, not ``M @ Mᵀ``: on CPU a batch of 3×3 matmuls is ~10× slower.
    m = M.reshape(-1, 9).T  # [9, N]
    entries = [sum(m[3 * i + k] * m[3 * j + k] for k in range(3)) for i in range(3) for j in range(3)]
    return torch.stack(entries, dim=-1).reshape(M.shape)


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
        means: [N, 3] world centres seen by every camera, or [C, N, 3]: camera c's own N Gaussians (a
            batch of objects rendered in one call, each at its own cameras).
        covars: [N, 3, 3] or [C, N, 3, 3] world covariances, shaped like ``means``.
        viewmats: [C, 4, 4] world→camera transforms (OpenCV axes).
        Ks: [C, 3, 3] intrinsics.
        width, height: Image size in pixels.
        eps2d: Added to the 2D covariance's diagonal (low-pass filter; gsplat's default 0.3).
        near_plane, far_plane: Depth range kept, metres.
        opacities: [N] (or [C, N] with per-camera ``means``) activated opacities. When given (as gsplat's
            CUDA path does), Gaussians below ``alpha_min`` are culled and the box shrinks to
            ``min(3.33, sqrt(2 ln(opacity / alpha_min)))·σ``, beyond which no pixel can reach
            ``alpha_min``; without them the box is 3.33σ (gsplat's torch code).
        alpha_min: The rasteriser's alpha cut-off (1/255).

    Returns:
        A :class:`Projection`.
    """
    N, C = means.shape[-2], viewmats.shape[0]
    assert means.shape in ((N, 3), (C, N, 3)), means.shape
    assert covars.shape == means.shape[:-1] + (3, 3), covars.shape
    assert viewmats.shape == (C, 4, 4) and Ks.shape == (C, 3, 3), (viewmats.shape, Ks.shape)
    # Written out per component on [C, N] planes: batched 3×3 matmuls, or broadcasts over a last axis of
    # 3, are ~10× slower on CPU than these flat products (gsplat's matrix-form torch code is the twin that
    # test_render holds this to).
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    x, y, z = means.unbind(-1)  # [N] (or [C, N]) each
    row = [[R[:, i, j, None] for j in range(3)] for i in range(3)]  # W's entries, [C, 1] each
    tx, ty, tz = (row[i][0] * x + row[i][1] * y + row[i][2] * z + t[:, i, None] for i in range(3))
    depth = tz  # [C, N] camera-frame z

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # Culled Gaussians near z = 0 would give 0·inf = NaN gradients; divide them by 1 instead (gsplat: 0).
    tz = torch.where(tz > near_plane, tz, torch.ones_like(tz))
    # gsplat clamps the Jacobian's evaluation point to 1.3× the half-FOV so off-screen splats stay sane.
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    u = (tx / tz).clamp(-(cx / fx + 0.3 * tan_x), (width - cx) / fx + 0.3 * tan_x)
    v = (ty / tz).clamp(-(cy / fy + 0.3 * tan_y), (height - cy) / fy + 0.3 * tan_y)
    # The two rows of J·W, J = [[fx/z, 0, -fx·u/z], [0, fy/z, -fy·v/z]]; then J W Σ Wᵀ Jᵀ entry by entry.
    jw0 = [fx / tz * (row[0][k] - u * row[2][k]) for k in range(3)]
    jw1 = [fy / tz * (row[1][k] - v * row[2][k]) for k in range(3)]
    sigma = covars.flatten(-2).movedim(-1, 0)  # [9, N] (or [9, C, N]): row-major entries of Σ
    s0 = [sum(sigma[3 * i + k] * jw0[k] for k in range(3)) for i in range(3)]  # Σ·(JW)₀ᵀ
    s1 = [sum(sigma[3 * i + k] * jw1[k] for k in range(3)) for i in range(3)]
    a = sum(jw0[i] * s0[i] for i in range(3)) + eps2d
    b = sum(jw0[i] * s1[i] for i in range(3))
    c = sum(jw1[i] * s1[i] for i in range(3)) + eps2d

    det = (a * c - b * b).clamp_min(1e-10)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    means2d = torch.stack([fx * tx / tz + cx, fy * ty / tz + cy], dim=-1)

    with torch.no_grad():
        extend = torch.full_like(a, 3.33)
        ok = (a * c - b * b > 0) & (depth > near_plane) & (depth < far_plane)
        if opacities is not None:
            op = opacities.detach().expand_as(a)
            ok &= op >= alpha_min
            ratio = (op / alpha_min).clamp_min(1.0)
            extend = torch.minimum(extend, torch.sqrt(2.0 * torch.log(ratio)))
        radii = torch.ceil(extend[..., None] * torch.sqrt(torch.stack([a, c], dim=-1).clamp_min(0.0)))
        ok &= (means2d[..., 0] + radii[..., 0] > 0) & (means2d[..., 0] - radii[..., 0] < width)
        ok &= (means2d[..., 1] + radii[..., 1] > 0) & (means2d[..., 1] - radii[..., 1] < height)
        radii = torch.where(ok[..., None], radii, torch.zeros_like(radii)).to(torch.int32)
    return Projection(means2d=means2d, conics=conics, depths=depth, radii=radii)
