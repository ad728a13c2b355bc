"""Config dataclasses → command-line flags (and, later, ROS parameters): one source of defaults.

Each field of a frozen config dataclass becomes ``--field-name``, with the docstring written under it as help
text and the value the command will really use as the default shown. YAML files only override
(``--config file.yaml``, read with ``yaml.safe_load`` when PyYAML is present).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from .core.choices import literal_choices

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
    """(type callable, nargs) for a field annotation (a ``Literal`` of strings parses as ``str``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return type(typing.get_args(annotation)[0]), None
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _parser_for(args[0])
    if origin is tuple:
        return args[0], "+"
    if annotation is bool:
        return lambda s: s.lower() in ("1", "true", "yes", "on"), None
    return annotation, None


#: A Sphinx cross-reference (``:class:`~a.b.C```) and a double-backtick literal.
_ROLE = re.compile(r":[a-z]+:`(?P<tilde>~?)(?P<target>[^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def plain_text(doc: str) -> str:
    """A field docstring with its reST markup rendered plainly, for ``argparse`` help in a terminal.

    Double-backtick literals lose their backticks; a cross-reference role (``:class:``, ``:func:`` …) keeps
    only its target, shortened to the last dotted part when the target starts with ``~`` (as Sphinx shows it).
    """
    doc = _ROLE.sub(lambda m: m["target"].rsplit(".", 1)[-1] if m["tilde"] else m["target"], doc)
    return _LITERAL.sub(r"\1", doc)


def _default_text(value: Any) -> str:
    """A default as one would type it on the command line (tuples space-separated)."""
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value) or "empty"
    if isinstance(value, str) and not value:
        return "empty"
    return str(value)


def add_dataclass_args(
    parser: argparse.ArgumentParser,
    cls: type,
    prefix: str = "",
    base: Any = None,
    aliases: Mapping[str, str] | None = None,
    _path: str = "",
) -> None:
    """Add one ``--{prefix}{field-name}`` option per field of ``cls`` (values stay in the dataclass).

    A field that is itself a config dataclass (say ``fit: FitConfig``) adds its fields as ``--fit-<name>``.

    Args:
        parser: Where the options go (one argument group per dataclass).
        cls: A config dataclass.
        prefix: Prepended to every option name (``view-`` → ``--view-width``).
        base: The instance the command starts from before applying flags (``cls()`` when None). Its values
            are the defaults shown in the help, so a command whose effective defaults differ from the
            dataclass's (``DatasetConfig.fit`` is ``FitConfig(steps=7000)``) shows what it will really use.
            The options themselves default to ``argparse.SUPPRESS``: :func:`dataclass_from_args` applies
            only the flags that were given, on top of that same base.
        aliases: A second, shorter option for a field, by its dotted path in ``cls``
            (``{"pipeline.recognition.bundle": "--bundle"}``): one field, one option with two spellings.
    """
    base = cls() if base is None else base
    aliases = {} if aliases is None else aliases
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    group = parser.add_argument_group(f"{cls.__name__}" + (f" (--{prefix}*)" if prefix else ""))
    for f in dataclasses.fields(cls):
        default = getattr(base, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            # The parent's value, not hints[f.name](): nested defaults are often overridden by the parent.
            nested = f"{prefix}{f.name.replace('_', '-')}-"
            add_dataclass_args(parser, hints[f.name], nested, default, aliases, f"{_path}{f.name}.")
            continue
        kind, nargs = _parser_for(hints[f.name])
        text = f"{plain_text(docs.get(f.name, ''))} (default: {_default_text(default)})".strip()
        alias = aliases.get(f"{_path}{f.name}")
        choices = literal_choices(hints[f.name])
        group.add_argument(
            f"--{prefix}{f.name.replace('_', '-')}",
            *([alias] if alias else []),
            dest=f"{prefix.replace('-', '_')}{f.name}",
            type=kind,
            nargs=nargs,
            default=argparse.SUPPRESS,
            choices=None if choices is None else [c for c in choices if c is not None],
            help=text.replace("%", "%%"),  # argparse %-formats help
        )


def dataclass_from_args(cls: type[T], args: argparse.Namespace, prefix: str = "", base: T | None = None) -> T:
    """A ``cls`` instance: ``base`` (or the defaults) overridden by the flags that were given."""
    base = cls() if base is None else base
    hints = typing.get_type_hints(cls)
    changes = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if dataclasses.is_dataclass(hints[f.name]):
            nested_prefix = f"{prefix}{f.name.replace('_', '-')}-"
            changes[f.name] = dataclass_from_args(hints[f.name], args, nested_prefix, getattr(base, f.name))
            continue
        key = f"{prefix.replace('-', '_')}{f.name}"
        if hasattr(args, key):
            value = getattr(args, key)
            changes[f.name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def dataclass_from_yaml(cls: type[T], path: str, section: str | None = None, base: T | None = None) -> T:
    """``base`` (or the defaults) overridden by a YAML mapping, or by one section of it.

    Nested config dataclasses take nested mappings (``fit: {steps: 300}``); unknown keys are an error that
    names the file and the valid keys.
    """
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if section is not None:
        data = data.get(section, {}) or {}
    return override_dataclass(cls() if base is None else base, data, str(path))


def override_dataclass(base: T, data: dict, where: str = "config") -> T:
    """``base`` with the fields in the mapping ``data`` replaced (recursing into nested configs)."""
    cls = type(base)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
    changes = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            changes[key] = override_dataclass(getattr(base, key), value, f"{where}: {key}")
        else:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a (nested) frozen config dataclass from :func:`dataclasses.asdict` output, possibly via JSON.

    Dicts become the nested dataclass of their field and lists become tuples where the field is a tuple.
    Missing fields take their defaults (a field added later must default to the old behaviour).

    Raises:
        TypeError: ``data`` (or a nested value) is not a mapping.
        ValueError: ``data`` names a field ``cls`` does not have.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__}: expected a dict, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls) if f.init})
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = config_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class FlatField:
    """One leaf field of a (nested) config dataclass, as a ROS parameter or a documentation row.

    Attributes:
        name: Dotted path, e.g. ``memory.max_gaussians`` (ROS parameter names nest with dots).
        default: The dataclass default (tuples stay tuples).
        kind: ``bool``, ``int``, ``float``, ``str`` or ``tuple[<kind>]``.
        description: The docstring written under the field.
    """

    name: str
    default: Any
    kind: str
    description: str


def _kind_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:  # a choice of strings is a string parameter
        return type(typing.get_args(annotation)[0]).__name__
    args = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind_name(args[0])
    if origin is tuple:
        return f"tuple[{_kind_name(args[0])}]"
    return getattr(annotation, "__name__", str(annotation))


def flatten_fields(cls: type, prefix: str = "", base: Any = None) -> list[FlatField]:
    """Every leaf field of ``cls`` (recursing into nested config dataclasses), in declaration order.

    Args:
        cls: A config dataclass.
        prefix: Prepended to every name (used by the recursion: ``memory.``).
        base: An instance whose values are reported as defaults (the dataclass defaults when None).

    Returns:
        One :class:`FlatField` per leaf.
    """
    base = cls() if base is None else base
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        value = getattr(base, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            out += flatten_fields(hints[f.name], f"{prefix}{f.name}.", value)
        else:
            out.append(FlatField(f"{prefix}{f.name}", value, _kind_name(hints[f.name]), docs.get(f.name, "")))
    return out


def unflatten_values(cls: type[T], values: Mapping[str, Any], base: T | None = None) -> T:
    """``base`` (or the defaults) with dotted-name values applied: the inverse of :func:`flatten_fields`.

    Lists become tuples; ints are accepted for float fields (ROS YAML writes ``1`` for ``1.0``).

    Raises:
        ValueError: A name is not a leaf field of ``cls`` (the message lists it), or a value's type is wrong.
    """
    nested: dict = {}
    known = {f.name: f for f in flatten_fields(cls)}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"{cls.__name__} has no parameter {name!r}")
        kind = known[name].kind
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif kind == "tuple[float]" and isinstance(value, (list, tuple)):
            value = [float(v) for v in value]
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return override_dataclass(cls() if base is None else base, nested, cls.__name__)
