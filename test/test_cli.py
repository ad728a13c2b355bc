"""The gs-perception command: flags derived from the config dataclasses, fit end to end, clear errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from gs_perception import cli, cli_online, cli_view
from gs_perception.cli import build_parser, main
from gs_perception.config import dataclass_from_args, flatten_fields
from gs_perception.core.fit import FitConfig
from gs_perception.core.ply import read_ply
from gs_perception.core.render import RenderConfig
from gs_perception.core.runtime import thread_setting
from gs_perception.data.views import ViewRenderConfig


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
    assert (
        metrics["config"]["steps"] == 30
        and metrics["init"] == "points"
        and metrics["backend"] == RenderConfig().resolve("cpu")
    )
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


# --- help texts: the defaults shown are the ones each command really uses --------------------------------

COMMANDS = sorted(
    [
        "render-views",
        "fit",
        "fit-demo",
        "generate-dataset",
        "train-ssl",
        "evaluate",
        "sim-bag",
        "capture-bag",
        "replay",
        "demo",
        "pack-bundle",
        "train-ff",
        "eval-ff",
        "view",
        "report",
        "export-rerun",
    ]
)


def _effective_configs(command: str, args: argparse.Namespace) -> list[tuple[type, str, object]]:
    """(config class, flag prefix, the config ``command`` runs with), built by the command's own code."""
    from gs_perception.data.captures import CaptureConfig
    from gs_perception.data.generate import DatasetConfig
    from gs_perception.data.sim import SimConfig
    from gs_perception.ros.replay import ReplayConfig
    from gs_perception.ros.rerun_export import RerunConfig
    from gs_perception.train.evaluation import EvalConfig
    from gs_perception.train.feedforward import FFConfig
    from gs_perception.train.ff_eval import FFEvalConfig
    from gs_perception.train.ssl import SSLConfig
    from gs_perception.viewer.config import ViewerConfig

    views = (ViewRenderConfig, "view-", dataclass_from_args(ViewRenderConfig, args, "view-"))
    sim_yaml = cli_online._yaml(SimConfig, args, "sim")
    build = {  # called lazily: each reads only its own command's arguments
        "render-views": lambda: [views],
        "fit": lambda: [(FitConfig, "", cli._fit_config(args))],
        "fit-demo": lambda: [(FitConfig, "", cli._fit_config(args)), views],
        "generate-dataset": lambda: [(DatasetConfig, "", cli.config_from_args(DatasetConfig, args))],
        "train-ssl": lambda: [(SSLConfig, "", cli.config_from_args(SSLConfig, args))],
        "evaluate": lambda: [(EvalConfig, "", cli.config_from_args(EvalConfig, args))],
        "sim-bag": lambda: [(SimConfig, "", dataclass_from_args(SimConfig, args, "", sim_yaml))],
        "capture-bag": lambda: [(CaptureConfig, "", dataclass_from_args(CaptureConfig, args))],
        "pack-bundle": lambda: [],
        "train-ff": lambda: [(FFConfig, "", cli.config_from_args(FFConfig, args))],
        "eval-ff": lambda: [(FFEvalConfig, "", cli.config_from_args(FFEvalConfig, args))],
        "replay": lambda: [(ReplayConfig, "", cli_online._replay_config(args))],
        "demo": lambda: list(zip((SimConfig, ReplayConfig), ("sim-", ""), cli_online.demo_configs(args))),
        "view": lambda: [(ViewerConfig, "", cli_view.viewer_config(args))],
        "report": lambda: [],
        "export-rerun": lambda: [(RerunConfig, "", dataclass_from_args(RerunConfig, args))],
    }
    return build[command]()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _shown_default(action: argparse.Action):
    """The "(default: X)" of an option's help, parsed back with the option's own type."""
    match = re.search(r"\(default: (.*)\)$", action.help.replace("%%", "%"))
    assert match, f"{action.option_strings}: no '(default: …)' in {action.help!r}"
    text = match[1]
    if text == "None":
        return None
    if action.nargs == "+":
        return () if text == "empty" else tuple(action.type(v) for v in text.split())
    return "" if text == "empty" else action.type(text)


@pytest.fixture()
def parser(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ here: the demo's default bundle is absent, as on a fresh checkout
    return build_parser()


def _check_shown_defaults(parser: argparse.ArgumentParser, command: str) -> None:
    sub = _subcommands(parser)[command]
    required = [a for a in sub._actions if a.required]  # positionals and --out: any value will do
    args = parser.parse_args([command, *(word for a in required for word in [*a.option_strings[:1], "x"])])
    for cls, prefix, config in _effective_configs(command, args):
        for leaf in flatten_fields(cls, base=config):
            option = f"--{prefix}{leaf.name.replace('.', '-').replace('_', '-')}"
            action = sub._option_string_actions[option]
            assert _shown_default(action) == leaf.default, f"{command} {option}: help says {action.help!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_defaults_the_command_really_uses(parser, command):
    _check_shown_defaults(parser, command)


def test_demo_help_shows_the_documented_bundle_when_it_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli_online.DEFAULT_BUNDLE.parent.mkdir(parents=True)
    cli_online.DEFAULT_BUNDLE.touch()  # the demo then recognises with it: its help must say so
    _check_shown_defaults(build_parser(), "demo")


def test_every_subcommand_is_checked_and_every_option_has_plain_help(parser):
    commands = _subcommands(parser)
    assert sorted(commands) == COMMANDS  # a new subcommand needs its entry in _effective_configs
    for name, sub in [("gs-perception", parser), *commands.items()]:
        assert "``" not in (sub.description or ""), f"{name}: raw markup in {sub.description!r}"
        for action in sub._actions:
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{where} has no help"
            for markup in ("``", ":class:", ":func:", ":meth:", ":mod:", ":data:"):
                assert markup not in action.help, f"{where}: raw markup {markup!r} in {action.help!r}"


# --- CPU threads: one knob, GS_PERCEPTION_THREADS -------------------------------------------------------

_PROBE = (
    "import os\n"
    "from gs_perception.core.runtime import configure_threads\n"
    "n = configure_threads()\n"
    "import torch\n"
    "print(n, torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))\n"
)


def _probe(**env: str) -> subprocess.CompletedProcess:
    """configure_threads() in a fresh interpreter (torch not loaded), with no thread variables but ``env``."""
    ours = ("GS_PERCEPTION_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    return subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GS_PERCEPTION_THREADS": "1"}, "1 1 None"),
        ({"GS_PERCEPTION_THREADS": "2"}, "2 2 PASSIVE"),  # a second thread sleeps while it waits
        ({}, "1 1 None"),  # the default
        ({"OMP_NUM_THREADS": "2"}, "2 2 PASSIVE"),  # an explicit OpenMP setting is kept
        ({"GS_PERCEPTION_THREADS": "2", "OMP_WAIT_POLICY": "ACTIVE"}, "2 2 ACTIVE"),  # so is a wait policy
    ],
)
def test_configure_threads_follows_the_environment(env, expected):
    done = _probe(**env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_invalid_thread_settings_are_a_clear_error(value, monkeypatch, capsys):
    monkeypatch.setenv("GS_PERCEPTION_THREADS", value)
    with pytest.raises(ValueError, match=rf"GS_PERCEPTION_THREADS='{re.escape(value)}'.*positive"):
        thread_setting()
    assert main(["fit", "d", "--out", "o.ply"]) == 2  # before parsing or loading anything
    assert "GS_PERCEPTION_THREADS" in capsys.readouterr().err


def test_auto_means_torch_chooses():
    assert thread_setting({"GS_PERCEPTION_THREADS": "auto"}) is None
    assert thread_setting({"GS_PERCEPTION_THREADS": " 3 "}) == 3


@pytest.mark.parametrize("command", ["render-views", "fit-demo"])
def test_shape_and_mesh_together_are_refused_not_silently_resolved(command, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main([command, "--out", str(tmp_path / "o"), "--shape", "mug", "--mesh", str(tmp_path / "cup.obj")])
    assert caught.value.code == 2
    assert "argument --mesh: not allowed with argument --shape" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
