"""One exported file with everything the online pipeline needs: encoders, the features they expect and a
linear probe that names classes.

:func:`save_bundle` writes a ``torch.save`` of plain types and tensors only, so :func:`load_bundle` reads it
with ``weights_only=True`` (opening a bundle cannot run code). The architecture travels as the nested dict
of :class:`DualEncoderConfig` and the model is rebuilt from it on load.

:class:`FeatureSpec` records what the encoders were trained on. A caller states what it will feed the
model and :func:`load_bundle` refuses a bundle whose spec differs, naming every field, instead of letting
the encoders embed features they never saw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from ..config import config_from_dict
from ..core.ply import atomic_open
from ..provenance import provenance as current_provenance
from .dual_encoder import DualEncoder, DualEncoderConfig
from .feature_spec import FeatureSpec, to_json_types
from .image_encoder import pool_views
from .linear_classifier import LinearClassifier, Prediction

BUNDLE_VERSION = 1
"""Layout version of bundle files; :func:`load_bundle` refuses any other."""

BUNDLE_FORMAT = "gs_perception.bundle"
"""Marker stored in every bundle, telling it apart from other torch files such as training checkpoints."""

_PAYLOAD_KEYS = tuple(
    "format version model_state model_config in_channels feature_spec class_names classifier train_config "
    "provenance".split()
)


WeightStorage = Literal["float32", "int8"]
"""How a bundle stores its weights: as trained, or conv/linear weights as int8 with one float32 scale per
output channel (a quarter of the size; how much embeddings change: test_bundle.py, docs/benchmarks.md)."""


def quantise_int8(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Symmetric per-output-channel int8 of every floating tensor with two or more dimensions (conv and linear
    weights): ``w ≈ q · scale[out]`` with ``q`` in [-127, 127]. Other tensors (biases, batch-norm) stay as
    they are. Returns (state with int8 weights, {name: [out] float32 scales})."""
    quantised, scales = dict(state), {}
    for name, w in state.items():
        if w.is_floating_point() and w.dim() >= 2:
            w = w.float()
            scale = w.flatten(1).abs().amax(dim=1).clamp_min(1e-12) / 127.0
            shape = (-1,) + (1,) * (w.dim() - 1)
            quantised[name] = (w / scale.view(shape)).round().clamp(-127, 127).to(torch.int8)
            scales[name] = scale
    return quantised, scales


def dequantise_int8(state: dict[str, Tensor], scales: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of :func:`quantise_int8`: float32 ``q · scale`` for every tensor that has a scale."""
    out = dict(state)
    for name, scale in scales.items():
        q = state[name]
        out[name] = q.float() * scale.float().view((-1,) + (1,) * (q.dim() - 1))
    return out


class BundleError(ValueError):
    """A file that is not a readable bundle of this version, or one trained on other features than the
    caller provides; the message names the file."""


def _check_parts(model: DualEncoder, spec: FeatureSpec, names: Sequence[str], probe: LinearClassifier | None):
    """Raise ValueError unless model, features, class names and probe fit together."""
    if model.in_channels != spec.in_channels:
        raise ValueError(
            f"model reads {model.in_channels} channels per Gaussian but feature groups "
            f"{spec.feature_groups} (SH degree {spec.sh_degree}) give {spec.in_channels}"
        )
    if probe is not None and probe.num_classes != len(names):
        raise ValueError(f"classifier has {probe.num_classes} classes but {len(names)} class names")
    if probe is not None:
        width = model.image.embed_dim if probe.source == "image" else model.config.gaussian.embed_dim
        if probe.dim != width:
            raise ValueError(f"classifier reads D={probe.dim} but {probe.source} embeddings are {width} wide")


@dataclass
class Bundle:
    """A trained dual encoder, ready for inference, with everything needed to feed and interpret it.

    Attributes:
        model: The encoders, in eval mode.
        model_config: Their architecture.
        feature_spec: The inputs they were trained on.
        class_names: Names of the classifier's classes, in its order (may be given without a classifier).
        classifier: Linear probe on frozen embeddings, or None.
        train_config: The SSL run's resolved config (JSON types).
        provenance: Where the weights came from (JSON types).
        version: Layout version of the file it was read from.
    """

    model: DualEncoder
    model_config: DualEncoderConfig
    feature_spec: FeatureSpec
    class_names: tuple[str, ...]
    classifier: LinearClassifier | None
    train_config: dict
    provenance: dict
    version: int = BUNDLE_VERSION

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        _check_parts(self.model, self.feature_spec, self.class_names, self.classifier)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def embed_views(self, views: Tensor) -> Tensor:
        """[B, V, 3, H, W] RGB in [0, 1] → [B, V, D_image]; (H, W) must be ``feature_spec.image_size``."""
        if tuple(views.shape[-2:]) != self.feature_spec.image_size:
            raise ValueError(
                f"views are {tuple(views.shape[-2:])} (H, W) but the image encoder was trained on "
                f"{self.feature_spec.image_size}; resize them first"
            )
        return self.model.embed_views(views.to(self.device))

    @torch.no_grad()
    def embed_gaussians(self, gaussians: Tensor) -> Tensor:
        """[B, P, C] per-Gaussian features (``feature_spec`` groups, xyz first) → [B, D_gaussian]."""
        return self.model.embed_gaussians(gaussians.to(self.device))

    @torch.no_grad()
    def predict(self, inputs: Tensor) -> Prediction:
        """Classify B objects from what the classifier reads.

        Args:
            inputs: [B, V, 3, H, W] views (source 'image': embedded, then max-pooled over V) or
                [B, P, C] Gaussian features (source 'gaussian').

        Raises:
            ValueError: The bundle has no classifier, or ``inputs`` has the wrong shape.
        """
        if self.classifier is None:
            raise ValueError("this bundle has no classifier; export one with save_bundle(classifier=...)")
        if self.classifier.source == "image":
            embeddings = pool_views(self.embed_views(inputs), "max")
        else:
            embeddings = self.embed_gaussians(inputs)
        logits = self.classifier.logits(embeddings)
        index = logits.argmax(dim=1)
        return Prediction(index, [self.class_names[i] for i in index.tolist()], logits.softmax(dim=1))


def save_bundle(
    path: str | Path,
    model: DualEncoder,
    feature_spec: FeatureSpec,
    class_names: Sequence[str] = (),
    classifier: LinearClassifier | None = None,
    train_config: dict | None = None,
    provenance: dict | None = None,
    weights: WeightStorage = "float32",
) -> Path:
    """Write one bundle file atomically (an interrupted save leaves any previous file intact).

    Args:
        path: Output file (``.pt``); parent folders are created.
        model: Trained encoders (their ``config`` and ``in_channels`` are stored; weights go to the CPU).
        feature_spec: What they were trained on.
        class_names: Names of the classifier's classes, in its order.
        classifier: Optional linear probe.
        train_config: The SSL run's resolved config (JSON types); None stores {}.
        provenance: Where the weights came from, e.g. the run's config.json 'provenance'; None records
            this process's (git SHA, versions).
        weights: 'float32' (as trained) or 'int8' (see :data:`WeightStorage`); loading is the same.

    Raises:
        ValueError: The parts do not fit together (channels, class count, embedding width) or a dict holds
            non-JSON values.
    """
    _check_parts(model, feature_spec, class_names, classifier)
    if weights not in ("float32", "int8"):
        raise ValueError(f"weights must be 'float32' or 'int8', got {weights!r}")
    state, scales = {k: v.detach().cpu() for k, v in model.state_dict().items()}, {}
    if weights == "int8":
        state, scales = quantise_int8(state)
    payload = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model_state": state,
        "weights": weights,
        "weight_scales": scales,
        "model_config": to_json_types(dataclasses.asdict(model.config), "model config"),
        "in_channels": int(model.in_channels),
        "feature_spec": feature_spec.to_dict(),
        "class_names": [str(name) for name in class_names],
        "classifier": None if classifier is None else classifier.to_dict(),
        "train_config": to_json_types(train_config or {}, "train_config"),
        "provenance": to_json_types(current_provenance() if provenance is None else provenance, "provenance"),
    }
    path = Path(path)
    with atomic_open(path) as f:
        torch.save(payload, f)
    return path


def load_bundle(
    path: str | Path,
    expected: FeatureSpec | None = None,
    map_location: str | torch.device = "cpu",
) -> Bundle:
    """Read a bundle written by :func:`save_bundle` and rebuild its model, in eval mode.

    Args:
        path: Bundle file.
        expected: The features the caller will provide; any difference from the bundle's is refused.
        map_location: Device the model and classifier are put on.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        BundleError: Not a readable bundle of :data:`BUNDLE_VERSION` (corrupt, truncated, another torch
            file, keys missing, parts that do not fit), or its features differ from ``expected``.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        spec = FeatureSpec.from_dict(payload["feature_spec"])
    except (TypeError, ValueError) as err:
        raise BundleError(f"{path}: bad feature spec: {err}") from err
    if expected is not None and spec != expected:
        names = spec._differing(expected)
        mine = ", ".join(f"{n}={getattr(spec, n)!r}" for n in names)
        theirs = ", ".join(f"{n}={getattr(expected, n)!r}" for n in names)
        raise BundleError(f"{path}: this bundle was trained on {mine}; the caller provides {theirs}")
    try:
        config = config_from_dict(DualEncoderConfig, payload["model_config"])
        model = DualEncoder(config, int(payload["in_channels"]))
        state = dequantise_int8(payload["model_state"], payload.get("weight_scales", {}))
        model.load_state_dict(state, strict=True)
        raw = payload["classifier"]
        classifier = None if raw is None else LinearClassifier(**raw).to(map_location)
        bundle = Bundle(
            model=model.to(map_location).eval(),
            model_config=config,
            feature_spec=spec,
            class_names=tuple(payload["class_names"]),
            classifier=classifier,
            train_config=payload["train_config"],
            provenance=payload["provenance"],
            version=payload["version"],
        )
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        # RuntimeError: load_state_dict's missing / unexpected keys and shape mismatches.
        raise BundleError(f"{path}: inconsistent bundle: {err}") from err
    return bundle


def _read_payload(path: Path) -> dict:
    """A bundle file's payload, checked for format, version and keys (BundleError naming the file)."""
    if not path.is_file():
        raise FileNotFoundError(f"model bundle not found: {path}")
    try:
        # weights_only: a model file must not be able to run code on load.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise BundleError(f"{path}: cannot read as a model bundle (corrupt or truncated?): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: not a gs_perception model bundle")
    if payload.get("version") != BUNDLE_VERSION:
        raise BundleError(
            f"{path}: bundle version {payload.get('version')!r} is not {BUNDLE_VERSION}; re-export it"
        )
    missing = [key for key in _PAYLOAD_KEYS if key not in payload]
    if missing:
        raise BundleError(f"{path}: bundle lacks {missing}")
    return payload
