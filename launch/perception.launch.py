"""Launch the gs_perception perception node.

    ros2 launch gs_perception perception.launch.py bundle:=/path/to/bundle.pt
    ros2 launch gs_perception perception.launch.py config:=my.yaml namespace:=front image:=/front/image_raw

Parameter defaults live in the PerceptionNodeConfig dataclass (gs_perception/ros/interface.py); the YAML file
only overrides them. Input topics are remapped from the relative names the node uses.
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "config": (
        PathJoinSubstitution([FindPackageShare("gs_perception"), "config", "perception.yaml"]),
        "YAML file of parameter overrides (ros__parameters of perception_node)",
    ),
    "namespace": ("", "Namespace of the node and its relative topics"),
    "bundle": ("", "Encoder bundle (.pt) for embeddings and class predictions; empty: memory only"),
    "use_sim_time": ("false", "Use /clock (simulation, bag replay)"),
    "qos_reliability": ("best_effort", "Sensor subscriptions: best_effort or reliable"),
    "image": ("/camera/image_raw", "Input image topic"),
    "camera_info": ("/camera/camera_info", "Input camera_info topic"),
    "depth": ("/camera/depth/image_raw", "Input depth topic (optional)"),
    "pose": ("/camera/pose", "Input PoseStamped topic (pose_source topic)"),
}


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(name, default_value=value, description=text)
        for name, (value, text) in ARGUMENTS.items()
    ]
    arg = LaunchConfiguration
    node = Node(
        package="gs_perception",
        executable="perception_node",
        name="perception_node",
        namespace=arg("namespace"),
        output="screen",
        parameters=[
            arg("config"),
            {
                "pipeline.recognition.bundle": ParameterValue(arg("bundle"), value_type=str),
                "qos_reliability": ParameterValue(arg("qos_reliability"), value_type=str),
                "use_sim_time": ParameterValue(arg("use_sim_time"), value_type=bool),
            },
        ],
        remappings=[(topic, arg(topic)) for topic in ("image", "camera_info", "depth", "pose")],
    )
    return LaunchDescription([*args, node])
