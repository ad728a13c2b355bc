"""What the viewer shows, as plain arrays and dataclasses (no viser): the scene model.

A :class:`Scene` is the memory's Gaussians as splats, the keyframe cameras (frustums), the detections of the
last recognition (labelled boxes with class scores) and the frames offered in the frame slider (input image,
and the memory rendered at that frame's pose on demand). It is built from a memory PLY
(:func:`scene_from_ply`) or a replay output folder (:func:`read_replay_folder`, :func:`scene_from_replay`);
input images read from a bag come from ``ros/view_sources.py`` as arrays keyed by stamp.

Conventions (docs/architecture.md §4): the world frame is REP-103 (z up, metres); ``T_world_cam`` is
camera→world with OpenCV camera axes; the server converts them to viser's frame (viewer/server.py,
``viser_pose``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.cameras import Intrinsics, viewmat_from_pose
from ..core.gaussians import GaussianCloud
from ..core.memory import MemoryConfig
from ..core.ply import read_ply
from ..core.projection import covariance_3d
from ..core.render import RenderConfig, render
from ..pipeline.step_log import STEPS_FILE, Detection, StepRecord, read_steps
from .config import ViewerConfig

MEMORY_FILE = "memory.ply"
METRICS_FILE = "metrics.json"


@dataclass
class Splats:
    """Gaussians as the browser draws them (world frame), at most ``max_splats`` of the memory's.

    Attributes:
        centres: [N, 3] float32 means.
        covariances: [N, 3, 3] float32 world covariances R S Sᵀ Rᵀ.
        rgbs: [N, 3] float32 colours in [0, 1] (the SH DC term).
        opacities: [N, 1] float32 opacities in (0, 1).
        total: Gaussians in the memory before thinning.
    """

    centres: np.ndarray
    covariances: np.ndarray
    rgbs: np.ndarray
    opacities: np.ndarray
    total: int

    @staticmethod
    def of(cloud: GaussianCloud, max_splats: int) -> Splats:
        """The ``max_splats`` most opaque Gaussians of ``cloud`` (all of them when fewer)."""
        total = cloud.num
        if cloud.num > max_splats:
            keep = torch.topk(cloud.opacity_logits, max_splats).indices.sort().values
            cloud = cloud.subset(keep)
        with torch.no_grad():
            covariances = covariance_3d(cloud.quats.float(), cloud.scales().float())
            return Splats(
                centres=cloud.means.float().cpu().numpy(),
                covariances=covariances.cpu().numpy(),
                rgbs=cloud.rgb().float().cpu().numpy(),
                opacities=cloud.opacities().float().cpu().numpy()[:, None],
                total=total,
            )

    @property
    def num(self) -> int:
        """Splats drawn."""
        return int(self.centres.shape[0])

    def centre(self) -> np.ndarray:
        """[3] the median centre (robust to a few stray Gaussians); the origin when empty."""
        return np.median(self.centres, axis=0) if self.num else np.zeros(3)

    def radius(self) -> float:
        """The 90th percentile distance from :meth:`centre` (at least 1 cm; 1 m when empty)."""
        if not self.num:
            return 1.0
        return max(float(np.quantile(np.linalg.norm(self.centres - self.centre(), axis=1), 0.9)), 0.01)


@dataclass(frozen=True)
class CameraView:
    """One camera pose of the run (a frustum in the viewer).

    Attributes:
        index: The step it was seen at.
        stamp_ns: Its stamp.
        T_world_cam: [4, 4] float64 camera→world, OpenCV axes.
        intrinsics: Pinhole intrinsics of the input image.
        keyframe: Whether the memory took it as a keyframe.
    """

    index: int
    stamp_ns: int
    T_world_cam: np.ndarray
    intrinsics: Intrinsics
    keyframe: bool

    @staticmethod
    def of(record: StepRecord) -> CameraView:
        """The camera of a step record."""
        fx, fy, cx, cy, w, h = record.intrinsics
        T = np.asarray(record.T_world_cam, dtype=np.float64).reshape(4, 4)
        return CameraView(
            record.index, record.stamp_ns, T, Intrinsics(fx, fy, cx, cy, int(w), int(h)), record.keyframe
        )

    @property
    def fov_y(self) -> float:
        """Vertical field of view in radians."""
        return 2.0 * math.atan(0.5 * self.intrinsics.height / self.intrinsics.fy)

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.intrinsics.width / self.intrinsics.height


@dataclass
class FrameView:
    """A frame offered in the frame slider: its camera and its input image (None when unavailable)."""

    camera: CameraView
    image: np.ndarray | None = None
    """[h, w, 3] uint8, scaled to ``image_max_side``."""


@dataclass
class Scene:
    """Everything one view of a memory shows.

    Attributes:
        title: What is shown (a file or folder name).
        splats: The memory's Gaussians, thinned.
        cameras: Keyframe cameras, in step order.
        detections: The last recognition's objects (world-frame boxes with class scores).
        frames: Frames offered in the slider.
        cloud: The whole memory, for renders at a frame's pose (None: no renders).
        background: RGB the memory is rendered over (the memory's own background).
        notes: What could not be shown and why (a missing steps.jsonl or input bag …), shown on the page.
    """

    title: str
    splats: Splats
    cameras: list[CameraView] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    frames: list[FrameView] = field(default_factory=list)
    cloud: GaussianCloud | None = None
    background: tuple[float, float, float] = MemoryConfig().background
    notes: list[str] = field(default_factory=list)

    def render_frame(self, k: int, max_side: int) -> np.ndarray | None:
        """The memory rendered at frame ``k``'s pose: [h, w, 3] uint8 (longer side ``max_side``), or None."""
        if self.cloud is None or not 0 <= k < len(self.frames):
            return None
        return render_memory(self.cloud, self.frames[k].camera, self.background, max_side)


def load_memory(path: str | Path) -> GaussianCloud:
    """Read a memory PLY (INRIA 3DGS layout).

    Raises:
        FileNotFoundError: No such file (the message names it).
        PlyError: Not a Gaussian PLY (a ValueError naming the file and the problem).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such memory PLY")
    return read_ply(path)


def scene_from_ply(path: str | Path, config: ViewerConfig = ViewerConfig()) -> Scene:
    """A scene of a memory PLY alone: splats, and renders at no frame (there are none)."""
    cloud = load_memory(path)
    return Scene(title=Path(path).name, splats=Splats.of(cloud, config.max_splats), cloud=cloud)


@dataclass
class ReplayFolder:
    """What a replay output folder holds for the viewer (ros/replay.py writes it).

    Attributes:
        path: The folder.
        memory: Its memory.ply.
        steps: Its steps.jsonl records (empty for replays older than steps.jsonl).
        input_bag: The replayed bag when it still exists, else None.
        image_topic: The live image topic of that bag.
        distro: The ROS 2 distro replay read the bag with.
        background: The memory's background colour.
        notes: What is missing and why.
    """

    path: Path
    memory: Path
    steps: list[StepRecord]
    input_bag: Path | None
    image_topic: str
    distro: str
    background: tuple[float, float, float]
    notes: list[str]


def read_replay_folder(folder: str | Path) -> ReplayFolder:
    """Read a replay output folder: memory.ply is required; steps.jsonl and metrics.json are optional.

    Raises:
        FileNotFoundError: ``folder`` or its memory.ply is missing (the message names the file).
        ValueError: steps.jsonl or metrics.json is malformed (the message names the file).
    """
    folder = Path(folder)
    memory = folder / MEMORY_FILE
    if not memory.is_file():
        raise FileNotFoundError(
            f"{memory} not found: {folder} is not a replay output folder (replay writes {MEMORY_FILE}, "
            f"{STEPS_FILE} and {METRICS_FILE})"
        )
    notes = []
    steps_file = folder / STEPS_FILE
    steps = read_steps(steps_file) if steps_file.is_file() else []
    if not steps_file.is_file():
        notes.append(f"no {STEPS_FILE} (a replay from before it existed): no cameras, detections or frames")
    metrics = _read_metrics(folder / METRICS_FILE)
    config = metrics.get("config", {})
    background = tuple(
        config.get("pipeline", {}).get("memory", {}).get("background", MemoryConfig().background)
    )
    bag = _find_bag(folder, metrics.get("bag"))
    if bag is None and steps:
        notes.append(f"input bag {metrics.get('bag', '(not in metrics.json)')} not found: no input images")
    return ReplayFolder(
        path=folder,
        memory=memory,
        steps=steps,
        input_bag=bag,
        image_topic=config.get("topics", {}).get("image", "/camera/image_raw"),
        distro=config.get("distro", "humble"),
        background=background,
        notes=notes,
    )


def _read_metrics(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _find_bag(folder: Path, recorded: str | None) -> Path | None:
    """The input bag named in metrics.json: as recorded (absolute, or relative to the working directory),
    else a sibling of the replay folder with its name (the demo's ``sim_bag`` beside ``replay``)."""
    if not recorded:
        return None
    for candidate in (Path(recorded), folder.absolute().parent / Path(recorded).name):
        if candidate.exists():
            return candidate
    return None


def select_frames(steps: list[StepRecord], max_frames: int) -> list[StepRecord]:
    """The steps offered in the frame slider: the keyframes (every step when none), evenly thinned to
    ``max_frames``, first and last kept."""
    chosen = [s for s in steps if s.keyframe] or list(steps)
    if len(chosen) <= max_frames:
        return chosen
    picks = np.unique(np.linspace(0, len(chosen) - 1, max_frames).round().astype(int))
    return [chosen[i] for i in picks]


def last_detections(steps: list[StepRecord]) -> list[Detection]:
    """The objects of the last step that recognised (empty when none did)."""
    return next((s.detections for s in reversed(steps) if s.detections is not None), [])


def scene_from_replay(
    folder: ReplayFolder,
    config: ViewerConfig = ViewerConfig(),
    images: Mapping[int, np.ndarray] | None = None,
) -> Scene:
    """A scene of a replay output folder.

    Args:
        folder: From :func:`read_replay_folder`.
        config: Splat budget, frame count, image size.
        images: Input images by stamp (ns): [H, W, 3] uint8, or float in [0, 1]; frames without one show
            only the memory render.
    """
    cloud = load_memory(folder.memory)
    images = {} if images is None else images
    frames = [
        FrameView(
            CameraView.of(s),
            None if s.stamp_ns not in images else to_uint8(images[s.stamp_ns], config.image_max_side),
        )
        for s in select_frames(folder.steps, config.max_frames)
    ]
    return Scene(
        title="/".join(folder.path.absolute().parts[-2:]),
        splats=Splats.of(cloud, config.max_splats),
        cameras=[CameraView.of(s) for s in folder.steps if s.keyframe],
        detections=list(last_detections(folder.steps)),
        frames=frames,
        cloud=cloud,
        background=folder.background,
        notes=list(folder.notes),
    )


def to_uint8(image: np.ndarray | torch.Tensor, max_side: int) -> np.ndarray:
    """An RGB image ([H, W, 3], uint8 or float in [0, 1]) as uint8, shrunk so its longer side is at most
    ``max_side`` (never enlarged)."""
    from PIL import Image

    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w = array.shape[:2]
    factor = max_side / max(h, w)
    if factor >= 1.0:
        return array
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(array).resize(size, Image.BILINEAR))


def render_memory(
    cloud: GaussianCloud, camera: CameraView, background: tuple[float, float, float], max_side: int
) -> np.ndarray:
    """``cloud`` rendered at ``camera``'s pose (the core renderer, as the memory renders): [h, w, 3] uint8
    with the longer side at most ``max_side``."""
    k = camera.intrinsics
    k = k.scaled(min(1.0, max_side / max(k.width, k.height)))
    T = torch.as_tensor(camera.T_world_cam, dtype=torch.float32)
    viewmat = viewmat_from_pose(T)[None]  # world→camera: what renderers take (docs/architecture.md §4)
    with torch.no_grad():
        if cloud.num == 0:
            return np.full((k.height, k.width, 3), np.asarray(background) * 255, dtype=np.uint8)
        out = render(
            cloud,
            viewmat.to(cloud.device),
            k.K(cloud.device)[None],
            k.width,
            k.height,
            backgrounds=torch.tensor(background, dtype=torch.float32, device=cloud.device),
            backend=RenderConfig().backend,
        )
    return to_uint8(out.colors[0], max_side)
