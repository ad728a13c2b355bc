"""What ``gs-perception view PATH`` shows, read where bags are read (here in ``ros/``, without ROS).

PATH is one of three kinds (:func:`view_kind`):

- a memory PLY (``.ply``): its splats;
- a replay output folder (``memory.ply``, ``steps.jsonl``, ``metrics.json``): splats, keyframe cameras, the
  last recognition's detections, and a frame slider with each frame's input image (read from the input bag
  named in metrics.json, when it still exists) beside the memory rendered at its pose;
- a bag: replayed into an output folder with the live view on, then shown as that folder.

The viewer (``gs_perception.viewer``) gets plain arrays from here; it never reads a bag itself.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from ..viewer.config import ViewerConfig
from ..viewer.scene import (
    MEMORY_FILE,
    ReplayFolder,
    Scene,
    read_replay_folder,
    scene_from_ply,
    scene_from_replay,
    select_frames,
    to_uint8,
)
from . import sensor_conversions as sensors
from .bag_io import BagReader

BAG_SUFFIXES = (".db3", ".mcap")


def view_kind(path: str | Path) -> Literal["ply", "replay", "bag"]:
    """Which kind of thing ``path`` is (see the module docstring).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is none of the three (the message says what each needs).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".ply":
        return "ply"
    if path.is_file() and path.suffix.lower() in BAG_SUFFIXES:
        return "bag"
    if path.is_dir() and (path / MEMORY_FILE).exists():
        return "replay"
    if path.is_dir() and ((path / "metadata.yaml").exists() or any(_storage_files(path))):
        return "bag"
    raise ValueError(
        f"{path}: not a memory .ply, a replay output folder ({path / MEMORY_FILE} not found) or a bag "
        f"(metadata.yaml or {'/'.join(BAG_SUFFIXES)} files)"
    )


def _storage_files(folder: Path) -> Iterable[Path]:
    return (p for p in folder.iterdir() if p.suffix.lower() in BAG_SUFFIXES)


def frame_images(
    bag: str | Path, topic: str, stamps: Iterable[int], max_side: int, distro: str = "humble"
) -> dict[int, np.ndarray]:
    """The images on ``topic`` whose header stamps are in ``stamps``, as [h, w, 3] uint8 (longer side at
    most ``max_side``), by stamp. Images that do not convert are left out with a warning."""
    wanted, images = set(stamps), {}
    with BagReader(bag, distro) as source:
        for message in source.messages([topic]):
            stamp = sensors.stamp_to_ns(message.msg.header.stamp)
            if stamp not in wanted or stamp in images:
                continue
            try:
                images[stamp] = to_uint8(sensors.image_to_rgb(message.msg), max_side)
            except ValueError as error:  # ConversionError: an encoding the viewer cannot show
                warnings.warn(f"view: skipped the image at {stamp} ns on {topic}: {error}", stacklevel=2)
            if len(images) == len(wanted):
                break
    return images


def replay_images(folder: ReplayFolder, config: ViewerConfig) -> dict[int, np.ndarray]:
    """The input images of the frames a replay folder's scene offers (empty without its input bag)."""
    if folder.input_bag is None:
        return {}
    stamps = [s.stamp_ns for s in select_frames(folder.steps, config.max_frames)]
    return frame_images(folder.input_bag, folder.image_topic, stamps, config.image_max_side, folder.distro)


def load_scene(path: str | Path, config: ViewerConfig = ViewerConfig()) -> Scene:
    """The scene of a memory PLY or a replay output folder (for a bag, see :func:`replay_and_view`).

    Raises:
        FileNotFoundError, ValueError: ``path`` is missing or not a PLY / replay folder; a bad PLY
            (:class:`~gs_perception.core.ply.PlyError`, naming the file).
    """
    kind = view_kind(path)
    if kind == "ply":
        return scene_from_ply(path, config)
    if kind == "bag":
        raise ValueError(f"{path} is a bag: replay it first (gs-perception view replays it for you)")
    folder = read_replay_folder(path)
    return scene_from_replay(folder, config, replay_images(folder, config))


def default_out(bag: str | Path) -> Path:
    """Where ``view BAG`` replays to without ``--out``: runs/view/<bag name>."""
    return Path("runs") / "view" / Path(bag).stem


def replay_and_view(
    bag: str | Path,
    out: str | Path,
    server,
    config: ViewerConfig,
    replay_config=None,
    overwrite: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
):
    """Replay ``bag`` into ``out`` while ``server`` shows the memory growing (when ``config.enabled``), then
    show the finished folder on ``server``. Returns the :class:`~gs_perception.ros.replay.ReplayResult`.

    Args:
        bag: The bag to replay.
        out: Replay output folder (must not exist unless ``overwrite``).
        server: A running :class:`~gs_perception.viewer.server.ViewerServer`.
        config: The viewer's settings; ``enabled`` False shows only the finished replay.
        replay_config: Replay settings (its own live view is turned off: ``server`` is the one).
        overwrite: Replace an existing ``out``.
        show_progress: Replay's progress bar.
        log: Where progress lines go.
    """
    from ..viewer.live import LiveView
    from .replay import ReplayConfig, replay

    replay_config = ReplayConfig() if replay_config is None else replay_config
    replay_config = replace(replay_config, view=replace(replay_config.view, enabled=False))
    observers = (
        [LiveView(config, server=server, title=f"{Path(bag).name} (replaying)")] if config.enabled else []
    )
    log(f"view: replaying {bag} into {out}" + (" (live)" if observers else ""))
    result = replay(
        bag, out, replay_config, show_progress=show_progress, overwrite=overwrite, observers=observers
    )
    server.show(load_scene(out, config))
    return result
