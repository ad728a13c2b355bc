"""ResNet-18 image encoder of the cross-modality study, plus multi-view helpers.

Inputs are RGB images in [0, 1] (channels first); ImageNet normalisation happens inside the model so callers
never have to remember it. The backbone is torchvision's ``resnet18`` built without weights: the study trains
from random initialisation, and an ImageNet start is only possible from a local state_dict file (nothing is
ever downloaded). Adaptive average pooling makes any input size from about 32 px upwards work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import resnet18

# torchvision's ImageNet statistics (the ones its pretrained ResNet-18 was trained with).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RESNET18_WIDTH = 512
"""Width of ResNet-18's pooled features (the input of its classifier)."""


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Settings of :class:`ImageEncoder`."""

    embed_dim: int = RESNET18_WIDTH
    """Embedding size D. At 512 (ResNet-18's pooled width) the classifier becomes an identity; any other
    value adds a linear projection 512 → D."""
    weights: str = ""
    """Path to a local torchvision ResNet-18 state_dict (e.g. the ImageNet one) used to initialise the
    backbone; its ``fc.*`` entries are ignored. Empty: random initialisation, as in the study."""
    normalise_input: bool = True
    """Apply the ImageNet mean/std inside the model (inputs are RGB in [0, 1])."""


class ImageEncoder(nn.Module):
    """ResNet-18 trunk → global average pool → identity or linear projection.

    Args:
        config: Settings; ``None`` means :class:`ImageEncoderConfig` defaults.

    Attributes:
        backbone: torchvision ResNet-18 whose ``fc`` is an identity ([B, 3, H, W] → [B, 512]).
        head: Identity (``embed_dim`` 512) or ``nn.Linear(512, embed_dim)``.
    """

    def __init__(self, config: ImageEncoderConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else ImageEncoderConfig()
        if config.embed_dim < 1:
            raise ValueError(f"embed_dim must be positive, got {config.embed_dim}")
        self.backbone = resnet18(weights=None)
        self.backbone.fc = nn.Identity()
        if config.weights:
            load_backbone_weights(self.backbone, config.weights)
        self.head: nn.Module = (
            nn.Identity()
            if config.embed_dim == RESNET18_WIDTH
            else nn.Linear(RESNET18_WIDTH, config.embed_dim)
        )
        # Non-persistent: the statistics are constants, so state_dicts hold learnt weights only and stay
        # loadable whatever ``normalise_input`` was.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def embed_dim(self) -> int:
        """Output size D."""
        return self.config.embed_dim

    def forward(self, images: Tensor) -> Tensor:
        """Embed a batch of images.

        Args:
            images: [B, 3, H, W] RGB in [0, 1] (or already normalised when ``normalise_input`` is off).

        Returns:
            [B, D] embeddings (not normalised).
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape [B, 3, H, W], got {tuple(images.shape)}")
        if self.config.normalise_input:
            images = (images - self.mean) / self.std
        return self.head(self.backbone(images))

    def encode_views(self, views: Tensor) -> Tensor:
        """Embed several views per object in one batch.

        Args:
            views: [B, V, 3, H, W] RGB in [0, 1].

        Returns:
            [B, V, D] embeddings, ``[b, v]`` being the embedding of ``views[b, v]``.
        """
        if views.dim() != 5:
            raise ValueError(f"expected views of shape [B, V, 3, H, W], got {tuple(views.shape)}")
        b, v = views.shape[:2]
        return self(views.flatten(0, 1)).view(b, v, -1)


def pool_views(embeddings: Tensor, mode: str = "max") -> Tensor:
    """Pool per-view embeddings into one per object.

    Args:
        embeddings: [B, V, D] per-view embeddings.
        mode: 'max' (element-wise maximum over views, as in the study) or 'mean'.

    Returns:
        [B, D] pooled embeddings.
    """
    if embeddings.dim() != 3:
        raise ValueError(f"expected embeddings of shape [B, V, D], got {tuple(embeddings.shape)}")
    if mode == "max":
        return embeddings.amax(dim=1)
    if mode == "mean":
        return embeddings.mean(dim=1)
    raise ValueError(f"unknown view pooling {mode!r} (expected 'max' or 'mean')")


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a torchvision ResNet-18 state_dict file into ``backbone`` (whose ``fc`` is an identity).

    The classifier entries (``fc.*``) are dropped, every other key must match exactly.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read as a state_dict or does not fit ResNet-18; the message names
            ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image encoder weights not found: {path}")
    try:
        # weights_only: a weights file must not be able to run code on load.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read image encoder weights from {path}: {err}") from err
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} does not hold a state_dict (got {type(state).__name__})")
    trunk = {k: v for k, v in state.items() if not str(k).startswith("fc.")}
    try:
        backbone.load_state_dict(trunk, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} is not a ResNet-18 state_dict: {err}") from err
