"""Where a result came from: the code version and the software it ran on (saved beside every output)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def git_sha() -> str | None:
    """The checkout's commit (with ``-dirty`` when files differ from it), or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40", "--match=NO_TAGS"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def provenance() -> dict:
    """JSON-ready facts: git SHA, torch version and threads, Python version, host platform."""
    import torch

    return {
        "git_sha": git_sha(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
