"""Config fields that take one of a few strings: typed ``Literal[...]`` and checked in one place.

Every config dataclass with such a field calls :func:`check_choices` from its ``__post_init__``, so a wrong
value is refused where the config is made (a flag, a YAML file, a ROS parameter), naming the field, the value
and the choices, instead of deep inside whatever first reads it. The CLI offers the same choices
(gs_perception/config.py reads the ``Literal``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` annotation (``X | None`` adds None), else None."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        inner = [a for a in args if a is not type(None)]
        choices = literal_choices(inner[0]) if len(inner) == 1 else None
        return None if choices is None else (*choices, None) if len(args) > 1 else choices
    return None


def check_choices(config: Any) -> None:
    """Raise ValueError for the first ``Literal``-typed field of the dataclass ``config`` whose value is not
    one of its choices."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        choices = literal_choices(hints[field.name])
        value = getattr(config, field.name)
        if choices is not None and value not in choices:
            names = ", ".join(repr(c) for c in choices)
            where = f"{type(config).__name__}.{field.name}"
            raise ValueError(f"unknown {field.name} {value!r} ({where}); expected one of {names}")
