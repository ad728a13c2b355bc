"""A bundle's class-naming probe: a frozen linear classifier on embeddings, and what it predicts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

CLASSIFIER_SOURCES = ("image", "gaussian")
"""What a :class:`LinearClassifier` reads: max-pooled view embeddings or Gaussian embeddings."""

_TENSORS = ("mean", "scale", "weight", "bias")  # of a LinearClassifier


@dataclass
class LinearClassifier:
    """Frozen linear probe: standardise an embedding, then one affine map to K class logits.

    Row k of ``weight`` scores ``class_names[k]`` of the bundle (scikit-learn's ``classes_`` order).
    Arrays are stored as float32 tensors.

    Attributes:
        source: 'image' (view embeddings max-pooled over an object's views) or 'gaussian'.
        mean: [D] subtracted from an embedding first.
        scale: [D] divided by next (a StandardScaler's ``scale_``; 1 where a feature is constant).
        weight: [K, D] class weights, K ≥ 2.
        bias: [K] class offsets.
    """

    source: str
    mean: Tensor
    scale: Tensor
    weight: Tensor
    bias: Tensor

    def __post_init__(self):
        if self.source not in CLASSIFIER_SOURCES:
            raise ValueError(
                f"unknown classifier source {self.source!r}; expected one of {CLASSIFIER_SOURCES}"
            )
        for name in _TENSORS:
            setattr(self, name, torch.as_tensor(getattr(self, name), dtype=torch.float32))
        k, d = self.weight.shape if self.weight.ndim == 2 else (0, 0)
        if k < 2 or self.mean.shape != (d,) or self.scale.shape != (d,) or self.bias.shape != (k,):
            shapes = {name: tuple(getattr(self, name).shape) for name in _TENSORS}
            raise ValueError(f"expected weight [K ≥ 2, D], bias [K], mean [D], scale [D]; got {shapes}")
        if not bool((self.scale != 0).all()):
            raise ValueError("scale must be non-zero everywhere")

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    @property
    def dim(self) -> int:
        """Embedding size D read."""
        return self.weight.shape[1]

    @classmethod
    def from_sklearn(
        cls,
        source: str,
        mean: ArrayLike | None,
        scale: ArrayLike | None,
        coef: ArrayLike,
        intercept: ArrayLike,
    ) -> LinearClassifier:
        """A probe from a fitted scikit-learn linear model (LinearSVC, LogisticRegression, ...).

        Args:
            source: 'image' or 'gaussian'.
            mean: [D] StandardScaler ``mean_``, or None for no centring.
            scale: [D] StandardScaler ``scale_``, or None for no scaling.
            coef: ``coef_``, [K, D] for K ≥ 3 classes or [1, D] for two.
            intercept: ``intercept_``, [K] or [1].

        Two classes come as one decision value s = w·x + b (class 1 where s > 0). They become the rows
        [-w, w] / 2 and offsets [-b, b] / 2: the logit difference is s, so the argmax agrees with
        scikit-learn (ties go to class 0 in both) and the softmax of class 1 is sigmoid(s).
        """
        coef = torch.as_tensor(np.asarray(coef), dtype=torch.float32)
        intercept = torch.as_tensor(np.asarray(intercept), dtype=torch.float32).reshape(-1)
        if coef.ndim != 2:
            raise ValueError(f"coef must be [K, D] or [1, D], got shape {tuple(coef.shape)}")
        if coef.shape[0] == 1:
            coef, intercept = torch.cat([-coef, coef]) / 2, torch.cat([-intercept, intercept]) / 2
        d = coef.shape[1]
        return cls(
            source=source,
            mean=torch.zeros(d) if mean is None else torch.as_tensor(np.asarray(mean)),
            scale=torch.ones(d) if scale is None else torch.as_tensor(np.asarray(scale)),
            weight=coef,
            bias=intercept,
        )

    def logits(self, x: Tensor) -> Tensor:
        """[B, D] embeddings → [B, K] logits ``((x - mean) / scale) @ weight.T + bias``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected embeddings [B, {self.dim}], got {tuple(x.shape)}")
        x = x.float()
        mean, scale, weight, bias = (getattr(self, name).to(x.device) for name in _TENSORS)
        return ((x - mean) / scale) @ weight.T + bias

    def predict(self, x: Tensor) -> Tensor:
        """[B, D] embeddings → [B] class indices (argmax of the logits)."""
        return self.logits(x).argmax(dim=1)

    def to(self, device: str | torch.device) -> LinearClassifier:
        """A copy with its tensors on ``device``."""
        return dataclasses.replace(self, **{name: getattr(self, name).to(device) for name in _TENSORS})

    def to_dict(self) -> dict:
        """``source`` and the four tensors (on the CPU): the constructor's keyword arguments."""
        return {"source": self.source} | {name: getattr(self, name).detach().cpu() for name in _TENSORS}


@dataclass
class Prediction:
    """Classes predicted for B objects.

    Attributes:
        class_index: [B] indices into the bundle's ``class_names``.
        class_name: B names.
        scores: [B, K] softmax of the logits.
    """

    class_index: Tensor
    class_name: list[str]
    scores: Tensor
