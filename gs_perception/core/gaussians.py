"""The Gaussian cloud: raw (as-optimised) 3DGS parameters and their activations.

Conventions (docs/architecture.md §4): parameters are stored raw and activated by functions, never stored
twice. ``quats`` are **wxyz** (w first, as gsplat and the INRIA PLY ``rot_0 = w``) and not necessarily unit
length. SH coefficients are ``[N, K, 3]`` with ``K = (degree + 1)²``, the DC term first; colour = 0.5 + SH.
Positions are metres in whatever frame the cloud was built in (world for the memory, object-normalised for
the dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

SH_C0 = 0.28209479177387814
"""Zeroth real spherical-harmonic basis value, 1 / (2·sqrt(pi)): colour_DC = 0.5 + SH_C0 · f_dc."""


def num_sh_bases(degree: int) -> int:
    """Number of SH coefficients per channel for a degree: (degree + 1)²."""
    return (degree + 1) ** 2


def sh_degree_from_bases(k: int) -> int:
    """Inverse of :func:`num_sh_bases`; raises for a count that is not a square of 1..4."""
    for degree in range(4):
        if num_sh_bases(degree) == k:
            return degree
    raise ValueError(f"{k} SH coefficients per channel is not (degree+1)^2 for a degree in 0..3")


def rgb_to_sh(rgb: Tensor) -> Tensor:
    """DC SH coefficient giving colour ``rgb`` (in [0, 1]). [..., 3] → [..., 3]."""
    return (rgb - 0.5) / SH_C0


def sh_to_rgb(sh_dc: Tensor) -> Tensor:
    """Colour of a DC SH coefficient (unclamped). [..., 3] → [..., 3]."""
    return sh_dc * SH_C0 + 0.5


@dataclass
class GaussianCloud:
    """N 3D Gaussians with raw parameters.

    Attributes:
        means: [N, 3] centres.
        log_scales: [N, 3] log of the standard deviations along the Gaussian's axes.
        quats: [N, 4] rotations, wxyz, unnormalised.
        opacity_logits: [N] pre-sigmoid opacities.
        sh: [N, K, 3] SH coefficients, K = (degree + 1)², DC first.
    """

    means: Tensor
    log_scales: Tensor
    quats: Tensor
    opacity_logits: Tensor
    sh: Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {
            "means": (n, 3),
            "log_scales": (n, 3),
            "quats": (n, 4),
            "opacity_logits": (n,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"GaussianCloud.{name} has shape {got}, expected {shape}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"GaussianCloud.sh has shape {tuple(self.sh.shape)}, expected ({n}, K, 3)")
        try:
            sh_degree_from_bases(self.sh.shape[1])
        except ValueError as err:
            raise ValueError(f"GaussianCloud.sh: {err}") from None

    # -- sizes -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def num(self) -> int:
        """Number of Gaussians."""
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        """SH degree (0..3) implied by the number of coefficients."""
        return sh_degree_from_bases(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    # -- activations -------------------------------------------------------------------------------------
    def scales(self) -> Tensor:
        """Standard deviations, exp(log_scales). [N, 3]."""
        return torch.exp(self.log_scales)

    def opacities(self) -> Tensor:
        """Opacities in (0, 1), sigmoid(opacity_logits). [N]."""
        return torch.sigmoid(self.opacity_logits)

    def unit_quats(self) -> Tensor:
        """Unit quaternions, wxyz. [N, 4]."""
        return F.normalize(self.quats, dim=-1)

    def rgb(self) -> Tensor:
        """View-independent colour from the DC term, clamped to [0, 1]. [N, 3]."""
        return sh_to_rgb(self.sh[:, 0]).clamp(0.0, 1.0)

    # -- construction and selection ----------------------------------------------------------------------
    @classmethod
    def from_points(
        cls,
        points: Tensor,
        rgb: Tensor | None = None,
        scale: Tensor | float | None = None,
        opacity: float = 0.1,
        sh_degree: int = 0,
    ) -> GaussianCloud:
        """Isotropic Gaussians at given points (the usual 3DGS initialisation).

        Args:
            points: [N, 3] centres.
            rgb: [N, 3] colours in [0, 1] (default mid-grey).
            scale: [N] or scalar standard deviation; default: mean distance to the 3 nearest neighbours.
            opacity: Initial opacity of every Gaussian.
            sh_degree: SH degree; higher-order coefficients start at zero.

        Returns:
            A new cloud on the points' device and dtype.
        """
        n = points.shape[0]
        if rgb is None:
            rgb = torch.full_like(points, 0.5)
        if scale is None:
            scale = knn_mean_distance(points, k=3)
        scale = torch.as_tensor(scale, dtype=points.dtype, device=points.device).expand(n).clamp_min(1e-7)
        sh = torch.zeros(n, num_sh_bases(sh_degree), 3, dtype=points.dtype, device=points.device)
        sh[:, 0] = rgb_to_sh(rgb.to(points))
        quats = torch.zeros(n, 4, dtype=points.dtype, device=points.device)
        quats[:, 0] = 1.0
        logit = torch.logit(torch.tensor(opacity, dtype=points.dtype))
        return cls(
            means=points.clone(),
            log_scales=torch.log(scale)[:, None].repeat(1, 3),
            quats=quats,
            opacity_logits=torch.full((n,), float(logit), dtype=points.dtype, device=points.device),
            sh=sh,
        )

    def subset(self, index: Tensor) -> GaussianCloud:
        """The Gaussians selected by a boolean mask [N] or integer indices [M]."""
        return GaussianCloud(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def cat(cls, clouds: list[GaussianCloud]) -> GaussianCloud:
        """Concatenation; SH degrees are raised to the highest one among the clouds."""
        if not clouds:
            raise ValueError("GaussianCloud.cat needs at least one cloud")
        degree = max(c.sh_degree for c in clouds)
        clouds = [c.with_sh_degree(degree) for c in clouds]
        return cls(**{f.name: torch.cat([getattr(c, f.name) for c in clouds]) for f in fields(cls)})

    def with_sh_degree(self, degree: int) -> GaussianCloud:
        """The same cloud with SH truncated or zero-padded to ``degree``."""
        k = num_sh_bases(degree)
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            pad = sh.new_zeros(self.num, k - sh.shape[1], 3)
            sh = torch.cat([sh, pad], dim=1)
        return self._replace(sh=sh)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianCloud:
        """Moved and/or cast copy (a no-op copy when nothing changes)."""
        return GaussianCloud(
            **{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)}
        )

    def detach(self) -> GaussianCloud:
        """Copy without autograd history."""
        return GaussianCloud(**{f.name: getattr(self, f.name).detach().clone() for f in fields(self)})

    def _replace(self, **changes: Tensor) -> GaussianCloud:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return GaussianCloud(**values)


def knn_mean_distance(points: Tensor, k: int = 3, chunk: int = 4096) -> Tensor:
    """Mean distance of each point to its ``k`` nearest other points (chunked brute force).

    Args:
        points: [N, 3].
        k: Neighbours per point (clamped to N - 1).

    Returns:
        [N] mean distances; 0 for a single point.
    """
    n = points.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return points.new_zeros(n)
    out = []
    for start in range(0, n, chunk):
        d = torch.cdist(points[start : start + chunk], points)
        # The smallest distance is the point to itself: take k + 1 and drop it.
        out.append(d.topk(k + 1, largest=False).values[:, 1:].mean(dim=1))
    return torch.cat(out)
