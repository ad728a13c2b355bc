"""The web viewer of a Gaussian memory: splats, keyframe cameras, detections and frames in a browser.

Layers (docs/architecture.md §2): ``viewer`` sits between ``pipeline`` and ``ros``: it imports ``core`` and
``pipeline`` only, and is imported by ``ros`` (replay's and the node's live view) and the command line
(``gs-perception view``). What is shown (:mod:`.scene`: plain arrays and dataclasses) is kept apart from how
it is shown (:mod:`.server`: viser, imported lazily, so that importing this package needs no viser). The live
view (:mod:`.live`) is a :class:`~gs_perception.pipeline.step_log.StepObserver`. Anything read from a bag
(the input images of a replay) comes from ``ros/view_sources.py`` as plain arrays. docs/viewer.md has the
user's side.
"""

from .config import ViewerConfig

__all__ = ["ViewerConfig"]
