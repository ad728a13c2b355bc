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


def test_generate_dataset_takes_a_nested_yaml_preset_and_flags_on_top(tmp_path, capsys):
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "source: shapes10\ntrain_per_class: 1\ntest_per_class: 1\n"
        "view: {width: 16, height: 16, n_train: 3, n_test: 1}\n"
        "fit: {steps: 10, init_points: 100, max_gaussians: 200, refine_start: 1000}\n"
        "features: {max_points: 32}\n"
    )
    out = tmp_path / "ds"
    argv = ["generate-dataset", "--config", str(preset), "--out", str(out), "--quiet"]
    # mug is a built-in shape but not one of the ten classes: refused before anything is written
    assert main(argv + ["--classes", "mug", "--fit-steps", "12", "--workers", "1"]) == 2
    assert "mug" in capsys.readouterr().err
    assert main(argv + ["--classes", "toilet", "--fit-steps", "12", "--workers", "1"]) == 0
    saved = json.loads((out / "dataset.json").read_text())["config"]
    assert saved["fit"]["steps"] == 12 and saved["fit"]["init_points"] == 100 and saved["view"]["width"] == 16
    assert saved["fit"]["sh_degree"] == FitConfig().sh_degree  # untouched nested fields keep their defaults
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2
    assert "| toilet | 1 | 0 | 1 | 0 |" in (out / "report.md").read_text()
    assert "2/2 objects recorded" in capsys.readouterr().out
