"""The online subcommands as users run them: exit codes and one-line errors of replay and demo."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from gs_perception.cli import build_parser, main
from gs_perception.data.sim import SimConfig, simulate
from gs_perception.ros.sim_bag import SimTopics, write_sim_bag

SMALL = SimConfig(width=32, height=24, frames=6)
FAST = ["--quiet", "--pipeline-memory-steps-per-keyframe", "2", "--pipeline-memory-working-min-width", "32"]


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    return write_sim_bag(simulate(SMALL), tmp_path_factory.mktemp("cli") / "sim").path


def error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.slow
def test_replay_refuses_an_existing_output_in_one_line_and_overwrite_replaces_it(tmp_path, bag, capsys):
    out = tmp_path / "out"
    assert main(["replay", str(bag), "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    assert main(["replay", str(bag), "--out", str(out), *FAST]) == 2
    assert error_lines(capsys) == [
        f"gs-perception replay: error: output {out} exists already: pass --overwrite to replace it"
    ]
    (out / "earlier.txt").write_text("replaced by the rerun")
    assert main(["replay", str(bag), "--out", str(out), *FAST, "--overwrite"]) == 0
    assert not (out / "earlier.txt").exists()
    assert json.loads((out / "metrics.json").read_text())["metrics"]["frames"] == 6


@pytest.mark.parametrize("name", ["noise.mcap", "noise.db3"])
def test_replay_of_a_garbage_file_is_one_line_naming_it(tmp_path, capsys, name):
    garbage = tmp_path / name
    garbage.write_bytes(os.urandom(4096))
    assert main(["replay", str(garbage), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith(f"gs-perception replay: error: cannot read {garbage}: not a readable ROS 2")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_replay_without_the_pose_topic_names_it_and_the_flag_that_remaps_it(tmp_path, capsys):
    moved = write_sim_bag(simulate(SMALL), tmp_path / "sim", topics=SimTopics(pose="/robot/pose")).path
    out = tmp_path / "out"
    assert main(["replay", str(moved), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "/camera/pose (geometry_msgs/msg/PoseStamped) is not in the bag: remap with --topics-pose" in err
    assert "/robot/pose  geometry_msgs/msg/PoseStamped  (6 messages)" in err and not out.exists()
    flags = set(re.findall(r"--topics-[a-z-]+", err))
    assert {"--topics-image", "--topics-camera-info", "--topics-pose", "--topics-tf"} <= flags
    for flag in flags:  # every flag the message names is one the command takes
        build_parser().parse_args(["replay", "b", "--out", "o", flag, "x"])
    assert main(["replay", str(moved), "--out", str(out), *FAST, "--topics-pose", "/robot/pose"]) == 0


def test_demo_refuses_a_shape_together_with_a_mesh(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--out", str(tmp_path), "--shape", "mug", "--mesh", str(tmp_path / "cup.obj")])
    assert caught.value.code == 2
    assert "argument --mesh: not allowed with argument --shape" in capsys.readouterr().err


def test_demo_refuses_a_shape_together_with_sim_objects(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--shape", "mug", "--sim-objects", "bed", "--quiet"]) == 2
    assert error_lines(capsys) == [
        "gs-perception demo: error: give the object once: --shape, --mesh or --sim-objects"
    ]
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_capture_without_depth_replays_at_the_depth_the_memory_finds(tmp_path, capsys):
    from gs_perception.data.capture_synth import SyntheticCaptureConfig, write_synthetic_capture
    from gs_perception.ros.bag_io import bag_topics

    config = SyntheticCaptureConfig(views=24, width=48, height=64, missing=(3,))
    capture = write_synthetic_capture(tmp_path / "capture", config)
    bag = tmp_path / "bag"
    assert main(["capture-bag", str(capture), "--out", str(bag), "--test-every", "6"]) == 0
    assert "19 photos + 4 held out" in capsys.readouterr().out  # 23 of 24 listed photos exist
    topics = bag_topics(bag)
    assert "/camera/depth/image_raw" not in topics and "/eval/image_raw" in topics
    flags = [
        "--quiet",
        "--pipeline-memory-working-min-width",
        "48",
        "--pipeline-memory-steps-per-keyframe",
        "8",
    ]
    metrics = {}
    for name, extra in (("found", []), ("fixed 1.5 m", ["--pipeline-memory-default-depth-m", "1.5"])):
        assert main(["replay", str(bag), "--out", str(tmp_path / name), *flags, *extra]) == 0
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]
    assert "optical axes of" in metrics["found"]["insertion_depth"]
    assert "insertion depth: no depth images: " in capsys.readouterr().out
    found, fixed = (metrics[k] for k in ("found", "fixed 1.5 m"))
    # Measured: found 17.8 dB with 1.9k Gaussians (told the true 5 m: 17.8 dB); the old fixed 1.5 m 14.8 dB
    # with 9.6k, a ghost copy of the scene per view.
    assert found["heldout_psnr_db"] >= fixed["heldout_psnr_db"] + 2.0
    assert found["final_gaussians"] < fixed["final_gaussians"] / 3


@pytest.mark.slow
def test_a_fresh_checkouts_demo_names_the_object_with_the_shipped_bundle(tmp_path, monkeypatch, capsys):
    from gs_perception.cli_online import SHIPPED_BUNDLE
    from gs_perception.models.bundle import load_bundle

    assert SHIPPED_BUNDLE.stat().st_size <= 25e6
    shipped = load_bundle(SHIPPED_BUNDLE)
    assert shipped.classifier is not None and "chair" in shipped.class_names
    assert shipped.provenance["packed"]["weights"] == "int8"
    monkeypatch.chdir(tmp_path)  # no runs/shapes10/eval/bundle.pt here, as on a fresh clone
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "classes from the shipped demo bundle" in out
    metrics = json.loads((tmp_path / "demo" / "replay" / "metrics.json").read_text())["metrics"]
    # Measured: chair 7 (a test object of the presets) is a chair, probability 0.28, in 24 s on 2 cores.
    assert metrics["predicted"] == ["chair"] and metrics["accuracy"] == 1.0
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 0
