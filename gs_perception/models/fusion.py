"""Fusion head of the cross-modality correspondence task: does an (image, Gaussian) embedding pair show the
same object? One logit per pair, trained with binary cross-entropy (see
:func:`~gs_perception.models.losses.correspondence_loss`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FUSION_MODES = ("concat", "compare")


class FusionHead(nn.Module):
    """Scores (image, Gaussian) embedding pairs; one logit per pair.

    - ``'concat'`` (the study's): ``[image, gaussian] → hidden → ReLU → dropout → 1``.
    - ``'compare'``: project both to ``hidden``, then
      ``[p_i ⊙ p_g, |p_i − p_g|] → hidden → ReLU → dropout → 1``.
      The product and difference make agreement between the two embeddings directly visible to the MLP,
      which then need not learn to compare two halves of one long vector from few objects.

    Args:
        image_dim: Size of the image embeddings.
        gaussian_dim: Size of the Gaussian embeddings.
        hidden: Width of the hidden layer (and of the projections in 'compare' mode).
        dropout: Dropout probability after the hidden layer (training only).
        normalise: L2-normalise each embedding first, so the head sees the scale the (normalised) triplet
            loss shapes, and neither modality dominates by magnitude alone.
        mode: 'concat' or 'compare'.
    """

    def __init__(
        self,
        image_dim: int,
        gaussian_dim: int,
        hidden: int = 256,
        dropout: float = 0.2,
        normalise: bool = True,
        mode: str = "concat",
    ):
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f"unknown fusion mode {mode!r} (expected one of {FUSION_MODES})")
        self.image_dim, self.gaussian_dim, self.normalise, self.mode = (
            image_dim,
            gaussian_dim,
            normalise,
            mode,
        )
        if mode == "compare":
            self.project_image = nn.Linear(image_dim, hidden)
            self.project_gaussian = nn.Linear(gaussian_dim, hidden)
            in_features = 2 * hidden
        else:
            in_features = image_dim + gaussian_dim
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden),
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
        if self.mode == "compare":
            a, b = self.project_image(image), self.project_gaussian(gaussian)
            features = torch.cat([a * b, (a - b).abs()], dim=-1)
        else:
            features = torch.cat([image, gaussian], dim=-1)
        return self.mlp(features).squeeze(-1)
