"""Feature caches: the per-Gaussian features of core/features.py stored once per object, so training reads
them instead of fitting-time clouds. A cache is an uncompressed ``.npz`` written atomically;
:func:`build_feature_cache` goes from an INRIA PLY to the cache in one call.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np
import torch

from ..core.features import FEATURE_CACHE_VERSION, FeatureConfig, GaussianFeatures, gaussian_features
from ..core.ply import atomic_open, read_ply

_TENSOR_FIELDS = ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest", "centre")
_COUNT_FIELDS = ("dropped_invalid", "dropped_transparent")


class FeatureCacheError(ValueError):
    """A feature cache file that is corrupt, truncated or not in the expected layout; names the file."""


def write_feature_cache(path: str | os.PathLike, features: GaussianFeatures) -> None:
    """Write features as an uncompressed ``.npz``, atomically (parent directories are created).

    Args:
        path: Destination file; an interrupted write leaves no file under this name.
        features: Features to store; tensors are written as float32 on CPU.
    """
    arrays = {
        name: getattr(features, name).detach().to(device="cpu", dtype=torch.float32).numpy()
        for name in _TENSOR_FIELDS
    }
    arrays["radius"] = np.asarray(features.radius, dtype=np.float64)
    arrays.update({name: np.asarray(getattr(features, name), dtype=np.int64) for name in _COUNT_FIELDS})
    arrays["format_version"] = np.asarray(FEATURE_CACHE_VERSION, dtype=np.int64)
    with atomic_open(path) as f:
        np.savez(f, **arrays)


def _load_arrays(path: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; content problems become :class:`FeatureCacheError`, OS errors pass."""
    with open(path, "rb") as f:
        signature = f.read(4)
    # Checked first: without it np.load would try a non-zip file as a pickle and blame allow_pickle.
    if signature not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first entry, or an empty zip
        raise FeatureCacheError(f"{path}: not an .npz archive (empty, truncated or not a feature cache)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            # Read everything inside the try: members are loaded lazily and can fail on access.
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        raise FeatureCacheError(f"{path}: corrupt or truncated feature cache ({exc})") from exc


def read_feature_cache(path: str | os.PathLike) -> GaussianFeatures:
    """Read features written by :func:`write_feature_cache`.

    Args:
        path: ``.npz`` cache file.

    Returns:
        Float32 features on CPU.

    Raises:
        FeatureCacheError: The file is corrupt or truncated, lacks a key, has an unsupported
            ``format_version``, or arrays of the wrong type or shape; the message names the file.
        OSError: The file cannot be opened (FileNotFoundError when there is none).
    """
    path = os.fspath(path)
    arrays = _load_arrays(path)
    required = (*_TENSOR_FIELDS, "radius", *_COUNT_FIELDS, "format_version")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise FeatureCacheError(f"{path}: feature cache is missing key(s): {', '.join(missing)}")
    version = arrays["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FEATURE_CACHE_VERSION:
        raise FeatureCacheError(
            f"{path}: feature cache format_version {version.tolist()} is not {FEATURE_CACHE_VERSION}"
        )
    for name in required:
        kind = "f" if name in (*_TENSOR_FIELDS, "radius") else "iu"
        if arrays[name].dtype.kind not in kind:
            raise FeatureCacheError(f"{path}: feature cache key '{name}' has dtype {arrays[name].dtype}")
    for name in ("radius", *_COUNT_FIELDS):
        if arrays[name].shape != ():
            raise FeatureCacheError(f"{path}: feature cache key '{name}' must be a scalar")
    try:
        return GaussianFeatures(
            **{name: torch.from_numpy(arrays[name].astype(np.float32)) for name in _TENSOR_FIELDS},
            radius=float(arrays["radius"]),
            **{name: int(arrays[name]) for name in _COUNT_FIELDS},
        )
    except ValueError as exc:
        raise FeatureCacheError(f"{path}: {exc}") from exc


def build_feature_cache(
    ply_path: str | os.PathLike,
    out_path: str | os.PathLike,
    config: FeatureConfig | None = None,
) -> GaussianFeatures:
    """Read an INRIA PLY, compute its features and write them to a cache file.

    Args:
        ply_path: Fitted cloud, as written by :func:`~gs_perception.core.ply.write_ply`.
        out_path: Destination ``.npz``.
        config: Feature settings (default :class:`FeatureConfig`).

    Returns:
        The features written.
    """
    features = gaussian_features(read_ply(ply_path), FeatureConfig() if config is None else config)
    write_feature_cache(out_path, features)
    return features
