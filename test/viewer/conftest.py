"""Fixtures of the viewer tests: a small coloured blob of Gaussians and a synthetic replay output folder.

The replay folder is what ros/replay.py writes, made directly (no pipeline run): memory.ply, steps.jsonl with
keyframe cameras orbiting the blob and one recognition step, metrics.json naming an input bag that holds the
live images (solid colours, so a test can tell which frame it got).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gs_perception.core.cameras import look_at
from gs_perception.core.gaussians import GaussianCloud
from gs_perception.core.ply import write_ply
from gs_perception.pipeline.step_log import STEPS_FILE, Detection, StepRecord, write_steps

IMAGE_TOPIC = "/camera/image_raw"
WIDTH, HEIGHT = 40, 30
STEPS = 6  # steps 0, 2, 4 are keyframes; step 4 recognised


def blob(centre=(0.0, 0.0, 0.0), rgb=(0.9, 0.1, 0.1), n: int = 600, radius: float = 0.15, seed: int = 0):
    """``n`` opaque Gaussians in a ball of ``radius`` metres around ``centre``, all of colour ``rgb``."""
    g = torch.Generator().manual_seed(seed)
    points = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    points = points * radius * torch.rand(n, 1, generator=g) ** (1 / 3) + torch.tensor(centre)
    colours = torch.tensor(rgb).expand(n, 3)
    return GaussianCloud.from_points(points, colours, scale=0.03, opacity=0.95)


def detection(class_name: str = "chair", score: float = 0.87) -> Detection:
    rest = (1.0 - score) / 2
    return Detection(
        id="object_0",
        class_name=class_name,
        score=score,
        scores={class_name: score, "bed": rest, "table": rest},
        centre=(0.0, 0.0, 0.0),
        size=(0.3, 0.3, 0.3),
        gaussians=600,
    )


def orbit_record(index: int, keyframe: bool, detections=None) -> StepRecord:
    """A step record of a camera 1 m from the origin, looking at it, 30° further round per step."""
    angle = math.radians(30 * index)
    T = look_at(torch.tensor([math.cos(angle), math.sin(angle), 0.3]), torch.zeros(3))
    f = 0.5 * WIDTH / math.tan(math.radians(30))
    return StepRecord(
        index=index,
        stamp_ns=1_000_000_000 + index * 250_000_000,
        latency_ms=10.0,
        keyframe=keyframe,
        inserted=100 if keyframe else 0,
        gaussians=600,
        T_world_cam=tuple(float(v) for v in T.reshape(-1)),
        intrinsics=(f, f, WIDTH / 2, HEIGHT / 2, WIDTH, HEIGHT),
        detections=detections,
    )


def frame_colour(index: int) -> tuple[float, float, float]:
    """The solid colour of step ``index``'s input image."""
    return (index / STEPS, 0.5, 1.0 - index / STEPS)


def write_image_bag(path: Path, records: list[StepRecord]) -> None:
    from gs_perception.ros import sensor_conversions as sensors
    from gs_perception.ros.bag_io import BagWriter
    from gs_perception.ros.typestore import MessageTypes

    with BagWriter(path) as writer:
        types = MessageTypes.from_typestore(writer.typestore)
        for r in records:
            rgb = np.tile(np.array(frame_colour(r.index), dtype=np.float32), (HEIGHT, WIDTH, 1))
            writer.write(IMAGE_TOPIC, sensors.rgb_to_image(types, rgb, r.stamp_ns, "camera"), r.stamp_ns)


def make_replay_folder(root: Path, with_bag: bool = True) -> Path:
    """A replay output folder at ``root/replay`` (its input bag at ``root/sim_bag`` when ``with_bag``)."""
    records = [
        orbit_record(i, keyframe=i % 2 == 0, detections=[detection()] if i == 4 else None)
        for i in range(STEPS)
    ]
    folder = root / "replay"
    folder.mkdir(parents=True)
    write_ply(folder / "memory.ply", blob())
    write_steps(folder / STEPS_FILE, records)
    bag = root / "sim_bag"
    if with_bag:
        write_image_bag(bag, records)
    metrics = {
        "metrics": {},
        "config": {"topics": {"image": IMAGE_TOPIC}, "distro": "humble"},
        "bag": str(bag),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture(scope="module")
def replay_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_replay_folder(tmp_path_factory.mktemp("view"))


# Helpers as fixtures: test modules cannot import this conftest (pytest's importlib import mode).
@pytest.fixture(scope="session")
def make_blob():
    return blob


@pytest.fixture(scope="session")
def make_detection():
    return detection


@pytest.fixture(scope="session")
def make_record():
    return orbit_record


@pytest.fixture(scope="session")
def make_replay():
    return make_replay_folder
