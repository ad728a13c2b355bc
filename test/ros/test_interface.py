"""The node's interface as data: parameters from the dataclasses, launch/YAML files and the README agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from gs_perception.config import flatten_fields, unflatten_values
from gs_perception.ros.interface import (
    README_BEGIN,
    README_END,
    TOPICS,
    PerceptionNodeConfig,
    markdown_tables,
)
from gs_perception.ros.params import config_from_parameters, parameter_specs

ROOT = Path(__file__).resolve().parents[2]


def test_every_leaf_field_is_a_typed_documented_parameter():
    specs = {s.name: s for s in parameter_specs(PerceptionNodeConfig)}
    assert specs["pipeline.memory.max_gaussians"].type_name == "PARAMETER_INTEGER"
    assert specs["pipeline.recognition.bundle"].type_name == "PARAMETER_STRING"
    assert specs["pipeline.memory.background"].type_name == "PARAMETER_DOUBLE_ARRAY"
    assert specs["pipeline.memory.background"].default == [1.0, 1.0, 1.0]  # lists, as ROS wants
    missing = [s.name for s in specs.values() if not s.description]
    assert not missing, f"fields without a docstring: {missing}"


def test_parameters_round_trip_into_the_config():
    values = {s.name: s.default for s in parameter_specs(PerceptionNodeConfig)}
    assert config_from_parameters(PerceptionNodeConfig, values) == PerceptionNodeConfig()
    changed = config_from_parameters(
        PerceptionNodeConfig,
        {"pipeline.memory.max_gaussians": 1234, "pipeline.render_scale": 1, "queue_size": 3},
    )
    assert changed.pipeline.memory.max_gaussians == 1234 and changed.queue_size == 3
    assert changed.pipeline.render_scale == 1.0 and isinstance(changed.pipeline.render_scale, float)
    with pytest.raises(ValueError, match="no parameter 'pipeline.nope'"):
        unflatten_values(PerceptionNodeConfig, {"pipeline.nope": 1})


def _yaml_parameters(path: Path, node: str) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    section = data.get(node) or data.get("/**") or {}
    flat: dict = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}{key}.", sub)
        else:
            flat[prefix[:-1]] = value

    walk("", section.get("ros__parameters", {}))
    return flat


@pytest.mark.parametrize("name", ["perception.yaml", "sim.yaml"])
def test_config_yaml_files_only_override_known_parameters(name):
    values = _yaml_parameters(ROOT / "config" / name, "perception_node")
    values.pop("use_sim_time", None)
    config = config_from_parameters(PerceptionNodeConfig, values)  # raises on an unknown name
    for key, value in values.items():
        node = config
        for part in key.split("."):
            node = getattr(node, part)
        assert node == (tuple(value) if isinstance(value, list) else value), key


def _launch_strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@pytest.mark.parametrize("name", ["perception", "sim", "replay"])
def test_launch_files_name_real_executables_and_parameters(name):
    path = ROOT / "launch" / f"{name}.launch.py"
    strings = _launch_strings(path)
    params = {f.name for f in flatten_fields(PerceptionNodeConfig)}
    dotted = {s for s in strings if re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", s) and not s.endswith(".py")}
    dotted -= {s for s in dotted if s.startswith("sim.") or s.endswith((".yaml", ".launch"))}
    assert dotted <= params, dotted - params
    setup = (ROOT / "setup.py").read_text()
    for executable in {"perception_node", "sim_camera_node"} & strings:
        assert f'"{executable} = gs_perception.ros.{executable}:main"' in setup, executable
    remapped = {t.name for t in TOPICS if t.direction == "in"}
    if name == "perception":
        assert remapped <= strings


def test_readme_interface_tables_are_generated_from_the_dataclasses():
    readme = (ROOT / "README.md").read_text()
    begin, end = README_BEGIN, README_END
    assert begin in readme and end in readme, "README lacks the generated interface tables"
    current = readme.split(begin, 1)[1].split(end, 1)[0]
    assert current == markdown_tables(), (
        "README interface tables are stale: run `python -m gs_perception.ros.interface --write-readme`"
    )
