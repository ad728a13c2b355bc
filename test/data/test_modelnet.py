"""ModelNet OFF reading (including the counts-on-the-header quirk) and the folder index."""

from __future__ import annotations

import numpy as np
import pytest

from gs_perception.data.meshes import MeshError
from gs_perception.data.modelnet import index_modelnet, read_off

CUBE_BODY = """0 0 0
1 0 0
1 1 0
0 1 0
0 0 1
1 0 1
1 1 1
0 1 1
4 0 3 2 1
4 4 5 6 7
4 0 1 5 4
4 1 2 6 5
4 2 3 7 6
4 3 0 4 7
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("header", ["OFF\n8 6 12\n", "OFF8 6 12\n", "OFF\n# a comment\n8 6 12\n"])
def test_standard_and_quirky_headers_give_the_same_cube(tmp_path, header):
    mesh = read_off(_write(tmp_path / "cube.off", header + CUBE_BODY))
    assert mesh.vertices.shape == (8, 3) and mesh.faces.shape == (12, 3)  # quads fan-split into 2 triangles
    assert np.isclose(mesh.area, 6.0) and np.isclose(abs(mesh.volume), 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PLY\n8 6 0\n", "not an OFF file"),
        ("OFF\n8 6 0\n0 0 0\n1 0 0\n", "truncated"),
        ("OFF\n8 6 0\n" + CUBE_BODY.rsplit("\n", 3)[0], "truncated"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "outside"),
        ("OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n", "cube.off"),  # degenerate: zero area
    ],
)
def test_broken_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = _write(tmp_path / "cube.off", text)
    with pytest.raises(MeshError, match=message) as err:
        read_off(path)
    assert str(path) in str(err.value)


def test_index_lists_classes_and_splits_in_order(tmp_path):
    for rel in ["chair/train/chair_0002.off", "chair/train/chair_0001.off", "bed/test/bed_0100.off"]:
        _write(tmp_path / rel, "OFF8 6 0\n" + CUBE_BODY)
    _write(tmp_path / "chair/train/readme.txt", "not a mesh")
    records = index_modelnet(tmp_path)
    assert [r.object_id for r in records] == [
        "bed/test/bed_0100",
        "chair/train/chair_0001",
        "chair/train/chair_0002",
    ]
    with pytest.raises(FileNotFoundError, match="no ModelNet meshes"):
        index_modelnet(tmp_path / "empty")
