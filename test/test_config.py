"""Config dataclasses → flags and YAML overrides."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from gs_perception.config import (
    add_dataclass_args,
    dataclass_from_args,
    dataclass_from_yaml,
    field_docs,
    flatten_fields,
    plain_text,
)
from gs_perception.data.views import ViewRenderConfig


def test_field_docs_become_help_and_tuples_parse():
    docs = field_docs(ViewRenderConfig)
    assert docs["width"] and "background" in docs
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, ViewRenderConfig, "view-")
    assert docs["width"].split()[0] in parser.format_help()
    args = parser.parse_args(["--view-background", "0", "0.5", "1", "--view-width", "32"])
    cfg = dataclass_from_args(ViewRenderConfig, args, "view-")
    assert cfg.background == (0.0, 0.5, 1.0) and cfg.width == 32 and cfg.height == ViewRenderConfig().height


def test_yaml_overrides_and_rejects_unknown_keys(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("views:\n  width: 48\n  elevation_range: [0, 30]\n")
    cfg = dataclass_from_yaml(ViewRenderConfig, str(good), "views")
    assert cfg.width == 48 and cfg.elevation_range == (0, 30)
    bad = tmp_path / "bad.yaml"
    bad.write_text("views:\n  widht: 48\n")
    with pytest.raises(ValueError, match="widht"):
        dataclass_from_yaml(ViewRenderConfig, str(bad), "views")


@dataclass(frozen=True)
class _Inner:
    size: int = 1
    """Size of ``x`` (see :class:`~a.b.Thing`)."""


@dataclass(frozen=True)
class _Outer:
    inner: _Inner = _Inner(size=5)
    """A nested config whose default differs from its class's."""
    names: tuple[str, ...] = ()
    """Names."""


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    return {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}


def test_help_shows_the_parent_default_or_the_given_base_not_the_nested_class_default():
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, _Outer)
    helps = _helps(parser)
    assert helps["--inner-size"] == "Size of x (see Thing). (default: 5)"  # _Outer's value, not _Inner()'s
    assert helps["--names"] == "Names. (default: empty)"
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, _Outer, base=_Outer(_Inner(size=9), ("a", "b")))
    helps = _helps(parser)
    assert helps["--inner-size"].endswith("(default: 9)") and helps["--names"].endswith("(default: a b)")


@pytest.mark.parametrize(
    ("doc", "plain"),
    [
        ("``--out`` folder", "--out folder"),
        ("see :func:`train_ssl`", "see train_ssl"),
        ("a :class:`gs_perception.core.fit.FitConfig`", "a gs_perception.core.fit.FitConfig"),
        ("by :meth:`~gs_perception.core.memory.Memory.step` and :data:`~x.Y`", "by step and Y"),
        ("plain `gs-perception evaluate` stays", "plain `gs-perception evaluate` stays"),
    ],
)
def test_plain_text_renders_rest_markup(doc, plain):
    assert plain_text(doc) == plain


def test_choice_fields_are_refused_where_the_config_is_made_and_offered_on_the_command_line(capsys):
    from gs_perception.core.fit import FitConfig
    from gs_perception.core.memory import MemoryConfig
    from gs_perception.core.render import RenderConfig
    from gs_perception.ros.replay import ReplayConfig

    with pytest.raises(
        ValueError,
        match=r"unknown backend 'cuda' \(RenderConfig.backend\); expected one of 'auto', 'gsplat', 'torch'",
    ):
        MemoryConfig(render=RenderConfig(backend="cuda"))
    with pytest.raises(ValueError, match=r"unknown init 'sfm' \(FitConfig.init\)"):
        FitConfig(init="sfm")
    with pytest.raises(ValueError, match=r"unknown storage 'bag' \(ReplayConfig.storage\)"):
        ReplayConfig(storage="bag")
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, FitConfig)
    assert parser.parse_args(["--init", "random"]).init == "random"
    with pytest.raises(SystemExit):
        parser.parse_args(["--init", "sfm"])
    assert "argument --init: invalid choice: 'sfm'" in capsys.readouterr().err
    assert [f.kind for f in flatten_fields(MemoryConfig) if f.name == "render.backend"] == [
        "str"
    ]  # ROS string
