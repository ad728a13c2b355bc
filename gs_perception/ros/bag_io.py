"""ROS 2 bags without ROS: write and read rosbag2 (sqlite3 or mcap) with rosbags 0.11.

- :class:`BagWriter` serialises rosbags messages (see :class:`~gs_perception.ros.typestore.MessageTypes`)
  to CDR and adds one connection per topic on first use. Latched topics (``vision_msgs/LabelInfo`` and any
  listed in ``transient_local_topics``) are recorded with a transient-local offered QoS so ``ros2 bag play``
  republishes them latched; other topics get reliable/volatile.
- :func:`read_bag` yields :class:`BagMessage` in log-time order with the bag's embedded definitions (the
  vision_msgs-aware store of :func:`~gs_perception.ros.typestore.make_typestore` is the fallback for bags
  without them). A message that fails to deserialise is skipped with a :class:`BagReadWarning` naming topic
  and time; reading never stops mid-bag.

rosbags 0.11 facts used here: ``Writer`` needs ``version=`` (8 or 9). Version 8 stores
``offered_qos_profiles`` as a YAML string (the older form, which Humble's rosbag2 parses); version 9 as a
list. We default to 8 so Humble and Jazzy can both play our bags. Messages read back are instances of
classes generated from the bag's own definitions, not of the writer's typestore classes: compare them field
by field, not with ``==`` (which also fails on numpy array fields).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from .typestore import make_typestore

STORAGE_PLUGINS: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
LATCHED_MSGTYPES: frozenset[str] = frozenset({"vision_msgs/msg/LabelInfo"})
"""Message types recorded transient-local by default (published once, needed by late subscribers)."""

DEFAULT_BAG_VERSION = 8


class BagReadWarning(RuntimeWarning):
    """A bag message was skipped (undecodable); the text names topic and timestamp."""


def offered_qos(transient_local: bool) -> Qos:
    """The offered QoS recorded for a topic: reliable, keep-last; transient-local (depth 1) or volatile (10).

    Zero durations are rosbag2's "unspecified / default" (no deadline, lifespan or lease).
    """
    zero = QosTime(sec=0, nsec=0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=1 if transient_local else 10,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


class BagWriter:
    """Context manager writing rosbags messages to a new rosbag2 directory.

    Args:
        path: Bag directory to create; it must not exist (parents are created).
        storage: "sqlite3" or "mcap".
        distro: Typestore distro (:func:`make_typestore`) used for serialisation and definitions.
        typestore: Use this store instead (it must know every message type written).
        version: rosbag2 metadata version, 8 or 9 (see module docstring).
        transient_local_topics: Topics to record as latched besides those of :data:`LATCHED_MSGTYPES`.

    Raises:
        FileExistsError: ``path`` exists (bags are never overwritten).
        ValueError: Unknown storage.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        storage: str = "sqlite3",
        distro: str = "humble",
        typestore: Typestore | None = None,
        version: int = DEFAULT_BAG_VERSION,
        transient_local_topics: Iterable[str] = (),
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already; not overwriting (choose a new path)")
        if storage not in STORAGE_PLUGINS:
            raise ValueError(f"unknown bag storage {storage!r}; use one of {sorted(STORAGE_PLUGINS)}")
        self.storage = storage
        self.typestore = make_typestore(distro) if typestore is None else typestore
        self.transient_local_topics = frozenset(transient_local_topics)
        self.counts: dict[str, int] = {}
        self._writer = Writer(self.path, version=version, storage_plugin=STORAGE_PLUGINS[storage])
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # rosbags' own __exit__ closes (writes metadata.yaml) on success and aborts on error.
        self._writer.__exit__(exc_type, exc, tb)

    @property
    def raw_writer(self) -> Writer:
        """The underlying ``rosbags.rosbag2.Writer`` (for tools and tests that write raw CDR)."""
        return self._writer

    def add_topic(self, topic: str, msgtype: str, transient_local: bool | None = None) -> Connection:
        """The topic's connection, created on first use (later calls must give the same type).

        Args:
            topic: Topic name.
            msgtype: Full type name, e.g. "sensor_msgs/msg/Image".
            transient_local: Offered durability; default: latched iff the type is in :data:`LATCHED_MSGTYPES`
                or the topic is in ``transient_local_topics``.
        """
        if topic in self._connections:
            conn = self._connections[topic]
            if conn.msgtype != msgtype:
                raise ValueError(f"topic {topic} already has type {conn.msgtype}, cannot write {msgtype}")
            return conn
        if transient_local is None:
            transient_local = msgtype in LATCHED_MSGTYPES or topic in self.transient_local_topics
        conn = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=[offered_qos(transient_local)]
        )
        self._connections[topic] = conn
        self.counts[topic] = 0
        return conn

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Serialise ``msg`` (a rosbags message: ``__msgtype__`` names its type) at log time ``stamp_ns``."""
        msgtype = getattr(msg, "__msgtype__", None)
        if msgtype is None:
            raise TypeError(f"{type(msg).__name__} is not a rosbags message (no __msgtype__); topic {topic}")
        data = self.typestore.serialize_cdr(msg, msgtype)
        self.write_raw(topic, msgtype, data, stamp_ns)

    def write_raw(self, topic: str, msgtype: str, data: bytes | memoryview, stamp_ns: int) -> None:
        """Write already-serialised CDR bytes (no check that they decode)."""
        self._writer.write(self.add_topic(topic, msgtype), int(stamp_ns), data)
        self.counts[topic] += 1


@dataclass(frozen=True)
class BagMessage:
    """One message read from a bag.

    Attributes:
        topic: Topic name.
        msgtype: Full type name ("sensor_msgs/msg/Image").
        stamp_ns: Log (receive) time in nanoseconds, as recorded.
        msg: The deserialised message (rosbags dataclass with rclpy's field names).
    """

    topic: str
    msgtype: str
    stamp_ns: int
    msg: Any


def _open_reader(path: Path | str, distro: str) -> AnyReader:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    return AnyReader([path], default_typestore=make_typestore(distro))


def read_bag(
    path: Path | str, topics: Iterable[str] | None = None, distro: str = "humble"
) -> Iterator[BagMessage]:
    """Messages of a rosbag2 directory (sqlite3 or mcap), in log-time order.

    Args:
        path: Bag directory.
        topics: Only these topics (default: all); topics absent from the bag are ignored.
        distro: Typestore for bags without embedded message definitions.

    Yields:
        :class:`BagMessage`; undecodable messages are skipped with a :class:`BagReadWarning`.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
    """
    wanted = None if topics is None else set(topics)
    with _open_reader(path, distro) as reader:
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not connections:  # an empty filter would mean "all" to rosbags
            return
        for conn, stamp_ns, raw in reader.messages(connections=connections):
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as err:  # any decoding failure: skip this message, keep reading the bag
                warnings.warn(
                    f"skipping undecodable {conn.msgtype} message on {conn.topic} at {stamp_ns} ns "
                    f"in {path}: {type(err).__name__}: {err}",
                    BagReadWarning,
                    stacklevel=2,
                )
                continue
            yield BagMessage(conn.topic, conn.msgtype, int(stamp_ns), msg)


def bag_topics(path: Path | str, distro: str = "humble") -> dict[str, str]:
    """Topic → full message type of a bag (sorted by topic)."""
    with _open_reader(path, distro) as reader:
        return {c.topic: c.msgtype for c in sorted(reader.connections, key=lambda c: c.topic)}


def bag_message_counts(path: Path | str, distro: str = "humble") -> dict[str, int]:
    """Topic → number of messages recorded (from the bag's index, without decoding)."""
    counts: dict[str, int] = {}
    with _open_reader(path, distro) as reader:
        for conn in reader.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + int(conn.msgcount)
    return dict(sorted(counts.items()))
