"""Training checkpoints that resume exactly: model, optimiser, scheduler, position and every RNG state.

The study's resume restored the weights but silently restarted the learning-rate schedule; here the
scheduler, the step, the position inside the epoch and the random number generators (Python, NumPy, torch
CPU and CUDA) are saved too, so a resumed run takes the very step an uninterrupted one would have taken.
Files are written atomically (temporary file + rename): an interrupted save leaves the previous checkpoint.
A JSON twin beside each checkpoint holds the provenance (git SHA, resolved config, step, metrics) for people
and scripts that should not unpickle anything.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_VERSION = 1


@dataclass
class TrainPosition:
    """Where training stands: ``step`` steps done; the next runs batch ``batch_in_epoch`` of ``epoch``."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0


def rng_states() -> dict[str, Any]:
    """Every random generator training draws from (the DataLoader order is seeded separately, per epoch)."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    path: str | Path,
    modules: dict[str, Any],
    position: TrainPosition,
    config: dict,
    info: dict,
) -> Path:
    """Write ``path`` (torch) and ``path.json`` (provenance) atomically.

    Args:
        path: Checkpoint file (``.pt``).
        modules: Objects with ``state_dict()`` (model, optimiser, scheduler …) by name.
        position: Training position after the last finished step.
        config: The resolved run config (JSON types).
        info: Provenance and latest metrics (JSON types).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "version": CHECKPOINT_VERSION,
        "state": {name: m.state_dict() for name, m in modules.items()},
        "position": asdict(position),
        "rng": rng_states(),
        "config": config,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    sidecar = {"position": asdict(position), "config": config, **info}
    json_tmp = path.with_name(path.name + ".json.tmp")
    json_tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    os.replace(json_tmp, path.with_name(path.name + ".json"))
    return path


def load_checkpoint(path: str | Path, modules: dict[str, Any], map_location: str | torch.device = "cpu"):
    """Restore ``modules`` and the RNG states from ``path``; returns (position, saved config).

    Raises:
        ValueError: The file is not a checkpoint of this format, or lacks a module's state (names both).
    """
    path = Path(path)
    # weights_only=False: the RNG states are numpy/python objects. Only load checkpoints you wrote.
    payload = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a gs_perception training checkpoint (version {CHECKPOINT_VERSION})")
    missing = set(modules) - set(payload["state"])
    if missing:
        raise ValueError(f"{path}: no saved state for {sorted(missing)}")
    for name, module in modules.items():
        module.load_state_dict(payload["state"][name])
    set_rng_states(payload["rng"])
    return TrainPosition(**payload["position"]), payload["config"]
