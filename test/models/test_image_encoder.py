"""ResNet-18 image encoder: shapes, input normalisation, local weights, multi-view helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from gs_perception.models.image_encoder import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageEncoder,
    ImageEncoderConfig,
    pool_views,
)


@pytest.mark.parametrize("embed_dim", [512, 128])
@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_output_shape(embed_dim, size):
    torch.manual_seed(0)
    enc = ImageEncoder(ImageEncoderConfig(embed_dim=embed_dim)).eval()
    with torch.no_grad():
        out = enc(torch.rand(2, 3, *size))
    assert out.shape == (2, embed_dim)
    assert isinstance(enc.head, nn.Identity if embed_dim == 512 else nn.Linear)


def test_input_normalisation_is_imagenet_mean_std():
    torch.manual_seed(0)
    with_norm = ImageEncoder(ImageEncoderConfig(normalise_input=True)).eval()
    without = ImageEncoder(ImageEncoderConfig(normalise_input=False)).eval()
    without.load_state_dict(with_norm.state_dict())  # the statistics are not part of the state_dict
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(with_norm(x), without((x - mean) / std))
        # An image of the ImageNet mean colour is the zero input once normalised.
        torch.testing.assert_close(with_norm(mean.expand(1, 3, 32, 32)), without(torch.zeros(1, 3, 32, 32)))
        assert not torch.allclose(with_norm(x), without(x))


@pytest.mark.parametrize("embed_dim", [512, 128])
def test_weights_file_initialises_the_backbone(tmp_path, embed_dim):
    torch.manual_seed(1)
    reference = resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    reference.fc = nn.Identity()
    reference.eval()
    enc = ImageEncoder(ImageEncoderConfig(embed_dim=embed_dim, weights=str(path), normalise_input=False))
    enc.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc.backbone(x), reference(x))
        if embed_dim == 512:
            torch.testing.assert_close(enc(x), reference(x))


def test_missing_or_incompatible_weights_name_the_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        ImageEncoder(ImageEncoderConfig(weights=str(missing)))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth"):
        ImageEncoder(ImageEncoderConfig(weights=str(wrong)))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="garbage.pth"):
        ImageEncoder(ImageEncoderConfig(weights=str(garbage)))


def test_encode_views_matches_per_view_encoding():
    torch.manual_seed(0)
    enc = ImageEncoder(ImageEncoderConfig(embed_dim=64)).eval()
    views = torch.rand(3, 2, 3, 32, 32)
    with torch.no_grad():
        out = enc.encode_views(views)
        assert out.shape == (3, 2, 64)
        for v in range(2):
            torch.testing.assert_close(out[:, v], enc(views[:, v]))


def test_pool_views_by_hand():
    emb = torch.tensor([[[1.0, -2.0], [3.0, 0.0]], [[0.0, 5.0], [-1.0, 1.0]]])  # [2 objects, 2 views, 2]
    torch.testing.assert_close(pool_views(emb), torch.tensor([[3.0, 0.0], [0.0, 5.0]]))
    torch.testing.assert_close(pool_views(emb, "mean"), torch.tensor([[2.0, -1.0], [-0.5, 3.0]]))
    with pytest.raises(ValueError, match="pooling"):
        pool_views(emb, "sum")
