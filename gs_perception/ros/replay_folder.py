"""A finished replay's output folder, read back: what the report and the Rerun export are built from.

``gs-perception replay`` leaves in ``<out>``: ``bag/`` (the output bag), ``metrics.json`` (metrics, resolved
config, input bag path, provenance), ``memory.ply``, ``steps.jsonl`` (one record per live frame) and
``heldout_strips.png`` (input | memory render | error of held-out frames). Folders written before
``steps.jsonl`` or the strips existed still load: those parts are None and the readers say what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from ..core.frames import Frame
from ..pipeline.step_log import STEPS_FILE, StepRecord, read_steps
from .replay_metrics import ReplayMetrics

METRICS_FILE = "metrics.json"
MEMORY_FILE = "memory.ply"
OUTPUT_BAG = "bag"
STRIPS_FILE = "heldout_strips.png"
REPORT_FILE = "report.html"
RECORDING_FILE = "recording.rrd"
"""Where ``gs-perception export-rerun OUT`` writes the recording unless told otherwise."""
MAX_STRIPS = 8
"""Held-out strips drawn at most (evenly spaced over the held-out frames): a sheet people can scroll."""


class ReplayFolderError(ValueError):
    """A replay folder is missing its metrics, or one of its files is corrupt (the message names the file)."""


@dataclass(frozen=True)
class ReplayFolder:
    """What a replay left in its output folder.

    Attributes:
        path: The folder.
        metrics: The replay's metrics (metrics.json).
        config: The resolved ReplayConfig, as the JSON dict it was saved as.
        bag: The input bag the replay read ('' when metrics.json does not say).
        provenance: Git SHA, versions and command line of the replay.
        steps: One record per live frame (steps.jsonl), or None in a folder without it.
    """

    path: Path
    metrics: ReplayMetrics
    config: dict
    bag: str
    provenance: dict
    steps: list[StepRecord] | None

    @property
    def output_bag(self) -> Path:
        return self.path / OUTPUT_BAG

    @property
    def strips(self) -> Path | None:
        """The held-out strips picture, if the replay wrote one."""
        path = self.path / STRIPS_FILE
        return path if path.is_file() else None

    @property
    def output_namespace(self) -> str:
        """Prefix of the output topics in the output bag (no trailing '/')."""
        return str(self.config.get("topics", {}).get("output_namespace", "/gs_perception")).rstrip("/")

    def topic(self, field: str) -> str:
        """The input topic of ``ReplayTopics.<field>`` the replay used ('' when unset or unknown)."""
        return str(self.config.get("topics", {}).get(field, ""))


def load_replay_folder(out: str | Path) -> ReplayFolder:
    """Read ``metrics.json`` and (when present) ``steps.jsonl`` of a replay output folder.

    Raises:
        FileNotFoundError: ``out`` or its metrics.json does not exist.
        ReplayFolderError: metrics.json or steps.jsonl is corrupt (the message names the file).
    """
    out = Path(out)
    metrics_path = out / METRICS_FILE
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a replay output folder (no such folder)")
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{out} is not a replay output folder: it has no {METRICS_FILE}")
    try:
        payload = json.loads(metrics_path.read_text())
        metrics = _metrics_from_json(payload["metrics"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise ReplayFolderError(f"{metrics_path}: not a replay metrics file ({error})") from error
    steps = None
    if (out / STEPS_FILE).is_file():
        try:
            steps = read_steps(out / STEPS_FILE)
        except (ValueError, UnicodeDecodeError) as error:  # read_steps names the file and line
            raise ReplayFolderError(str(error)) from error
    return ReplayFolder(
        path=out,
        metrics=metrics,
        config=payload.get("config") or {},
        bag=str(payload.get("bag") or ""),
        provenance=payload.get("provenance") or {},
        steps=steps,
    )


def _metrics_from_json(data: dict) -> ReplayMetrics:
    """ReplayMetrics from its saved dict; keys of newer versions are ignored, missing defaults filled."""
    if not isinstance(data, dict):
        raise TypeError(f"'metrics' is a {type(data).__name__}, not an object")
    known = {f.name for f in fields(ReplayMetrics)}
    values = {key: value for key, value in data.items() if key in known}
    values["gaussians_over_time"] = [(float(t), int(n)) for t, n in values.get("gaussians_over_time", [])]
    return ReplayMetrics(**values)  # a missing required field raises TypeError naming it


def write_heldout_strips(
    out: Path,
    renders: list[tuple[Frame, torch.Tensor]],
    psnr_per_frame: list[float],
    t0_ns: int | None = None,
) -> Path | None:
    """``<out>/heldout_strips.png``: input | memory render | error ×4 of up to :data:`MAX_STRIPS` held-out
    frames, evenly spaced, each captioned with its number, time and PSNR. None without held-out frames.

    Args:
        out: The replay's (partial) output folder.
        renders: (held-out frame, memory render [H, W, 3] in [0, 1]) pairs, in stamp order.
        psnr_per_frame: PSNR of each render, dB.
        t0_ns: Stamp the captions' times count from (the first live frame's, as in the report's plots;
            default the first held-out frame's).
    """
    from ..eval.pictures import comparison_sheet

    if not renders:
        return None
    n, count = len(renders), min(len(renders), MAX_STRIPS)
    chosen = sorted({round(k * (n - 1) / max(count - 1, 1)) for k in range(count)})
    t0 = renders[0][0].stamp_ns if t0_ns is None else t0_ns
    captions = [
        f"held-out {k + 1}/{n}   t = {(renders[k][0].stamp_ns - t0) / 1e9:.2f} s   "
        f"PSNR {psnr_per_frame[k]:.2f} dB"
        for k in chosen
    ]
    pairs = [(renders[k][0].rgb.clamp(0, 1), renders[k][1]) for k in chosen]
    titles = ("recorded input", "memory render", "|error| x4")
    return comparison_sheet(pairs, captions, out / STRIPS_FILE, titles=titles)
