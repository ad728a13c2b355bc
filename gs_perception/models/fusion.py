"""Fusion head of the cross-modality correspondence task: does an (image, Gaussian) embedding pair show the
same object? One logit per pair, trained with binary cross-entropy (see
:func:`~gs_perception.models.losses.correspondence_loss`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FusionHead(nn.Module):
    """MLP on the concatenated embeddings: ``[image, gaussian] → hidden → ReLU → dropout → 1``.

    Args:
        image_dim: Size of the image embeddings.
        gaussian_dim: Size of the Gaussian embeddings.
        hidden: Width of the hidden layer.
        dropout: Dropout probability after the hidden layer (training only).
        normalise: L2-normalise each embedding before concatenating, so the head sees the scale the
            (normalised) triplet loss shapes, and neither modality dominates by magnitude alone.
    """

    def __init__(
        self,
        image_dim: int,
        gaussian_dim: int,
        hidden: int = 256,
        dropout: float = 0.2,
        normalise: bool = True,
    ):
        super().__init__()
        self.image_dim, self.gaussian_dim, self.normalise = image_dim, gaussian_dim, normalise
        self.mlp = nn.Sequential(
            nn.Linear(image_dim + gaussian_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, image: Tensor, gaussian: Tensor) -> Tensor:
        """Score pairs.

        Args:
            image: [B, image_dim] image embeddings.
            gaussian: [B, gaussian_dim] Gaussian embeddings, row ``b`` paired with ``image[b]``.

        Returns:
            [B] logits; > 0 means "same object".
        """
        if image.shape[:-1] != gaussian.shape[:-1]:
            raise ValueError(f"unpaired: image {tuple(image.shape)} vs gaussian {tuple(gaussian.shape)}")
        if self.normalise:
            image, gaussian = F.normalize(image, dim=-1), F.normalize(gaussian, dim=-1)
        return self.mlp(torch.cat([image, gaussian], dim=-1)).squeeze(-1)
