"""Independent 3DGS fits of one object beyond the first (``DatasetConfig.fits_per_object``).

Fit k > 1 reruns the object's fit on the same rendered views with seed ``fit.seed + k - 1``: other initial
surface points and another view order, so fits 1 and 2 differ the way two reconstructions of one object do.
They serve the instance test (find an object's fit 2 from its fit 1 among same-class objects) and training
(Gaussians of any fit paired with the views). Files sit beside fit 1's ``gaussians.ply`` / ``features.npz``
as ``gaussians_fit<k>.ply`` / ``features_fit<k>.npz``; each is written atomically, and the object's record is
replaced only after all of them exist, so a killed run redoes at most the fits it had not recorded.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..core.features import FeatureConfig
from ..core.fit import FitConfig
from .feature_cache import build_feature_cache
from .manifest import ExtraFit, ManifestEntry


def fit_name(k: int) -> tuple[str, str]:
    """(PLY, feature cache) file names of fit ``k`` (1-based; fit 1 keeps the original names)."""
    if k < 1:
        raise ValueError(f"fits are numbered from 1, got {k}")
    return ("gaussians.ply", "features.npz") if k == 1 else (f"gaussians_fit{k}.ply", f"features_fit{k}.npz")


def build_extra_fits(
    folder: Path,
    rel: str,
    first: int,
    count: int,
    fit: FitConfig,
    features: FeatureConfig,
    background: tuple[float, float, float],
    device: str,
) -> tuple[ExtraFit, ...]:
    """Fit an object's views again, fits ``first`` … ``count`` (each with its own seed).

    Args:
        folder: The object folder on disk (holding ``views/``).
        rel: The same folder relative to the dataset root (for the recorded paths).
        first: Number of the first fit to build (≥ 2).
        count: Number of the last fit to build (fits_per_object).
        fit: The dataset's fit settings; fit k uses ``seed = fit.seed + k - 1``.
        features: The dataset's feature settings.
        background: Colour the views are composited on (the dataset's ``view.background``).
        device: "cpu" or "cuda".

    Returns:
        One :class:`ExtraFit` per fit built, in order (empty when ``first > count``).
    """
    from .fit_folder import fit_folder  # the renderer stack; keep this module light to import

    out = []
    for k in range(max(first, 2), count + 1):
        ply, cache = fit_name(k)
        seed = fit.seed + k - 1
        fitted = fit_folder(
            folder / "views", folder / ply, dataclasses.replace(fit, seed=seed), background, device, False
        )
        build_feature_cache(folder / ply, folder / cache, features)
        r = fitted.result
        out.append(
            ExtraFit(
                ply=f"{rel}/{ply}",
                features=f"{rel}/{cache}",
                seed=seed,
                num_gaussians=r.num_gaussians,
                psnr_test=None if r.psnr is None else round(r.psnr, 3),
                fit_seconds=round(r.seconds, 2),
            )
        )
    return tuple(out)


def extend_object(
    folder: Path, rel: str, count: int, fit: FitConfig, features: FeatureConfig, background, device: str
) -> ManifestEntry:
    """Add the fits an already built object lacks, and rewrite its ``object.json``.

    Args:
        folder: The finished object folder (with ``object.json``).
        rel, count, fit, features, background, device: As for :func:`build_extra_fits`.

    Returns:
        The object's entry with every fit up to ``count`` in ``extra_fits``.
    """
    entry = ManifestEntry.from_dict(json.loads((folder / "object.json").read_text()))
    have = 1 + len(entry.extra_fits)
    new = build_extra_fits(folder, rel, have + 1, count, fit, features, background, device)
    extended = dataclasses.replace(entry, extra_fits=entry.extra_fits + new)
    tmp = folder / "object.json.tmp"
    tmp.write_text(extended.to_json() + "\n")
    os.replace(tmp, folder / "object.json")
    return extended
