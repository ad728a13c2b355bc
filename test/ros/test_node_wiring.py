"""The nodes' ROS-free wiring: warning throttle, TF poses that wait for their transform, launch overrides,
lazy message classes, and what happens without ROS or without a message package."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gs_perception.ros.launch_overrides import PERCEPTION_OVERRIDES, parameter_overrides
from gs_perception.ros.perception_callbacks import WarningThrottle
from gs_perception.ros.tf_buffer import TfBuffer
from gs_perception.ros.tf_poses import PendingPoses
from gs_perception.ros.typestore import MessageTypes, MissingMessagePackageError

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000


def test_warning_throttle_logs_once_per_kind_per_period():
    logged = []
    warn = WarningThrottle(logged.append, period_s=5.0)
    assert warn("image", "a", now_s=0.0) and not warn("image", "b", now_s=4.9)
    assert warn("pose", "c", now_s=4.9)  # another kind is not held back
    assert warn("image", "d", now_s=5.0)
    assert logged == ["a", "c", "d"]


def _T(x: float) -> np.ndarray:
    T = np.eye(4)
    T[0, 3] = x
    return T


def test_an_image_waits_for_the_transform_at_its_stamp_and_gets_the_interpolated_pose():
    buffer, pending = TfBuffer(), PendingPoses("world", timeout_s=1.0)
    buffer.set_transform("world", "cam", 1 * S, _T(1.0))
    pending.add(2 * S, "cam", now_s=10.0)  # the image is ahead of TF: it waits, never "the latest"
    assert pending.resolve(buffer, now_s=10.1) == ([], []) and len(pending) == 1
    buffer.set_transform("world", "cam", 3 * S, _T(3.0))
    (poses, dropped) = pending.resolve(buffer, now_s=10.2)
    assert dropped == [] and len(pending) == 0
    assert poses[0][0] == 2 * S and poses[0][1][0, 3] == pytest.approx(2.0)


def test_a_stamp_without_transform_is_dropped_after_the_timeout_with_the_reason():
    buffer, pending = TfBuffer(), PendingPoses("world", timeout_s=0.5, max_pending=2)
    buffer.set_transform("world", "cam", 1 * S, _T(1.0))
    pending.add(5 * S, "cam", now_s=0.0)
    pending.add(6 * S, "nowhere", now_s=0.0)
    assert pending.add(7 * S, "cam", now_s=0.0) == [(5 * S, "too many images waiting for their TF")]
    assert pending.resolve(buffer, now_s=0.4) == ([], [])
    poses, dropped = pending.resolve(buffer, now_s=0.6)
    assert poses == [] and [s for s, _ in dropped] == [6 * S, 7 * S]
    assert "world → nowhere" in dropped[0][1] and "world → cam" in dropped[1][1]


def test_launch_arguments_left_empty_override_nothing_and_given_ones_are_typed():
    assert parameter_overrides({name: "" for name in PERCEPTION_OVERRIDES}) == {}
    given = parameter_overrides({"bundle": "b.pt", "use_sim_time": "True", "qos_reliability": "reliable"})
    assert given == {
        "pipeline.recognition.bundle": "b.pt",
        "use_sim_time": True,
        "qos_reliability": "reliable",
    }
    with pytest.raises(ValueError, match="use_sim_time"):
        parameter_overrides({"use_sim_time": "yes please"})


def _launch_arguments(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return {k.value: v.elts[0] for k, v in zip(node.value.keys, node.value.values)}
    raise AssertionError(f"{path}: no ARGUMENTS")


def test_perception_launch_lets_the_yaml_win_unless_an_argument_is_given():
    path = ROOT / "launch" / "perception.launch.py"
    arguments = _launch_arguments(path)
    for name in PERCEPTION_OVERRIDES:  # an empty default means "not given"
        assert isinstance(arguments[name], ast.Constant) and arguments[name].value == "", name
    text = path.read_text()
    assert 'parameters=[arg("config"), parameter_overrides(given)]' in text  # YAML first, then given args
    sim_objects = _launch_arguments(ROOT / "launch" / "sim.launch.py")["objects"]
    assert isinstance(sim_objects, ast.Constant) and sim_objects.value == ""  # same rule for sim.objects


def test_missing_message_package_is_named_only_when_its_class_is_used(monkeypatch):
    for module in ("vision_msgs", "vision_msgs.msg"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing raises ImportError
    types = MessageTypes.from_rclpy()  # imports nothing yet
    assert not types.available("Detection3DArray")
    with pytest.raises(
        MissingMessagePackageError, match=r"vision_msgs/msg/Detection3DArray needs .*vision_msgs"
    ):
        _ = types.Detection3DArray
    assert types.type_name("Detection3DArray") == "vision_msgs/msg/Detection3DArray"


@pytest.mark.parametrize("module", ["gs_perception.ros.perception_node", "gs_perception.ros.sim_camera_node"])
def test_python_dash_m_runs_the_node(module):
    code = (
        "import runpy, sys\n"
        "sys.modules['rclpy'] = None  # no ROS: main() must run and say so, not exit silently\n"
        f"runpy.run_module({module!r}, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "rclpy could not be imported" in out.stderr and "make setup" in out.stderr


def test_docs_no_longer_say_rclpy_cannot_come_from_pypi():
    texts = {
        p: p.read_text()
        for p in [ROOT / "README.md", *ROOT.glob("docs/*.md"), ROOT / "gs_perception/ros/__init__.py"]
    }
    stale = (
        "not installed from pip",
        "rclpy is not on PyPI",
        "ROS 2 cannot be installed",
        "cannot be installed here",
    )
    for path, text in texts.items():
        for phrase in stale:
            assert phrase not in text, f"{path.relative_to(ROOT)} still says {phrase!r}"


def _pytest_without_vision_msgs(tmp_path: Path, require_ros: str) -> subprocess.CompletedProcess:
    """Run one ros test in a fresh pytest where vision_msgs cannot be imported."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['vision_msgs'] = sys.modules['vision_msgs.msg'] = None\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "GS_PERCEPTION_REQUIRE_ROS": require_ros}
    target = "test/ros/test_live_perception.py::test_a_late_subscriber_still_gets_label_info"
    command = [sys.executable, "-m", "pytest", target, "-rs", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ros_tests_skip_naming_the_missing_package_unless_ros_is_required(tmp_path):
    skipped = _pytest_without_vision_msgs(tmp_path, "0")
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    assert "vision_msgs" in skipped.stdout or "rclpy cannot be imported" in skipped.stdout
    required = _pytest_without_vision_msgs(tmp_path, "1")
    assert required.returncode == 4 and "GS_PERCEPTION_REQUIRE_ROS=1" in required.stderr + required.stdout


@pytest.mark.ros
def test_an_error_after_ctrl_c_is_its_echo_not_a_crash(capsys):
    from gs_perception.ros import node_main

    for echo in (TypeError("half-imported library"), ImportError("initialization failed")):

        def make_node(echo=echo):
            node_main.STOP.set()  # as the SIGINT handler does, its KeyboardInterrupt swallowed by a library
            raise echo

        try:
            assert node_main.run_node(make_node, []) == 0
        finally:
            node_main.STOP.clear()
        assert "Traceback" not in capsys.readouterr().err

    def broken_node():
        raise TypeError("a real bug")

    assert node_main.run_node(broken_node, []) == 1
    assert "a real bug" in capsys.readouterr().err


@pytest.mark.ros
def test_ctrl_c_during_start_up_waits_for_the_stage_then_shuts_down_cleanly():
    """A KeyboardInterrupt raised inside ``import torch`` aborts the process from C++ (exit -6): during
    start-up the signal is recorded, and acted on once the stage in progress has finished."""
    import os
    import signal

    from gs_perception.ros import node_main

    raised_inside, closed = [], []

    class Node:
        def close(self):
            closed.append(True)

        def destroy_node(self):
            pass

    def make_node():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100):  # Python runs the handler between bytecodes: give it plenty
                sum(range(100))
        except KeyboardInterrupt:
            raised_inside.append(True)
        return Node()

    try:
        assert node_main.run_node(make_node, []) == 0
    finally:
        node_main.STOP.clear()
    assert raised_inside == [] and closed == [True]


def test_the_view_launch_arguments_switch_on_the_live_view_typed():
    given = {name: "" for name in PERCEPTION_OVERRIDES} | {"view": "true", "view_port": "9000"}
    assert parameter_overrides(given) == {"view.enabled": True, "view.port": 9000}
