"""PipelineWorker: never blocks the caller, drops the oldest frame, survives failing steps, runs calls."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from gs_perception.core.cameras import Intrinsics
from gs_perception.core.frames import Frame
from gs_perception.pipeline.worker import PipelineWorker


class _FakePipeline:
    """Records stamps; blocks in step() until released; fails on stamp 13."""

    def __init__(self):
        self.release, self.seen, self.closed = threading.Event(), [], False

    def step(self, frame: Frame) -> int:
        self.release.wait(5.0)
        if frame.stamp_ns == 13:
            raise ValueError("bad frame")
        self.seen.append(frame.stamp_ns)
        return frame.stamp_ns

    def close(self) -> None:
        self.closed = True


def _frame(stamp: int) -> Frame:
    return Frame(torch.zeros(4, 4, 3), Intrinsics(4.0, 4.0, 2.0, 2.0, 4, 4), torch.eye(4), stamp)


def _wait(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.01)
    assert predicate()


def test_full_queue_drops_the_oldest_and_errors_do_not_stop_the_worker():
    pipeline, outputs, errors = _FakePipeline(), [], []
    worker = PipelineWorker(
        pipeline, outputs.append, lambda what, err: errors.append((what, str(err))), queue_size=2
    )
    worker.put(_frame(1))
    _wait(lambda: worker.idle())  # frame 1 is inside step(), blocked
    for stamp in (2, 3, 13, 4):
        worker.put(_frame(stamp))  # returns at once although the worker is busy
    pipeline.release.set()
    _wait(lambda: len(outputs) == 2 and worker.idle())
    assert outputs == [1, 4] and pipeline.seen == [1, 4]
    assert errors == [("frame at 13 ns", "bad frame")]
    assert worker.stats.received == 5 and worker.stats.dropped == 2 and worker.stats.failed == 1
    worker.close()
    assert pipeline.closed


def test_calls_run_on_the_worker_thread_and_return_results_or_errors():
    pipeline = _FakePipeline()
    pipeline.release.set()
    worker = PipelineWorker(pipeline, lambda out: None, lambda *a: None)
    assert worker.call(lambda p: threading.current_thread().name).result(5.0) == "gs_perception-pipeline"
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda p: 1 / 0).result(5.0)
    worker.close()
    with pytest.raises(ValueError, match="queue_size"):
        PipelineWorker(pipeline, lambda out: None, lambda *a: None, queue_size=0)
