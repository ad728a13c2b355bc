"""INRIA 3DGS PLY files: read and write :class:`GaussianCloud` (binary little-endian float32).

Layout (docs/architecture.md §4), one ``vertex`` element with float32 properties in this order::

    x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 … f_rest_{M-1} opacity scale_0 scale_1 scale_2 rot_0 … rot_3

- Values are the **raw parameters** exactly as stored in the cloud (no activation): ``opacity`` is the
  pre-sigmoid logit, ``scale_i`` are log standard deviations, ``rot_0..3`` is the quaternion **wxyz**
  (``rot_0 = w``, unnormalised).
- ``f_dc_i = sh[:, 0, i]``. ``f_rest`` is **channel-major**: all R coefficients of degree ≥ 1, then all G,
  then all B, so ``f_rest_{c·(K-1) + (k-1)} = sh[:, k, c]``; ``M = 3·(K-1)`` ∈ {0, 9, 24, 45}.
- Normals are written as zeros and ignored on reading.

Written with numpy only (plyfile is a test-only dependency). Reading accepts any property order, extra
properties and elements, and float/double types, so files from the INRIA code, gsplat and viewers load.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from gs_perception.core.gaussians import GaussianCloud, num_sh_bases

_FLOAT_TYPES = {"float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8"}
_SCALAR_TYPES = {
    **_FLOAT_TYPES,
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "<i2",
    "int16": "<i2",
    "ushort": "<u2",
    "uint16": "<u2",
    "int": "<i4",
    "int32": "<i4",
    "uint": "<u4",
    "uint32": "<u4",
}
_REQUIRED = (
    ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    + [f"scale_{i}" for i in range(3)]
    + [f"rot_{i}" for i in range(4)]
)
_VALID_F_REST = (0, 9, 24, 45)
# Bounds on what we accept as a header, so a junk file cannot make us read it all looking for newlines.
_MAX_LINE = 64 * 1024
_MAX_HEADER = 1024 * 1024


class PlyError(ValueError):
    """A PLY file that is malformed or not in a layout we can read; the message names the file."""


def inria_property_names(sh_degree: int) -> list[str]:
    """Vertex property names, in file order, of an INRIA PLY with SH degree ``sh_degree`` (0..3)."""
    if sh_degree not in range(4):
        raise ValueError(f"sh_degree must be in 0..3, got {sh_degree}")
    num_rest = 3 * (num_sh_bases(sh_degree) - 1)
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{j}" for j in range(num_rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


# -- writing -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing so it appears only complete: a temp file in the same directory,
    fsynced and renamed over ``path`` on success, removed on failure. Parent directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask apply, as for a plain open(); mkstemp would force 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cloud_to_inria_array(cloud: GaussianCloud) -> np.ndarray:
    """The cloud's raw parameters as the INRIA vertex table.

    Args:
        cloud: N Gaussians of SH degree D.

    Returns:
        [N, 9 + 3·(K-1) + 8] float32 array, columns in :func:`inria_property_names` order (normals zero,
        f_rest channel-major).
    """
    n, k = cloud.num, cloud.sh.shape[1]

    def f32(t: torch.Tensor) -> np.ndarray:
        # [N] or [N, C] → [N, C]; not reshape(n, -1), which is ambiguous for an empty cloud.
        t = t[:, None] if t.ndim == 1 else t
        return t.detach().to(device="cpu", dtype=torch.float32).numpy()

    # [N, K-1, 3] → [N, 3, K-1]: the INRIA code stores the SH of each channel contiguously.
    f_rest = cloud.sh[:, 1:, :].transpose(1, 2).reshape(n, 3 * (k - 1))
    columns = [
        f32(cloud.means),
        np.zeros((n, 3), dtype=np.float32),
        f32(cloud.sh[:, 0, :]),
        f32(f_rest),
        f32(cloud.opacity_logits),
        f32(cloud.log_scales),
        f32(cloud.quats),
    ]
    return np.ascontiguousarray(np.concatenate(columns, axis=1), dtype="<f4")


def write_ply(path: str | os.PathLike, cloud: GaussianCloud, sh_degree: int | None = None) -> None:
    """Write a cloud as an INRIA 3DGS PLY (binary little-endian float32), atomically.

    Args:
        path: Destination; parent directories are created. An interrupted write leaves no file under this
            name (the previous file, if any, stays intact).
        cloud: N Gaussians; raw parameters are written as they are (see the module docstring).
        sh_degree: Write SH of this degree (0..3) instead of the cloud's own, zero-padding or truncating;
            e.g. 3 gives the 45 ``f_rest`` that some viewers require.
    """
    if sh_degree is not None:
        if sh_degree not in range(4):
            raise ValueError(f"sh_degree must be in 0..3, got {sh_degree}")
        cloud = cloud.with_sh_degree(sh_degree)
    names = inria_property_names(cloud.sh_degree)
    table = cloud_to_inria_array(cloud)
    assert table.shape == (cloud.num, len(names)), table.shape
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {cloud.num}"]
    header += [f"property float {name}" for name in names]
    header.append("end_header")
    with atomic_open(path) as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(table.tobytes())


# -- reading -------------------------------------------------------------------------------------------------


@dataclass
class _Element:
    name: str
    count: int
    properties: list[tuple[str, str]]  # (name, PLY type); type "list" for list properties


@dataclass
class _Header:
    fmt: str
    elements: list[_Element]
    size: int  # bytes, including the end_header line


def _read_header(f: BinaryIO, path: str) -> _Header:
    first = f.readline(_MAX_LINE)
    if first.rstrip(b"\r\n") != b"ply":
        raise PlyError(f"{path}: not a PLY file (does not start with the 'ply' magic line)")
    lines, size = [], len(first)
    while True:
        raw = f.readline(_MAX_LINE)
        size += len(raw)
        if not raw.endswith(b"\n") or size > _MAX_HEADER:
            raise PlyError(f"{path}: PLY header never ends (no 'end_header' line within {size} bytes)")
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise PlyError(f"{path}: PLY header contains non-ASCII bytes before 'end_header'") from None
        if line == "end_header":
            break
        lines.append(line)
    return _parse_header_lines(lines, size, path)


def _parse_header_lines(lines: list[str], size: int, path: str) -> _Header:
    fmt, elements = None, []
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            try:
                count = int(words[2])
            except ValueError:
                raise PlyError(f"{path}: bad element count in header line '{line}'") from None
            if count < 0:
                raise PlyError(f"{path}: negative element count in header line '{line}'")
            elements.append(_Element(words[1], count, []))
        elif words[0] == "property" and elements and len(words) >= 3:
            if words[1] == "list":
                elements[-1].properties.append((words[-1], "list"))
            else:
                elements[-1].properties.append((words[2], words[1]))
        else:
            raise PlyError(f"{path}: unrecognised PLY header line '{line}'")
    if fmt is None:
        raise PlyError(f"{path}: PLY header has no 'format' line")
    return _Header(fmt, elements, size)


def _element_dtype(element: _Element, path: str) -> np.dtype:
    """Packed structured dtype of one row of a fixed-size element."""
    names, formats = [], []
    for name, ply_type in element.properties:
        if ply_type == "list":
            raise PlyError(
                f"{path}: list property '{name}' in element '{element.name}' is not supported "
                "(rows would not have a fixed size)"
            )
        if ply_type not in _SCALAR_TYPES:
            raise PlyError(f"{path}: unknown property type '{ply_type}' for '{element.name}.{name}'")
        names.append(name)
        formats.append(_SCALAR_TYPES[ply_type])
    if len(set(names)) != len(names):
        raise PlyError(f"{path}: element '{element.name}' has duplicate property names")
    return np.dtype({"names": names, "formats": formats})


def _check_vertex_fields(vertex: _Element, path: str) -> int:
    """Validate the Gaussian fields of the vertex element; returns the number of f_rest properties."""
    types = dict(vertex.properties)
    num_rest = sum(1 for name in types if name.startswith("f_rest_"))
    required = _REQUIRED + [f"f_rest_{j}" for j in range(num_rest)]
    missing = [name for name in required if name not in types]
    if missing:
        raise PlyError(f"{path}: vertex element is missing required Gaussian fields: {', '.join(missing)}")
    if num_rest not in _VALID_F_REST:
        raise PlyError(
            f"{path}: {num_rest} f_rest properties; expected 3·((degree+1)²-1) ∈ {_VALID_F_REST} "
            "for SH degree 0..3"
        )
    for name in required:
        if types[name] not in _FLOAT_TYPES:
            kind = "a list" if types[name] == "list" else f"type '{types[name]}'"
            raise PlyError(
                f"{path}: unsupported property type: vertex field '{name}' is {kind}; "
                f"only {'/'.join(_FLOAT_TYPES)} are supported for Gaussian fields"
            )
    return num_rest


def _read_vertex_table(path: str) -> tuple[np.ndarray, int]:
    """The vertex rows of a binary little-endian PLY as a structured array, and its f_rest count."""
    with open(path, "rb") as f:
        header = _read_header(f, path)
        if header.fmt != "binary_little_endian":
            raise PlyError(f"{path}: PLY format is '{header.fmt}'; only binary_little_endian is supported")
        vertex_index = next((i for i, e in enumerate(header.elements) if e.name == "vertex"), None)
        if vertex_index is None:
            raise PlyError(f"{path}: PLY has no 'vertex' element")
        vertex = header.elements[vertex_index]
        num_rest = _check_vertex_fields(vertex, path)
        # Elements before the vertex element must be skipped, which needs their fixed row size.
        offset = header.size + sum(
            e.count * _element_dtype(e, path).itemsize for e in header.elements[:vertex_index]
        )
        dtype = _element_dtype(vertex, path)
        expected = vertex.count * dtype.itemsize
        available = max(os.fstat(f.fileno()).st_size - offset, 0)
        if available < expected:
            raise PlyError(
                f"{path}: truncated PLY data: {vertex.count} vertices need {expected} bytes "
                f"but only {available} bytes were found"
            )
        table = np.empty(vertex.count, dtype=dtype)
        f.seek(offset)
        got = f.readinto(memoryview(table.view(np.uint8)))
        if got != expected:  # the file shrank between fstat and read
            raise PlyError(f"{path}: truncated PLY data: expected {expected} bytes, found {got}")
    return table, num_rest


def read_ply(path: str | os.PathLike, device: torch.device | str | None = None) -> GaussianCloud:
    """Read an INRIA 3DGS PLY into a :class:`GaussianCloud` of raw parameters.

    Accepts any property order, extra vertex properties (e.g. normals, ignored), extra elements, and
    float/float32/double/float64 Gaussian fields (converted to float32). NaN values are kept as they are.

    Args:
        path: PLY file in binary little-endian format.
        device: Device of the returned tensors (default CPU).

    Returns:
        A cloud with float32 tensors: means [N, 3], log_scales [N, 3], quats [N, 4] (wxyz),
        opacity_logits [N], sh [N, K, 3] with K = M/3 + 1 from the M channel-major ``f_rest``.

    Raises:
        PlyError: the file is not a PLY, is not binary little-endian, is truncated, or lacks or mistypes
            a Gaussian field; the message names the file and the problem.
    """
    path = os.fspath(path)
    table, num_rest = _read_vertex_table(path)
    n = table.shape[0]

    def cols(*names: str) -> torch.Tensor:
        # [N, len(names)] float32; np.stack copies, so the tensors do not alias the packed table.
        return torch.from_numpy(np.stack([table[name].astype(np.float32) for name in names], axis=1))

    if num_rest:
        sh_rest = cols(*[f"f_rest_{j}" for j in range(num_rest)])
    else:
        sh_rest = torch.zeros(n, 0, dtype=torch.float32)
    # Channel-major [N, 3, K-1] back to [N, K-1, 3].
    sh_rest = sh_rest.reshape(n, 3, num_rest // 3).transpose(1, 2)
    sh = torch.cat([cols("f_dc_0", "f_dc_1", "f_dc_2")[:, None, :], sh_rest], dim=1).contiguous()
    cloud = GaussianCloud(
        means=cols("x", "y", "z"),
        log_scales=cols("scale_0", "scale_1", "scale_2"),
        quats=cols("rot_0", "rot_1", "rot_2", "rot_3"),
        opacity_logits=cols("opacity").reshape(n),
        sh=sh,
    )
    return cloud if device is None else cloud.to(device=device)
