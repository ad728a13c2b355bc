"""The ``.splat`` format of web viewers (antimatter15/splat): lossy, DC colour only, no header.

Each Gaussian is 32 bytes, little-endian::

    position  3 × float32   means
    scale     3 × float32   exp(log_scales)           (activated)
    colour    4 × uint8     RGB = clip(0.5 + SH_C0 · f_dc, 0, 1) · 255, A = sigmoid(opacity_logits) · 255
    rotation  4 × uint8     unit quaternion **wxyz**, q · 128 + 128 clipped to [0, 255]

Bytes are rounded to nearest. Gaussians are written sorted by descending ``prod(scales) · opacity`` because
viewers stream the file and want the big, opaque Gaussians first. Reading inverts the activations, so a
round trip is exact for positions and within quantisation for the rest: colour ±0.5/255 (f_dc ±0.5/(255·SH_C0)
where unclipped), opacity ±0.5/255 after the sigmoid, quaternion components ±1/128 before normalising.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gs_perception.core.gaussians import GaussianCloud, rgb_to_sh
from gs_perception.core.ply import atomic_open

SPLAT_DTYPE = np.dtype(
    [("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)), ("rot", "u1", (4,))]
)
"""One packed 32-byte ``.splat`` record."""
assert SPLAT_DTYPE.itemsize == 32

# Opacity bytes 0 and 255 would decode to ∓inf logits; clamp half a step inside so logits stay finite.
_ALPHA_EPS = 0.5 / 255.0


class SplatError(ValueError):
    """A file that is not a valid ``.splat``; the message names the file."""


def _to_u8(x: torch.Tensor) -> np.ndarray:
    """[...] float in [0, 255] (clipped) → [...] uint8, rounded to nearest."""
    return x.round().clamp(0.0, 255.0).to(torch.uint8).numpy()


def splat_order(cloud: GaussianCloud) -> torch.Tensor:
    """Indices [N] sorting the cloud by descending ``prod(scales) · opacity`` (stable for ties)."""
    # float64 and exp of the sum: a product of three float32 scales can underflow to 0 and tie everything.
    log_scales = cloud.log_scales.detach().to(device="cpu", dtype=torch.float64)
    key = torch.exp(log_scales.sum(dim=1)) * torch.sigmoid(cloud.opacity_logits.detach().cpu().double())
    return torch.argsort(key, descending=True, stable=True)


def cloud_to_splat_array(cloud: GaussianCloud) -> np.ndarray:
    """Encode a cloud as ``.splat`` records, in viewer order (see :func:`splat_order`).

    Args:
        cloud: N Gaussians (any SH degree; only the DC term is used).

    Returns:
        [N] structured array of :data:`SPLAT_DTYPE`.
    """
    c = cloud.detach().to(device="cpu", dtype=torch.float32).subset(splat_order(cloud))
    records = np.empty(c.num, dtype=SPLAT_DTYPE)
    records["position"] = c.means.numpy()
    records["scale"] = c.scales().numpy()
    records["rgba"][:, :3] = _to_u8(c.rgb() * 255.0)
    records["rgba"][:, 3] = _to_u8(c.opacities() * 255.0)
    records["rot"] = _to_u8(c.unit_quats() * 128.0 + 128.0)
    return records


def write_splat(path: str | os.PathLike, cloud: GaussianCloud) -> None:
    """Write a cloud as a ``.splat`` file (32·N bytes), atomically; parent directories are created.

    Args:
        path: Destination; an interrupted write leaves no file under this name.
        cloud: N Gaussians; higher-order SH are dropped (the format stores one colour).
    """
    records = cloud_to_splat_array(cloud)
    with atomic_open(path) as f:
        f.write(records.tobytes())


def read_splat(path: str | os.PathLike, device: torch.device | str | None = None) -> GaussianCloud:
    """Read a ``.splat`` file into a DC-only cloud of raw parameters (inverse activations, lossy).

    Args:
        path: File of 32·N bytes.
        device: Device of the returned tensors (default CPU).

    Returns:
        A float32 cloud in file order: means [N, 3], log_scales [N, 3] = log(scale), quats [N, 4] wxyz
        (near unit length), opacity_logits [N] = logit(A / 255) with A clamped half a step inside (0, 255),
        sh [N, 1, 3] = (RGB / 255 - 0.5) / SH_C0.

    Raises:
        SplatError: the file size is not a multiple of 32 bytes.
    """
    path = os.fspath(path)
    data = Path(path).read_bytes()
    if len(data) % SPLAT_DTYPE.itemsize:
        raise SplatError(
            f"{path}: not a .splat file: size {len(data)} bytes is not a multiple of "
            f"{SPLAT_DTYPE.itemsize} bytes per Gaussian"
        )
    records = np.frombuffer(data, dtype=SPLAT_DTYPE)
    rgba = torch.from_numpy(records["rgba"].astype(np.float32)) / 255.0
    # Logs and logits in float64 so the only error left is the file's own quantisation.
    scales = torch.from_numpy(records["scale"].astype(np.float64))
    alpha = rgba[:, 3].double().clamp(_ALPHA_EPS, 1.0 - _ALPHA_EPS)
    cloud = GaussianCloud(
        means=torch.from_numpy(records["position"].astype(np.float32)),
        log_scales=torch.log(scales).float(),
        quats=(torch.from_numpy(records["rot"].astype(np.float32)) - 128.0) / 128.0,
        opacity_logits=torch.logit(alpha).float(),
        sh=rgb_to_sh(rgba[:, None, :3]),
    )
    return cloud if device is None else cloud.to(device=device)
