"""Run a function over items in worker processes, so that one item crashing a worker costs only that item.

A Python exception inside ``fn`` is ``fn``'s business (dataset builders catch and record them). What this
module handles is a worker *dying*: a segfault in a native library (OpenGL, a mesh loader), the out-of-memory
killer. ``concurrent.futures`` then breaks the whole pool and fails every pending item. Here at most
``workers`` items are in flight; when the pool breaks, those few are rerun one by one, each in a fresh
single-worker pool, and an item that kills its worker again is reported through ``on_crash``. The rest goes
on in a new pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_processes(
    fn: Callable[[Item], Result],
    items: Iterable[Item],
    workers: int,
    on_crash: Callable[[Item], Result],
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> Iterator[tuple[Item, Result]]:
    """Yield ``(item, fn(item))`` in completion order, computed in ``workers`` spawned processes.

    Args:
        fn: A picklable (module-level) function.
        items: Picklable inputs.
        workers: Number of worker processes (≥ 1).
        on_crash: Gives the result of an item whose worker died twice (alone the second time).
        initializer, initargs: Run once in every worker (say, to set torch's thread count).

    Stopping early (closing the generator, Ctrl-C) cancels the queued items; running ones finish or die
    with the pool.
    """
    # spawn, not fork: a forked child would inherit torch's thread pools and OpenGL state half-initialised.
    context = get_context("spawn")
    queue = list(items)
    while queue:
        suspects: list[Item] = []
        with ProcessPoolExecutor(workers, context, initializer, initargs) as pool:
            running: dict = {}
            while (queue or running) and not suspects:
                while queue and len(running) < workers:
                    item = queue.pop(0)
                    running[pool.submit(fn, item)] = item
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(item)
                        continue
                    yield item, result
            suspects += running.values()  # the pool is broken: everything still running died with it
        for item in suspects:
            yield item, _run_alone(fn, item, context, on_crash, initializer, initargs)


def _run_alone(fn, item, context, on_crash, initializer, initargs):
    """``fn(item)`` in a fresh one-process pool; ``on_crash(item)`` if that process dies too."""
    with ProcessPoolExecutor(1, context, initializer, initargs) as pool:
        try:
            return pool.submit(fn, item).result()
        except BrokenProcessPool:
            return on_crash(item)
