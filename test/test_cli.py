"""The gs-perception command: flags derived from the config dataclasses, fit end to end, clear errors."""

from __future__ import annotations

import json

from gs_perception.cli import build_parser, main
from gs_perception.config import dataclass_from_args
from gs_perception.core.fit import FitConfig
from gs_perception.core.ply import read_ply


def test_flags_come_from_the_dataclass_and_override_only_what_is_given():
    args = build_parser().parse_args(["fit", "d", "--out", "o.ply", "--steps", "7", "--init", "random"])
    config = dataclass_from_args(FitConfig, args)
    assert config.steps == 7 and config.init == "random"
    assert config.max_gaussians == FitConfig().max_gaussians  # untouched fields keep the dataclass default


def test_render_views_then_fit_writes_ply_and_metrics(tmp_path, capsys):
    views = tmp_path / "mug"
    argv = [
        "render-views",
        "--shape",
        "mug",
        "--out",
        str(views),
        "--view-width",
        "24",
        "--view-height",
        "24",
    ]
    assert main(argv + ["--view-n-train", "4", "--view-n-test", "2"]) == 0
    yaml_file = tmp_path / "fit.yaml"
    yaml_file.write_text("fit:\n  steps: 30\n  init_points: 300\n")
    out = tmp_path / "mug.ply"
    assert main(["fit", str(views), "--out", str(out), "--config", str(yaml_file), "--device", "cpu"]) == 0
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["config"]["steps"] == 30 and metrics["init"] == "points" and metrics["backend"] == "torch"
    assert metrics["num_gaussians"] == read_ply(out).num
    assert metrics["psnr_test"] > 10.0
    assert "held-out PSNR" in capsys.readouterr().out


def test_missing_folder_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope"), "--out", str(tmp_path / "x.ply")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "transforms_train.json" in err
