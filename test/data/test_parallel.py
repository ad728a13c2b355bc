"""Worker processes: results for every item, and a worker that dies costs only its own item."""

from __future__ import annotations

import sys
import textwrap

import pytest

from gs_perception.data.parallel import map_in_processes

# The function must be importable by the spawned workers, so it lives in a module written to a folder on
# sys.path (spawn hands the parent's sys.path to its children).
WORKER_MODULE = """
import os

def square_or_die(x):
    if x == 3:
        os._exit(7)  # a native crash: no exception, the process is just gone
    return x * x
"""


@pytest.fixture
def worker_module(tmp_path, monkeypatch):
    (tmp_path / "gs_test_worker.py").write_text(textwrap.dedent(WORKER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import gs_test_worker

    yield gs_test_worker
    sys.modules.pop("gs_test_worker", None)


def test_every_item_gets_its_result_and_a_crashing_item_is_reported(worker_module):
    crashed = []

    def on_crash(item):
        crashed.append(item)
        return -1

    results = dict(map_in_processes(worker_module.square_or_die, range(6), 2, on_crash))
    assert results == {0: 0, 1: 1, 2: 4, 3: -1, 4: 16, 5: 25}
    assert crashed == [3]  # its neighbour in flight was rerun alone and succeeded, not reported


def test_closing_early_stops_without_running_the_rest(worker_module):
    results = map_in_processes(worker_module.square_or_die, [0, 1, 2, 4, 5, 6, 7, 8], 1, lambda item: -1)
    first = next(results)
    results.close()
    assert first == (0, 0)
