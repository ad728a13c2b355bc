"""The feed-forward predictor as one file (``predictor.pt``): what the online pipeline loads.

``train-ff`` writes it beside its checkpoints; it holds the weights, the :class:`SplatterConfig` and what the
predictor was trained on (image size, background colour, the object radius its depth ranges assumed), so a
user of the file needs nothing from the training run.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import override_dataclass
from .splatter import LEGACY_FIELDS, SplatterConfig, SplatterImage

FORMAT = "gs_perception.splatter_predictor/1"

LEGACY_BALL_FRACTION = 0.916
"""The framing of files written before :attr:`PredictorInfo.ball_fraction` existed: all were trained on
generate-dataset's default cameras, 3 m from the unit ball with a 40° field of view (1/3 / tan 20°)."""


@dataclass(frozen=True)
class PredictorInfo:
    """What a predictor was trained on.

    Attributes:
        image_size: (width, height) of the training views, pixels.
        background: RGB the training views were composited on.
        object_radius: Radius (metres) of the ball its depth ranges were built around.
        ball_fraction: How much of the training views that ball filled: its projected radius
            (``sqrt(fx·fy)·radius / z`` at the ball centre's z-depth) over half the shorter image side,
            averaged over the training views. The online proposer frames objects the same way.
    """

    image_size: tuple[int, int]
    background: tuple[float, float, float]
    object_radius: float
    ball_fraction: float = LEGACY_BALL_FRACTION


def save_predictor(path: str | Path, model: SplatterImage, info: PredictorInfo) -> Path:
    """Write ``model`` and ``info`` to ``path`` atomically (a failed save leaves any old file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": dataclasses.asdict(model.config),
        "info": dataclasses.asdict(info),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_predictor(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[SplatterImage, PredictorInfo]:
    """Read a file written by :func:`save_predictor`: the model (eval mode, on ``map_location``) and its info.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a predictor file, or its weights do not fit its config (the message names the file).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"predictor file {path} does not exist (train-ff writes <out>/predictor.pt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable predictor file ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a predictor file (expected format {FORMAT!r})")
    config = override_dataclass(SplatterConfig(), {**LEGACY_FIELDS, **payload["config"]}, str(path))
    info = payload["info"]
    info = PredictorInfo(
        tuple(info["image_size"]),
        tuple(info["background"]),
        float(info["object_radius"]),
        float(info.get("ball_fraction", LEGACY_BALL_FRACTION)),
    )
    model = SplatterImage(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not match the predictor's config ({error})") from error
    return model.to(map_location).eval(), info
