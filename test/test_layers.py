"""The layer rules of docs/architecture.md §2, enforced.

``core`` ← ``data``, ``models`` ← ``train``, ``eval`` ← ``pipeline`` ← ``viewer`` ← ``ros``, ``cli``
(``training/`` scripts on top); sideways, ``models`` and ``pipeline`` never import ``data`` or ``train``,
``viewer`` never imports ``data`` or ``models``, and ``eval`` never imports ``train``; no import cycles
inside the package.
Only ``gs_perception.ros`` imports ROS, and lazily; ``gsplat`` is imported only when CUDA is usable.

- Dynamic: a fresh interpreter imports every module outside ``gs_perception.ros`` (found with
  ``pkgutil.walk_packages``, so new modules are covered automatically) and no ROS module, nor gsplat on a
  machine without CUDA, may end up in ``sys.modules``.
- Static: ``ast`` scans every source file for imports that point up the layer stack, or at ROS from outside
  ``ros/`` (including imports inside functions, which the dynamic check cannot see).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "gs_perception"

# Top-level modules of ROS 2 (rclpy, message/interface packages, launch, helpers shipped with ROS).
ROS_MODULES = (
    "rclpy",
    "std_msgs",
    "std_srvs",
    "sensor_msgs",
    "sensor_msgs_py",
    "geometry_msgs",
    "vision_msgs",
    "builtin_interfaces",
    "tf2_ros",
    "message_filters",
    "launch",
    "launch_ros",
    "cv_bridge",
    "tf2_msgs",
    "diagnostic_msgs",
    "rosgraph_msgs",
    "rcl_interfaces",
)

# layer -> layers (subpackages / modules of gs_perception) it must not import.
ENTRY_POINTS = ("cli", "cli_online", "cli_view")
FORBIDDEN_IMPORTS = {
    "core": ("data", "models", "train", "eval", "pipeline", "viewer", "ros", *ENTRY_POINTS),
    "data": ("models", "train", "eval", "pipeline", "viewer", "ros", *ENTRY_POINTS),
    "models": ("data", "train", "eval", "pipeline", "viewer", "ros", *ENTRY_POINTS),
    "train": ("pipeline", "viewer", "ros", *ENTRY_POINTS),
    "eval": ("train", "pipeline", "viewer", "ros", *ENTRY_POINTS),
    "pipeline": ("data", "train", "eval", "viewer", "ros", *ENTRY_POINTS),
    # The web viewer shows the pipeline's memory and steps; bags reach it as arrays from ros/.
    "viewer": ("data", "models", "train", "eval", "ros", *ENTRY_POINTS),
    "ros": ENTRY_POINTS,
}

# Runs in a fresh interpreter: imports everything outside gs_perception.ros (the ros package itself is
# imported, not its submodules) and writes what it saw as JSON to argv[1].
_IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys, traceback

import gs_perception

imported, errors = [], {}

def try_import(name):
    try:
        module = importlib.import_module(name)
    except BaseException:
        errors[name] = traceback.format_exc(limit=-3)
        return None
    imported.append(name)
    return module

def walk_error(name):
    errors.setdefault(name, traceback.format_exc(limit=-3))

for info in pkgutil.iter_modules(gs_perception.__path__, "gs_perception."):
    module = try_import(info.name)
    if module is None or not info.ispkg or info.name == "gs_perception.ros":
        continue
    for sub in pkgutil.walk_packages(module.__path__, info.name + ".", onerror=walk_error):
        try_import(sub.name)

loaded = sorted(sys.modules)  # before the CUDA probe below, which imports torch
import torch

with open(sys.argv[1], "w") as f:
    json.dump({"imported": imported, "errors": errors, "loaded": loaded,
               "cuda": bool(torch.cuda.is_available())}, f)
"""


def _is_or_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module_name: str, is_package: bool) -> set[str]:
    """Absolute names of everything ``source`` imports, anywhere in the file (relative imports resolved).

    ``from pkg import name`` yields both ``pkg`` and ``pkg.name`` (``name`` may be a submodule).
    """
    package = module_name if is_package else module_name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def import_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("layers") / "report.json"
    env = dict(os.environ)
    # Import from this checkout even without an install; run outside the repo so that folders such as
    # launch/ cannot shadow real modules.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING, str(out)],
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"import subprocess failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(out.read_text())


def test_every_module_outside_ros_imports_cleanly(import_report: dict) -> None:
    assert not import_report["errors"], "modules that fail to import:\n" + "\n".join(
        f"--- {name}\n{tb}" for name, tb in import_report["errors"].items()
    )
    assert "gs_perception.ros" in import_report["imported"]
    assert not [m for m in import_report["imported"] if m.startswith("gs_perception.ros.")]


def test_walk_reaches_every_source_file_outside_ros(import_report: dict) -> None:
    # A folder without __init__.py is skipped by pkgutil here and by find_packages() in setup.py, so its
    # modules would be neither checked nor installed.
    expected = {
        _module_name(p)
        for p in _source_files()
        if not _is_or_under(_module_name(p), "gs_perception.ros") or p == PACKAGE_DIR / "ros" / "__init__.py"
    }
    expected.discard("gs_perception")
    assert expected <= set(import_report["imported"]), (
        "not reached by pkgutil (missing __init__.py?): "
        + ", ".join(sorted(expected - set(import_report["imported"])))
    )


def test_importing_the_package_outside_ros_loads_no_ros_module(import_report: dict) -> None:
    loaded_ros = [m for m in import_report["loaded"] if any(_is_or_under(m, r) for r in ROS_MODULES)]
    assert not loaded_ros, f"ROS modules imported outside gs_perception.ros: {loaded_ros}"


def test_gsplat_is_not_imported_without_cuda(import_report: dict) -> None:
    if import_report["cuda"]:
        pytest.skip("CUDA is available: importing gsplat lazily is allowed here")
    loaded_gsplat = [m for m in import_report["loaded"] if _is_or_under(m, "gsplat")]
    assert not loaded_gsplat, f"gsplat imported on a machine without CUDA: {loaded_gsplat[:5]}"


def test_import_scanner_resolves_relative_and_absolute_imports() -> None:
    source = (
        "import numpy as np\n"
        "from . import gaussians\n"
        "from ..data import meshes\n"
        "from gs_perception import pipeline\n"
        "def f():\n"
        "    import rclpy.node\n"
    )
    names = imported_modules(source, "gs_perception.core.render", is_package=False)
    assert {"numpy", "gs_perception.core.gaussians", "gs_perception.data.meshes"} <= names
    assert {"gs_perception.pipeline", "rclpy.node"} <= names
    assert "gs_perception.data" in imported_modules("from .. import data", "gs_perception.core", True)


def test_no_module_imports_up_the_layer_stack() -> None:
    violations = []
    for path in _source_files():
        module = _module_name(path)
        layer = module.split(".")[1] if "." in module else ""
        forbidden = [f"gs_perception.{name}" for name in FORBIDDEN_IMPORTS.get(layer, ())]
        names = imported_modules(path.read_text(), module, path.name == "__init__.py")
        violations += [
            f"{module} imports {n}" for n in sorted(names) if any(_is_or_under(n, f) for f in forbidden)
        ]
    assert not violations, "layer rule broken (docs/architecture.md §2):\n" + "\n".join(violations)


def test_every_layer_has_rules_and_every_rule_names_a_layer() -> None:
    layers = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file()}
    assert layers == set(FORBIDDEN_IMPORTS), "a new subpackage needs its row in FORBIDDEN_IMPORTS"
    names = {p.stem for p in PACKAGE_DIR.glob("*.py")} | layers
    assert {n for row in FORBIDDEN_IMPORTS.values() for n in row} <= names


def _package_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (module level and inside functions alike)."""
    modules = {_module_name(p): p for p in _source_files()}
    graph = {}
    for module, path in modules.items():
        names = imported_modules(path.read_text(), module, path.name == "__init__.py")
        # A package's __init__ that imports its own parts is not a cycle with them.
        graph[module] = {n for n in names if n in modules and n != module and not _is_or_under(module, n)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as the modules along it, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles_inside_the_package() -> None:
    cycle = find_cycle(_package_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_the_ros_package_imports_ros_even_lazily() -> None:
    violations = []
    for path in _source_files():
        module = _module_name(path)
        if _is_or_under(module, "gs_perception.ros"):
            continue
        names = imported_modules(path.read_text(), module, path.name == "__init__.py")
        violations += [
            f"{module} imports {n}" for n in sorted(names) if any(_is_or_under(n, r) for r in ROS_MODULES)
        ]
    assert not violations, "ROS imported outside gs_perception/ros:\n" + "\n".join(violations)


def test_ros_package_imports_without_rclpy_and_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)  # `import rclpy` now raises ImportError, ROS or not
    # Re-import gs_perception.ros under that condition; monkeypatch restores the original module afterwards.
    monkeypatch.delitem(sys.modules, "gs_perception.ros", raising=False)
    monkeypatch.delattr(importlib.import_module("gs_perception"), "ros", raising=False)
    ros = importlib.import_module("gs_perception.ros")

    with pytest.raises(ImportError) as info:
        ros.require_rclpy()

    message = str(info.value)
    assert "ROS 2" in message and "rclpy" in message
    assert "source /opt/ros/<distro>/setup.bash" in message


def test_require_rclpy_returns_rclpy_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_rclpy = types.ModuleType("rclpy")
    monkeypatch.setitem(sys.modules, "rclpy", fake_rclpy)
    ros = importlib.import_module("gs_perception.ros")
    assert ros.require_rclpy() is fake_rclpy
