"""Pinhole cameras, poses and trajectories.

Conventions (docs/architecture.md §4), used by every function here:

- A pose is ``T_world_cam``: a 4×4 rigid transform camera→world, ``p_world = T_world_cam @ p_cam``.
- A ``viewmat`` is world→camera, ``viewmat = inv(T_world_cam)``; renderers take viewmats (as gsplat does).
- Camera axes are OpenCV = ROS optical frame (REP-105): x right, y down, z forward.
  NeRF/Blender files use OpenGL axes (x right, y up, z backward): convert at the file boundary only, with
  :func:`opengl_to_opencv` / :func:`opencv_to_opengl`.
- World frame is REP-103: x forward, y left, z up. Units are metres and pixels; the centre of pixel
  ``(u, v)`` is at ``(u + 0.5, v + 0.5)`` as in gsplat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# Right-multiplying a camera→world pose by this flips the camera's y and z axes: OpenGL ↔ OpenCV.
_GL_CV_FLIP = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an undistorted camera, in pixels.

    Attributes:
        fx, fy: Focal lengths.
        cx, cy: Principal point (pixel-centre convention of gsplat: the image spans ``[0, width]``).
        width, height: Image size.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, fov_x: float, width: int, height: int, fov_y: float | None = None) -> Intrinsics:
        """Intrinsics from a horizontal field of view in radians (square pixels unless ``fov_y``)."""
        fx = 0.5 * width / math.tan(0.5 * fov_x)
        fy = fx if fov_y is None else 0.5 * height / math.tan(0.5 * fov_y)
        return cls(fx, fy, 0.5 * width, 0.5 * height, int(width), int(height))

    @classmethod
    def from_K(cls, K: Tensor, width: int, height: int) -> Intrinsics:
        """Intrinsics from a 3×3 matrix ``K``."""
        K = torch.as_tensor(K, dtype=torch.float64)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))

    @property
    def fov_x(self) -> float:
        """Horizontal field of view in radians."""
        return 2.0 * math.atan(0.5 * self.width / self.fx)

    def K(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """The 3×3 intrinsic matrix. Returns: [3, 3]."""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], device=device, dtype=dtype
        )

    def scaled(self, factor: float) -> Intrinsics:
        """The same camera at ``factor`` × the resolution (image edges, not pixel centres, stay fixed)."""
        width, height = round(self.width * factor), round(self.height * factor)
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)


def invert_rigid(T: Tensor) -> Tensor:
    """Inverse of rigid transforms without a general matrix inverse.

    Args:
        T: [..., 4, 4] rigid transforms.

    Returns:
        [..., 4, 4] inverses, exact up to rounding for orthonormal rotations.
    """
    assert T.shape[-2:] == (4, 4), T.shape
    R, t = T[..., :3, :3], T[..., :3, 3:]
    out = torch.zeros_like(T)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3:] = -R.transpose(-1, -2) @ t
    out[..., 3, 3] = 1.0
    return out


def viewmat_from_pose(T_world_cam: Tensor) -> Tensor:
    """World→camera view matrices from camera→world poses. [..., 4, 4] → [..., 4, 4]."""
    return invert_rigid(T_world_cam)


def pose_from_viewmat(viewmat: Tensor) -> Tensor:
    """Camera→world poses from world→camera view matrices. [..., 4, 4] → [..., 4, 4]."""
    return invert_rigid(viewmat)


def opengl_to_opencv(T_world_cam_gl: Tensor) -> Tensor:
    """Camera→world pose with OpenGL camera axes → the same camera with OpenCV axes. [..., 4, 4]."""
    return T_world_cam_gl @ _GL_CV_FLIP.to(T_world_cam_gl)


def opencv_to_opengl(T_world_cam_cv: Tensor) -> Tensor:
    """Camera→world pose with OpenCV camera axes → OpenGL axes (the flip is its own inverse). [..., 4, 4]."""
    return T_world_cam_cv @ _GL_CV_FLIP.to(T_world_cam_cv)


def look_at(eye: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """Camera→world pose (OpenCV axes) of cameras at ``eye`` looking at ``target``.

    Args:
        eye: [..., 3] camera centres in the world frame.
        target: [..., 3] points the optical axis (+z) passes through.
        up: [3] world up direction (default +z, REP-103); image rows run against it (+y is down).

    Returns:
        [..., 4, 4] ``T_world_cam``.
    """
    eye, target = torch.as_tensor(eye, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32)
    eye, target = torch.broadcast_tensors(eye, target.to(eye))
    up = torch.tensor([0.0, 0.0, 1.0]) if up is None else torch.as_tensor(up, dtype=eye.dtype)
    up = up.to(eye)
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    x = torch.linalg.cross(z, up.expand_as(z), dim=-1)
    # Looking along ±up leaves x undefined: any perpendicular works, so take world x's projection.
    degenerate = x.norm(dim=-1, keepdim=True) < 1e-6
    alt = torch.linalg.cross(z, torch.tensor([1.0, 0.0, 0.0]).to(z).expand_as(z), dim=-1)
    x = torch.nn.functional.normalize(torch.where(degenerate, alt, x), dim=-1)
    y = torch.linalg.cross(z, x, dim=-1)
    T = torch.zeros(eye.shape[:-1] + (4, 4), dtype=eye.dtype, device=eye.device)
    T[..., :3, 0], T[..., :3, 1], T[..., :3, 2], T[..., :3, 3] = x, y, z, eye
    T[..., 3, 3] = 1.0
    return T


def spiral_poses(
    n_views: int,
    radius: float,
    elevation_range: tuple[float, float] = (-20.0, 60.0),
    turns: float = 2.0,
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
    azimuth_offset: float = 0.0,
) -> Tensor:
    """Cameras on a spiral around ``target``, all looking at it (the study's view trajectory).

    The azimuth makes ``turns`` full turns while the elevation rises linearly across ``elevation_range``
    (degrees above the target's horizontal plane; z is up).

    Args:
        n_views: Number of cameras.
        radius: Distance from the target in metres.
        elevation_range: (first, last) elevation in degrees.
        turns: Azimuth turns over the whole trajectory.
        target: Point looked at, world frame.
        azimuth_offset: Azimuth of the first camera in degrees (0 = on the +x axis).

    Returns:
        [n_views, 4, 4] ``T_world_cam`` with OpenCV camera axes.
    """
    i = torch.arange(n_views, dtype=torch.float64)
    frac = i / max(n_views - 1, 1)
    elev = elevation_range[0] + frac * (elevation_range[1] - elevation_range[0])
    azim = azimuth_offset + 360.0 * turns * i / max(n_views, 1)
    return orbit_poses(azim, elev, radius, target)


GOLDEN_ANGLE_DEG = 180.0 * (3.0 - math.sqrt(5.0))
"""137.5°: successive azimuths this far apart never line up, however many there are."""


def golden_poses(
    n_views: int,
    radius: float,
    elevation_range: tuple[float, float] = (-20.0, 60.0),
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
    azimuth_offset: float = 0.0,
) -> Tensor:
    """Cameras spread over azimuth and elevation alike, all looking at ``target``: camera k at azimuth
    ``azimuth_offset + k·137.5°`` (the golden angle) and elevation at the centre of the k-th of ``n_views``
    equal slices of ``elevation_range``. Even 4 cameras see the object from 4 sides and 4 heights (a
    2-turn spiral puts 4 cameras on 2 azimuths).

    Args: as :func:`spiral_poses`. Returns: [n_views, 4, 4] ``T_world_cam``, OpenCV camera axes.
    """
    i = torch.arange(n_views, dtype=torch.float64)
    elev = elevation_range[0] + (i + 0.5) / max(n_views, 1) * (elevation_range[1] - elevation_range[0])
    return orbit_poses(azimuth_offset + GOLDEN_ANGLE_DEG * i, elev, radius, target)


def orbit_poses(
    azimuth_deg: Tensor, elevation_deg: Tensor, radius: float, target: tuple[float, float, float]
) -> Tensor:
    """Cameras at the given azimuths and elevations (degrees; z up, azimuth 0 on +x) on a sphere of
    ``radius`` around ``target``, looking at it. [n] and [n] → [n, 4, 4] ``T_world_cam`` (OpenCV axes)."""
    azim, elev = torch.deg2rad(azimuth_deg.double()), torch.deg2rad(elevation_deg.double())
    offset = torch.stack(
        [torch.cos(elev) * torch.cos(azim), torch.cos(elev) * torch.sin(azim), torch.sin(elev)], dim=-1
    )
    tgt = torch.tensor(target, dtype=torch.float64)
    return look_at((tgt + radius * offset).float(), tgt.float().expand(len(azim), 3))


@dataclass
class AxesSystem:
    """The normal equations ``A p = b`` of the point closest to N optical axes (least squares), float64.

    Minimising Σᵢ ‖(I − dᵢdᵢᵀ)(p − cᵢ)‖² over p, with cᵢ the camera centres and dᵢ their unit +z axes
    (OpenCV). Shared by the fit's scene frame and the memory's insertion depth without depth images.

    Attributes:
        A: [3, 3] Σᵢ (I − dᵢdᵢᵀ).
        b: [3] Σᵢ (I − dᵢdᵢᵀ) cᵢ.
        centres: [N, 3] the cᵢ.
        axes: [N, 3] the dᵢ.
    """

    A: Tensor
    b: Tensor
    centres: Tensor
    axes: Tensor


def optical_axes_system(T_world_cam: Tensor) -> AxesSystem:
    """:class:`AxesSystem` of cameras ``T_world_cam`` [N, 4, 4] (camera→world, OpenCV axes), on the CPU."""
    T = T_world_cam.detach().to("cpu", torch.float64)
    centres, axes = T[:, :3, 3], torch.nn.functional.normalize(T[:, :3, 2], dim=-1)
    projectors = torch.eye(3, dtype=torch.float64) - axes[:, :, None] * axes[:, None, :]  # [N, 3, 3]
    return AxesSystem(projectors.sum(0), (projectors @ centres[:, :, None]).sum(0)[:, 0], centres, axes)


def project_points(points: Tensor, T_world_cam: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Project world points into a camera.

    Args:
        points: [N, 3] world points.
        T_world_cam: [4, 4] camera→world pose (OpenCV axes).
        K: [3, 3] intrinsics.

    Returns:
        uv: [N, 2] pixel coordinates (pixel ``(u, v)``'s centre is at ``(u + 0.5, v + 0.5)``).
        depth: [N] z in the camera frame (metres; ≤ 0 means behind the camera).
    """
    view = viewmat_from_pose(T_world_cam.to(points))
    p_cam = points @ view[:3, :3].T + view[:3, 3]
    uvw = p_cam @ K.to(points).T
    return uvw[:, :2] / uvw[:, 2:3], p_cam[:, 2]


def backproject_depth(depth: Tensor, K: Tensor, T_world_cam: Tensor) -> Tensor:
    """World points of every pixel centre of a z-depth image.

    Args:
        depth: [H, W] z-depth in metres (not ray length).
        K: [3, 3] intrinsics.
        T_world_cam: [4, 4] camera→world pose (OpenCV axes).

    Returns:
        [H, W, 3] world points.
    """
    H, W = depth.shape
    v, u = torch.meshgrid(
        torch.arange(H, dtype=depth.dtype) + 0.5, torch.arange(W, dtype=depth.dtype) + 0.5, indexing="ij"
    )
    K = K.to(depth)
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    p_cam = torch.stack([x, y, depth], dim=-1)
    T = T_world_cam.to(depth)
    return p_cam @ T[:3, :3].T + T[:3, 3]
