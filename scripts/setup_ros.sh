#!/usr/bin/env bash
# ROS 2 for the nodes and their live tests, in the project venv. Called by `make setup` as
#     scripts/setup_ros.sh ROS VENV CONSTRAINTS
# ROS:
#   kilted | jazzy  ROS 2 from PyPI wheels (requirements/ros-<distro>.txt), colcon (requirements/colcon.txt),
#                   and the interface packages PyPI lacks (vision_msgs, tf2_msgs) built into the venv by
#                   `python -m gs_perception.ros.msg_packages` (cmake + g++). A venv holds one distro: wheels of
#                   the other are removed first.
#   distro          a ROS 2 install sourced in this shell (`source /opt/ros/$ROS_DISTRO/setup.bash`): nothing is
#                   installed into the venv (it would shadow the distro's libraries); only checked.
#   none            no ROS: the nodes' live tests skip.
# Idempotent: pip installs nothing when the pins are met, and msg_packages builds nothing when up to date.
set -euo pipefail

ros="$1"
venv="$2"
constraints="$3"
py="$venv/bin/python"
pip_install=("$py" -m pip install --isolated --disable-pip-version-check -c "$constraints")

fail() {
    echo "setup_ros: $*" >&2
    exit 1
}

case "$ros" in
kilted | jazzy)
    if [[ -n "${ROS_DISTRO:-}" ]]; then
        fail "a distro ROS 2 ($ROS_DISTRO) is sourced in this shell; its PYTHONPATH and LD_LIBRARY_PATH would" \
            "mix with the venv's ROS=$ros. Use it with 'make setup ROS=distro', or run make from a shell" \
            "without it."
    fi
    # Wheels of the other distro (or of an older pin set) that this distro does not list: remove them.
    wanted="$(sed -nE 's/^(ros-[A-Za-z0-9_.-]+)==.*/\1/p' "requirements/ros-$ros.txt" | tr 'A-Z_' 'a-z-' | sort -u)"
    installed="$("$py" -m pip list --isolated --format=freeze 2>/dev/null |
        sed -nE 's/^(ros-[A-Za-z0-9_.-]+)==.*/\1/p' | tr 'A-Z_' 'a-z-' | sort -u)"
    stray="$(comm -13 <(echo "$wanted") <(echo "$installed") | tr '\n' ' ')"
    if [[ -n "${stray// /}" ]]; then
        echo "setup_ros: removing ROS wheels not in requirements/ros-$ros.txt: $stray"
        # shellcheck disable=SC2086  # one argument per package name
        "$py" -m pip uninstall --isolated -y $stray
    fi
    "${pip_install[@]}" -r "requirements/ros-$ros.txt" -r requirements/colcon.txt
    "$py" -m gs_perception.ros.msg_packages --prefix "$venv" --work build/ros_msgs
    ;;
distro)
    [[ -n "${ROS_DISTRO:-}" ]] || fail "ROS=distro needs a sourced ROS 2: source /opt/ros/<distro>/setup.bash"
    if "$py" -m pip show --isolated ros-wheels-bootstrapper >/dev/null 2>&1; then
        fail "$venv holds ROS 2 wheels from PyPI, which would shadow $ROS_DISTRO; use another venv:" \
            "make setup ROS=distro VENV=.venv-$ROS_DISTRO"
    fi
    "$py" -c "import rclpy" 2>/dev/null ||
        fail "the venv's Python ($("$py" --version)) cannot import $ROS_DISTRO's rclpy; ROS 2 $ROS_DISTRO is" \
            "built for one Python (Humble 3.10, Jazzy 3.12): make setup ROS=distro PYTHON=python3.X"
    missing="$("$py" -c 'from gs_perception.ros.typestore import missing_message_packages as m; print(*m())')"
    if [[ -n "$missing" ]]; then
        fail "missing ROS 2 packages: $missing; apt install$(printf " ros-$ROS_DISTRO-%s" ${missing//_/-})"
    fi
    echo "setup_ros: using ROS 2 $ROS_DISTRO from $(dirname "$("$py" -c 'import rclpy; print(rclpy.__file__)')")"
    ;;
none)
    echo "setup_ros: ROS=none: no ROS 2 in the venv; the live node tests will skip"
    ;;
*)
    fail "ROS must be kilted, jazzy, distro or none (got '$ros')"
    ;;
esac
