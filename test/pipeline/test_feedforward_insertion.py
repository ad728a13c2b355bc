"""Feed-forward insertion: the predictor file round trip, proposals on the right pixels, and the memory
inserting predicted Gaussians only where it does not explain a keyframe."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from gs_perception.core.cameras import Intrinsics, look_at, project_points
from gs_perception.core.frames import Frame
from gs_perception.core.gaussians import GaussianCloud
from gs_perception.core.memory import GaussianMemory, MemoryConfig
from gs_perception.core.memory.keyframes import working_keyframe
from gs_perception.core.memory.proposals import object_centre
from gs_perception.models.splatter import SplatterConfig, SplatterImage
from gs_perception.models.splatter_file import PredictorInfo, load_predictor, save_predictor
from gs_perception.pipeline.feedforward import PredictorConfig, SplatterProposer, image_window, object_window
from gs_perception.pipeline.step import Pipeline, PipelineConfig

SMALL = SplatterConfig(channels=(8, 16), layers=2)
INFO = PredictorInfo((32, 32), (1.0, 1.0, 1.0), 1.0)


@pytest.fixture()
def predictor_file(tmp_path):
    torch.manual_seed(0)
    return save_predictor(tmp_path / "predictor.pt", SplatterImage(SMALL), INFO)


def _frame(width: int = 30, height: int = 22, stamp_ns: int = 0) -> Frame:
    """A dark square on white, 3 m in front of a camera at (3, 0, 0.5) looking at the origin."""
    rgb = torch.ones(height, width, 3)
    rgb[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 0.2
    T = look_at(torch.tensor([3.0, 0.0, 0.5]), torch.zeros(3))
    return Frame(rgb, Intrinsics.from_fov(math.radians(40), width, height), T, stamp_ns)


def test_predictor_file_round_trip_gives_the_same_predictions(predictor_file):
    model, info = load_predictor(predictor_file)
    torch.manual_seed(0)
    original = SplatterImage(SMALL).eval()
    assert info == INFO and model.config == SMALL
    images, K = torch.rand(1, 16, 16, 3), Intrinsics.from_fov(1.0, 16, 16).K()[None]
    T, depth_range = torch.eye(4)[None], torch.tensor([[2.0, 4.0]])
    with torch.no_grad():
        a, b = model(images, K, T, depth_range), original(images, K, T, depth_range)
    assert torch.equal(a.means, b.means) and torch.equal(a.opacity_logits, b.opacity_logits)


def test_a_foreign_or_truncated_file_is_refused_naming_it(tmp_path, predictor_file):
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a predictor file"):
        load_predictor(tmp_path / "other.pt")
    (tmp_path / "cut.pt").write_bytes(predictor_file.read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.pt: not a readable predictor file"):
        load_predictor(tmp_path / "cut.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_predictor(tmp_path / "missing.pt")


@pytest.mark.parametrize("framing", ["image", "object"])
def test_proposals_sit_on_their_pixels_rays_for_an_odd_sized_keyframe(predictor_file, framing):
    frame = _frame()  # 30 × 22: padded to 32 × 24 for the U-Net, the padding proposes nothing
    kf = working_keyframe(frame, 1.0, torch.ones(3), torch.device("cpu"))
    every = SplatterProposer(PredictorConfig(str(predictor_file), stride=1, layers=0, framing=framing))
    proposal = every(kf, torch.zeros(3))
    if framing == "image":
        assert proposal.cloud.num == SMALL.layers * 30 * 22
    assert proposal.pixels[:, 0].max() == 29 and proposal.pixels[:, 1].max() == 21
    # an untrained head predicts small offsets: every Gaussian projects near its own pixel's centre
    uv, z = project_points(proposal.cloud.means, kf.T_world_cam, kf.K)
    assert (z > 1.9).all() and (z < 4.1).all()  # inside the ball of radius 1 around the centre, 3 m away
    assert (uv - (proposal.pixels + 0.5)).abs().max() < 1.0


def test_the_object_window_frames_the_ball_as_training_did_and_is_a_camera_of_its_own():
    kf = working_keyframe(_frame(), 1.0, torch.ones(3), torch.device("cpu"))
    centre = torch.tensor([0.0, 0.3, 0.2])  # off the optical axis
    info = PredictorInfo((32, 32), (1.0, 1.0, 1.0), 1.0, ball_fraction=0.8)
    window = object_window(kf.K, kf.T_world_cam, centre, 0.5, info)
    K = window.intrinsics(kf.K)
    uv, z = project_points(centre[None], kf.T_world_cam, K)
    assert torch.allclose(uv[0], torch.tensor([16.0, 16.0]), atol=1e-4)  # centred in the window
    rho = float(torch.sqrt(K[0, 0] * K[1, 1])) * 0.5 / float(z[0])
    assert abs(rho - 0.8 * 16) < 1e-3  # the ball fills 80 % of half the window
    points = torch.randn(50, 3) * 0.3
    in_keyframe, _ = project_points(points, kf.T_world_cam, kf.K)
    in_window, _ = project_points(points, kf.T_world_cam, K)
    expected = (in_keyframe - torch.tensor([window.x0, window.y0])) * window.scale
    assert torch.allclose(in_window, expected, atol=1e-3)


def test_the_whole_image_window_resamples_to_the_padded_image_exactly():
    image, background = torch.rand(22, 30, 3), torch.tensor([1.0, 0.5, 0.0])
    window = image_window(30, 22, 8)
    assert (window.width, window.height) == (32, 24)
    padded = background.expand(24, 32, 3).clone()
    padded[:22, :30] = image
    assert torch.allclose(window.resample(image, background), padded, atol=1e-6)


def test_proposals_are_sampled_like_alpha_insertion_and_enlarged_to_cover_the_gaps(predictor_file):
    kf = working_keyframe(_frame(), 1.0, torch.ones(3), torch.device("cpu"))
    image = PredictorConfig(str(predictor_file), framing="image")
    every = SplatterProposer(replace(image, stride=1, layers=0))(kf, torch.zeros(3))
    sampled = SplatterProposer(image)(kf, torch.zeros(3))  # stride 2, layer 1
    assert sampled.cloud.num == 15 * 11  # u = 1, 3, …, 29 and v = 1, 3, …, 21 of the front layer
    assert ((sampled.pixels - 1) % 2 == 0).all()
    front = {tuple(p): i for i, p in enumerate(every.pixels[: 30 * 22].tolist())}
    index = torch.tensor([front[tuple(p)] for p in sampled.pixels.tolist()])
    assert torch.allclose(sampled.cloud.means, every.cloud.means[index])
    assert torch.allclose(sampled.cloud.scales(), 2.0 * every.cloud.scales()[index])


def test_memory_inserts_predicted_gaussians_only_where_it_does_not_explain_the_keyframe(predictor_file):
    # default_depth_m: without depth the memory expects the object this far along the axis (the origin)
    config = MemoryConfig(insertion="predicted", threaded=False, steps_per_keyframe=0, working_min_width=30,
                          keyframe_min_interval_s=0.0, max_gaussians=10_000,
                          default_depth_m=3.04)  # fmt: skip
    every = SplatterProposer(PredictorConfig(str(predictor_file), stride=1, layers=0))
    memory = GaussianMemory(config, every)
    first = memory.add_frame(_frame())
    # without depth, the unexplained pixels of an empty memory are those unlike the background: the square
    square = (_frame().rgb[..., 0] < 0.5).sum().item()
    assert first.keyframe and first.inserted == SMALL.layers * square
    turned = _frame(stamp_ns=10**9)
    turned.T_world_cam = look_at(torch.tensor([2.9, 0.8, 0.5]), torch.zeros(3))
    second = memory.add_frame(turned)
    assert second.keyframe and second.inserted < 0.5 * first.inserted  # the memory covers most of it


def test_predicted_insertion_needs_a_predictor_and_an_unused_one_warns(predictor_file):
    with pytest.raises(ValueError, match="needs a predictor"):
        GaussianMemory(MemoryConfig(insertion="predicted"))
    with pytest.raises(ValueError, match="needs predictor.path"):
        Pipeline(PipelineConfig(memory=MemoryConfig(insertion="predicted+alpha")))
    with pytest.warns(RuntimeWarning, match="is unused"):
        Pipeline(PipelineConfig(predictor=PredictorConfig(str(predictor_file))))


def test_the_expected_object_centre_comes_from_depth_then_the_insertion_depth_or_the_memory():
    frame = _frame()
    frame.depth = torch.full((22, 30), 2.0)  # a wall 2 m in front of the camera
    kf = working_keyframe(frame, 1.0, torch.ones(3), torch.device("cpu"))
    eye, axis = kf.T_world_cam[:3, 3], kf.T_world_cam[:3, 2]
    empty = GaussianCloud.from_points(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0), 0.5, 0)
    cloud = GaussianCloud.from_points(
        torch.tensor([[0.5, 0.0, 0.0], [0.7, 0.0, 0.0]]), torch.ones(2, 3), torch.full((2,), 0.1), 0.9, 0
    )
    assert torch.allclose(object_centre(kf, cloud, 1.5), eye + 2.0 * axis, atol=0.05)
    kf.depth = torch.zeros(kf.depth.shape)  # a depth image without a valid pixel: the memory, then the axis
    assert torch.allclose(object_centre(kf, cloud, 1.5), torch.tensor([0.6, 0.0, 0.0]))
    assert torch.allclose(object_centre(kf, empty, 1.5), eye + 1.5 * axis)
    kf.depth = None  # no depth image: where the memory inserts this keyframe, whatever it holds
    assert torch.allclose(object_centre(kf, cloud, 2.5), eye + 2.5 * axis)


def test_without_depth_predictions_wait_for_the_converging_axes_and_land_on_the_object(predictor_file):
    """The first depthless keyframe cannot know the object's distance: its prediction waits with it until
    the optical axes converge, then sits around the object (3 m away, at the origin), not at the fallback."""
    config = MemoryConfig(insertion="predicted", threaded=False, steps_per_keyframe=0, working_min_width=30,
                          keyframe_min_interval_s=0.0, max_gaussians=10_000)  # fmt: skip
    memory = GaussianMemory(
        config, SplatterProposer(PredictorConfig(str(predictor_file), stride=1, layers=0))
    )
    assert memory.add_frame(_frame()).inserted == 0  # waiting: one keyframe gives no convergence
    turned = _frame(stamp_ns=10**9)
    turned.T_world_cam = look_at(torch.tensor([2.0, 2.2, 0.5]), torch.zeros(3))
    assert memory.add_frame(turned).inserted > 0  # both keyframes, now that the axes meet at the origin
    means = memory.snapshot().means
    assert float(means.norm(dim=1).median()) < 1.0  # inside the object's ball, not 1.5 m from the cameras


def test_a_predictor_file_from_before_attention_and_framing_loads_as_it_was_built(tmp_path):
    torch.manual_seed(0)
    old = SplatterImage(SplatterConfig(channels=(8, 16), attention_heads=0))
    path = save_predictor(tmp_path / "old.pt", old, INFO)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["attention_heads"]  # what train-ff wrote before these fields existed
    del payload["info"]["ball_fraction"]
    torch.save(payload, path)
    model, info = load_predictor(path)
    assert model.config.attention_heads == 0
    assert abs(info.ball_fraction - 1 / 3 / math.tan(math.radians(20))) < 1e-3  # generate-dataset's cameras
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), old.state_dict().values()))
