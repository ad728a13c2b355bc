"""Message classes without ROS: a rosbags typestore with vision_msgs, and one lookup table for both backends.

Two sources of message classes share field names (docs/architecture.md §5), so the conversion modules are
written once against :class:`MessageTypes`:

- **rosbags** (pure Python, used for bags and tests): :func:`make_typestore` returns the Humble or Jazzy
  store with the vision_msgs 4.x definitions registered (rosbags ships no vision_msgs). Its classes are
  dataclasses whose constructors need *every* field by keyword, and primitive arrays are numpy arrays.
- **rclpy** (a sourced ROS 2 install): :meth:`MessageTypes.from_rclpy` imports the generated message modules
  lazily. Unbounded primitive sequences there are ``array.array`` (``uint8[] data``, ``float64[] d``); fixed
  ones (``float64[9] k``) take numpy arrays. :meth:`MessageTypes.sequence` hides that difference.

Nothing here imports rclpy or a ROS message package at import time.
"""

from __future__ import annotations

import array
import importlib
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

#: Message definitions the project owns (``definitions/<package>/<Name>.msg``): the vision_msgs 4.x subset the
#: node publishes and tf2_msgs/TFMessage. rosbags registers them from here, and
#: :mod:`~gs_perception.ros.msg_packages` builds the same files into ROS 2 packages where PyPI has none. Field
#: names, types and order must match upstream exactly, or the RIHS01 type hash differs and the CDR layout is
#: wrong; comments are left out (they do not enter the hash).
DEFINITIONS_DIR = Path(__file__).parent / "definitions"


def message_definitions(package: str) -> dict[str, str]:
    """``{"<package>/msg/<Name>": msg text}`` of one owned interface package ("vision_msgs", "tf2_msgs")."""
    files = sorted((DEFINITIONS_DIR / package).glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no .msg definitions for {package!r} in {DEFINITIONS_DIR}")
    return {f"{package}/msg/{f.stem}": f.read_text() for f in files}


VISION_MSGS_DEFINITIONS: dict[str, str] = message_definitions("vision_msgs")

_STORES: dict[str, Stores] = {
    "humble": Stores.ROS2_HUMBLE,
    "iron": Stores.ROS2_IRON,
    "jazzy": Stores.ROS2_JAZZY,
    "kilted": Stores.ROS2_KILTED,
}
_TYPESTORES: dict[str, Typestore] = {}

# Short name → full ROS 2 type name, for every class the ros layer builds or reads.
MESSAGE_TYPE_NAMES: dict[str, str] = {
    "Time": "builtin_interfaces/msg/Time",
    "Duration": "builtin_interfaces/msg/Duration",
    "Header": "std_msgs/msg/Header",
    "Image": "sensor_msgs/msg/Image",
    "CameraInfo": "sensor_msgs/msg/CameraInfo",
    "RegionOfInterest": "sensor_msgs/msg/RegionOfInterest",
    "PointCloud2": "sensor_msgs/msg/PointCloud2",
    "PointField": "sensor_msgs/msg/PointField",
    "Point": "geometry_msgs/msg/Point",
    "Quaternion": "geometry_msgs/msg/Quaternion",
    "Vector3": "geometry_msgs/msg/Vector3",
    "Pose": "geometry_msgs/msg/Pose",
    "PoseStamped": "geometry_msgs/msg/PoseStamped",
    "PoseWithCovariance": "geometry_msgs/msg/PoseWithCovariance",
    "Transform": "geometry_msgs/msg/Transform",
    "TransformStamped": "geometry_msgs/msg/TransformStamped",
    "TFMessage": "tf2_msgs/msg/TFMessage",
    "Clock": "rosgraph_msgs/msg/Clock",
    "DiagnosticArray": "diagnostic_msgs/msg/DiagnosticArray",
    "DiagnosticStatus": "diagnostic_msgs/msg/DiagnosticStatus",
    "KeyValue": "diagnostic_msgs/msg/KeyValue",
    **{name.rsplit("/", 1)[1]: name for name in VISION_MSGS_DEFINITIONS},
}


def make_typestore(distro: str = "humble") -> Typestore:
    """The rosbags typestore of a ROS 2 distro with vision_msgs registered (cached per distro).

    Args:
        distro: "humble", "iron", "jazzy" or "kilted".

    Returns:
        A shared :class:`rosbags.typesys.store.Typestore`; do not register conflicting types in it.

    Raises:
        ValueError: Unknown distro (the message lists the known ones).
    """
    key = distro.lower()
    if key not in _STORES:
        raise ValueError(f"unknown ROS 2 distro {distro!r}; known: {', '.join(sorted(_STORES))}")
    if key not in _TYPESTORES:
        typestore = get_typestore(_STORES[key])
        types: dict[str, Any] = {}
        for name, text in VISION_MSGS_DEFINITIONS.items():
            types.update(get_types_from_msg(text, name))
        typestore.register(types)
        _TYPESTORES[key] = typestore
    return _TYPESTORES[key]


#: What to install when a message package is missing, by where ROS came from.
MISSING_PACKAGE_HINT = (
    "With ROS 2 from PyPI (`make setup`), `python -m gs_perception.ros.msg_packages` builds vision_msgs and "
    "tf2_msgs into the venv; with a distro install, `apt install ros-$ROS_DISTRO-vision-msgs "
    "ros-$ROS_DISTRO-tf2-msgs`."
)


class MissingMessagePackageError(ImportError):
    """A ROS 2 message package needed for one message class cannot be imported (rclpy backend)."""


class MessageTypes:
    """Message classes by short name (``types.Image``, ``types.Detection3DArray`` …) for one backend.

    With rclpy, each class is imported on first use: a node that never touches vision_msgs or tf2_msgs runs
    where they are not installed, and one that does fails naming the package
    (:class:`MissingMessagePackageError`).

    Attributes:
        classes: Short name → message class (for rclpy: those imported so far).
        type_names: Short name → full ROS type name ("sensor_msgs/msg/Image").
        backend: "rosbags" or "rclpy".
    """

    def __init__(self, classes: dict[str, type], backend: str) -> None:
        self.classes = dict(classes)
        known = MESSAGE_TYPE_NAMES if backend == "rclpy" else self.classes
        self.type_names = {name: MESSAGE_TYPE_NAMES[name] for name in known}
        self.backend = backend

    @classmethod
    def from_typestore(cls, typestore: Typestore | None = None) -> MessageTypes:
        """Classes from a rosbags typestore (default: :func:`make_typestore` for Humble)."""
        typestore = make_typestore() if typestore is None else typestore
        missing = [full for full in MESSAGE_TYPE_NAMES.values() if full not in typestore.types]
        if missing:
            raise ValueError(f"typestore lacks {missing}; build it with make_typestore()")
        classes = {short: typestore.types[full] for short, full in MESSAGE_TYPE_NAMES.items()}
        return cls(classes, backend="rosbags")

    @classmethod
    def from_rclpy(cls) -> MessageTypes:
        """Classes from the ROS 2 Python message packages, each imported when first used."""
        return cls({}, backend="rclpy")

    def __getattr__(self, name: str) -> type:
        # Only called for names not found normally, so the attributes above are unaffected.
        classes = self.__dict__.get("classes", {})
        if name in classes:
            return classes[name]
        if self.__dict__.get("backend") == "rclpy" and name in MESSAGE_TYPE_NAMES:
            missing = self.__dict__.setdefault("_missing", {})
            if name in missing:  # a failed import is not retried on every frame (sim_frame_messages asks)
                raise MissingMessagePackageError(missing[name])
            try:
                classes[name] = _import_rclpy_class(MESSAGE_TYPE_NAMES[name])
            except MissingMessagePackageError as err:
                missing[name] = str(err)
                raise
            return classes[name]
        raise AttributeError(f"no message type {name!r}; known: {', '.join(sorted(MESSAGE_TYPE_NAMES))}")

    def available(self, name: str) -> bool:
        """Whether the class ``name`` can be used (rosbags: always; rclpy: its package imports)."""
        try:
            getattr(self, name)
        except MissingMessagePackageError:
            return False
        return True

    def type_name(self, msg_or_short: object) -> str:
        """Full ROS type name of a short name, a message class or a message instance."""
        if isinstance(msg_or_short, str):
            return self.type_names[msg_or_short]
        cls = msg_or_short if isinstance(msg_or_short, type) else type(msg_or_short)
        for short, klass in self.classes.items():
            if klass is cls:
                return self.type_names[short]
        raise KeyError(f"{cls.__name__} is not one of this MessageTypes' classes")

    def sequence(self, values: np.ndarray) -> Any:
        """An unbounded primitive sequence field (``uint8[] data``, ``float64[] d``) for this backend.

        Args:
            values: 1-D numpy array with the field's dtype (uint8, float32 or float64).

        Returns:
            The array itself for rosbags; an ``array.array`` for rclpy (whose setters reject numpy there).
        """
        values = np.ascontiguousarray(values).reshape(-1)
        if self.backend == "rosbags":
            return values
        typecode = {np.dtype(np.uint8): "B", np.dtype(np.float32): "f", np.dtype(np.float64): "d"}[
            values.dtype
        ]
        out = array.array(typecode)
        out.frombytes(values.astype(values.dtype.newbyteorder("="), copy=False).tobytes())
        return out


def _import_rclpy_class(full_name: str) -> type:
    package, _, name = full_name.split("/")
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError as err:
        raise MissingMessagePackageError(
            f"{full_name} needs the ROS 2 package {package}, which cannot be imported ({err}). "
            f"{MISSING_PACKAGE_HINT}"
        ) from err
    return getattr(module, name)


def missing_message_packages() -> list[str]:
    """The ROS 2 message packages of :data:`MESSAGE_TYPE_NAMES` that cannot be imported (sorted)."""
    packages = sorted({full.split("/")[0] for full in MESSAGE_TYPE_NAMES.values()})
    missing = []
    for package in packages:
        try:
            importlib.import_module(f"{package}.msg")
        except ImportError:
            missing.append(package)
    return missing
