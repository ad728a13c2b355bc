"""The interface packages PyPI lacks: sources generated from the owned definitions, the wheels' CMake path
fix, caching by digest, and (``ros``) the built packages' type hashes, equal to the bag typestore's."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from gs_perception.ros import msg_packages as mp
from gs_perception.ros.typestore import make_typestore

VISION, TF2 = mp.PACKAGES


def test_sources_name_every_owned_message_and_dependency(tmp_path):
    root = mp.write_sources(VISION, tmp_path)
    xml = ET.parse(root / "package.xml").getroot()
    assert (
        xml.findtext("name") == "vision_msgs"
        and xml.findtext("member_of_group") == "rosidl_interface_packages"
    )
    assert [d.text for d in xml.findall("depend")] == ["std_msgs", "geometry_msgs"]
    cmake = (root / "CMakeLists.txt").read_text()
    messages = sorted(p.name for p in (root / "msg").glob("*.msg"))
    assert len(messages) == 9 and all(f"msg/{m}" in cmake for m in messages)
    assert "DEPENDENCIES std_msgs geometry_msgs" in cmake
    assert (mp.write_sources(TF2, tmp_path) / "msg" / "TFMessage.msg").read_text() == (
        "geometry_msgs/TransformStamped[] transforms\n"
    )


def test_the_digest_follows_the_definitions_and_the_tool_chain(monkeypatch):
    assert VISION.digest() == replace(VISION).digest() != TF2.digest()
    assert replace(VISION, version="9.9.9").digest() != VISION.digest()
    before = VISION.digest()
    monkeypatch.setattr(mp, "toolchain", lambda: "ros-rclpy==7.1.6")  # another distro's wheels: rebuild
    assert VISION.digest() != before


def test_the_wheels_cmake_files_are_pointed_at_this_python_once(tmp_path):
    cmake = tmp_path / "share" / "foo_msgs" / "cmake" / "export_fooExport.cmake"
    cmake.parent.mkdir(parents=True)
    builder = "/opt/python/cp311-cp311"
    cmake.write_text(
        f'INTERFACE_INCLUDE_DIRECTORIES "{builder}/include/python3.11;'
        f'{builder}/lib/python3.11/site-packages/numpy/_core/include"\n'
    )
    assert mp.fix_wheel_cmake_paths(tmp_path) == 1
    text = cmake.read_text()
    assert "/opt/python" not in text and "numpy" in text
    assert mp.fix_wheel_cmake_paths(tmp_path) == 0


def test_nothing_is_stale_once_built_and_a_changed_definition_is(tmp_path):
    for pkg in mp.PACKAGES:
        (tmp_path / "share" / pkg.name).mkdir(parents=True)
        (tmp_path / "share" / pkg.name / mp.DIGEST_FILE).write_text(pkg.digest() + "\n")
    assert mp.stale_packages(tmp_path) == [] and mp.main(["--prefix", str(tmp_path), "--check"]) == 0
    (tmp_path / "share" / "tf2_msgs" / mp.DIGEST_FILE).write_text("old\n")
    assert mp.stale_packages(tmp_path) == [TF2] and mp.main(["--prefix", str(tmp_path), "--check"]) == 1


@pytest.mark.ros
def test_built_packages_have_the_type_hashes_of_the_bag_typestore():
    from ament_index_python.packages import get_package_share_directory

    typestore = make_typestore("kilted")
    for pkg in mp.PACKAGES:
        # Built into the venv by `make setup`; a distro install finds them on AMENT_PREFIX_PATH.
        share = Path(sys.prefix) / "share" / pkg.name
        share = share if share.exists() else Path(get_package_share_directory(pkg.name))
        for name in pkg.messages():
            described = json.loads((share / "msg" / f"{name}.json").read_text())
            ours = {h["type_name"]: h["hash_string"] for h in described["type_hashes"]}
            full = f"{pkg.name}/msg/{name}"
            assert ours[full] == typestore.hash_rihs01(full), full
