"""Array inputs of the metric functions."""

from __future__ import annotations

import numpy as np


def as_numpy(x, dtype=None) -> np.ndarray:
    """Array view of ``x``; torch tensors (even on the GPU or requiring grad) are detached and copied."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=dtype)
