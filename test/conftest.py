"""Shared pytest setup: headless rendering defaults and auto-skips for the ``gpu`` and ``ros`` markers.

``@pytest.mark.gpu`` tests skip without CUDA. ``@pytest.mark.ros`` tests (live rclpy nodes) need rclpy *and*
every message package the nodes use; without them they skip, naming what is missing — unless
``GS_PERCEPTION_REQUIRE_ROS=1`` (set by ``make test`` and CI), where a missing piece fails the run instead.
DDS traffic stays on this machine: discovery is forced to localhost for this process and its children.
"""

from __future__ import annotations

import os

import pytest

from gs_perception.core.runtime import configure_threads
from gs_perception.ros import ros_unavailable_reason

# First, before any test imports torch (OpenMP reads its settings once, when torch loads it): the suite's CPU
# threads follow GS_PERCEPTION_THREADS as gs-perception's do, one by default (docs/benchmarks.md).
configure_threads()
# Set before any test module imports pyrender / PyOpenGL or matplotlib (both read these at import time).
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("MPLBACKEND", "Agg")
# Loopback only (Humble reads ROS_LOCALHOST_ONLY); live tests pick their own ROS_DOMAIN_ID.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if os.environ.get("ROS_DISTRO") == "humble":  # Jazzy and newer warn that it is deprecated
    os.environ["ROS_LOCALHOST_ONLY"] = "1"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Probe only when some collected test carries the marker: importing torch or rclpy is not free.
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_available():
        skip_gpu = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip_gpu)
    if any(item.get_closest_marker("ros") for item in items) and (why := ros_unavailable_reason()):
        if os.environ.get("GS_PERCEPTION_REQUIRE_ROS") == "1":
            raise pytest.UsageError(f"GS_PERCEPTION_REQUIRE_ROS=1 but the ros tests cannot run: {why}")
        skip_ros = pytest.mark.skip(reason=f"needs ROS 2: {why}")
        for item in items:
            if item.get_closest_marker("ros"):
                item.add_marker(skip_ros)
