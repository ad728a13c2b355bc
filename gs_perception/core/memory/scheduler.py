"""The memory's one place for background work: a lock that every public method takes, and a thread that
runs the optimisation steps the memory owes between callers.

Python's locks are not fair: a thread that releases and re-acquires a lock in a loop starves the others. So
callers announce that they wait (:meth:`Scheduler.locked`) and the thread lets them in before its next step.
An error in the thread is kept and raised, once, by the next :meth:`~Scheduler.raise_error`, ``wait_idle``
or ``stop``: it is never lost.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class MemoryWorkerError(RuntimeError):
    """The background optimisation failed; ``__cause__`` is the original exception."""


class Scheduler:
    """A lock, owed steps and the thread that runs them.

    Args:
        step: Runs one owed step; called with the lock held, after ``pending`` was decremented.
        name: The thread's name.
    """

    def __init__(self, step: Callable[[], None], name: str = "gaussian-memory"):
        self.lock = threading.Condition(threading.RLock())
        self.pending = 0
        """Steps owed (read and written with the lock held)."""
        self._step, self._name = step, name
        self._waiting = 0  # callers waiting for the lock; the thread lets them in before its next step
        self._waiting_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The lock, announced to the thread while waiting for it (so it yields between steps)."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    def owe(self, steps: int, cap: int) -> None:
        """Owe ``steps`` more, at most ``cap`` in all, and wake the thread (call with the lock held)."""
        self.pending = min(self.pending + steps, cap)
        self.lock.notify_all()

    def start(self) -> None:
        """Start the thread (no-op when running); a failed thread's error is raised first, not dropped."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.raise_error(clear=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread and join it (owed steps stay owed); idempotent. Raises a failed thread's error."""
        self._stop.set()
        with self.lock:
            self.lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None if not self._thread.is_alive() else self._thread
        self.raise_error(clear=True)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no step is owed. False on timeout, or when steps are owed and no thread runs."""
        with self.lock:
            done = lambda: self.pending == 0 or self._error is not None or not self.alive  # noqa: E731
            self.lock.wait_for(done, timeout)
            idle = self.pending == 0
        self.raise_error()
        return idle

    @property
    def alive(self) -> bool:
        """Whether the thread runs (and was not asked to stop)."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def raise_error(self, clear: bool = False) -> None:
        """Raise :class:`MemoryWorkerError` if the thread failed (and forget the error with ``clear``)."""
        error = self._error
        if clear:
            self._error = None
        if error is not None:
            raise MemoryWorkerError(f"the memory's worker thread failed: {error!r}") from error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                while self._waiting and not self._stop.is_set():
                    time.sleep(0.0005)  # let callers in: Python locks are not fair
                with self.lock:
                    if self.pending == 0:
                        self.lock.wait(0.1)
                        continue
                    self.pending -= 1
                    self._step()
                    self.lock.notify_all()
        except BaseException as err:  # kept and raised by raise_error(), never lost
            with self.lock:
                self._error, self.pending = err, 0
                self.lock.notify_all()
