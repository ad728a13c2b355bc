"""Run-time helpers shared by the tools: CPU threads, which device 'auto' means, and generators seeded by
several keys.

torch is imported inside the functions, not here: :func:`configure_threads` must be able to run before
anything loads torch (and with it OpenMP, which reads its wait policy once, when it loads).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

THREADS_ENV = "GS_PERCEPTION_THREADS"
"""Environment variable: torch's CPU threads per process (N; 'auto': one per core; unset: the default)."""

DEFAULT_THREADS = 1
"""CPU threads when nothing says otherwise. One: the project's CPU work (rasterising and optimising small
clouds) gains little from a second thread on an idle machine, and waiting OpenMP threads make it many times
slower on a loaded one (docs/benchmarks.md, "CPU threads")."""


def thread_setting(environ: Mapping[str, str] | None = None) -> int | None:
    """The number of torch CPU threads ``GS_PERCEPTION_THREADS`` asks for.

    Args:
        environ: The environment to read (``os.environ`` when None).

    Returns:
        A positive count; None for 'auto' (torch's own choice, one thread per core), and also when the
        variable is unset but ``OMP_NUM_THREADS`` is set (torch already follows that); else
        :data:`DEFAULT_THREADS`.

    Raises:
        ValueError: The variable is set to something other than a positive integer or 'auto'.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None if environ.get("OMP_NUM_THREADS") else DEFAULT_THREADS
    if raw.lower() == "auto":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a positive number of CPU threads or 'auto'")
    return int(raw)


def configure_threads() -> int:
    """Apply the thread setting (:func:`thread_setting`) to this process; call it before importing torch.

    Sets ``torch.set_num_threads``, and, when more than one thread may run and torch is not loaded yet,
    ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it already: OpenMP workers that wait between
    parallel regions then sleep instead of spinning, which on a loaded machine takes the CPU from the
    threads doing the work. Child processes inherit the environment, so they follow the same setting.

    Returns:
        The number of torch CPU threads now in use.

    Raises:
        ValueError: ``GS_PERCEPTION_THREADS`` is invalid (the message says what is accepted).
    """
    threads = thread_setting()
    if threads != 1 and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; any other name as given (``'cpu'``, ``'cuda:1'``)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by mixing ``keys`` (say seed, epoch, index) with NumPy's SeedSequence, so
    nearby key tuples give unrelated streams."""
    import torch

    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))
