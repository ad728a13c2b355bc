"""ROS 2 parameters from config dataclasses: one declared parameter per leaf field, with its docstring.

:func:`parameter_specs` is ROS-free (tested here); :func:`declare_config` needs an rclpy node and imports
``rcl_interfaces`` lazily. The dataclass stays the single source of defaults: launch files and YAML only
override, and the resolved config is rebuilt from the parameter values with
:func:`~gs_perception.config.unflatten_values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import flatten_fields, unflatten_values

T = TypeVar("T")

#: Field kind → rcl_interfaces ParameterType constant name.
PARAMETER_TYPES = {
    "bool": "PARAMETER_BOOL",
    "int": "PARAMETER_INTEGER",
    "float": "PARAMETER_DOUBLE",
    "str": "PARAMETER_STRING",
    "tuple[bool]": "PARAMETER_BOOL_ARRAY",
    "tuple[int]": "PARAMETER_INTEGER_ARRAY",
    "tuple[float]": "PARAMETER_DOUBLE_ARRAY",
    "tuple[str]": "PARAMETER_STRING_ARRAY",
}


@dataclass(frozen=True)
class ParameterSpec:
    """One ROS parameter: dotted name, default as ROS wants it (lists, not tuples), type and description."""

    name: str
    default: Any
    type_name: str
    description: str


def parameter_specs(cls: type) -> list[ParameterSpec]:
    """The parameters of a config dataclass (nested configs give dotted names).

    Raises:
        TypeError: A field has a type ROS parameters cannot hold (the message names it).
    """
    specs = []
    for f in flatten_fields(cls):
        if f.kind not in PARAMETER_TYPES:
            raise TypeError(f"{cls.__name__}.{f.name}: type {f.kind} cannot be a ROS parameter")
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        specs.append(ParameterSpec(f.name, default, PARAMETER_TYPES[f.kind], f.description))
    return specs


def config_from_parameters(cls: type[T], values: dict[str, Any]) -> T:
    """The config for parameter values ``{dotted name: value}`` (the inverse of :func:`parameter_specs`)."""
    return unflatten_values(cls, values)


def declare_config(node: Any, cls: type[T]) -> T:
    """Declare every parameter of ``cls`` on an rclpy node and return the resolved config.

    Args:
        node: An ``rclpy.node.Node``.
        cls: The config dataclass.

    Returns:
        ``cls`` built from the parameter values (defaults overridden by launch/YAML/command line).
    """
    from rcl_interfaces.msg import ParameterDescriptor, ParameterType

    values = {}
    for spec in parameter_specs(cls):
        descriptor = ParameterDescriptor(
            description=spec.description,
            read_only=True,  # the pipeline is built once from them; changing one later would be ignored
        )
        if spec.default == []:
            # rclpy infers an empty list as a byte array, which then clashes with a declared array type.
            descriptor.dynamic_typing = True
        else:
            descriptor.type = getattr(ParameterType, spec.type_name)
        node.declare_parameter(spec.name, spec.default, descriptor)
        values[spec.name] = node.get_parameter(spec.name).value
    return config_from_parameters(cls, values)
