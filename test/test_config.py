"""Config dataclasses → flags and YAML overrides."""

from __future__ import annotations

import argparse

import pytest

from gs_perception.config import add_dataclass_args, dataclass_from_args, dataclass_from_yaml, field_docs
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
