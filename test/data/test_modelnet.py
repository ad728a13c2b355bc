"""ModelNet OFF reading (including the counts-on-the-header quirk) and the folder index."""

from __future__ import annotations

import numpy as np
import pytest

from gs_perception.data.meshes import MeshError, read_off
from gs_perception.data.modelnet import index_modelnet

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


# A quad (2 x 1, one corner raised) as two triangles; the variants below decorate its vertex and face lines.
SQUARE_VERTICES = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 1.0, 0.5]]
SQUARE_FACES = [[0, 1, 2], [0, 2, 3]]
SQUARE_BODY = "0 0 0\n2 0 0\n2 1 0\n0 1 0.5\n3 0 1 2\n3 0 2 3\n"


def _read(tmp_path, text):
    return read_off(_write(tmp_path / "mesh.off", text))


def _assert_square(mesh):
    assert np.array_equal(mesh.vertices, SQUARE_VERTICES)
    assert np.array_equal(mesh.faces, SQUARE_FACES)


def test_plain_off_keeps_vertices_and_faces_in_file_order(tmp_path):
    mesh = _read(tmp_path, "OFF\n4 2 0\n" + SQUARE_BODY)
    _assert_square(mesh)
    assert mesh.visual.kind is None  # no colours in the file, none invented


def test_modelnet_counts_glued_to_the_header(tmp_path):
    _assert_square(_read(tmp_path, "OFF4 2 0\n" + SQUARE_BODY))


def test_comments_blank_lines_and_crlf_anywhere(tmp_path):
    text = (
        "# written by hand\r\nOFF # header\r\n\r\n4 2 0 # counts\r\n0 0 0 # first vertex\r\n2 0 0\r\n\r\n"
        "# the rest\r\n2 1 0\r\n0 1 0.5\r\n3 0 1 2 # first face\r\n\r\n3 0 2 3\r\n# end\r\n"
    )
    _assert_square(_read(tmp_path, text))


@pytest.mark.parametrize("colours", [("255 0 0", "0 255 0"), ("1.0 0.0 0.0 0.5", "0.0 1.0 0.0 1.0")])
def test_per_face_colours_after_the_indices_are_allowed(tmp_path, colours):
    text = "OFF\n4 2 0\n" + SQUARE_BODY.replace("3 0 1 2\n", f"3 0 1 2 {colours[0]}\n")
    text = text.replace("3 0 2 3\n", f"3 0 2 3  {colours[1]}\n")
    _assert_square(_read(tmp_path, text))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["255 0 0 255", "0 255 0 255", "0 0 255 128", "10 20 30 40"], None),  # 0..255 with alpha
        (["1 0 0", "0 1 0", "0 0 1", "0.5 0.5 0.5"], [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]),
    ],
)
def test_coff_vertex_colours_are_kept(tmp_path, rows, expected):
    vertices = SQUARE_BODY.splitlines()[:4]
    body = "".join(f"{v} {c}\n" for v, c in zip(vertices, rows)) + "3 0 1 2\n3 0 2 3\n"
    mesh = _read(tmp_path, "COFF\n4 2 0\n" + body)
    _assert_square(mesh)
    assert mesh.visual.kind == "vertex"
    if expected is None:
        expected = [[int(x) for x in row.split()] for row in rows]
    else:
        expected = [*expected, [128, 128, 128, 255]]  # 0.5 of 255, rounded; alpha defaults to opaque
    assert np.array_equal(mesh.visual.vertex_colors, expected)


def test_noff_skips_the_vertex_normals(tmp_path):
    vertices = SQUARE_BODY.splitlines()[:4]
    body = "".join(f"{v} 0 0 1\n" for v in vertices) + "3 0 1 2\n3 0 2 3\n"
    mesh = _read(tmp_path, "NOFF\n4 2 0\n" + body)
    _assert_square(mesh)
    assert mesh.visual.kind is None


def test_cnoff_reads_the_colours_after_the_normals(tmp_path):
    vertices = SQUARE_BODY.splitlines()[:4]
    body = "".join(f"{v} 0 0 1 0 0 1 1\n" for v in vertices) + "3 0 1 2\n3 0 2 3\n"
    mesh = _read(tmp_path, "CNOFF\n4 2 0\n" + body)
    _assert_square(mesh)
    assert np.array_equal(mesh.visual.vertex_colors, [[0, 0, 255, 255]] * 4)


def test_stoff_skips_the_texture_coordinates(tmp_path):
    vertices = SQUARE_BODY.splitlines()[:4]
    body = "".join(f"{v} 0.25 0.75\n" for v in vertices) + "3 0 1 2\n3 0 2 3\n"
    _assert_square(_read(tmp_path, "STOFF\n4 2 0\n" + body))


def test_quads_and_polygons_are_triangulated(tmp_path):
    # A house: square walls (quad), roof triangle, and the same outline again as one pentagon.
    text = "OFF\n5 3 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n0.5 1.5 0\n4 0 1 2 3\n3 3 2 4\n5 0 1 2 4 3\n"
    mesh = _read(tmp_path, text)
    assert mesh.faces.shape == (2 + 1 + 3, 3)
    assert np.isclose(mesh.area, 2 * 1.25)  # every triangle kept: both outlines cover 1 + 0.25
    assert {tuple(sorted(f)) for f in mesh.faces} >= {(0, 1, 2), (0, 2, 4), (0, 3, 4)}  # the pentagon's fan


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OFF\n8 6 0\n0 0 0\n1 0 0\n", "file truncated: declares 8 vertices, has 2"),
        ("OFF\n8 6 0\n" + CUBE_BODY.rsplit("\n", 3)[0], "file truncated: declares 6 faces, has 4"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 99\n", "face 0 references vertex 99 of 3"),
        (
            "OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n4 0 1 2\n",
            "face 1 declares 4 corners but lists 3 indices",
        ),
        ("PLY\n8 6 0\n", "not an OFF file \\(first token 'PLY'\\)"),
        ("", "no OFF header"),
        ("# only a comment\n\n", "no OFF header"),
        ("OFF\n3 1 0\n0 0 0 1 0 0 0 1 0 3 0 1 2\n", "one vertex or face per line"),  # complete, not truncated
    ],
)
def test_errors_say_exactly_what_is_wrong(tmp_path, text, message):
    path = _write(tmp_path / "broken.off", text)
    with pytest.raises(MeshError, match=message) as err:
        read_off(path)
    assert str(path) in str(err.value)
    if "truncated" not in message:
        assert "truncated" not in str(err.value)
