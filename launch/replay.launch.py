"""Replay a recorded bag into the perception node with ROS (`ros2 bag play` + perception.launch.py).

    ros2 launch gs_perception replay.launch.py bag:=runs/demo/sim_bag bundle:=runs/eval/bundle.pt

Without ROS, `gs-perception replay BAG` runs the very same pipeline over the bag and writes an output bag and
metrics (README, "Bag replay").
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "bag": ("", "Bag folder to play (sqlite3 or mcap)"),
    "rate": ("1.0", "Playback rate"),
    "config": (
        PathJoinSubstitution([FindPackageShare("gs_perception"), "config", "perception.yaml"]),
        "YAML file of perception_node parameter overrides",
    ),
    "bundle": ("", "Encoder bundle (.pt); empty: memory only"),
}


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(name, default_value=value, description=text)
        for name, (value, text) in ARGUMENTS.items()
    ]
    arg = LaunchConfiguration
    play = ExecuteProcess(
        cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate")], output="screen"
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
    return LaunchDescription([*args, perception, play])
