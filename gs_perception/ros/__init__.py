"""ROS 2 adapters: message conversions, nodes and parameters (the ``ros`` layer, docs/architecture.md §2).

This is the only package in gs_perception that imports rclpy or ROS message packages, and it does so lazily:
importing ``gs_perception.ros`` itself needs no ROS, so tools and tests can import it anywhere. Node modules
(``gs_perception/ros/<name>_node.py``, each with a ``main()`` listed in setup.py's ``NODE_SCRIPTS``) call
:func:`require_rclpy` first, so a missing ROS install fails with instructions instead of a bare
``ModuleNotFoundError``. ROS 2 comes either from PyPI wheels (Kilted or Jazzy, CPython 3.10–3.12 on x86_64;
``make setup`` installs them into the venv and builds the two message packages PyPI lacks, see
:mod:`~gs_perception.ros.msg_packages`) or from a distro install (Humble: Python 3.10, Jazzy: 3.12).
docs/ros.md
has both paths.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ROS_SETUP_HINT = (
    "gs_perception's ROS 2 nodes need ROS 2 (rclpy and the message packages). Either run `make setup` "
    "(ROS 2 Kilted from PyPI into the project venv; ROS=jazzy for Jazzy), or install ROS 2 from your distro "
    "(Humble or Jazzy) and `source /opt/ros/<distro>/setup.bash` in this shell, using the Python that ROS "
    "was built for. See docs/ros.md. The offline tools (the gs-perception CLI, training scripts) work "
    "without ROS."
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


def ros_unavailable_reason() -> str:
    """Why the ROS 2 nodes cannot run in this interpreter, or "" when rclpy and every message package import.

    Returns:
        "" or one sentence naming what is missing (rclpy, or the message packages such as vision_msgs).
    """
    try:
        importlib.import_module("rclpy")
    except ImportError as err:
        return f"rclpy cannot be imported ({err}); `make setup` installs ROS 2 from PyPI"
    from .typestore import missing_message_packages

    missing = missing_message_packages()
    if missing:
        return (
            f"ROS 2 message packages missing: {', '.join(missing)} (`make setup` builds the ones PyPI lacks)"
        )
    return ""
