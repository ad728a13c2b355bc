"""PSNR and SSIM on hand-made inputs."""

from __future__ import annotations

import math

import torch

from gs_perception.core.metrics import psnr, ssim


def test_psnr_of_a_known_error():
    a = torch.zeros(1, 8, 8, 3)
    b = torch.full((1, 8, 8, 3), 0.1)  # MSE 0.01 → 20 dB
    assert math.isclose(float(psnr(a, b)), 20.0, rel_tol=1e-5)


def test_ssim_is_one_for_identical_and_drops_with_noise_and_is_differentiable():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 32, 32, 3, generator=g)
    assert math.isclose(float(ssim(img, img)), 1.0, abs_tol=1e-6)
    noisy = (img + 0.2 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    assert float(ssim(noisy, img)) < 0.9
    shifted = (img + 0.05).clamp(0, 1)  # a brightness shift hurts SSIM far less than noise
    assert float(ssim(shifted, img)) > float(ssim(noisy, img))
    x = noisy.clone().requires_grad_(True)
    (1 - ssim(x, img)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
