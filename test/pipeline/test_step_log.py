"""Step records: the JSON-lines round trip and a clear error on a bad line."""

from __future__ import annotations

import pytest

from gs_perception.pipeline.step_log import Detection, StepRecord, read_steps, write_steps


def _record(index: int, detections=None) -> StepRecord:
    pose = tuple(float(v) for v in range(16))
    return StepRecord(
        index, 10 + index, 1.5, index % 2 == 0, 3, 100 + index, pose, (50.0, 50.0, 32, 24, 64, 48), detections
    )


def test_records_round_trip_through_jsonl(tmp_path):
    detection = Detection(
        "object_0", "chair", 0.7, {"chair": 0.7, "bed": 0.3}, (0.1, 0.2, 0.3), (1.0, 1.0, 0.5), 42
    )
    records = [_record(0), _record(1, [detection]), _record(2, [])]
    write_steps(tmp_path / "steps.jsonl", records)
    assert read_steps(tmp_path / "steps.jsonl") == records


def test_a_bad_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "steps.jsonl"
    write_steps(path, [_record(0)])
    path.write_text(path.read_text() + '{"index": 1}\n')
    with pytest.raises(ValueError, match=r"steps.jsonl:2: not a step record"):
        read_steps(path)
