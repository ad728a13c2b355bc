"""Simulation: a camera orbiting a procedural object (or a mesh) feeding the perception node.

    ros2 launch gs_perception sim.launch.py bundle:=runs/eval/bundle.pt objects:="[chair]"

The simulated camera (sim_camera_node) publishes /camera/image_raw, /camera/camera_info,
/camera/depth/image_raw, /camera/pose and /tf, with simulated time on /clock; perception.launch.py does
the rest.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "config": (
        PathJoinSubstitution([FindPackageShare("gs_perception"), "config", "sim.yaml"]),
        "YAML overrides for both nodes (sim_camera_node and perception_node sections)",
    ),
    "bundle": ("", "Encoder bundle (.pt); empty: memory only"),
    "objects": ("[chair]", "YAML list of procedural shape names or mesh files the camera orbits"),
}


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(name, default_value=value, description=text)
        for name, (value, text) in ARGUMENTS.items()
    ]
    arg = LaunchConfiguration
    sim = Node(
        package="gs_perception",
        executable="sim_camera_node",
        name="sim_camera_node",
        output="screen",
        parameters=[arg("config"), {"sim.objects": ParameterValue(arg("objects"), value_type=list[str])}],
    )
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
    return LaunchDescription([*args, sim, perception])
