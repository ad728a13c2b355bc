"""A colcon workspace build of this package installs what a ROS user's build would (docs/colcon.md).

The repository's files (tracked plus untracked-but-not-ignored, as `git ls-files` lists them) are copied into
``<tmp>/ws/src/gs_perception`` and built there with ``python -m colcon build``, once as a plain (copying)
install and once with ``--symlink-install`` (the mode that needs setuptools < 80). Nothing is written into the
repository. Needs colcon (requirements/colcon.txt) and ROS 2's Python packages (the ``ros`` marker).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "gs_perception"
NODES = ("perception_node", "sim_camera_node")
# Relative to the package's install prefix <install>/gs_perception.
INSTALLED_FILES = (
    *(f"lib/{PACKAGE}/{node}" for node in NODES),
    f"share/{PACKAGE}/package.xml",
    f"share/{PACKAGE}/launch/perception.launch.py",
    f"share/{PACKAGE}/launch/sim.launch.py",
    f"share/{PACKAGE}/launch/replay.launch.py",
    f"share/{PACKAGE}/config/perception.yaml",
    f"share/{PACKAGE}/config/sim.yaml",
    f"share/ament_index/resource_index/packages/{PACKAGE}",
)
BUILD_TIMEOUT_S = 300

# Run in the environment made by sourcing <install>/local_setup.sh: where the package, its entry points and
# its share directory are found from there.
CHILD_CHECK = """
import importlib.metadata, json, os, sys
import gs_perception
from ament_index_python.packages import get_package_share_directory
dist = importlib.metadata.distribution("gs-perception")
scripts = {ep.name: ep for ep in dist.entry_points if ep.group == "console_scripts"}
nodes = {}
for name in sys.argv[1:]:
    func = scripts[name].load()  # what the installed script does before calling it
    nodes[name] = sys.modules[func.__module__].__file__
print(json.dumps({
    "AMENT_PREFIX_PATH": os.environ.get("AMENT_PREFIX_PATH", ""),
    "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    "module": gs_perception.__file__,
    "share": get_package_share_directory("gs_perception"),
    "nodes": nodes,
}))
"""


def _copy_repo_files(dest: Path) -> int:
    """Copy the files git would hand a user (tracked + untracked-not-ignored) from REPO into dest."""
    if shutil.which("git") is None:
        pytest.skip("needs git to list the repository's files (git ls-files)")
    probe = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"{REPO} is not a git work tree: {probe.stderr.strip()}")
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    copied = 0
    for rel in filter(None, listing.stdout.decode().split("\0")):
        src = REPO / rel
        if not src.is_file():  # deleted in the work tree but still in the index
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        copied += 1
    return copied


@pytest.mark.ros
@pytest.mark.parametrize("symlink_install", [False, True], ids=["install", "symlink-install"])
def test_colcon_build_installs_nodes_launch_config_and_ament_index(tmp_path, symlink_install):
    pytest.importorskip("colcon_core", reason="needs colcon (pip install -r requirements/colcon.txt)")
    pytest.importorskip("ament_index_python", reason="needs ament_index_python (ROS 2)")

    ws = tmp_path / "ws"
    assert _copy_repo_files(ws / "src" / PACKAGE) > 0
    install = ws / "install"
    env = dict(os.environ, COLCON_HOME=str(tmp_path / "colcon_home"))  # no user defaults or mixins
    cmd = [sys.executable, "-m", "colcon", "--log-base", str(ws / "log"), "build"]
    cmd += [
        "--base-paths",
        str(ws / "src"),
        "--build-base",
        str(ws / "build"),
        "--install-base",
        str(install),
    ]
    if symlink_install:
        cmd.append("--symlink-install")
    build = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    output = f"$ {' '.join(cmd)}\n--- stdout\n{build.stdout}\n--- stderr\n{build.stderr}"
    assert build.returncode == 0, output

    # Exactly one package was found and built (no stray package.xml picked up).
    assert sorted(p.name for p in install.iterdir() if p.is_dir()) == [PACKAGE], output
    assert sorted(p.name for p in (ws / "build").iterdir() if p.is_dir()) == [PACKAGE], output

    prefix = install / PACKAGE
    missing = [rel for rel in INSTALLED_FILES if not (prefix / rel).is_file()]
    assert not missing, f"not installed under {prefix}: {missing}\n{output}"
    # All of them, as setup.py's data_files globs select them from the sources.
    for name, pattern in (("launch", "*.launch.py"), ("config", "*.yaml")):
        sources = {p.name for p in (ws / "src" / PACKAGE / name).glob(pattern)}
        assert sources and {p.name for p in (prefix / "share" / PACKAGE / name).iterdir()} == sources
    for node in NODES:
        exe = prefix / "lib" / PACKAGE / node
        assert os.access(exe, os.X_OK), f"{exe} is not executable"
        first_line = exe.read_text().splitlines()[0]
        assert first_line.startswith("#!"), f"{exe}: no shebang, first line {first_line!r}"
        interpreter = first_line[2:].split()[0]
        assert os.access(interpreter, os.X_OK), (
            f"{exe}: shebang interpreter {interpreter!r} is not executable"
        )

    # As a user would: source the workspace, then look the package up through the ament index.
    child_env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH")}
    check = subprocess.run(
        ["sh", "-c", '. "$1/local_setup.sh" && shift && exec "$@"', "sh", str(install)]
        + [sys.executable, "-c", CHILD_CHECK, *NODES],
        cwd=tmp_path,  # not the repository: `python -c` puts the working directory first on sys.path
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, f"--- stdout\n{check.stdout}\n--- stderr\n{check.stderr}"
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert found["AMENT_PREFIX_PATH"] == str(prefix)
    assert Path(found["share"]) == prefix / "share" / PACKAGE
    # The package comes from the workspace, not from the venv's editable install of the repository.
    module = Path(found["module"])
    if symlink_install:  # build/gs_perception/gs_perception -> src/gs_perception/gs_perception
        assert module.resolve().is_relative_to((ws / "src" / PACKAGE).resolve()), module
    else:
        assert module.is_relative_to(prefix / "lib"), module
        assert module.parent.parent.name in ("site-packages", "dist-packages"), module
        assert str(module.parent.parent) in found["PYTHONPATH"].split(os.pathsep)
    for node, path in found["nodes"].items():
        assert Path(path).resolve() == (module.parent / "ros" / f"{node}.py").resolve()
