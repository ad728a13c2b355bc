"""INRIA PLY I/O: exact round trips, the reference layout (checked with plyfile), and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plyfile
import pytest
import torch

from gs_perception.core.gaussians import GaussianCloud, num_sh_bases
from gs_perception.core.ply import PlyError, atomic_open, inria_property_names, read_ply, write_ply

INRIA_FIELDS_DEG1 = (
    "x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 "
    "f_rest_0 f_rest_1 f_rest_2 f_rest_3 f_rest_4 f_rest_5 f_rest_6 f_rest_7 f_rest_8 "
    "opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3"
).split()


def random_cloud(n: int = 17, degree: int = 0, seed: int = 0) -> GaussianCloud:
    g = torch.Generator().manual_seed(seed)
    return GaussianCloud(
        means=torch.randn(n, 3, generator=g) * 5.0,
        log_scales=torch.randn(n, 3, generator=g) - 3.0,
        quats=torch.randn(n, 4, generator=g),
        opacity_logits=torch.randn(n, generator=g) * 4.0,
        sh=torch.randn(n, num_sh_bases(degree), 3, generator=g),
    )


def assert_clouds_equal(a: GaussianCloud, b: GaussianCloud) -> None:
    for name in ("means", "log_scales", "quats", "opacity_logits", "sh"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype == torch.float32, (name, x.dtype, y.dtype)
        assert torch.equal(x, y), name


def header_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    return data[:end].decode("ascii").splitlines()


def write_structured(path: Path, fields: dict[str, np.ndarray], text: bool = False, byte_order: str = "<"):
    """Write one vertex element with plyfile, fields in the dict's order and with the arrays' dtypes."""
    n = len(next(iter(fields.values())))
    table = np.empty(n, dtype=[(name, a.dtype) for name, a in fields.items()])
    for name, a in fields.items():
        table[name] = a
    el = plyfile.PlyElement.describe(table, "vertex")
    plyfile.PlyData([el], text=text, byte_order=byte_order).write(str(path))


def inria_fields(cloud: GaussianCloud) -> dict[str, np.ndarray]:
    """The cloud as INRIA field arrays (float32), built independently of ply.py."""
    n, k = cloud.num, cloud.sh.shape[1]
    out = {}
    for i, axis in enumerate("xyz"):
        out[axis] = cloud.means[:, i].numpy()
    for c in range(3):
        out[f"f_dc_{c}"] = cloud.sh[:, 0, c].numpy()
    for c in range(3):
        for kk in range(1, k):
            out[f"f_rest_{c * (k - 1) + kk - 1}"] = cloud.sh[:, kk, c].numpy()
    out["opacity"] = cloud.opacity_logits.numpy()
    for i in range(3):
        out[f"scale_{i}"] = cloud.log_scales[:, i].numpy()
    for i in range(4):
        out[f"rot_{i}"] = cloud.quats[:, i].numpy()
    assert len(out) == 14 + 3 * (k - 1) and all(len(v) == n for v in out.values())
    return out


# -- round trip and layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_write_then_read_is_bit_exact_for_each_sh_degree(tmp_path, degree):
    cloud = random_cloud(n=33, degree=degree, seed=degree)
    path = tmp_path / "cloud.ply"
    write_ply(path, cloud)
    back = read_ply(path)
    assert back.sh_degree == degree
    assert_clouds_equal(back, cloud)
    # x y z, normals, f_dc, f_rest, opacity, scales, rot: 17 + 3·(K-1) float32 per Gaussian, nothing else.
    floats = 17 + 3 * ((degree + 1) ** 2 - 1)
    assert path.stat().st_size == len("\n".join(header_lines(path))) + 1 + 33 * 4 * floats


def test_empty_cloud_round_trips(tmp_path):
    cloud = random_cloud(n=0, degree=2)
    write_ply(tmp_path / "empty.ply", cloud)
    back = read_ply(tmp_path / "empty.ply")
    assert back.num == 0 and back.sh.shape == (0, 9, 3)


def test_float64_cloud_is_written_as_float32(tmp_path):
    cloud = random_cloud(n=5, degree=1).to(dtype=torch.float64)
    write_ply(tmp_path / "c.ply", cloud)
    back = read_ply(tmp_path / "c.ply")
    assert_clouds_equal(back, cloud.to(dtype=torch.float32))


def test_header_has_inria_fields_in_exact_order(tmp_path):
    path = tmp_path / "c.ply"
    write_ply(path, random_cloud(n=4, degree=1))
    lines = header_lines(path)
    assert lines[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 4"]
    assert lines[-1] == "end_header"
    assert lines[3:-1] == [f"property float {name}" for name in INRIA_FIELDS_DEG1]
    assert inria_property_names(1) == INRIA_FIELDS_DEG1


def test_degree_3_header_has_45_f_rest_between_f_dc_and_opacity(tmp_path):
    path = tmp_path / "c.ply"
    write_ply(path, random_cloud(n=2, degree=3))
    names = [line.split()[-1] for line in header_lines(path)[3:-1]]
    assert names[:9] == "x y z nx ny nz f_dc_0 f_dc_1 f_dc_2".split()
    assert names[9:54] == [f"f_rest_{j}" for j in range(45)]
    assert names[54:] == "opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3".split()


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_f_rest_is_channel_major(tmp_path, degree):
    k = num_sh_bases(degree)
    cloud = random_cloud(n=3, degree=degree)
    kk = torch.arange(k, dtype=torch.float32)[None, :, None]
    cc = torch.arange(3, dtype=torch.float32)[None, None, :]
    gaussian = torch.arange(3, dtype=torch.float32)[:, None, None]
    cloud.sh = 100.0 * cc + kk + 1000.0 * gaussian  # distinct per (gaussian, k, c)
    write_ply(tmp_path / "c.ply", cloud)
    vertex = plyfile.PlyData.read(str(tmp_path / "c.ply"))["vertex"]
    for c in range(3):
        assert np.array_equal(vertex[f"f_dc_{c}"], [100.0 * c + 1000.0 * i for i in range(3)])
        for coeff in range(1, k):
            j = c * (k - 1) + (coeff - 1)
            assert np.array_equal(vertex[f"f_rest_{j}"], [100.0 * c + coeff + 1000.0 * i for i in range(3)])


def test_plyfile_reads_our_file_with_right_values(tmp_path):
    cloud = random_cloud(n=9, degree=2)
    write_ply(tmp_path / "c.ply", cloud)
    ply = plyfile.PlyData.read(str(tmp_path / "c.ply"))
    assert not ply.text and ply.byte_order == "<"
    vertex = ply["vertex"]
    assert [p.name for p in vertex.properties] == inria_property_names(2)
    assert all(p.val_dtype == "f4" for p in vertex.properties)
    for name in ("nx", "ny", "nz"):
        assert np.array_equal(vertex[name], np.zeros(9, dtype=np.float32))
    for name, expected in inria_fields(cloud).items():
        assert np.array_equal(vertex[name], expected), name


def test_reads_plyfile_inria_file_with_other_order_extra_properties_and_elements(tmp_path):
    cloud = random_cloud(n=6, degree=1, seed=3)
    fields = inria_fields(cloud)
    rng = np.random.default_rng(0)
    order = list(fields)
    rng.shuffle(order)
    shuffled = {name: fields[name] for name in order}
    shuffled["opacity"] = shuffled["opacity"].astype(np.float64)  # double is accepted and narrowed
    shuffled["red"] = np.arange(6, dtype=np.uint8)  # extra non-float property, ignored
    shuffled = {"nx": np.ones(6, dtype=np.float32), **shuffled}
    table = np.empty(6, dtype=[(name, a.dtype) for name, a in shuffled.items()])
    for name, a in shuffled.items():
        table[name] = a
    camera = np.array([(1.0, 2.0, 3)], dtype=[("fx", "f4"), ("fy", "f8"), ("id", "i4")])
    face = np.array([([0, 1, 2],)], dtype=[("vertex_indices", "O")])
    elements = [
        plyfile.PlyElement.describe(camera, "camera"),  # fixed-size element before vertex: skipped
        plyfile.PlyElement.describe(table, "vertex"),
        plyfile.PlyElement.describe(face, "face"),  # list element after vertex: ignored
    ]
    plyfile.PlyData(elements, byte_order="<", comments=["made by plyfile"]).write(str(tmp_path / "p.ply"))
    back = read_ply(tmp_path / "p.ply", device="cpu")
    assert_clouds_equal(back, cloud)


def test_write_ply_pads_sh_degree_with_zeros(tmp_path):
    cloud = random_cloud(n=5, degree=0)
    write_ply(tmp_path / "c.ply", cloud, sh_degree=3)
    vertex = plyfile.PlyData.read(str(tmp_path / "c.ply"))["vertex"]
    rest = [p.name for p in vertex.properties if p.name.startswith("f_rest_")]
    assert rest == [f"f_rest_{j}" for j in range(45)]
    assert all(np.array_equal(vertex[name], np.zeros(5, dtype=np.float32)) for name in rest)
    back = read_ply(tmp_path / "c.ply")
    assert back.sh_degree == 3
    assert torch.equal(back.sh[:, 0], cloud.sh[:, 0]) and not back.sh[:, 1:].any()


def test_write_ply_truncates_sh_degree(tmp_path):
    cloud = random_cloud(n=5, degree=3)
    write_ply(tmp_path / "c.ply", cloud, sh_degree=1)
    back = read_ply(tmp_path / "c.ply")
    assert torch.equal(back.sh, cloud.sh[:, :4])
    with pytest.raises(ValueError, match="0..3"):
        write_ply(tmp_path / "d.ply", cloud, sh_degree=4)


def test_nan_values_are_kept(tmp_path):
    cloud = random_cloud(n=4)
    cloud.opacity_logits[1] = float("nan")
    cloud.means[2, 0] = float("nan")
    write_ply(tmp_path / "c.ply", cloud)
    back = read_ply(tmp_path / "c.ply")
    assert torch.isnan(back.opacity_logits[1]) and torch.isnan(back.means[2, 0])
    assert torch.equal(back.opacity_logits.nan_to_num(7.0), cloud.opacity_logits.nan_to_num(7.0))


# -- atomic writing ------------------------------------------------------------------------------------------


def test_write_creates_parent_dirs_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a" / "b" / "c.ply"
    write_ply(path, random_cloud(n=3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.ply"]


def test_interrupted_write_keeps_previous_file_and_no_temp(tmp_path):
    path = tmp_path / "c.ply"
    write_ply(path, random_cloud(n=3))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path) as f:
        f.write(b"ply\nhalf a file")
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.ply"]


# -- errors --------------------------------------------------------------------------------------------------


def test_truncated_file_raises_naming_path_and_sizes(tmp_path):
    path = tmp_path / "c.ply"
    write_ply(path, random_cloud(n=10, degree=1))
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    row = 4 * len(INRIA_FIELDS_DEG1)
    with pytest.raises(PlyError, match="truncated") as info:
        read_ply(path)
    message = str(info.value)
    assert str(path) in message and f"{10 * row} bytes" in message and f"{10 * row - 7} bytes" in message


def test_missing_fields_are_named(tmp_path):
    fields = inria_fields(random_cloud(n=3, degree=1))
    del fields["rot_2"], fields["f_rest_4"]
    write_structured(tmp_path / "m.ply", fields)
    with pytest.raises(PlyError, match="missing") as info:
        read_ply(tmp_path / "m.ply")
    assert "rot_2" in str(info.value) and "f_rest_4" in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "byte_order", "found"), [(True, "=", "ascii"), (False, ">", "binary_big_endian")]
)
def test_non_little_endian_formats_are_rejected(tmp_path, text, byte_order, found):
    write_structured(tmp_path / "f.ply", inria_fields(random_cloud(n=3)), text=text, byte_order=byte_order)
    with pytest.raises(PlyError, match=found) as info:
        read_ply(tmp_path / "f.ply")
    assert "only binary_little_endian" in str(info.value) and str(tmp_path / "f.ply") in str(info.value)


def test_uchar_opacity_is_rejected(tmp_path):
    fields = inria_fields(random_cloud(n=3))
    fields["opacity"] = np.array([0, 128, 255], dtype=np.uint8)
    write_structured(tmp_path / "u.ply", fields)
    with pytest.raises(PlyError, match="unsupported property type.*opacity.*uchar"):
        read_ply(tmp_path / "u.ply")


def test_list_property_in_vertex_is_rejected(tmp_path):
    fields = inria_fields(random_cloud(n=2))
    table = np.empty(2, dtype=[(name, "f4") for name in fields] + [("ids", "O")])
    for name, a in fields.items():
        table[name] = a
    table["ids"] = [np.array([1, 2], dtype=np.int32), np.array([3], dtype=np.int32)]
    plyfile.PlyData([plyfile.PlyElement.describe(table, "vertex")]).write(str(tmp_path / "l.ply"))
    with pytest.raises(PlyError, match="list property 'ids'"):
        read_ply(tmp_path / "l.ply")


def test_wrong_f_rest_count_is_rejected(tmp_path):
    fields = inria_fields(random_cloud(n=2))
    fields.update({f"f_rest_{j}": np.zeros(2, dtype=np.float32) for j in range(6)})
    write_structured(tmp_path / "r.ply", fields)
    with pytest.raises(PlyError, match="6 f_rest"):
        read_ply(tmp_path / "r.ply")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)), "not a PLY file"),
        (b"", "not a PLY file"),
        (b"OFF\n3 1 0\n", "not a PLY file"),
        (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n", "never ends"),
        (b"ply\nformat binary_little_endian 1.0\nelement face 0\nend_header\n", "no 'vertex' element"),
        (b"ply\nelement vertex 1\nend_header\n", "no 'format' line"),
        (b"ply\nformat binary_little_endian 1.0\nelement vertex many\nend_header\n", "bad element count"),
    ],
)
def test_malformed_files_raise_ply_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.ply"
    path.write_bytes(content)
    with pytest.raises(PlyError, match=problem) as info:
        read_ply(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_reads_gsplat_exported_ply_bit_exact(tmp_path):
    exporter = pytest.importorskip("gsplat.exporter")  # gsplat's CPU-only exporter, no CUDA needed
    cloud = random_cloud(n=12, degree=3, seed=5)
    exporter.export_splats(
        means=cloud.means,
        scales=cloud.log_scales,  # gsplat also stores raw parameters
        quats=cloud.quats,
        opacities=cloud.opacity_logits,
        sh0=cloud.sh[:, :1],
        shN=cloud.sh[:, 1:],
        format="ply",
        save_to=str(tmp_path / "gsplat.ply"),
    )
    assert_clouds_equal(read_ply(tmp_path / "gsplat.ply"), cloud)  # its layout has no normals
