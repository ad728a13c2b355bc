"""Simulation: a camera orbiting a procedural object (or a mesh) feeding the perception node.

    ros2 launch gs_perception sim.launch.py bundle:=runs/eval/bundle.pt objects:="[chair]"

The simulated camera (sim_camera_node) publishes /camera/image_raw, /camera/camera_info,
/camera/depth/image_raw, /camera/pose and /tf, with simulated time on /clock; perception.launch.py does
the rest.
"""

import yaml
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "config": (
        PathJoinSubstitution([FindPackageShare("gs_perception"), "config", "sim.yaml"]),
        "YAML overrides for both nodes (sim_camera_node and perception_node sections)",
    ),
    "bundle": ("", "Encoder bundle (.pt); empty: memory only"),
    "objects": (
        "",
        "YAML list of procedural shapes or mesh files to orbit, e.g. [chair]; not given: the YAML's",
    ),
}


def _sim_node(context, *args, **kwargs):
    # The argument overrides the YAML only when given (see gs_perception/ros/launch_overrides.py).
    objects = LaunchConfiguration("objects").perform(context).strip()
    overrides = {"sim.objects": [str(o) for o in yaml.safe_load(objects)]} if objects else {}
    node = Node(
        package="gs_perception",
        executable="sim_camera_node",
        name="sim_camera_node",
        output="screen",
        parameters=[LaunchConfiguration("config"), overrides],
    )
    return [node]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(name, default_value=value, description=text)
        for name, (value, text) in ARGUMENTS.items()
    ]
    arg = LaunchConfiguration
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("gs_perception"), "launch", "perception.launch.py"])
        ),
        launch_arguments={
            "config": arg("config"),
            "bundle": arg("bundle"),
            "use_sim_time": "true",
            "qos_reliability": "reliable",
        }.items(),
    )
    return LaunchDescription([*args, OpaqueFunction(function=_sim_node), perception])
