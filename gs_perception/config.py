"""Config dataclasses → command-line flags (and, later, ROS parameters): one source of defaults.

Each field of a frozen config dataclass becomes ``--field-name`` with the field's default and the docstring
written under it as help text. YAML files only override (``--config file.yaml``, read with
``yaml.safe_load`` when PyYAML is present).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each dataclass field (nerfstudio-style attribute docs)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def _parser_for(annotation: Any) -> tuple[Any, str | None]:
    """(type callable, nargs) for a field annotation."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _parser_for(args[0])
    if origin is tuple:
        return args[0], "+"
    if annotation is bool:
        return lambda s: s.lower() in ("1", "true", "yes", "on"), None
    return annotation, None


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Add one ``--{prefix}{field-name}`` option per field of ``cls`` (defaults stay in the dataclass)."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        kind, nargs = _parser_for(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        group.add_argument(
            f"--{prefix}{f.name.replace('_', '-')}",
            dest=f"{prefix.replace('-', '_')}{f.name}",
            type=kind,
            nargs=nargs,
            default=argparse.SUPPRESS,
            help=f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%"),
        )


def dataclass_from_args(cls: type[T], args: argparse.Namespace, prefix: str = "", base: T | None = None) -> T:
    """A ``cls`` instance: ``base`` (or the defaults) overridden by the flags that were given."""
    base = cls() if base is None else base
    changes = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f"{prefix.replace('-', '_')}{f.name}"
        if hasattr(args, key):
            value = getattr(args, key)
            changes[f.name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def dataclass_from_yaml(cls: type[T], path: str, section: str | None = None) -> T:
    """A ``cls`` instance with the defaults overridden by a YAML mapping (optionally one section of it)."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if section is not None:
        data = data.get(section, {}) or {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{path}: unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
