"""Launch the gs_perception perception node.

    ros2 launch gs_perception perception.launch.py bundle:=/path/to/bundle.pt
    ros2 launch gs_perception perception.launch.py config:=my.yaml namespace:=front image:=/front/image_raw

Parameter defaults live in the PerceptionNodeConfig dataclass (gs_perception/ros/interface.py); the YAML file
only overrides them, and an argument below overrides the YAML only when given: an empty default means "not
given" (gs_perception/ros/launch_overrides.py). Input topics are remapped from the node's relative names.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from gs_perception.ros.launch_overrides import PERCEPTION_OVERRIDES, parameter_overrides
from launch import LaunchDescription

ARGUMENTS = {
    "config": (
        PathJoinSubstitution([FindPackageShare("gs_perception"), "config", "perception.yaml"]),
        "YAML file of parameter overrides (ros__parameters of perception_node)",
    ),
    "namespace": ("", "Namespace of the node and its relative topics"),
    "bundle": (
        "",
        "pipeline.recognition.bundle: encoder bundle (.pt); not given: the YAML's, else memory only",
    ),
    "use_sim_time": (
        "",
        "Use /clock (simulation, bag replay): true/false; not given: the YAML's, else false",
    ),
    "qos_reliability": ("", "Sensor subscriptions: best_effort or reliable; not given: the YAML's"),
    "pose_source": ("", "topic or tf; not given: the YAML's"),
    "view": (
        "",
        "view.enabled: serve the live web view of the memory (true/false); not given: the YAML's, else false",
    ),
    "view_port": (
        "",
        "view.port: its HTTP port on the view host (loopback by default); not given: the YAML's",
    ),
    "image": ("/camera/image_raw", "Input image topic"),
    "camera_info": ("/camera/camera_info", "Input camera_info topic"),
    "depth": ("/camera/depth/image_raw", "Input depth topic (optional)"),
    "pose": ("/camera/pose", "Input PoseStamped topic (pose_source topic)"),
}


def _perception_node(context, *args, **kwargs):
    given = {name: LaunchConfiguration(name).perform(context) for name in PERCEPTION_OVERRIDES}
    arg = LaunchConfiguration
    return [
        Node(
            package="gs_perception",
            executable="perception_node",
            name="perception_node",
            namespace=arg("namespace"),
            output="screen",
            # Later entries win: the YAML, then only the arguments the user gave.
            parameters=[arg("config"), parameter_overrides(given)],
            remappings=[(topic, arg(topic)) for topic in ("image", "camera_info", "depth", "pose")],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(name, default_value=value, description=text)
        for name, (value, text) in ARGUMENTS.items()
    ]
    return LaunchDescription([*args, OpaqueFunction(function=_perception_node)])
