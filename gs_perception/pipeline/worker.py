"""One worker thread that owns the pipeline: callbacks enqueue frames (drop-oldest), the worker steps.

ROS callbacks must return quickly and must never block on the GPU (docs/architecture.md §7, the
camera_calibration pattern): they call :meth:`PipelineWorker.put`, which never blocks; the worker thread runs
``pipeline.step`` on the newest frames and hands each :class:`~gs_perception.pipeline.step.StepOutputs` to a
callback (the node publishes it). Service requests (save, reset) run on the same thread via :meth:`call`, so
nothing else ever touches the pipeline concurrently. When neither waits, the worker runs the optimisation
steps the memory owes, one at a time (so a new frame waits one step at most): this thread is the one place
that schedules background work, and the memory needs no lock. A frame (or step) that raises is reported to
``on_error`` and skipped: one bad frame never stops the worker. Step observers (a live viewer,
pipeline/step_log.py) see every step on this thread, after ``on_output``; one that raises is reported too.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..core.frames import Frame
from .step import Pipeline, StepOutputs
from .step_log import StepObserver, StepRecord


@dataclass
class WorkerStats:
    """Counters of a :class:`PipelineWorker`."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    failed: int = 0


class PipelineWorker:
    """Runs ``pipeline.step`` on a background thread over a bounded, drop-oldest queue.

    Args:
        pipeline: The pipeline it owns from now on.
        on_output: Called on the worker thread with each step's outputs.
        on_error: Called on the worker thread with (what, exception) when a step or a call fails.
        queue_size: Frames waiting at most; putting one more drops the oldest.
        observers: See every step (frame, outputs, its :class:`StepRecord`, the pipeline); closed by
            whoever made them, not by :meth:`close`.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        on_output: Callable[[StepOutputs], None],
        on_error: Callable[[str, BaseException], None],
        queue_size: int = 2,
        observers: Sequence[StepObserver] = (),
    ):
        if queue_size < 1:
            raise ValueError(f"queue_size must be ≥ 1, got {queue_size}")
        self.pipeline, self.on_output, self.on_error = pipeline, on_output, on_error
        self.queue_size = queue_size
        self.observers = tuple(observers)
        self.stats = WorkerStats()
        self._frames: deque[Frame] = deque()
        self._calls: deque[tuple[Callable[[Pipeline], Any], Future]] = deque()
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="gs_perception-pipeline", daemon=True)
        self._thread.start()

    def put(self, frame: Frame) -> None:
        """Queue a frame (never blocks; drops the oldest waiting frame when full)."""
        with self._wake:
            self.stats.received += 1
            if len(self._frames) >= self.queue_size:
                self._frames.popleft()
                self.stats.dropped += 1
            self._frames.append(frame)
            self._wake.notify()

    def call(self, fn: Callable[[Pipeline], Any]) -> Future:
        """Run ``fn(pipeline)`` on the worker thread between frames; the future holds its result."""
        future: Future = Future()
        with self._wake:
            self._calls.append((fn, future))
            self._wake.notify()
        return future

    def idle(self) -> bool:
        """True when no frame or call is queued (a frame may still be in its step, and owed optimisation
        steps may remain: they only fill idle time)."""
        with self._wake:
            return not self._frames and not self._calls

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop after the current step and join the thread."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout)

    def _next(self) -> tuple[str, Any] | None:
        with self._wake:
            while not (self._stop or self._frames or self._calls):
                if self.pipeline.memory.owed_steps:  # read without the pipeline: an int, and only a hint
                    return "optimise", None
                self._wake.wait()
            if self._stop:
                return None
            if self._calls:  # services first: a reset should not wait behind a backlog
                return "call", self._calls.popleft()
            return "frame", self._frames.popleft()

    def _run(self) -> None:
        while (item := self._next()) is not None:
            kind, payload = item
            if kind == "optimise":
                try:
                    self.pipeline.background_step()
                except Exception as err:  # the memory forgets its owed steps: reported once
                    self.on_error("background optimisation", err)
                continue
            if kind == "call":
                fn, future = payload
                try:
                    future.set_result(fn(self.pipeline))
                except BaseException as err:  # noqa: BLE001 — handed to the caller through the future
                    future.set_exception(err)
                continue
            try:
                outputs = self.pipeline.step(payload)
                self.stats.processed += 1
                self.on_output(outputs)
            except Exception as err:  # one bad frame must not stop the node
                self.stats.failed += 1
                self.on_error(f"frame at {payload.stamp_ns} ns", err)
                continue
            self._observe(payload, outputs)

    def _observe(self, frame: Frame, outputs: StepOutputs) -> None:
        if not self.observers:
            return
        record = StepRecord.of(self.stats.processed - 1, frame, outputs)
        for observer in self.observers:
            try:
                observer.on_step(frame, outputs, record, self.pipeline)
            except Exception as err:  # a viewer must not stop the node either
                self.on_error(f"step observer {type(observer).__name__}", err)
