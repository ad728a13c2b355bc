"""Point sampling: FPS against its slow oracle, ties, batching, prefix consistency, seeds; uniform draws;
ball query against its oracle, padding and the nearest-point fallback."""

from __future__ import annotations

import pytest
import torch

from gs_perception.core.sampling import (
    ball_query,
    ball_query_reference,
    farthest_point_sample,
    farthest_point_sample_reference,
    uniform_sample,
)


def _points(n: int, seed: int, dtype: torch.dtype = torch.float32, duplicates: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(n, 3, generator=g, dtype=dtype)
    if duplicates:
        # Copies of earlier points make exact distance ties, including ties at distance zero.
        src = torch.randint(n - duplicates, (duplicates,), generator=g)
        pts[n - duplicates :] = pts[src]
    return pts


@pytest.mark.parametrize(
    ("num", "n", "start", "dtype", "duplicates"),
    [
        (5, 5, 0, torch.float32, 0),
        (17, 9, 3, torch.float64, 0),
        (64, 20, 63, torch.float32, 0),
        (200, 30, 11, torch.float64, 0),
        (40, 40, 7, torch.float32, 15),
        (120, 25, 2, torch.float64, 60),
    ],
)
def test_fps_matches_reference(num, n, start, dtype, duplicates):
    pts = _points(num, seed=num + n, dtype=dtype, duplicates=duplicates)
    got = farthest_point_sample(pts, n, start=start)
    assert got.dtype == torch.long and got.shape == (n,)
    assert torch.equal(got, farthest_point_sample_reference(pts, n, start=start))


def test_fps_matches_reference_on_an_integer_grid():
    # Integer coordinates make many exactly equal squared distances: the tie rule decides most steps.
    pts = torch.cartesian_prod(*[torch.arange(4.0)] * 3)[
        torch.randperm(64, generator=torch.Generator().manual_seed(0))
    ]
    for start in (0, 21):
        assert torch.equal(
            farthest_point_sample(pts, 40, start=start), farthest_point_sample_reference(pts, 40, start)
        )


def test_fps_on_a_line_by_hand():
    pts = torch.zeros(11, 3)
    pts[:, 0] = torch.arange(11.0)
    # 0, then the far end 10, then the middle 5; next the four points at distance 2 from the set tie
    # (2, 3, 7, 8) and the lowest wins; then 7 (still 2 from the set), then the rest, all at distance 1.
    expected = [0, 10, 5, 2, 7, 1, 3, 4, 6, 8, 9]
    assert farthest_point_sample(pts, 11).tolist() == expected
    assert farthest_point_sample_reference(pts, 11).tolist() == expected


def test_all_identical_points_give_a_permutation():
    pts = torch.ones(6, 3)
    assert farthest_point_sample(pts, 6, start=4).tolist() == [4, 0, 1, 2, 3, 5]


def test_n_equal_n_is_a_permutation_and_prefix_consistent():
    pts = _points(50, seed=1, duplicates=10)
    full = farthest_point_sample(pts, 50, start=5)
    assert sorted(full.tolist()) == list(range(50))
    for m in (0, 1, 2, 13, 49):
        assert torch.equal(farthest_point_sample(pts, m, start=5), full[:m])


def test_batched_equals_per_item():
    pts = torch.stack([_points(30, seed=s, duplicates=5 * s) for s in range(4)])
    starts = torch.tensor([0, 29, 3, 17])
    got = farthest_point_sample(pts, 12, start=starts)
    assert got.shape == (4, 12)
    for b in range(4):
        assert torch.equal(got[b], farthest_point_sample(pts[b], 12, start=int(starts[b])))
    # An int start applies to every item.
    same = farthest_point_sample(pts, 12, start=3)
    assert (same[:, 0] == 3).all() and torch.equal(same[2], got[2])


def test_generator_start_is_deterministic_and_seeded():
    pts = _points(100, seed=2)

    def sample(seed: int) -> torch.Tensor:
        return farthest_point_sample(pts, 10, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(7), sample(7))
    expected_start = int(torch.randint(100, (1,), generator=torch.Generator().manual_seed(7)))
    assert int(sample(7)[0]) == expected_start
    assert len({int(sample(seed)[0]) for seed in range(8)}) > 1
    assert int(farthest_point_sample(pts, 10)[0]) == 0


def test_fps_errors():
    pts = _points(8, seed=3)
    with pytest.raises(ValueError, match=r"n=9.*N=8"):
        farthest_point_sample(pts, 9)
    with pytest.raises(ValueError, match=r"n=9.*N=8"):
        farthest_point_sample_reference(pts, 9)
    with pytest.raises(ValueError, match="out of range"):
        farthest_point_sample(pts, 3, start=8)
    with pytest.raises(ValueError, match="batch"):
        farthest_point_sample(pts[None].repeat(2, 1, 1), 3, start=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="points must be"):
        farthest_point_sample(pts[:, :2], 3)


def test_fps_half_precision_input():
    pts = _points(40, seed=4).half()
    assert torch.equal(
        farthest_point_sample(pts, 10, start=1), farthest_point_sample(pts.float(), 10, start=1)
    )


def test_uniform_sample():
    idx = uniform_sample(100, 30, generator=torch.Generator().manual_seed(0))
    assert idx.dtype == torch.long and idx.shape == (30,)
    assert len(set(idx.tolist())) == 30 and int(idx.min()) >= 0 and int(idx.max()) < 100
    again = uniform_sample(100, 30, generator=torch.Generator().manual_seed(0))
    other = uniform_sample(100, 30, generator=torch.Generator().manual_seed(1))
    assert torch.equal(idx, again) and not torch.equal(idx, other)
    assert sorted(uniform_sample(10, 10).tolist()) == list(range(10))
    assert uniform_sample(5, 0).shape == (0,)
    with pytest.raises(ValueError, match=r"n=11.*N=10"):
        uniform_sample(10, 11)


@pytest.mark.parametrize(
    ("num", "m", "radius", "k", "dtype"),
    [
        (64, 16, 0.5, 8, torch.float32),
        (64, 16, 1.0, 32, torch.float32),
        (100, 30, 0.3, 4, torch.float64),
        (50, 20, 2.5, 64, torch.float32),  # k > N: every list is padded
        (80, 10, 0.0, 3, torch.float32),  # only exact coincidences are in the ball
    ],
)
def test_ball_query_matches_reference(num, m, radius, k, dtype):
    pts = torch.stack([_points(num, seed=s, dtype=dtype, duplicates=num // 5) for s in range(2)])
    # Half the centres are points (FPS, as in PointNet++), half are arbitrary positions.
    fps = farthest_point_sample(pts, m // 2)
    off = torch.randn(2, m - m // 2, 3, generator=torch.Generator().manual_seed(num), dtype=dtype)
    centres = torch.cat([torch.stack([pts[b, fps[b]] for b in range(2)]), off], dim=1)
    got = ball_query(pts, centres, radius, k)
    assert got.dtype == torch.long and got.shape == (2, m, k)
    for b in range(2):
        assert torch.equal(got[b], ball_query_reference(pts[b], centres[b], radius, k))
        assert torch.equal(ball_query(pts[b : b + 1], centres[b : b + 1], radius, k)[0], got[b])


def test_ball_query_padding_and_fallback_by_hand():
    pts = torch.zeros(6, 3)
    pts[:, 0] = torch.tensor([0.0, 5.0, 0.5, 10.0, 0.9, 1.5])
    centres = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [7.4, 0.0, 0.0], [0.2, 0.0, 0.0]]])
    got = ball_query(pts[None], centres, radius=1.0, k=4)
    expected = [
        [0, 2, 4, 0],  # three in the ball (1.5 is not), padded with the first
        [1, 1, 1, 1],  # a centre that is a point finds itself
        [1, 1, 1, 1],  # empty ball: nearest point (5 at 2.4, 10 at 2.6)
        [0, 2, 4, 0],
    ]
    assert got[0].tolist() == expected
    assert ball_query_reference(pts, centres[0], 1.0, 4).tolist() == expected
    # The boundary is inclusive, and k = 1 keeps only the first index.
    assert ball_query(pts[None], centres[:, :1], radius=0.9, k=2)[0].tolist() == [[0, 2]]
    assert ball_query(pts[None], centres, radius=1.0, k=1)[0, :, 0].tolist() == [0, 1, 1, 0]


def test_ball_query_nearest_fallback_ties_and_blocks(monkeypatch):
    # Equidistant nearest points: the lowest index wins, as in the reference.
    pts = torch.tensor([[3.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    got = ball_query(pts[None], torch.zeros(1, 1, 3), radius=1.0, k=3)
    assert got.tolist() == [[[1, 1, 1]]] == [ball_query_reference(pts, torch.zeros(1, 3), 1.0, 3).tolist()]
    # A tiny block budget splits the centres into many blocks without changing the answer.
    pts = _points(40, seed=9)[None].repeat(2, 1, 1)
    centres = pts[:, :25] + 0.05
    whole = ball_query(pts, centres, 0.7, 6)
    monkeypatch.setattr("gs_perception.core.sampling._BALL_QUERY_BLOCK", 7 * 2 * 40)
    assert torch.equal(ball_query(pts, centres, 0.7, 6), whole)


def test_ball_query_errors():
    pts = _points(8, seed=3)[None]
    with pytest.raises(ValueError, match="must be"):
        ball_query(pts[0], pts[0], 1.0, 2)
    with pytest.raises(ValueError, match="batch"):
        ball_query(pts, pts.repeat(2, 1, 1), 1.0, 2)
    with pytest.raises(ValueError, match="k=0"):
        ball_query(pts, pts, 1.0, 0)
    with pytest.raises(ValueError, match="radius=-1"):
        ball_query(pts, pts, -1.0, 2)
    assert ball_query(pts, pts[:, :0], 1.0, 2).shape == (1, 0, 2)


@pytest.mark.gpu
class TestCuda:
    def test_cuda_fps_matches_cpu(self):
        pts = torch.stack([_points(2000, seed=s, duplicates=100) for s in range(3)])
        starts = torch.tensor([0, 5, 1999])
        cpu = farthest_point_sample(pts, 256, start=starts)
        gpu = farthest_point_sample(pts.cuda(), 256, start=starts.cuda())
        assert gpu.device.type == "cuda"
        assert torch.equal(gpu.cpu(), cpu)

    def test_cuda_generator_start_and_uniform(self):
        pts = _points(500, seed=5).cuda()
        g = torch.Generator(device="cuda").manual_seed(3)
        idx = farthest_point_sample(pts, 50, generator=g)
        assert idx.device.type == "cuda" and len(set(idx.tolist())) == 50
        u = uniform_sample(500, 50, generator=torch.Generator().manual_seed(0), device="cuda")
        assert u.device.type == "cuda" and len(set(u.tolist())) == 50

    def test_cuda_ball_query_matches_cpu(self):
        pts = torch.stack([_points(2048, seed=s, duplicates=100) for s in range(3)])
        centres = torch.cat([pts[:, :300], pts[:, 300:400] * 3.0], dim=1)
        for radius, k in ((0.2, 32), (0.4, 64), (0.0, 2)):
            cpu = ball_query(pts, centres, radius, k)
            gpu = ball_query(pts.cuda(), centres.cuda(), radius, k)
            assert gpu.device.type == "cuda"
            assert torch.equal(gpu.cpu(), cpu)
