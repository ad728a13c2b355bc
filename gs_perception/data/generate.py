"""Dataset generation: meshes → normalised, posed views → fitted Gaussians → feature caches, one folder each.

Layout of a dataset root::

    dataset.json                 the resolved DatasetConfig and provenance (a rerun must match it)
    objects.json                 every planned object: id, class, split, source
    manifest.jsonl               one line per finished or failed object (see manifest.py)
    objects/<class>/<name>/      views/ (NeRF-synthetic: RGBA, depth, masks, transforms_{train,test}.json),
                                 gaussians.ply (+ .metrics.json), features.npz, object.json
    report.md, psnr.png, gaussians.png

Resuming: an object is built in ``<name>.partial/`` and renamed into place only when complete, then its line
is appended to the manifest. A rerun skips objects with a manifest line and a folder, re-adds the line of a
folder that was renamed but not yet recorded (a crash between the two), and deletes and redoes partial
folders. Failures (an unreadable mesh, say) are recorded with their error and skipped on reruns unless
``retry_errors`` is set. Objects run in parallel worker processes on CPU (one torch thread each).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..core.choices import check_choices
from ..core.features import FeatureConfig
from ..core.fit import FitConfig
from ..core.runtime import resolve_device
from .appearance import AppearanceConfig, apply_appearance
from .catalog import (
    SOURCES,
    ObjectSpec,
    assign_validation,
    folder_objects,
    limit_per_class,
    modelnet_objects,
    shapes10_objects,
    shapes10hard_objects,
)
from .dataset_record import check_or_write_record
from .feature_cache import build_feature_cache
from .manifest import MANIFEST_NAME, ManifestEntry, append_entry, read_manifest
from .meshes import check_mesh, normalise_to_unit_sphere
from .object_fits import build_extra_fits, extend_object
from .parallel import map_in_processes
from .pybullet_set import pybullet_objects
from .views import ViewRenderConfig

#: The study's renders: 64 spiral views at 800×800, plus 8 held-out poses for memory evaluation.
STUDY_VIEWS = ViewRenderConfig(width=800, height=800, n_train=64, n_test=8)
#: A 3DGS schedule for 800 px objects on a GPU (gsplat's 7k-step checkpoint quality at a fraction of 30k).
STUDY_FIT = FitConfig(
    steps=7000,
    refine_start=500,
    refine_stop=5000,
    refine_every=100,
    reset_every=3000,
    sh_degree_interval=1000,
    init_points=5000,
    max_gaussians=50_000,
)
#: Fields that change how a run goes, not what it produces: a rerun may change them freely.
RUN_FIELDS = ("workers", "threads", "device", "retry_errors", "max_objects")
#: Fields a rerun may change because objects are extended, not rebuilt (the record follows the last run).
EXTENDABLE_FIELDS = ("fits_per_object",)


@dataclass(frozen=True)
class DatasetConfig:
    """Everything ``generate_dataset`` needs. Defaults follow the study (GPU); config/ has CPU presets."""

    source: Literal["shapes10", "shapes10hard", "modelnet", "folder", "pybullet"] = "shapes10"
    """'shapes10' (built-in procedural classes), 'shapes10hard' (the same classes with part variants, shared
    sizes, random yaw and held-out part combinations as the test split), 'modelnet' (ModelNet10/40 OFF tree),
    'folder', or 'pybullet' (the instance-level set of the pybullet wheel's meshes, data/pybullet_set.py)."""
    root: str = ""
    """Mesh tree for 'modelnet' (<class>/{train,test}/*.off) and 'folder' (<class>/[train|test/]*.obj …);
    for 'pybullet' a pybullet_data folder (empty: the installed one)."""
    train_per_class: int = 40
    """'shapes10', 'shapes10hard': objects per class in the train split (validation is carved from these);
    'pybullet': random meshes in train."""
    test_per_class: int = 10
    """'shapes10', 'shapes10hard': objects per class in the test split; 'pybullet': random meshes in test
    (its real objects are always test)."""
    classes: tuple[str, ...] = ()
    """Only these classes (any source); empty keeps every class."""
    max_per_split: int = 0
    """Keep at most this many objects per class and split (first by id); 0 keeps all."""
    val_fraction: float = 0.1
    """Fraction of each class's train objects moved to the validation split (seeded, stratified)."""
    test_fraction: float = 0.2
    """'folder' without train/test subfolders: fraction of each class drawn as test."""
    split_seed: int = 0
    """Seed of the validation (and drawn test) splits."""
    view: ViewRenderConfig = STUDY_VIEWS
    """Rendering: views, image size, camera spiral, lighting."""
    appearance: AppearanceConfig = AppearanceConfig()
    """Materials and lights: the study's fixed one or seeded random ones."""
    fit: FitConfig = STUDY_FIT
    """Per-object 3DGS fit."""
    features: FeatureConfig = FeatureConfig()
    """Encoder-ready feature cache of each object's Gaussians."""
    fits_per_object: int = 1
    """Independent 3DGS fits of each object: fit k > 1 refits the same views with ``fit.seed + k - 1``
    (other initial points, other view order) into ``gaussians_fit<k>.ply`` / ``features_fit<k>.npz``, for
    the instance test (find fit 2 from fit 1) and as training positives. Raising it on a finished dataset
    adds the missing fits to every object and changes nothing else."""
    workers: int = 0
    """Parallel object workers; 0 = one per CPU core (at most 8) on CPU, 1 on CUDA."""
    threads: int = 0
    """torch threads per worker; 0 = cores / workers."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    retry_errors: bool = False
    """Redo objects that failed in an earlier run (by default they stay recorded as failed)."""
    max_objects: int = 0
    """Stop after building this many objects in this run (0 = no limit); a later run continues."""

    def __post_init__(self):
        check_choices(self)
        if self.fits_per_object < 1:
            raise ValueError(f"fits_per_object must be ≥ 1, got {self.fits_per_object}")


@dataclass
class GenerationSummary:
    """What one :func:`generate_dataset` call did and the dataset's state afterwards."""

    root: Path
    planned: int
    built: int
    failed: int
    skipped: int
    recovered: int
    seconds: float
    entries: list[ManifestEntry] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every planned object has a manifest line (ok or failed)."""
        return len(self.entries) == self.planned


def plan_objects(config: DatasetConfig) -> list[ObjectSpec]:
    """The dataset's objects with their final splits (train/val/test), sorted by id."""
    if config.source == "shapes10":
        specs = shapes10_objects(config.train_per_class, config.test_per_class)
    elif config.source == "shapes10hard":
        specs = shapes10hard_objects(config.train_per_class, config.test_per_class)
    elif config.source == "modelnet":
        specs = modelnet_objects(_require_root(config))
    elif config.source == "folder":
        specs = folder_objects(_require_root(config), config.test_fraction, config.split_seed)
    elif config.source == "pybullet":
        specs = pybullet_objects(config.root, config.train_per_class, config.test_per_class)
    else:
        raise ValueError(f"unknown source {config.source!r}; expected one of {SOURCES}")
    if config.classes:
        unknown = set(config.classes) - {s.label for s in specs}
        if unknown:
            raise ValueError(f"classes {sorted(unknown)} are not in source {config.source!r}")
        specs = [s for s in specs if s.label in config.classes]
    specs = limit_per_class(specs, config.max_per_split or None)
    return sorted(assign_validation(specs, config.val_fraction, config.split_seed), key=lambda s: s.object_id)


def _require_root(config: DatasetConfig) -> Path:
    if not config.root:
        raise ValueError(f"source {config.source!r} needs --root (the mesh folder)")
    return Path(config.root)


def generate_dataset(
    out: str | Path,
    config: DatasetConfig = DatasetConfig(),
    show_progress: bool = True,
    on_entry: Callable[[ManifestEntry], None] | None = None,
) -> GenerationSummary:
    """Build (or resume) the dataset ``config`` describes in the folder ``out``.

    Args:
        out: Dataset root (created if missing).
        config: What to build and how to run.
        show_progress: tqdm bar over objects with ETA, mean PSNR and failures.
        on_entry: Called with each new manifest entry right after it is recorded.

    Returns:
        A :class:`GenerationSummary` (its ``entries`` are the whole manifest, in plan order).

    Raises:
        ValueError: ``out`` holds a dataset made with a different config (names the differing settings).
    """
    start = time.perf_counter()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    specs = plan_objects(config)  # first: a bad source or class list must not leave a dataset.json behind
    _check_or_write_config(root, config)
    (root / "objects.json").write_text(json.dumps([_spec_json(s) for s in specs], indent=1) + "\n")
    manifest = root / MANIFEST_NAME
    recovered = _recover_unrecorded(root, specs, read_manifest(manifest))
    done = read_manifest(manifest)
    todo = [s for s in specs if not _is_done(root, done.get(s.object_id), config)]
    skipped = len(specs) - len(todo)
    if config.max_objects:
        todo = todo[: config.max_objects]
    device = resolve_device(config.device).type
    workers = min(_workers(config.workers, device), max(len(todo), 1))
    threads = config.threads or max(1, (os.cpu_count() or 1) // workers)
    built = failed = 0
    bar = _progress(len(todo), workers, show_progress)
    for entry in _run(todo, root, config, device, workers, threads):
        append_entry(manifest, entry)
        built += entry.ok
        failed += not entry.ok
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{entry.object_id} {_entry_text(entry)} failed={failed}")
        if on_entry is not None:
            on_entry(entry)
    if bar is not None:
        bar.close()
    entries = read_manifest(manifest)
    ordered = [entries[s.object_id] for s in specs if s.object_id in entries]
    seconds = time.perf_counter() - start
    return GenerationSummary(root, len(specs), built, failed, skipped, recovered, seconds, ordered)


def _run(todo, root, config, device, workers, threads):
    """Yield one entry per object, in completion order (in this process when ``workers`` is 1, else in
    worker processes where a crashing object costs only itself: see parallel.py)."""
    if workers <= 1:
        if device == "cpu" and config.threads:
            import torch

            torch.set_num_threads(threads)
        for spec in todo:
            yield build_object(spec, root, config, device)
        return
    build = functools.partial(build_object, root=root, config=config, device=device)
    results = map_in_processes(build, todo, workers, _crash_entry, _init_worker, (threads,))
    for _, entry in results:
        yield entry


def _crash_entry(spec: ObjectSpec) -> ManifestEntry:
    """The record of an object whose worker process died (twice): native crash or out of memory."""
    return ManifestEntry(
        spec.object_id,
        spec.label,
        spec.split,
        "error",
        source=_source_text(spec),
        error="the worker process died while building this object (a crash in native code, or out of memory)",
    )


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def build_object(spec: ObjectSpec, root: Path, config: DatasetConfig, device: str) -> ManifestEntry:
    """Build one object folder; never raises for a bad object (returns an entry with status 'error')."""
    start = time.perf_counter()
    folder = root / "objects" / spec.object_id
    partial = folder.with_name(folder.name + ".partial")
    base = dict(object_id=spec.object_id, label=spec.label, split=spec.split, source=_source_text(spec))
    try:
        if _recorded_ok(folder):  # built by an earlier run with fewer fits: add the missing ones in place
            return extend_object(
                folder,
                folder.relative_to(root).as_posix(),
                config.fits_per_object,
                config.fit,
                config.features,
                config.view.background,
                device,
            )
        shutil.rmtree(partial, ignore_errors=True)
        entry = _build(spec, partial, root, folder, config, device, base)
        entry = dataclasses.replace(entry, total_seconds=round(time.perf_counter() - start, 2))
        (partial / "object.json").write_text(entry.to_json() + "\n")
        shutil.rmtree(folder, ignore_errors=True)  # a stale folder from an older, unrecorded attempt
        os.replace(partial, folder)
        return entry
    except Exception as err:  # one bad object must not stop the dataset: record it and go on
        shutil.rmtree(partial, ignore_errors=True)
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        print(f"\nerror: {spec.object_id} ({base['source']}): {detail}", file=sys.stderr)
        return ManifestEntry(
            **base, status="error", error=detail, total_seconds=round(time.perf_counter() - start, 2)
        )


def _build(spec, partial: Path, root: Path, folder: Path, config: DatasetConfig, device: str, base: dict):
    from .fit_folder import fit_folder  # imports the renderer stack; keep `plan_objects` light
    from .views import write_nerf_synthetic

    mesh = spec.load()
    check_mesh(mesh, str(spec.path or spec.object_id))
    unit = normalise_to_unit_sphere(mesh)
    painted, view_config, appearance = apply_appearance(unit, config.view, config.appearance, spec.object_id)
    write_nerf_synthetic(partial / "views", painted, view_config)
    fitted = fit_folder(
        partial / "views", partial / "gaussians.ply", config.fit, view_config.background, device, False
    )
    build_feature_cache(partial / "gaussians.ply", partial / "features.npz", config.features)
    r = fitted.result
    rel = folder.relative_to(root).as_posix()
    extra = build_extra_fits(
        partial, rel, 2, config.fits_per_object, config.fit, config.features, view_config.background, device
    )
    return ManifestEntry(
        **base,
        status="ok",
        folder=rel,
        ply=f"{rel}/gaussians.ply",
        features=f"{rel}/features.npz",
        n_train_views=view_config.n_train,
        n_test_views=view_config.n_test,
        num_gaussians=r.num_gaussians,
        psnr_test=None if r.psnr is None else round(r.psnr, 3),
        ssim_test=None if r.ssim is None else round(r.ssim, 4),
        fit_seconds=round(r.seconds, 2),
        backend=r.backend,
        appearance=dataclasses.asdict(appearance),
        extra_fits=extra,
    )


def _recorded_ok(folder: Path) -> bool:
    record = folder / "object.json"
    return record.exists() and json.loads(record.read_text()).get("status") == "ok"


def _is_done(root: Path, entry: ManifestEntry | None, config: DatasetConfig) -> bool:
    if entry is None:
        return False
    if not entry.ok:
        return not config.retry_errors
    built = entry.folder is not None and (root / entry.folder / "object.json").exists()
    return built and 1 + len(entry.extra_fits) >= config.fits_per_object


def _recover_unrecorded(root: Path, specs: list[ObjectSpec], entries: dict[str, ManifestEntry]) -> int:
    """Append the lines of finished folders that a crash kept out of the manifest; returns how many."""
    recovered = 0
    for spec in specs:
        record = root / "objects" / spec.object_id / "object.json"
        known = entries.get(spec.object_id)
        if record.exists() and (known is None or not known.ok):
            entry = ManifestEntry.from_dict(json.loads(record.read_text()))
            append_entry(root / MANIFEST_NAME, entry)
            recovered += 1
    return recovered


def _check_or_write_config(root: Path, config: DatasetConfig) -> None:
    """Refuse to mix objects made with different settings in one dataset; record the settings."""
    check_or_write_record(root, _content_config(config), _content_config(DatasetConfig()), EXTENDABLE_FIELDS)


def _content_config(config: DatasetConfig) -> dict:
    """The config as JSON types (tuples → lists), without the run-only fields."""
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    return {k: v for k, v in data.items() if k not in RUN_FIELDS}


def _workers(workers: int, device: str) -> int:
    if workers > 0:
        return workers
    return 1 if device == "cuda" else max(1, min(os.cpu_count() or 1, 8))


def _progress(total: int, workers: int, show: bool):
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"objects ({workers} worker{'s' * (workers > 1)})", unit="obj")


def _entry_text(entry: ManifestEntry) -> str:
    if not entry.ok:
        return "FAILED"
    psnr = f"{entry.psnr_test:.1f}dB " if entry.psnr_test is not None else ""
    return f"{psnr}{entry.num_gaussians}G"


def _source_text(spec: ObjectSpec) -> str:
    """The manifest's ``source``: the mesh file, or ``<set>:<class>:<seed>`` for a procedural shape."""
    return str(spec.path) if spec.path is not None else f"{spec.shape_set}:{spec.label}:{spec.shape_seed}"


def _spec_json(spec: ObjectSpec) -> dict:
    return {
        "object_id": spec.object_id,
        "label": spec.label,
        "split": spec.split,
        "source": _source_text(spec),
    }
