"""Shared pytest setup: headless rendering defaults and auto-skips for the ``gpu`` and ``ros`` markers.

The default run is CPU-only and ROS-free (DESIGN.md §8): ``@pytest.mark.gpu`` tests skip without CUDA and
``@pytest.mark.ros`` tests skip when rclpy cannot be imported (no ROS 2 environment sourced).
"""

from __future__ import annotations

import importlib
import os

import pytest

# Set before any test module imports pyrender / PyOpenGL or matplotlib (both read these at import time).
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("MPLBACKEND", "Agg")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _rclpy_available() -> bool:
    try:
        importlib.import_module("rclpy")
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Probe only when some collected test carries the marker: importing torch or rclpy is not free.
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_available():
        skip_gpu = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip_gpu)
    if any(item.get_closest_marker("ros") for item in items) and not _rclpy_available():
        skip_ros = pytest.mark.skip(reason="needs rclpy (source /opt/ros/<distro>/setup.bash)")
        for item in items:
            if item.get_closest_marker("ros"):
                item.add_marker(skip_ros)
