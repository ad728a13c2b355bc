"""Output messages (PointCloud2 of Gaussians, vision_msgs, embeddings), checked with rosbags classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_perception.core.gaussians import GaussianCloud
from gs_perception.ros import perception_msgs as msgs
from gs_perception.ros import sensor_conversions as sensors
from gs_perception.ros.typestore import MessageTypes, make_typestore

TYPESTORE = make_typestore("humble")
TYPES = MessageTypes.from_typestore(TYPESTORE)
STAMP = 1_700_000_123_456_789_012


def cdr_round_trip(msg):
    """Serialise and deserialise with the typestore: proves the message is complete and well-typed."""
    data = TYPESTORE.serialize_cdr(msg, msg.__msgtype__)
    return TYPESTORE.deserialize_cdr(data, msg.__msgtype__)


# -- point clouds -------------------------------------------------------------------------------------------
def _cloud(n: int = 12) -> GaussianCloud:
    torch.manual_seed(0)
    levels = torch.randint(0, 256, (n, 3)).float() / 255.0
    cloud = GaussianCloud.from_points(torch.randn(n, 3), rgb=levels, scale=0.05)
    cloud.opacity_logits = torch.linspace(-3.0, 3.0, n)[torch.randperm(n)]
    cloud.log_scales = torch.log(torch.rand(n, 3) * 0.1 + 0.01)
    return cloud


def test_pointcloud_fields_match_dtype():
    fields = msgs.cloud_point_fields(TYPES)
    dtype = msgs.GAUSSIAN_CLOUD_DTYPE
    assert [f.name for f in fields] == list(dtype.names) == ["x", "y", "z", "rgb", "opacity", "scale"]
    assert [f.offset for f in fields] == [dtype.fields[n][1] for n in dtype.names] == [0, 4, 8, 12, 16, 20]
    assert all(f.datatype == TYPES.PointField.FLOAT32 == 7 and f.count == 1 for f in fields)


def test_pointcloud_round_trip():
    cloud = _cloud()
    msg = cdr_round_trip(msgs.gaussians_to_pointcloud2(TYPES, cloud, STAMP, "world"))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 12, 24, 24 * 12)
    assert msg.is_dense and not msg.is_bigendian and msg.header.frame_id == "world"
    points = msgs.pointcloud2_to_array(msg)
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=1)
    np.testing.assert_array_equal(xyz, cloud.means.numpy())
    np.testing.assert_allclose(points["opacity"], cloud.opacities().numpy(), rtol=1e-6)
    np.testing.assert_allclose(points["scale"], cloud.scales().max(dim=1).values.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(
        msgs.unpack_rgb(points["rgb"]), np.rint(cloud.rgb().numpy() * 255).astype(np.uint8)
    )


def test_pointcloud_decimation_keeps_most_opaque():
    cloud = _cloud(12)
    msg = msgs.gaussians_to_pointcloud2(TYPES, cloud, STAMP, "world", max_points=5)
    points = msgs.pointcloud2_to_array(msg)
    keep = np.sort(np.argsort(-cloud.opacities().numpy())[:5])
    assert msg.width == 5
    np.testing.assert_array_equal(points["x"], cloud.means[keep, 0].numpy())
    assert points["opacity"].min() >= np.sort(cloud.opacities().numpy())[-5] - 1e-7


def test_pointcloud2_to_array_reads_other_layouts():
    dtype = np.dtype({"names": ["a", "b"], "formats": [">u2", ">f8"], "offsets": [0, 4], "itemsize": 16})
    points = np.zeros(3, dtype)
    points["a"], points["b"] = [1, 2, 3], [0.5, -1.0, 2.0]
    rows = np.concatenate([points.view(np.uint8).reshape(1, -1), np.zeros((1, 8), np.uint8)], axis=1)
    fields = [TYPES.PointField(name="a", offset=0, datatype=4, count=1)]
    fields.append(TYPES.PointField(name="b", offset=4, datatype=8, count=1))
    msg = TYPES.PointCloud2(
        header=sensors.make_header(TYPES, STAMP, "w"),
        height=1,
        width=3,
        fields=fields,
        is_bigendian=True,
        point_step=16,
        row_step=56,
        data=rows.reshape(-1),
        is_dense=True,
    )
    out = msgs.pointcloud2_to_array(msg)
    assert out["a"].tolist() == [1, 2, 3] and out["b"].tolist() == [0.5, -1.0, 2.0]


def test_pack_rgb_bits():
    packed = msgs.pack_rgb(np.array([[255, 0, 1]], np.uint8))
    assert packed.view("<u4")[0] == 0xFF0001
    np.testing.assert_array_equal(msgs.unpack_rgb(packed), [[255, 0, 1]])


# -- recognition and embeddings -----------------------------------------------------------------------------
def test_classification_sorted_by_score():
    msg = cdr_round_trip(
        msgs.classification_message(TYPES, STAMP, "cam", ["bed", "chair", "desk"], [0.2, 0.7, 0.1])
    )
    assert [(r.class_id, round(r.score, 6)) for r in msg.results] == [
        ("chair", 0.7),
        ("bed", 0.2),
        ("desk", 0.1),
    ]
    assert sensors.stamp_to_ns(msg.header.stamp) == STAMP
    top = msgs.classification_message(
        TYPES, STAMP, "cam", ["a", "b", "c"], torch.tensor([0.1, 0.3, 0.6]), top_k=1
    )
    assert [r.class_id for r in top.results] == ["c"]
    with pytest.raises(ValueError, match="2 class names but 3 scores"):
        msgs.classification_message(TYPES, STAMP, "cam", ["a", "b"], [0.1, 0.2, 0.3])


def test_detections_ids_and_boxes():
    pts = torch.tensor([[0.0, 0.0, 0.0], [2.0, 1.0, 0.5], [1.0, -1.0, 0.25]])
    objects = [
        msgs.DetectedObject.from_points("obj-7", pts, ["bed", "chair"], torch.tensor([0.25, 0.75])),
        msgs.DetectedObject("obj-2", ("bed", "chair"), (0.9, 0.1), (5.0, 5.0, 5.0), (1.0, 2.0, 3.0)),
    ]
    msg = cdr_round_trip(msgs.detections_message(TYPES, STAMP, "world", objects))
    assert [d.id for d in msg.detections] == ["obj-7", "obj-2"]
    first = msg.detections[0]
    c, s = first.bbox.center.position, first.bbox.size
    assert (c.x, c.y, c.z) == (1.0, 0.0, 0.25) and (s.x, s.y, s.z) == (2.0, 2.0, 0.5)
    assert first.bbox.center.orientation.w == 1.0
    assert [r.hypothesis.class_id for r in first.results] == ["chair", "bed"]
    assert first.results[0].hypothesis.score == 0.75 and first.results[0].pose.pose.position.x == 1.0
    assert first.header.frame_id == "world" and sensors.stamp_to_ns(first.header.stamp) == STAMP
    assert [r.hypothesis.class_id for r in msg.detections[1].results] == ["bed", "chair"]


def test_label_info_class_map():
    msg = cdr_round_trip(msgs.label_info_message(TYPES, ["bathtub", "bed", "chair"], STAMP, "world", 0.5))
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "bathtub"), (1, "bed"), (2, "chair")]
    assert msg.threshold == 0.5


def test_embeddings_image_round_trip():
    emb = torch.randn(3, 7)
    msg = cdr_round_trip(msgs.embeddings_to_image(TYPES, emb, STAMP, "cam"))
    assert (msg.encoding, msg.height, msg.width) == ("32FC1", 3, 7)
    np.testing.assert_array_equal(msgs.image_to_embeddings(msg), emb.numpy())
    empty = msgs.image_to_embeddings(
        cdr_round_trip(msgs.embeddings_to_image(TYPES, np.zeros((0, 4)), 0, "c"))
    )
    assert empty.shape == (0, 4)
    with pytest.raises(sensors.ConversionError, match="expected 32FC1"):
        msgs.image_to_embeddings(sensors.array_to_image(TYPES, np.zeros((2, 3), np.uint8), "mono8", 0, "c"))
    with pytest.raises(sensors.ConversionError, match=r"\[N, D\]"):
        msgs.embeddings_to_image(TYPES, np.zeros(4), 0, "c")
