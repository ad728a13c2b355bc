"""Triplet and correspondence losses, pair sampling, and a tiny end-to-end optimisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gs_perception.models.fusion import FusionHead
from gs_perception.models.image_encoder import ImageEncoder, ImageEncoderConfig
from gs_perception.models.losses import (
    Pairs,
    correspondence_loss,
    info_nce,
    make_pairs,
    ssl_losses,
    triplet_loss,
)


def test_triplet_loss_by_hand():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    p = torch.tensor([[3.0, 4.0], [1.0, 1.0]])  # distances 5, 1
    n = torch.tensor([[1.0, 0.0], [1.0, 3.0]])  # distances 1, 3
    # relu(5 - 1 + 0.5) = 4.5 and relu(1 - 3 + 0.5) = 0 → mean 2.25
    assert math.isclose(float(triplet_loss(a, p, n, margin=0.5, normalise=False)), 2.25, rel_tol=1e-6)


def test_triplet_loss_normalised_by_hand_and_flag_matters():
    a = torch.tensor([[2.0, 0.0]])
    p = torch.tensor([[0.0, 5.0]])  # unit vectors (1, 0), (0, 1): distance √2
    n = torch.tensor([[-3.0, 0.0]])  # unit (−1, 0): distance 2
    assert math.sqrt(2) - 2 + 0.5 < 0  # so relu clips it at margin 0.5
    assert float(triplet_loss(a, p, n, margin=0.5)) == 0.0
    assert math.isclose(float(triplet_loss(a, p, n, margin=1.0)), math.sqrt(2) - 1, rel_tol=1e-6)
    # raw: ‖a − p‖ = √29, ‖a − n‖ = 5
    raw = float(triplet_loss(a, p, n, margin=1.0, normalise=False))
    assert math.isclose(raw, math.sqrt(29) - 5 + 1, rel_tol=1e-6)


def test_triplet_loss_is_zero_for_far_negatives():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 4, generator=g)
    p = a + 0.01 * torch.randn(8, 4, generator=g)
    assert float(triplet_loss(a, p, -a, margin=0.5)) == 0.0
    assert float(triplet_loss(a, p, a + 100.0, margin=0.5, normalise=False)) == 0.0


def _check_pairs(pairs: Pairs, v: int):
    pos = pairs.target == 1
    image_object = pairs.image_index // v
    assert torch.equal(image_object[pos], pairs.gaussian_index[pos])
    assert (image_object[~pos] != pairs.gaussian_index[~pos]).all()


@pytest.mark.parametrize(("mode", "fraction"), [("study", 2 / 3), ("balanced", 1 / 2)])
def test_make_pairs_proportions_and_correctness(mode, fraction):
    pairs = make_pairs(5, 2, mode, generator=torch.Generator().manual_seed(0))
    assert math.isclose(pairs.positive_fraction, fraction, rel_tol=1e-6)
    assert len(pairs) == (15 if mode == "study" else 20)
    # Every object's views appear once as positives, with its own Gaussians.
    assert torch.equal(pairs.image_index[pairs.target == 1].sort().values, torch.arange(10))
    _check_pairs(pairs, 2)
    _check_pairs(make_pairs(7, 3, mode, generator=torch.Generator().manual_seed(3)), 3)


def test_make_pairs_deterministic_and_errors():
    a = make_pairs(6, 2, generator=torch.Generator().manual_seed(4))
    b = make_pairs(6, 2, generator=torch.Generator().manual_seed(4))
    for x, y in zip((a.image_index, a.gaussian_index, a.target), (b.image_index, b.gaussian_index, b.target)):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="2 objects"):
        make_pairs(1, 2)
    with pytest.raises(ValueError, match="mode"):
        make_pairs(3, 2, "triplet")


def test_correspondence_loss_is_bce_by_hand():
    logits, target = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    sig = torch.sigmoid(logits)
    expected = -(torch.log(sig[0]) + torch.log(1 - sig[1]) + torch.log(1 - sig[2])) / 3
    assert math.isclose(float(correspondence_loss(logits, target)), float(expected), rel_tol=1e-5)
    weighted = -(3 * torch.log(sig[0]) + torch.log(1 - sig[1]) + torch.log(1 - sig[2])) / 3
    assert math.isclose(float(correspondence_loss(logits, target, 3.0)), float(weighted), rel_tol=1e-5)


def test_ssl_losses_total_is_triplet_plus_beta_correspondence():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    head = FusionHead(16, 8, hidden=32).eval()
    image_emb, gaussian_emb = torch.randn(4 * 2, 16, generator=g), torch.randn(4, 8, generator=g)
    pairs = make_pairs(4, 2, generator=g)
    out = ssl_losses(image_emb, gaussian_emb, head, pairs, beta=0.3, margin=0.5, normalise=True, generator=g)
    torch.testing.assert_close(out.total, out.triplet + 0.3 * out.correspondence)
    assert 0.0 <= float(out.correspondence_accuracy) <= 1.0 and not out.correspondence_accuracy.requires_grad
    with pytest.raises(ValueError, match="V ≥ 2"):
        ssl_losses(image_emb[:4], gaussian_emb, head, pairs, 0.3, 0.5, True)


@pytest.mark.parametrize("mode", ["concat", "compare"])
def test_fusion_head_modes_score_pairs_and_compare_sees_agreement(mode):
    head = FusionHead(16, 8, hidden=32, dropout=0.0, mode=mode)
    assert head(torch.randn(5, 16), torch.randn(5, 8)).shape == (5,)
    with pytest.raises(ValueError, match="unpaired"):
        head(torch.randn(5, 16), torch.randn(4, 8))
    with pytest.raises(ValueError, match="fusion mode"):
        FusionHead(16, 8, mode="bilinear")


def test_compare_head_learns_to_match_faster_than_concat():
    # Matching = "the two embeddings are the same vector": the product/difference features make it a
    # nearly linear problem, concatenation must learn the comparison.
    torch.manual_seed(0)
    x = torch.randn(256, 16)
    other = torch.randn(256, 16)
    same = torch.rand(256) < 0.5
    y = torch.where(same[:, None], x, other)

    def train(mode: str) -> float:
        torch.manual_seed(1)
        head = FusionHead(16, 16, hidden=32, dropout=0.0, mode=mode)
        optimiser = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(100):
            loss = correspondence_loss(head(x, y), same.float())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return float(((head(x, y) > 0) == same).float().mean())

    assert train("compare") > 0.95
    assert train("compare") >= train("concat")


def test_a_few_optimiser_steps_lower_the_total_loss():
    torch.manual_seed(0)
    objects, views = 4, 2
    images = torch.rand(objects * views, 3, 32, 32)
    gaussian_features = torch.randn(objects, 10)
    image_encoder = ImageEncoder(ImageEncoderConfig(embed_dim=64))
    gaussian_encoder = nn.Linear(10, 32)  # stand-in for PointNet
    head = FusionHead(64, 32, hidden=64, dropout=0.0)
    params = [*image_encoder.parameters(), *gaussian_encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3)
    pairs = make_pairs(objects, views, generator=torch.Generator().manual_seed(0))

    def step() -> tuple[float, float]:
        out = ssl_losses(
            image_encoder(images), gaussian_encoder(gaussian_features), head, pairs,
            beta=1.0, margin=0.5, normalise=True, generator=torch.Generator().manual_seed(1),
        )  # fmt: skip
        optimiser.zero_grad()
        out.total.backward()
        optimiser.step()
        return float(out.total.detach()), float(out.correspondence.detach())

    history = [step() for _ in range(10)]
    (total_first, corr_first), (total_last, corr_last) = history[0], history[-1]
    assert total_last < 0.6 * total_first, history
    assert corr_last < corr_first - 0.01, history  # the fusion head learns too, not only the triplet term


def test_info_nce_matches_a_per_row_softmax_and_rewards_alignment():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    t = 0.2
    # The slow twin: each row's softmax over the other modality, both directions, by hand.
    an, bn = (x / x.norm(dim=-1, keepdim=True) for x in (a, b))
    expected = 0.0
    for i in range(5):
        row = torch.stack([an[i] @ bn[j] / t for j in range(5)])
        col = torch.stack([bn[i] @ an[j] / t for j in range(5)])
        expected += -torch.log_softmax(row, 0)[i] - torch.log_softmax(col, 0)[i]
    torch.testing.assert_close(info_nce(a, b, t), expected / 10)
    torch.testing.assert_close(info_nce(a, b, t), info_nce(b, a, t))  # symmetric
    assert info_nce(a, a, 0.05) < 0.01 < math.log(5) - 0.5 < info_nce(a, b, t) + 1.0
    with pytest.raises(ValueError, match="B ≥ 2"):
        info_nce(a[:1], b[:1], t)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(a, b, 0.0)


def test_ssl_losses_add_gamma_infonce_over_views():
    g = torch.Generator().manual_seed(1)
    head = FusionHead(8, 8, hidden=16).eval()
    image_emb, gaussian_emb = torch.randn(4 * 3, 8, generator=g), torch.randn(4, 8, generator=g)
    pairs = make_pairs(4, 3, generator=g)
    off = ssl_losses(image_emb, gaussian_emb, head, pairs, 0.3, 0.5, True, torch.Generator().manual_seed(2))
    on = ssl_losses(
        image_emb, gaussian_emb, head, pairs, 0.3, 0.5, True, torch.Generator().manual_seed(2), 0.7, 0.1
    )
    assert float(off.infonce) == 0.0
    per_view = image_emb.view(4, 3, 8)
    expected = torch.stack([info_nce(per_view[:, v], gaussian_emb, 0.1) for v in range(3)]).mean()
    torch.testing.assert_close(on.infonce, expected)
    torch.testing.assert_close(on.total, off.total + 0.7 * expected)
