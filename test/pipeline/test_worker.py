"""PipelineWorker: never blocks the caller, drops the oldest frame, survives failing steps, runs calls."""

from __future__ import annotations

import threading
import time
import types

import pytest
import torch

from gs_perception.core.cameras import Intrinsics
from gs_perception.core.frames import Frame
from gs_perception.pipeline.worker import PipelineWorker


class _FakePipeline:
    """Records stamps and background steps in order; blocks in step() until released; fails on stamp 13;
    a frame owes ``owe`` background steps."""

    def __init__(self, owe: int = 0):
        self.release, self.seen = threading.Event(), []
        self.memory = types.SimpleNamespace(owed_steps=0)
        self.owe, self.fail_background = owe, False

    def step(self, frame: Frame) -> int:
        self.release.wait(5.0)
        if frame.stamp_ns == 13:
            raise ValueError("bad frame")
        self.seen.append(frame.stamp_ns)
        self.memory.owed_steps += self.owe
        return frame.stamp_ns

    def background_step(self) -> bool:
        if self.fail_background:
            self.memory.owed_steps = 0  # as the memory does: a failing step forgets the rest
            raise ArithmeticError("broken step")
        time.sleep(0.01)  # a step takes time: 50 owed steps are half a second
        self.memory.owed_steps -= 1
        self.seen.append("opt")
        return True


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
    assert not worker._thread.is_alive()


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


def test_owed_optimisation_fills_idle_time_and_a_new_frame_waits_one_step_at_most():
    pipeline, outputs, errors = _FakePipeline(owe=3), [], []
    pipeline.release.set()
    worker = PipelineWorker(pipeline, outputs.append, lambda what, err: errors.append((what, str(err))))
    worker.put(_frame(1))
    _wait(lambda: pipeline.memory.owed_steps == 0 and len(pipeline.seen) == 4)
    assert pipeline.seen == [1, "opt", "opt", "opt"]  # the worker optimised while nothing else waited
    pipeline.owe = 50
    worker.put(_frame(2))
    _wait(lambda: "opt" in pipeline.seen[5:])
    worker.put(_frame(3))  # while 50 steps are owed: served before the rest of them
    _wait(lambda: 3 in pipeline.seen)
    assert pipeline.seen.index(3) < len(pipeline.seen) - 1 or pipeline.memory.owed_steps > 0
    assert pipeline.seen[5 : pipeline.seen.index(3)].count("opt") < 50
    _wait(lambda: pipeline.memory.owed_steps == 0)
    pipeline.fail_background, pipeline.owe = True, 2
    worker.put(_frame(4))
    _wait(lambda: errors)
    time.sleep(0.1)
    assert errors == [("background optimisation", "broken step")]  # once, not in a loop
    assert outputs == [1, 2, 3, 4]
    worker.close()


class _OutputsPipeline:
    """Steps every frame into outputs a StepRecord can be made of (keyframe on even stamps)."""

    def __init__(self):
        self.memory = types.SimpleNamespace(owed_steps=0)

    def step(self, frame: Frame):
        return types.SimpleNamespace(
            stamp_ns=frame.stamp_ns,
            latency_s=0.001,
            insert=types.SimpleNamespace(keyframe=frame.stamp_ns % 2 == 0, inserted=3),
            stats=types.SimpleNamespace(gaussians=7),
            objects=None,
        )


def test_observers_see_every_step_with_its_record_and_a_failing_one_is_reported():
    seen, errors = [], []

    class Observer:
        def on_step(self, frame, outputs, record, pipeline):
            seen.append((record.index, record.stamp_ns, record.keyframe, pipeline is worker.pipeline))

    class Broken:
        def on_step(self, frame, outputs, record, pipeline):
            raise RuntimeError("viewer down")

    worker = PipelineWorker(
        _OutputsPipeline(),
        lambda outputs: None,
        lambda what, err: errors.append(what),
        queue_size=8,
        observers=[Broken(), Observer()],
    )
    for stamp in (2, 3, 4):
        worker.put(_frame(stamp))
    _wait(lambda: len(seen) == 3)
    worker.close()
    assert seen == [(0, 2, True, True), (1, 3, False, True), (2, 4, True, True)]
    assert errors == ["step observer Broken"] * 3  # reported, and the worker went on
