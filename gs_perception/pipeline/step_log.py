"""What each pipeline step did, as small JSON-ready records, and the hook that sees every step.

A replay writes one :class:`StepRecord` per live frame to ``<out>/steps.jsonl`` (one JSON object a line), so
that a viewer, a report or a recording can show the run over time without re-reading the bags. Observers
(:class:`StepObserver`) are how the same information reaches a live viewer or a recorder while the pipeline
runs; they must be quick, since they run on the pipeline's thread.

Conventions: ``T_world_cam`` is camera→world with OpenCV camera axes (x right, y down, z forward), row-major;
positions and sizes in metres, world frame; stamps in integer nanoseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..core.frames import Frame
from .recognition import RecognisedObject
from .step import StepOutputs

STEPS_FILE = "steps.jsonl"


@dataclass(frozen=True)
class Detection:
    """One recognised object at one step (world frame, metres).

    Attributes:
        id: The object's name ("object_<k>").
        class_name: Predicted class ('' without a classifier).
        score: The winning class probability (0 without a classifier).
        scores: Class name → probability, all classes.
        centre: (x, y, z) centre of its axis-aligned box.
        size: (dx, dy, dz) extent of the box.
        gaussians: Gaussians in the object.
    """

    id: str
    class_name: str
    score: float
    scores: dict[str, float]
    centre: tuple[float, float, float]
    size: tuple[float, float, float]
    gaussians: int

    @staticmethod
    def of(obj: RecognisedObject) -> Detection:
        """The record of a :class:`RecognisedObject` (tensors become plain numbers)."""
        scores = {name: float(p) for name, p in zip(obj.class_names, obj.scores.tolist())}
        return Detection(
            id=obj.id,
            class_name=obj.class_name,
            score=max(scores.values(), default=0.0),
            scores=scores,
            centre=tuple(float(v) for v in obj.centre.tolist()),
            size=tuple(float(v) for v in obj.size.tolist()),
            gaussians=int(obj.index.numel()),
        )


@dataclass(frozen=True)
class StepRecord:
    """One live frame through the pipeline.

    Attributes:
        index: Step number, from 0.
        stamp_ns: The frame's stamp.
        latency_ms: Wall time of the step.
        keyframe: Whether the memory took the frame as a keyframe.
        inserted: Gaussians the frame added.
        gaussians: Gaussians in the memory after the step.
        T_world_cam: [16] camera→world, OpenCV axes, row-major.
        intrinsics: (fx, fy, cx, cy, width, height) of the frame, pixels.
        detections: Recognised objects when recognition ran at this step, else None.
    """

    index: int
    stamp_ns: int
    latency_ms: float
    keyframe: bool
    inserted: int
    gaussians: int
    T_world_cam: tuple[float, ...]
    intrinsics: tuple[float, float, float, float, int, int]
    detections: list[Detection] | None = field(default=None)

    @staticmethod
    def of(index: int, frame: Frame, outputs: StepOutputs) -> StepRecord:
        """The record of one step: ``frame`` in, ``outputs`` out."""
        k = frame.intrinsics
        return StepRecord(
            index=index,
            stamp_ns=outputs.stamp_ns,
            latency_ms=outputs.latency_s * 1e3,
            keyframe=outputs.insert.keyframe,
            inserted=outputs.insert.inserted,
            gaussians=outputs.stats.gaussians,
            T_world_cam=tuple(float(v) for v in frame.T_world_cam.reshape(-1).tolist()),
            intrinsics=(float(k.fx), float(k.fy), float(k.cx), float(k.cy), int(k.width), int(k.height)),
            detections=None if outputs.objects is None else [Detection.of(o) for o in outputs.objects],
        )

    @staticmethod
    def from_json(data: dict) -> StepRecord:
        """Inverse of ``asdict`` (JSON lists back to tuples)."""
        detections = data.get("detections")
        if detections is not None:
            detections = [
                Detection(**{**d, "centre": tuple(d["centre"]), "size": tuple(d["size"])}) for d in detections
            ]
        return StepRecord(
            **{
                **data,
                "T_world_cam": tuple(data["T_world_cam"]),
                "intrinsics": tuple(data["intrinsics"]),
                "detections": detections,
            }
        )


class StepObserver(Protocol):
    """Sees every step of a running pipeline (a live viewer, a recorder). Runs on the pipeline's thread."""

    def on_step(self, frame: Frame, outputs: StepOutputs, record: StepRecord, pipeline) -> None:
        """After each step; ``pipeline`` is the running Pipeline (read its memory, never change it)."""

    def close(self) -> None:
        """After the last step (flush, stop serving)."""


def write_steps(path: Path, records: Iterable[StepRecord]) -> None:
    """Write ``records`` as JSON lines to ``path``."""
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(asdict(record)) + "\n")


def read_steps(path: Path) -> list[StepRecord]:
    """Read a ``steps.jsonl`` written by :func:`write_steps`.

    Raises:
        ValueError: A line is not a step record (the message names the file and the line).
    """
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(StepRecord.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError, KeyError) as error:
            raise ValueError(f"{path}:{number}: not a step record ({error})") from error
    return records
