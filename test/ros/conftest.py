"""Fixtures of the ros tests: a tiny bundle, and live ROS 2 graphs (real node processes on loopback).

A live test starts the nodes' console scripts (what ``ros2 run`` starts) as processes with their own
``ROS_DOMAIN_ID`` (discovery on localhost only) and talks to them from an rclpy client in the test process, in
a context of its own on that domain (gs_perception/ros/testing.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gs_perception.ros.testing import LiveGraph

CLASSES = ("bed", "chair", "table")


def make_tiny_bundle(path: Path) -> Path:
    """A tiny untrained bundle whose classifier always says 'chair' (bias), to test the plumbing."""
    from gs_perception.models.bundle import FeatureSpec, LinearClassifier, save_bundle
    from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
    from gs_perception.models.image_encoder import ImageEncoderConfig
    from gs_perception.models.pointnet import GaussianEncoderConfig
    from gs_perception.train.datasets import SampleConfig

    torch.manual_seed(0)
    config = DualEncoderConfig(
        image=ImageEncoderConfig(embed_dim=16), gaussian=GaussianEncoderConfig(embed_dim=16)
    )
    model = DualEncoder(config, in_channels=11).eval()
    spec = FeatureSpec.from_configs(
        SampleConfig(num_points=128, feature_groups=("xyz", "scale", "rot", "opacity")),
        (32, 32),
        (1.0, 1.0, 1.0),
    )
    classifier = LinearClassifier(
        "image",
        mean=torch.zeros(16),
        scale=torch.ones(16),
        weight=torch.zeros(3, 16),
        bias=torch.tensor([0.0, 5.0, 0.0]),
    )
    return save_bundle(path, model, spec, CLASSES, classifier)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "bundle.pt")


@pytest.fixture
def live_graph(tmp_path: Path) -> Iterator[LiveGraph]:
    graph = LiveGraph(tmp_path)
    try:
        yield graph
    finally:
        graph.close()


@pytest.fixture(scope="module")
def module_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGraph]:
    graph = LiveGraph(tmp_path_factory.mktemp("graph"))
    try:
        yield graph
    finally:
        graph.close()


@pytest.fixture(scope="session")
def tiny_replay(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Path:
    """A finished replay folder of an 8-frame 64×48 sim bag (2 held-out frames, recognition twice, the
    report written), with ``recording.rrd`` inside when rerun-sdk is installed. Read-only for tests: copy it
    before changing anything. The input bag is ``<root>/sim`` beside it."""
    import importlib.util

    from gs_perception.core.memory import MemoryConfig
    from gs_perception.data.sim import SimConfig, simulate
    from gs_perception.pipeline.recognition import RecognitionConfig
    from gs_perception.pipeline.step import PipelineConfig
    from gs_perception.ros.replay import ReplayConfig, replay
    from gs_perception.ros.sim_bag import write_sim_bag

    root = tmp_path_factory.mktemp("tiny_replay")
    write_sim_bag(
        simulate(SimConfig(width=64, height=48, frames=8, held_out_every=4, rate_hz=4.0)), root / "sim"
    )
    memory = MemoryConfig(
        working_min_width=64, steps_per_keyframe=15, keyframe_min_interval_s=0.0, threaded=False
    )
    recognition = RecognitionConfig(bundle=str(tiny_bundle), num_views=2, min_gaussians=20)
    rerun = str(root / "out" / "recording.rrd") if importlib.util.find_spec("rerun") else ""
    config = ReplayConfig(
        pipeline=PipelineConfig(memory=memory, recognition=recognition, recognise_every=4), rerun=rerun
    )
    replay(root / "sim", root / "out", config, show_progress=False)
    return root / "out"
