"""A replay as a Rerun recording (.rrd): images, camera poses, the Gaussian memory and detections over time.

For people who look at robot data in Rerun (rerun-sdk, an optional dependency: ``pip install -e '.[rerun]'``).
Everything comes from a finished replay folder (ros/replay_folder.py) and the input bag it names; the file is
written offline, no viewer is started; open it with ``rerun recording.rrd``.

Timeline ``stamp``: the bag's stamps (header stamps of the input images, nanoseconds since the epoch).
Entities (docs/report.md has the table):

- ``world``: REP-103 axes (x forward, y left, z up): ``ViewCoordinates.FLU``.
- ``world/camera``: the live camera's pose at every step, camera→world (``T_world_cam`` of steps.jsonl).
- ``world/camera/image``: its pinhole (fx, fy, cx, cy; ``camera_xyz`` RDF = OpenCV x right, y down, z forward,
  the ROS optical frame, so the pose needs no axis change) and the input images.
- ``memory_view``: the memory rendered at the live pose (output bag), a 2D view of its own.
- ``world/gaussians``: the memory's Gaussians as coloured points whenever the replay published them
  (PointCloud2 snapshots; radius = largest standard deviation).
- ``world/memory``: the final memory (memory.ply) as Gaussian splats, at the last step's stamp.
- ``world/detections``: recognised objects as boxes labelled "class score", one colour per class.
- ``heldout/input``, ``heldout/memory``: held-out images and the final memory rendered at their poses.
- ``metrics/gaussians``, ``metrics/latency_ms``: per-step series.

Pixel convention: Rerun's principal point is measured from the image's top-left corner (its default is
width/2), like ``Intrinsics`` (gsplat's): steps.jsonl's cx, cy go in unchanged.
"""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.ply import read_ply
from ..pipeline.step_log import StepRecord
from . import perception_msgs as msgs
from . import sensor_conversions as sensors
from .bag_io import read_bag
from .replay_folder import MEMORY_FILE, RECORDING_FILE, ReplayFolder, load_replay_folder

RERUN_PIN = "rerun-sdk==0.41.0"
"""The version the export is written and tested against (its Python API changes between releases)."""
TIMELINE = "stamp"


@dataclass(frozen=True)
class RerunConfig:
    """How a replay folder becomes a Rerun recording."""

    jpeg_quality: int = 90
    """JPEG-compress the camera images and memory renders at this quality (1-100; 0 = raw pixels: lossless,
    about ten times larger)."""
    input_images: bool = True
    """Log the input bag's images (skipped with a warning when the bag is gone)."""

    def __post_init__(self):
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 0..100, got {self.jpeg_quality}")


@dataclass
class RerunExport:
    """What a recording holds (counts of logged items per kind).

    Attributes:
        path: The .rrd file.
        poses: Camera poses (one per step of steps.jsonl).
        input_images: Live input images from the input bag.
        memory_views: Memory renders at the live poses.
        heldout: Held-out (image, memory render) pairs logged.
        snapshots: Gaussian point snapshots.
        detection_steps: Recognition steps logged as boxes.
        final_gaussians: Splats of the final memory (0 without memory.ply).
        skipped: What could not be logged and why.
    """

    path: Path
    poses: int = 0
    input_images: int = 0
    memory_views: int = 0
    heldout: int = 0
    snapshots: int = 0
    detection_steps: int = 0
    final_gaussians: int = 0
    skipped: list[str] = field(default_factory=list)


class RerunMissingError(ImportError, ValueError):
    """rerun-sdk is not installed (a ValueError too: the command line reports it as a user error)."""


def require_rerun():
    """The ``rerun`` module.

    Raises:
        RerunMissingError: rerun-sdk is not installed (the message says how to install it).
    """
    try:
        import rerun
    except ImportError as error:
        raise RerunMissingError(
            f"the Rerun export needs rerun-sdk: pip install '{RERUN_PIN}' (or pip install -e '.[rerun]')"
        ) from error
    return rerun


def export_rerun(
    out: str | Path, rrd_path: str | Path | None = None, config: RerunConfig = RerunConfig()
) -> RerunExport:
    """Write a Rerun recording of the replay output folder ``out`` (see the module docstring for entities).

    Args:
        out: A ``gs-perception replay`` output folder.
        rrd_path: The .rrd to write (default ``<out>/recording.rrd``); written to ``<rrd>.partial`` first and
            renamed when complete.
        config: Image compression and which inputs to read.

    Returns:
        What was logged. Parts whose source is gone (input bag moved, older folder without steps.jsonl) are
        skipped with a warning each and listed in ``skipped``.

    Raises:
        RerunMissingError: rerun-sdk is missing.
        FileNotFoundError / ReplayFolderError: ``out`` is not a readable replay folder.
    """
    rr = require_rerun()
    folder = load_replay_folder(out)
    target = Path(rrd_path) if rrd_path else folder.path / RECORDING_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial")
    strict = rr.strict_mode()
    rr.set_strict_mode(True)  # a bad array raises here instead of becoming a warning and a hole in the file
    # A fresh id: rerun reuses one id per process otherwise, and two exports would merge in the viewer.
    rec = rr.RecordingStream("gs_perception", recording_id=uuid.uuid4())
    logger = _Logger(rr, rec, config, RerunExport(path=target))
    try:
        rec.set_log_time_enabled(False)  # only bag time; wall-clock logging time means nothing here
        rec.save(partial, default_blueprint=_blueprint())
        logger.log_folder(folder)
        rec.flush()
        rec.disconnect()  # closes the file (and writes its footer) before the rename
        os.replace(partial, target)
    except BaseException:
        rec.disconnect()
        partial.unlink(missing_ok=True)
        raise
    finally:
        rr.set_strict_mode(strict)
    for reason in logger.result.skipped:
        warnings.warn(f"export-rerun: {reason}", stacklevel=2)
    return logger.result


def _blueprint():
    """The layout the viewer opens with: the 3D world beside the camera, memory and held-out images and the
    series (users can rearrange it; their own layout wins once saved)."""
    import rerun.blueprint as rrb

    def pair(a: str, b: str, names: tuple[str, str]):
        return rrb.Horizontal(
            rrb.Spatial2DView(origin=a, name=names[0]), rrb.Spatial2DView(origin=b, name=names[1])
        )

    images = rrb.Vertical(
        pair("world/camera/image", "memory_view", ("input", "memory render")),
        pair("heldout/input", "heldout/memory", ("held-out input", "held-out memory render")),
        rrb.Horizontal(
            rrb.TimeSeriesView(origin="metrics/gaussians", name="Gaussians"),
            rrb.TimeSeriesView(origin="metrics/latency_ms", name="step latency (ms)"),
        ),
    )
    world = rrb.Spatial3DView(origin="world", name="world: memory, camera, detections")
    return rrb.Blueprint(rrb.Horizontal(world, images, column_shares=[3, 2]))


def _stamp(ns: int) -> np.datetime64:
    return np.datetime64(int(ns), "ns")


class _Logger:
    """Logs one replay folder into a recording stream, counting into ``result``."""

    def __init__(self, rr, rec, config: RerunConfig, result: RerunExport):
        self.rr, self.rec, self.config, self.result = rr, rec, config, result
        self.last_stamp = 0

    def _at(self, stamp_ns: int) -> None:
        self.last_stamp = max(self.last_stamp, stamp_ns)
        self.rec.set_time(TIMELINE, timestamp=_stamp(stamp_ns))

    def _count(self, **increments: int) -> None:
        for name, k in increments.items():
            setattr(self.result, name, getattr(self.result, name) + k)

    def _image(self, rgb: np.ndarray):
        """[H, W, 3] float in [0, 1] → an Image archetype (JPEG-encoded when configured)."""
        image = self.rr.Image(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), color_model="RGB")
        return image.compress(jpeg_quality=self.config.jpeg_quality) if self.config.jpeg_quality else image

    def log_folder(self, folder: ReplayFolder) -> None:
        rr = self.rr
        # REP-103 world: the viewer's "up" is +z and its 3D view starts upright.
        self.rec.log("world", rr.ViewCoordinates.FLU, static=True)
        if folder.steps is None:
            self.result.skipped.append("no steps.jsonl in the folder: no camera poses, detections or series")
        else:
            self._log_steps(folder.steps)
        self._log_input_bag(folder)
        self._log_output_bag(folder)
        self._log_final_memory(folder)

    def _log_steps(self, steps: list[StepRecord]) -> None:
        rr, rec = self.rr, self.rec
        classes = sorted({name for s in steps for d in s.detections or () for name in d.scores})
        if classes:
            rec.log("world/detections", rr.AnnotationContext(list(enumerate(classes))), static=True)
        for step in steps:
            self._at(step.stamp_ns)
            T = np.asarray(step.T_world_cam, dtype=np.float64).reshape(4, 4)
            rec.log("world/camera", rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]))
            fx, fy, cx, cy, width, height = step.intrinsics
            pinhole = rr.Pinhole(
                focal_length=[fx, fy],
                principal_point=[cx, cy],
                width=width,
                height=height,
                camera_xyz=rr.ViewCoordinates.RDF,  # OpenCV / ROS optical axes, as T_world_cam's camera
            )
            rec.log("world/camera/image", pinhole)
            rec.log("metrics/gaussians", rr.Scalars(step.gaussians))
            rec.log("metrics/latency_ms", rr.Scalars(step.latency_ms))
            if step.detections is not None:
                self._log_detections(step, classes)
        self._count(poses=len(steps))

    def _log_detections(self, step: StepRecord, classes: list[str]) -> None:
        detections = step.detections or []
        boxes = self.rr.Boxes3D(
            centers=np.array([d.centre for d in detections], dtype=np.float32).reshape(-1, 3),
            half_sizes=np.array([d.size for d in detections], dtype=np.float32).reshape(-1, 3) / 2,
            labels=[f"{d.class_name or d.id} {d.score:.2f}" for d in detections],
            class_ids=[classes.index(d.class_name) if d.class_name in classes else 0 for d in detections],
        )
        self.rec.log("world/detections", boxes)  # an empty batch clears the previous boxes
        self._count(detection_steps=1)

    def _log_input_bag(self, folder: ReplayFolder) -> None:
        bag = Path(folder.bag) if folder.bag else None
        if not self.config.input_images:
            return
        if bag is None or not bag.exists():
            self.result.skipped.append(
                f"input bag {folder.bag or '(not named in metrics.json)'} is gone: no input images"
            )
            return
        live, heldout = folder.topic("image"), folder.topic("eval_image")
        for message in read_bag(bag, topics={t for t in (live, heldout) if t}):
            try:
                rgb = sensors.image_to_rgb(message.msg)
            except (ValueError, KeyError) as error:  # what replay skipped, the recording skips too
                self.result.skipped.append(f"{message.topic}: {error}")
                continue
            self._at(sensors.stamp_to_ns(message.msg.header.stamp))
            entity = "world/camera/image" if message.topic == live else "heldout/input"
            self.rec.log(entity, self._image(rgb))
            self._count(**({"input_images": 1} if message.topic == live else {}))

    def _log_output_bag(self, folder: ReplayFolder) -> None:
        if not folder.output_bag.exists():
            self.result.skipped.append(f"output bag {folder.output_bag} is gone: no memory views or points")
            return
        ns = folder.output_namespace
        view, heldout, cloud = f"{ns}/memory_view", f"{ns}/eval/memory_view", f"{ns}/gaussians"
        for message in read_bag(folder.output_bag, topics={view, heldout, cloud}):
            self._at(sensors.stamp_to_ns(message.msg.header.stamp))
            if message.topic == cloud:
                self._log_points(msgs.pointcloud2_to_array(message.msg))
                continue
            entity, counter = (
                ("memory_view", "memory_views") if message.topic == view else ("heldout/memory", "heldout")
            )
            self.rec.log(entity, self._image(sensors.image_to_rgb(message.msg)))
            self._count(**{counter: 1})

    def _log_points(self, points: np.ndarray) -> None:
        """A Gaussians PointCloud2 (perception_msgs.GAUSSIAN_CLOUD_DTYPE fields) as coloured points."""
        xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).astype(np.float32)
        names = points.dtype.names
        colours = msgs.unpack_rgb(points["rgb"]) if "rgb" in names else None
        radii = points["scale"].astype(np.float32) if "scale" in names else None
        self.rec.log("world/gaussians", self.rr.Points3D(xyz, colors=colours, radii=radii))
        self._count(snapshots=1)

    def _log_final_memory(self, folder: ReplayFolder) -> None:
        ply = folder.path / MEMORY_FILE
        if not ply.is_file():
            self.result.skipped.append(f"{ply} is gone: no final memory")
            return
        cloud = read_ply(ply, device="cpu").detach()
        self._at(folder.steps[-1].stamp_ns if folder.steps else self.last_stamp)
        rgba = np.concatenate([cloud.rgb().numpy(), cloud.opacities().numpy()[:, None]], axis=1)
        degree = cloud.sh_degree
        sh = None
        if degree > 0:  # rerun wants degrees 1-3 as 15 RGB triples, coefficient-major like ours; zero-padded
            sh = np.zeros((cloud.num, 15, 3), np.float32)
            sh[:, : cloud.sh.shape[1] - 1] = cloud.sh[:, 1:].numpy()
        splats = self.rr.GaussianSplats3D(
            centers=cloud.means.numpy(),
            scales=cloud.scales().numpy(),
            quaternions=cloud.unit_quats().numpy()[:, [1, 2, 3, 0]],  # ours wxyz → rerun xyzw
            colors=np.rint(rgba * 255).astype(np.uint8),
            sh_coefficients=sh,
            spherical_harmonics_degree=degree,
        )
        self.rec.log("world/memory", splats)
        # From here on the final splats stand for the memory: the last point snapshot would hide them.
        self.rec.log("world/gaussians", self.rr.Clear(recursive=False))
        self._count(final_gaussians=cloud.num)
