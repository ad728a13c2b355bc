"""How a :class:`~gs_perception.viewer.scene.Scene` is shown: a viser web server (WebGL splats, in a browser).

:class:`ViewerServer` serves one page on ``host:port`` (loopback by default) with the memory as Gaussian
splats, the keyframe cameras as frustums, each detection as a wireframe box with a 3D label, and a side panel
listing the detections with their class scores (page text, so it can be read and searched), a frame slider,
and the chosen frame's input image beside the memory rendered at its pose. Every method may be called from
any thread (one lock); the live view (viewer/live.py) updates it piece by piece.

viser is imported lazily (``pip install -e '.[viewer]'``): importing this module needs none.

Frames (docs/architecture.md §4): viser's world is ours (REP-103) once its up direction is set to +z, and
viser's camera frustums use OpenCV camera axes (+z forward, +x right, +y down) like our ``T_world_cam``, so
:func:`viser_pose` only turns the rotation into a wxyz quaternion: no axis flip.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..pipeline.step_log import Detection
from .config import ViewerConfig
from .scene import CameraView, FrameView, Scene, Splats

#: Colours of detection boxes, by class (stable across runs: chosen from the class name's characters).
PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))
KEYFRAME_COLOUR = (40, 90, 200)


def import_viser() -> Any:
    """The viser module, or an ImportError that says how to install it."""
    try:
        import viser
    except ImportError as error:
        raise ImportError(
            "the viewer needs viser: pip install -e '.[viewer]' (pinned in requirements/constraints.txt)"
        ) from error
    return viser


def viser_pose(T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wxyz [4], position [3]) of a camera→world pose [4, 4] (OpenCV camera axes) in viser's frame.

    viser's camera frustums use OpenCV axes and its world is ours with +z up, so this is the pose's own
    rotation as a quaternion and its translation (docs/architecture.md §4).
    """
    from viser import transforms

    T = np.asarray(T_world_cam, dtype=np.float64)
    return transforms.SO3.from_matrix(T[:3, :3]).wxyz, T[:3, 3].copy()


def box_edges(centre: Sequence[float], size: Sequence[float]) -> np.ndarray:
    """The 12 edges of an axis-aligned box: [12, 2, 3] segment end points (world frame)."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    corners = corners * np.asarray(size, dtype=np.float64) + np.asarray(centre, dtype=np.float64)
    pairs = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
    return np.stack([corners[[a, b]] for a, b in pairs]).astype(np.float32)


def detection_label(d: Detection) -> str:
    """'chair 0.87' (or the object's id without a classifier)."""
    return f"{d.class_name} {d.score:.2f}" if d.class_name else d.id


def detections_markdown(detections: Sequence[Detection]) -> str:
    """The side panel's list: each object's label, its other class scores and its Gaussian count."""
    if not detections:
        return "**Detections**: none yet"
    lines = [f"**Detections** ({len(detections)})", ""]
    for d in detections:
        others = sorted(((p, name) for name, p in d.scores.items() if name != d.class_name), reverse=True)
        rest = ", ".join(f"{name} {p:.2f}" for p, name in others[:3])
        lines.append(
            f"- {d.id}: **{detection_label(d)}**"
            + (f" ({rest})" if rest else "")
            + f", {d.gaussians} Gaussians"
        )
    return "\n".join(lines)


class ViewerServer:
    """A web page showing a scene; see the module docstring.

    Args:
        config: Host, port and sizes.
    """

    def __init__(self, config: ViewerConfig = ViewerConfig()):
        viser = import_viser()
        self.config = config
        self._lock = threading.RLock()
        with contextlib.redirect_stdout(io.StringIO()):  # viser's banner: the callers print self.url
            self._viser = viser.ViserServer(host=config.host, port=config.port, verbose=False)
        self._viser.scene.set_up_direction("+z")  # REP-103: z up
        gui = self._viser.gui
        self._status = gui.add_markdown("**gs_perception**")
        self._detections = gui.add_markdown(detections_markdown([]))
        self._handles: dict[str, Any] = {}
        self._frames: list[FrameView] = []
        self._scene: Scene | None = None
        self._splats: Splats | None = None
        self._renders: dict[int, np.ndarray] = {}
        self._frame_gui: dict[str, Any] = {}

    @property
    def port(self) -> int:
        """The port really bound (the next free one when ``config.port`` was busy)."""
        return int(self._viser.get_port())

    @property
    def url(self) -> str:
        """Where to open the page."""
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "", "::") else self.config.host
        return f"http://{host}:{self.port}"

    def show(self, scene: Scene) -> None:
        """Replace everything shown by ``scene`` and point the initial camera at its splats."""
        with self._lock, self._viser.atomic():
            self._scene = scene
            self.set_splats(scene.splats)
            self.set_cameras(scene.cameras)
            self.set_detections(scene.detections)
            self._set_frames(scene.frames)
            self.set_status(scene.title, scene.splats, len(scene.cameras), scene.notes)
            self.look_at_splats(scene.splats, scene.cameras)

    def set_splats(self, splats: Splats) -> None:
        """Draw ``splats`` as the memory (replacing the previous ones)."""
        with self._lock:
            self._splats = splats
            if not splats.num:
                self._remove("/memory")
                return
            # The same name replaces the old splats in one message: no empty frame in between.
            self._handles["/memory"] = self._viser.scene.add_gaussian_splats(
                "/memory", splats.centres, splats.covariances, splats.rgbs, splats.opacities
            )

    def set_cameras(self, cameras: Sequence[CameraView]) -> None:
        """Draw exactly these camera frustums."""
        with self._lock:
            for name in [n for n in self._handles if n.startswith("/cameras/")]:
                self._remove(name)
            self.add_cameras(cameras)

    def add_cameras(self, cameras: Sequence[CameraView]) -> None:
        """Add camera frustums (a step's name replaces the same step's frustum)."""
        with self._lock:
            for camera in cameras:
                wxyz, position = viser_pose(camera.T_world_cam)
                name = f"/cameras/step_{camera.index}"
                self._remove(name)
                self._handles[name] = self._viser.scene.add_camera_frustum(
                    name,
                    fov=camera.fov_y,
                    aspect=camera.aspect,
                    scale=self._frustum_scale(position),
                    thickness=2.0,
                    thickness_units="screen",
                    color=KEYFRAME_COLOUR,
                    wxyz=wxyz,
                    position=position,
                )

    def set_detections(self, detections: Sequence[Detection]) -> None:
        """Draw each detection as a labelled wireframe box and list them in the side panel."""
        with self._lock:
            for name in [n for n in self._handles if n.startswith("/detections/")]:
                self._remove(name)
            for d in detections:
                colour = PALETTE[sum(map(ord, d.class_name or d.id)) % len(PALETTE)]
                box = f"/detections/{d.id}"
                self._handles[box] = self._viser.scene.add_line_segments(
                    box, box_edges(d.centre, d.size), colour, thickness=2.0, thickness_units="screen"
                )
                top = (d.centre[0], d.centre[1], d.centre[2] + 0.5 * d.size[2])
                label = f"/detections/{d.id}_label"
                self._handles[label] = self._viser.scene.add_label(
                    label, detection_label(d), position=top, anchor="bottom-center"
                )
            self._detections.content = detections_markdown(detections)

    def set_status(self, title: str, splats: Splats, cameras: int, notes: Sequence[str] = ()) -> None:
        """The panel's heading: what is shown, splat and camera counts, and notes."""
        shown = f"{splats.num:,}" + (f" of {splats.total:,}" if splats.total > splats.num else "")
        lines = [f"**{title}**", "", f"{shown} Gaussians, {cameras} keyframe cameras"]
        lines += [f"- {note}" for note in notes]
        self._status.content = "\n".join(lines)

    def set_frame_images(self, image: np.ndarray | None, render: np.ndarray | None, caption: str) -> None:
        """Show an input image beside a memory render ([h, w, 3] uint8 each; None keeps the old one)."""
        with self._lock:
            gui = self._frame_panel()
            gui["caption"].content = caption
            for key, value in (("input", image), ("render", render)):
                if value is not None:
                    gui[key].image = value

    def look_at_splats(self, splats: Splats, cameras: Sequence[CameraView] = ()) -> None:
        """Start new pages (and Reset View) looking at the splats: from behind and above the first keyframe
        camera when there is one (its frustum in view), else from above one side."""
        centre, radius = splats.centre(), splats.radius()
        if cameras:
            eye = centre + 1.3 * (cameras[0].T_world_cam[:3, 3] - centre) + np.array([0.0, 0.0, 1.5 * radius])
        else:
            eye = centre + radius * np.array([2.5, 2.5, 1.8])
        self._viser.initial_camera.look_at = tuple(float(v) for v in centre)
        self._viser.initial_camera.position = tuple(float(v) for v in eye)

    def client_count(self) -> int:
        """Pages connected now."""
        return len(self._viser.get_clients())

    def close(self) -> None:
        """Stop serving."""
        self._viser.stop()

    # --- internals ----------------------------------------------------------------------------------------

    def _remove(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.remove()

    def _frustum_scale(self, position: np.ndarray) -> float:
        """A fifteenth of the camera's distance to the splats' centre (5 cm without splats)."""
        if self._splats is None or not self._splats.num:
            return 0.05
        return max(float(np.linalg.norm(position - self._splats.centre())) / 15.0, 0.01)

    def _frame_panel(self) -> dict[str, Any]:
        if not self._frame_gui:
            gui = self._viser.gui
            blank = np.full((2, 2, 3), 255, dtype=np.uint8)
            self._frame_gui["folder"] = folder = gui.add_folder("Frame")
            with folder:
                self._frame_gui["caption"] = gui.add_markdown("")
                self._frame_gui["input"] = gui.add_image(blank, label="input image")
                self._frame_gui["render"] = gui.add_image(blank, label="memory rendered at its pose")
        return self._frame_gui

    def _set_frames(self, frames: list[FrameView]) -> None:
        self._frames, self._renders = frames, {}
        old = self._frame_gui.pop("slider", None)
        if old is not None:
            old.remove()
        if not frames:
            return
        panel = self._frame_panel()
        with panel["folder"]:  # above the caption and images
            slider = self._viser.gui.add_slider(
                "frame",
                min=0,
                max=max(len(frames) - 1, 1),
                step=1,
                initial_value=len(frames) - 1,
                order=panel["caption"].order - 0.5,
            )
        slider.on_update(lambda event: self._show_frame(int(event.target.value)))
        panel["slider"] = slider
        self._show_frame(len(frames) - 1)

    def _show_frame(self, k: int) -> None:
        """Frame ``k`` of the slider: its input image and the memory rendered at its pose (cached)."""
        with self._lock:
            if not 0 <= k < len(self._frames) or self._scene is None:
                return
            frame = self._frames[k]
            if k not in self._renders:
                self._renders[k] = self._scene.render_frame(k, self.config.image_max_side)
            c = frame.camera
            caption = f"step {c.index}, stamp {c.stamp_ns} ns" + (", keyframe" if c.keyframe else "")
            if frame.image is None:
                caption += " (input image not available)"
            self.set_frame_images(frame.image, self._renders[k], caption)
