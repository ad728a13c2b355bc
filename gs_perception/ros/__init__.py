"""ROS 2 adapters: message conversions, nodes and parameters (the ``ros`` layer, DESIGN.md §2).

This is the only package in gs_perception that imports rclpy or ROS message packages, and it does so lazily:
importing ``gs_perception.ros`` itself needs no ROS, so tools and tests can import it anywhere. Node modules
(``gs_perception/ros/<name>_node.py``, each with a ``main()`` listed in setup.py's ``NODE_SCRIPTS``) call
:func:`require_rclpy` first, so a missing ROS install fails with instructions instead of a bare
``ModuleNotFoundError``. rclpy is not on PyPI; it comes from a ROS 2 install (Humble: Python 3.10,
Jazzy: 3.12).
"""

from __future__ import annotations

import importlib
from types import ModuleType

ROS_SETUP_HINT = (
    "gs_perception's ROS 2 nodes need ROS 2 (rclpy and the message packages), which are not installed from "
    "pip. Install ROS 2 (Humble or Jazzy, https://docs.ros.org), then in this shell run "
    "`source /opt/ros/<distro>/setup.bash` (for example /opt/ros/jazzy/setup.bash) and, in your colcon "
    "workspace, `source install/setup.bash`, using the Python that ROS was built for. See docs/install.md. "
    "The offline tools (the gs-perception CLI, training scripts) work without ROS."
)


def require_rclpy() -> ModuleType:
    """Import and return ``rclpy``, or raise an ImportError that says how to get it.

    Returns:
        The ``rclpy`` module.

    Raises:
        ImportError: rclpy cannot be imported (no ROS 2 environment sourced); the message names ROS 2,
            rclpy and the ``source /opt/ros/<distro>/setup.bash`` step.
    """
    try:
        return importlib.import_module("rclpy")
    except ImportError as exc:
        raise ImportError(f"rclpy could not be imported ({exc}). {ROS_SETUP_HINT}") from exc
