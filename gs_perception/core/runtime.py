"""Run-time helpers shared by the tools: which device 'auto' means, and generators seeded by several keys."""

from __future__ import annotations

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; any other name as given (``'cpu'``, ``'cuda:1'``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by mixing ``keys`` (say seed, epoch, index) with NumPy's SeedSequence, so
    nearby key tuples give unrelated streams."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))
