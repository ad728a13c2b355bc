"""The live view: a :class:`~gs_perception.pipeline.step_log.StepObserver` that serves the memory as it grows.

On the pipeline's thread :meth:`LiveView.on_step` only records what changed (the step's camera when it was a
keyframe, the detections when recognition ran, the latest frame and memory view by reference) and, when an
update is due (``update_every`` steps and ``update_period_s`` seconds since the last), copies the memory's
Gaussians (a tensor clone: the memory keeps optimising them in place). A thread of its own turns the latest
pending state into splats and sends it to the browser; it holds the lock only to swap that state out, so a
slow browser or server never slows the pipeline (a newer snapshot replaces one not yet sent).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field

from torch import Tensor

from ..core.frames import Frame
from ..core.gaussians import GaussianCloud
from ..pipeline.step import StepOutputs
from ..pipeline.step_log import Detection, StepRecord
from .config import ViewerConfig
from .scene import CameraView, Splats, to_uint8
from .server import ViewerServer


@dataclass
class LiveViewStats:
    """What a :class:`LiveView` did; ``on_step_s`` is the time it took from the pipeline's thread."""

    steps: int = 0
    on_step_s: float = 0.0
    snapshots: int = 0
    updates: int = 0
    errors: int = 0

    @property
    def on_step_ms_mean(self) -> float:
        """Mean cost per step on the pipeline's thread, in milliseconds."""
        return 1e3 * self.on_step_s / max(self.steps, 1)


@dataclass
class _Pending:
    """What changed since the viewer thread last sent an update."""

    cloud: GaussianCloud | None = None
    cameras: list[CameraView] = field(default_factory=list)
    detections: list[Detection] | None = None
    latest: tuple[Tensor, Tensor | None, str] | None = None

    def empty(self) -> bool:
        return self.cloud is None and not self.cameras and self.detections is None and self.latest is None


def snapshot_for_view(cloud: GaussianCloud) -> GaussianCloud:
    """A copy of what the viewer draws of ``cloud`` (SH DC only): it shares no storage with the memory."""
    return GaussianCloud(
        cloud.means.detach().clone(),
        cloud.log_scales.detach().clone(),
        cloud.quats.detach().clone(),
        cloud.opacity_logits.detach().clone(),
        cloud.sh[:, :1].detach().clone(),
    )


class LiveView:
    """Serves the memory of a running pipeline; pass it as an observer to ``replay`` or a PipelineWorker.

    Args:
        config: Where to serve and how often to update.
        server: Show on this server (kept open on :meth:`close`); None starts one (closed on :meth:`close`).
        title: The page's heading.
    """

    def __init__(
        self, config: ViewerConfig = ViewerConfig(), server: ViewerServer | None = None, title: str = "live"
    ):
        self.config, self.title = config, title
        self.server = ViewerServer(config) if server is None else server
        self._owns_server = server is None
        self.stats = LiveViewStats()
        self._wake = threading.Condition()
        self._pending = _Pending()
        self._stop = False
        self._since_snapshot, self._last_snapshot = 0, -float("inf")
        self._pipeline = None
        self._cameras = 0
        self._looked = False
        self._thread = threading.Thread(target=self._run, name="gs_perception-viewer", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where the page is served."""
        return self.server.url

    def on_step(self, frame: Frame, outputs: StepOutputs, record: StepRecord, pipeline) -> None:
        """Record the step (never waits for the viewer thread; see the module docstring)."""
        start = time.perf_counter()
        self._pipeline = pipeline
        self._since_snapshot += 1
        now = time.monotonic()
        cloud = None
        if (
            self._since_snapshot >= self.config.update_every
            and now - self._last_snapshot >= self.config.update_period_s
        ):
            cloud = snapshot_for_view(pipeline.memory.snapshot())
            self._since_snapshot, self._last_snapshot = 0, now
            self.stats.snapshots += 1
        view = None if outputs.memory_view is None else outputs.memory_view.rgb
        caption = f"latest: step {record.index}, stamp {record.stamp_ns} ns, {record.gaussians} Gaussians"
        with self._wake:
            pending = self._pending
            if cloud is not None:
                pending.cloud = cloud
            if record.keyframe:
                pending.cameras.append(CameraView.of(record))
            if record.detections is not None:
                pending.detections = record.detections
            pending.latest = (frame.rgb, view, caption)
            self._wake.notify()
        self.stats.steps += 1
        self.stats.on_step_s += time.perf_counter() - start

    def close(self, timeout: float = 30.0) -> None:
        """Send the final memory, stop the viewer thread, and stop the server when this view started it."""
        if self._pipeline is not None and self._since_snapshot:
            with self._wake:
                self._pending.cloud = snapshot_for_view(self._pipeline.memory.snapshot())
                self.stats.snapshots += 1
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout)
        self._pipeline = None
        if self._owns_server:
            self.server.close()

    # --- the viewer thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending.empty() and not self._stop:
                    self._wake.wait()
                if self._pending.empty() and self._stop:
                    return
                pending, self._pending = self._pending, _Pending()
            try:
                self._apply(pending)
                self.stats.updates += 1
            except Exception as error:  # the viewer must never take the pipeline down
                self.stats.errors += 1
                if self.stats.errors == 1:
                    warnings.warn(f"live view: an update failed ({error!r}); it keeps trying", stacklevel=1)

    def _apply(self, pending: _Pending) -> None:
        server, config = self.server, self.config
        if pending.cameras:
            server.add_cameras(pending.cameras)
            self._cameras += len(pending.cameras)
        if pending.cloud is not None:
            splats = Splats.of(pending.cloud, config.max_splats)
            server.set_splats(splats)
            server.set_status(self.title, splats, self._cameras)
            if not self._looked and splats.num:
                server.look_at_splats(splats)
                self._looked = True
        if pending.detections is not None:
            server.set_detections(pending.detections)
        if pending.latest is not None:
            rgb, view, caption = pending.latest
            size = config.image_max_side
            server.set_frame_images(
                to_uint8(rgb, size), None if view is None else to_uint8(view, size), caption
            )
