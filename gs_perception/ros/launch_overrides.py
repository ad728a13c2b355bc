"""Launch arguments that override node parameters only when the user passes them (ROS-free, tested).

A launch file gives a node ``parameters=[config_yaml, overrides]``; later entries win. If ``overrides`` held
every argument with its default, the YAML could never set those parameters (a value set there was silently
replaced by the launch default). So an argument's default is "" (= not given), and
:func:`parameter_overrides` keeps only the arguments given, typed like the parameter they set.
"""

from __future__ import annotations

from typing import Any

from ..config import flatten_fields
from .interface import PerceptionNodeConfig

#: perception.launch.py argument → perception_node parameter it sets when given.
PERCEPTION_OVERRIDES: dict[str, str] = {
    "bundle": "pipeline.recognition.bundle",
    "qos_reliability": "qos_reliability",
    "pose_source": "pose_source",
    "use_sim_time": "use_sim_time",
    "view": "view.enabled",
    "view_port": "view.port",
}

_BOOLS = {"true": True, "false": False}


def parameter_kinds(cls: type = PerceptionNodeConfig) -> dict[str, str]:
    """Parameter name → kind ("bool", "int", "float", "str", …), with ROS's own ``use_sim_time``."""
    return {"use_sim_time": "bool", **{f.name: f.kind for f in flatten_fields(cls)}}


def parameter_overrides(
    arguments: dict[str, str], mapping: dict[str, str] = PERCEPTION_OVERRIDES
) -> dict[str, Any]:
    """The parameters set by the launch arguments that were given (non-empty), typed like the parameter.

    Args:
        arguments: Launch argument → its value as text ("" when not given).
        mapping: Launch argument → parameter name.

    Returns:
        ``{parameter: value}`` for the given arguments only.

    Raises:
        ValueError: A value does not parse as its parameter's type (the message names the argument).
    """
    kinds = parameter_kinds()
    out: dict[str, Any] = {}
    for argument, parameter in mapping.items():
        text = arguments.get(argument, "").strip()
        if not text:
            continue
        kind = kinds[parameter]
        try:
            if kind == "bool":
                out[parameter] = _BOOLS[text.lower()]
            else:
                out[parameter] = {"int": int, "float": float, "str": str}[kind](text)
        except (KeyError, ValueError) as err:
            raise ValueError(
                f"launch argument {argument}:={text!r} is not a valid {kind} for {parameter}"
            ) from err
    return out
