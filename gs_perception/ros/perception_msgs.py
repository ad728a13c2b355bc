"""Messages the perception node publishes: Gaussians as PointCloud2, vision_msgs results, embeddings.

Like :mod:`gs_perception.ros.sensor_conversions` (whose helpers it uses), this takes a
:class:`~gs_perception.ros.typestore.MessageTypes` table and never imports ROS.

Choices (docs/architecture.md §5), made once here:

- **Gaussians → PointCloud2**: one structured dtype, :data:`GAUSSIAN_CLOUD_DTYPE`, from which the
  ``PointField`` list is derived (:func:`cloud_point_fields`), so names, offsets and types cannot drift.
  Colour is a single ``rgb`` field packed the PCL way (a float32 whose bits are ``0x00RRGGBB``), which RViz's
  RGB8 transformer, PCL and Foxglove read directly. ``opacity`` is the activated opacity in (0, 1); ``scale``
  is the largest standard deviation of the Gaussian in metres. Decimation keeps the most opaque Gaussians.
- **Class predictions**: ``ObjectHypothesis.class_id`` carries the class *name* (vision_msgs 4.x makes it a
  string); ``LabelInfo`` maps the bundle's class indices to the same names for consumers that want numbers.
  Hypotheses are sorted by descending score.
- **Detections**: one ``Detection3D`` per remembered object, ``id`` = the object's persistent id, ``bbox`` =
  the axis-aligned extent of its Gaussians (identity orientation) in the header's frame.
- **Embeddings** (no standard message): a ``sensor_msgs/Image`` with encoding ``32FC1``, ``height`` = number
  of objects N, ``width`` = embedding size D; row i is the embedding of ``detections[i]`` of the
  ``Detection3DArray`` with the same header stamp (same object order, so the two join on stamp + row index /
  ``Detection3D.id``). The header copies the input image's stamp and frame. Any tool that records, plays or
  shows images handles it, and :func:`image_to_embeddings` reads it back exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.lib.recfunctions import repack_fields
from torch import Tensor

from gs_perception.core.gaussians import GaussianCloud

from .sensor_conversions import (
    ConversionError,
    array_to_image,
    as_uint8_array,
    image_to_array,
    make_header,
    matrix_to_pose,
)
from .typestore import MessageTypes

GAUSSIAN_CLOUD_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4"), ("opacity", "<f4"), ("scale", "<f4")]
)
"""One PointCloud2 point per Gaussian: centre (m), PCL-packed colour, opacity (0..1), max std (m)."""

# sensor_msgs/PointField datatype constants (fixed by the message definition).
POINT_FIELD_DATATYPES: dict[np.dtype, int] = {
    np.dtype("i1"): 1,
    np.dtype("u1"): 2,
    np.dtype("i2"): 3,
    np.dtype("u2"): 4,
    np.dtype("i4"): 5,
    np.dtype("u4"): 6,
    np.dtype("f4"): 7,
    np.dtype("f8"): 8,
}
_DATATYPE_TO_DTYPE = {code: dtype for dtype, code in POINT_FIELD_DATATYPES.items()}


# -- point clouds -------------------------------------------------------------------------------------------
def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 colours [N, 3] → PCL-packed float32 [N] (bits ``0x00RRGGBB``)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return ((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype("<u4").view("<f4")


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """PCL-packed float32 [N] → uint8 colours [N, 3]."""
    bits = np.ascontiguousarray(packed, dtype="<f4").view("<u4")
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=-1).astype(np.uint8)


def cloud_point_fields(types: MessageTypes, dtype: np.dtype = GAUSSIAN_CLOUD_DTYPE) -> list[Any]:
    """``sensor_msgs/PointField`` list of a structured dtype (name, byte offset, datatype, count 1)."""
    out = []
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        code = POINT_FIELD_DATATYPES[field_dtype.newbyteorder("=")]
        out.append(types.PointField(name=name, offset=int(offset), datatype=code, count=1))
    return out


def gaussians_to_pointcloud2(
    types: MessageTypes, cloud: GaussianCloud, stamp_ns: int, frame_id: str, max_points: int | None = None
) -> Any:
    """Gaussians → an unordered ``PointCloud2`` (height 1) with :data:`GAUSSIAN_CLOUD_DTYPE` points.

    Args:
        types: Message classes.
        cloud: N Gaussians in ``frame_id`` (the memory's world frame).
        stamp_ns, frame_id: Header.
        max_points: Keep at most this many: the most opaque ones (ties broken by index), in original order.

    Returns:
        PointCloud2 with min(N, max_points) points; ``is_dense`` is False if any centre is non-finite.
    """
    cloud = cloud.detach().to("cpu", torch.float32)
    opacity = cloud.opacities().numpy()
    keep = np.arange(len(cloud))
    if max_points is not None and len(cloud) > max_points:
        keep = np.sort(np.argsort(-opacity, kind="stable")[: max(int(max_points), 0)])
    points = np.zeros(keep.size, dtype=GAUSSIAN_CLOUD_DTYPE)
    means = cloud.means.numpy()[keep]
    points["x"], points["y"], points["z"] = means[:, 0], means[:, 1], means[:, 2]
    points["rgb"] = pack_rgb(np.rint(cloud.rgb().numpy()[keep] * 255.0))
    points["opacity"] = opacity[keep]
    points["scale"] = cloud.scales().numpy()[keep].max(axis=1) if keep.size else 0.0
    return types.PointCloud2(
        header=make_header(types, stamp_ns, frame_id),
        height=1,
        width=int(keep.size),
        fields=cloud_point_fields(types),
        is_bigendian=False,
        point_step=GAUSSIAN_CLOUD_DTYPE.itemsize,
        row_step=GAUSSIAN_CLOUD_DTYPE.itemsize * int(keep.size),
        data=types.sequence(points.view(np.uint8).reshape(-1)),
        is_dense=bool(np.isfinite(means).all()),
    )


def pointcloud2_to_array(msg: Any) -> np.ndarray:
    """Any ``PointCloud2`` → a flat structured array [height·width] with one field per PointField.

    Raises:
        ConversionError: Unknown datatype, or data shorter than ``height · row_step``.
    """
    byte_order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for field in msg.fields:
        if int(field.datatype) not in _DATATYPE_TO_DTYPE:
            raise ConversionError(f"PointCloud2 field {field.name!r}: unknown datatype {field.datatype}")
        base = _DATATYPE_TO_DTYPE[int(field.datatype)].newbyteorder(byte_order)
        names.append(field.name)
        formats.append(base if int(field.count) == 1 else (base, (int(field.count),)))
        offsets.append(int(field.offset))
    dtype = np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)}
    )
    height, width, row_step = int(msg.height), int(msg.width), int(msg.row_step)
    data = as_uint8_array(msg.data)
    if data.size < height * row_step or row_step < width * dtype.itemsize:
        raise ConversionError(
            f"PointCloud2: {data.size} bytes for {height} rows of row_step {row_step} ({width} points)"
        )
    rows = data[: height * row_step].reshape(height, row_step)[:, : width * dtype.itemsize]
    points = np.ascontiguousarray(rows).view(dtype).reshape(-1)
    return repack_fields(points.astype(dtype.newbyteorder("=")))


# -- recognition --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectedObject:
    """One remembered object's recognition result (input to :func:`detections_message`).

    Attributes:
        id: Persistent object id (stable across messages).
        class_names: K class names.
        scores: K scores (e.g. softmax probabilities), same order as ``class_names``.
        center: (x, y, z) of the axis-aligned box centre, metres, in the header frame.
        size: (x, y, z) box extent, metres.
    """

    id: str
    class_names: Sequence[str]
    scores: Sequence[float]
    center: tuple[float, float, float]
    size: tuple[float, float, float]

    @classmethod
    def from_points(
        cls,
        id: str,
        points: np.ndarray | Tensor,
        class_names: Sequence[str],
        scores: Sequence[float] | Tensor,
    ) -> DetectedObject:
        """Box = axis-aligned extent of the object's Gaussian centres, [M, 3] (M ≥ 1)."""
        points = np.asarray(torch.as_tensor(points).detach().cpu(), dtype=np.float64).reshape(-1, 3)
        if points.shape[0] == 0:
            raise ValueError(f"object {id!r} has no points to bound")
        lo, hi = points.min(axis=0), points.max(axis=0)
        scores = [float(s) for s in torch.as_tensor(scores).detach().cpu().reshape(-1).tolist()]
        return cls(str(id), tuple(class_names), tuple(scores), tuple((lo + hi) / 2), tuple(hi - lo))


def _hypotheses(
    types: MessageTypes, class_names: Sequence[str], scores: Sequence[float] | Tensor, top_k: int | None
) -> list[Any]:
    scores = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=np.float64).reshape(-1)
    if len(class_names) != scores.size:
        raise ValueError(f"{len(class_names)} class names but {scores.size} scores")
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [types.ObjectHypothesis(class_id=str(class_names[i]), score=float(scores[i])) for i in order]


def classification_message(
    types: MessageTypes,
    stamp_ns: int,
    frame_id: str,
    class_names: Sequence[str],
    scores: Sequence[float] | Tensor,
    top_k: int | None = None,
) -> Any:
    """``vision_msgs/Classification``: one hypothesis per class (class_id = name), best first, top_k kept."""
    return types.Classification(
        header=make_header(types, stamp_ns, frame_id), results=_hypotheses(types, class_names, scores, top_k)
    )


def detections_message(
    types: MessageTypes,
    stamp_ns: int,
    frame_id: str,
    objects: Iterable[DetectedObject],
    top_k: int | None = None,
) -> Any:
    """``vision_msgs/Detection3DArray`` with one ``Detection3D`` per object, in the given order.

    Each detection's hypotheses carry the box centre as their pose (zero covariance: not estimated).
    """
    header = make_header(types, stamp_ns, frame_id)
    detections = []
    for obj in objects:
        T = np.eye(4)
        T[:3, 3] = obj.center
        center = matrix_to_pose(types, T)
        results = [
            types.ObjectHypothesisWithPose(
                hypothesis=hyp,
                pose=types.PoseWithCovariance(pose=matrix_to_pose(types, T), covariance=np.zeros(36)),
            )
            for hyp in _hypotheses(types, obj.class_names, obj.scores, top_k)
        ]
        size = types.Vector3(x=float(obj.size[0]), y=float(obj.size[1]), z=float(obj.size[2]))
        bbox = types.BoundingBox3D(center=center, size=size)
        detections.append(
            types.Detection3D(
                header=make_header(types, stamp_ns, frame_id), results=results, bbox=bbox, id=obj.id
            )
        )
    return types.Detection3DArray(header=header, detections=detections)


def label_info_message(
    types: MessageTypes, class_names: Sequence[str], stamp_ns: int, frame_id: str, threshold: float = 0.0
) -> Any:
    """``vision_msgs/LabelInfo``: class index i (uint16) → class_names[i]; publish it transient-local."""
    if len(class_names) > 65535:
        raise ValueError(f"{len(class_names)} classes do not fit uint16 class ids (65535 is UNLABELED)")
    class_map = [types.VisionClass(class_id=i, class_name=str(name)) for i, name in enumerate(class_names)]
    return types.LabelInfo(
        header=make_header(types, stamp_ns, frame_id), class_map=class_map, threshold=float(threshold)
    )


# -- embeddings ---------------------------------------------------------------------------------------------
def embeddings_to_image(
    types: MessageTypes, embeddings: np.ndarray | Tensor, stamp_ns: int, frame_id: str
) -> Any:
    """Object embeddings [N, D] → ``32FC1`` Image (height N, width D; row i ↔ ``detections[i]``)."""
    embeddings = np.asarray(torch.as_tensor(embeddings).detach().cpu(), dtype=np.float32)
    if embeddings.ndim != 2:
        raise ConversionError(f"embeddings must be [N, D], got shape {list(embeddings.shape)}")
    return array_to_image(types, embeddings, "32FC1", stamp_ns, frame_id)


def image_to_embeddings(msg: Any) -> np.ndarray:
    """Inverse of :func:`embeddings_to_image`: float32 [N, D] (N = height, D = width)."""
    if msg.encoding != "32FC1":
        raise ConversionError(f"embeddings image has encoding {msg.encoding!r}, expected 32FC1")
    return image_to_array(msg)
