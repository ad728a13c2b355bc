"""The viewer's settings: one frozen dataclass, the single source of its defaults.

``gs-perception view`` derives its flags from :class:`ViewerConfig`; replay nests it as ``view`` (flags
``--view-enabled``, ``--view-port`` …) and the perception node as parameters ``view.enabled``, ``view.port`` …
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ViewerConfig:
    """The web viewer: where it serves, how much it shows, how often a live view updates."""

    enabled: bool = False
    """Serve the view live while the pipeline runs (replay, the perception node); `gs-perception view` of a
    bag replays it with the live view on."""
    host: str = "127.0.0.1"
    """Address the page is served on: loopback by default; '0.0.0.0' opens it to other machines."""
    port: int = 8080
    """HTTP and websocket port (the next free one is taken when it is busy; 0 = any free port)."""
    max_splats: int = 100000
    """At most this many Gaussians drawn (the most opaque); the browser sorts every splat each frame."""
    max_frames: int = 200
    """Frames offered in the frame slider (keyframes, evenly thinned to this many)."""
    image_max_side: int = 320
    """Input images and memory renders in the panel are scaled to this many pixels on their longer side."""
    update_every: int = 1
    """Live: send the memory to the browser at most every this many steps."""
    update_period_s: float = 1.0
    """Live: and at most once per this many seconds (the pipeline thread only copies the Gaussians; the
    conversion and the sending run on the viewer's own thread, latest snapshot only)."""

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ValueError(f"ViewerConfig.port must be in 0..65535, got {self.port}")
        for name in ("max_splats", "max_frames", "image_max_side", "update_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"ViewerConfig.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.update_period_s < 0:
            raise ValueError(f"ViewerConfig.update_period_s must be ≥ 0, got {self.update_period_s}")
