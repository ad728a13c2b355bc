"""ROS 2 bags without ROS: write and read rosbag2 (sqlite3 or mcap) with rosbags 0.11.

- :class:`BagWriter` serialises rosbags messages (see :class:`~gs_perception.ros.typestore.MessageTypes`)
  to CDR and adds one connection per topic on first use. Latched topics (``vision_msgs/LabelInfo`` and any
  listed in ``transient_local_topics``) are recorded with a transient-local offered QoS so ``ros2 bag play``
  republishes them latched; other topics get reliable/volatile.
- :class:`BagReader` (and :func:`read_bag`) yields :class:`BagMessage` in log-time order with the bag's
  embedded definitions (the vision_msgs-aware store of :func:`~gs_perception.ros.typestore.make_typestore`
  is the fallback for bags without them). It opens a bag folder, a folder without metadata.yaml, or a lone
  .db3 / .mcap file (rosbags reads those directly). A storage file cut short by a killed recording is read
  as far as it is intact (ros/bag_storage.py) and :class:`BagDamage` says what was lost; a file that is not
  a bag at all is a :class:`BagError` naming it. A message that fails to deserialise is skipped with a
  :class:`BagReadWarning` naming topic and time.

rosbags 0.11 facts used here: ``Writer`` needs ``version=`` (8 or 9). Version 8 stores
``offered_qos_profiles`` as a YAML string (the older form, which Humble's rosbag2 parses); version 9 as a
list. We default to 8 so Humble and Jazzy can both play our bags. Messages read back are instances of
classes generated from the bag's own definitions, not of the writer's typestore classes: compare them field
by field, not with ``==`` (which also fails on numpy array fields).
"""

from __future__ import annotations

import contextlib
import tempfile
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

from .bag_storage import BagError, recorded_count, salvage, storage_files
from .typestore import make_typestore

STORAGE_PLUGINS: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
LATCHED_MSGTYPES: frozenset[str] = frozenset({"vision_msgs/msg/LabelInfo"})
"""Message types recorded transient-local by default (published once, needed by late subscribers)."""

DEFAULT_BAG_VERSION = 8


class BagReadWarning(RuntimeWarning):
    """A bag message was skipped (undecodable; the text names topic and timestamp), or a damaged bag's
    unreadable part (the text names the file and what was lost)."""


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


@dataclass(frozen=True)
class BagDamage:
    """What was wrong with a bag that was read anyway, as far as it was intact.

    Attributes:
        problems: One line per damaged storage file (or per read that stopped early), naming the file.
        lost: Recorded messages that could not be read: metadata.yaml's count minus the readable ones, plus
            the unread rest of a read that stopped. None when nothing tells how many were recorded.
    """

    problems: tuple[str, ...]
    lost: int | None

    def __str__(self) -> str:
        lost = "an unknown number of" if self.lost is None else str(self.lost)
        return f"{'; '.join(self.problems)} ({lost} messages lost)"


class BagReader:
    """Context manager reading a rosbag2 bag: a bag folder, a folder holding only its .db3/.mcap files (a
    copy without metadata.yaml, a killed recording), or one such file.

    A storage file that does not open (a recording killed mid-write: a cut .db3, an MCAP without footer) is
    salvaged: its intact part is copied into a temporary file (removed on exit) that is read instead, and
    :attr:`damage` says what was lost. Undecodable messages are skipped with a :class:`BagReadWarning` and
    counted in :attr:`undecodable`.

    Args:
        path: Bag folder or storage file.
        distro: Typestore for bags without embedded message definitions.

    Raises (on entering):
        FileNotFoundError: ``path`` does not exist.
        BagError: Not a bag, or nothing of it is readable; one line naming the file and the problem.
    """

    def __init__(self, path: Path | str, distro: str = "humble") -> None:
        self.path = Path(path)
        self.distro = distro
        self.damage: BagDamage | None = None
        self.undecodable = 0
        self._reader: AnyReader | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> BagReader:
        if not self.path.exists():
            raise FileNotFoundError(f"bag not found: {self.path}")
        try:
            self._reader = self._open()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    @property
    def topics(self) -> dict[str, str]:
        """Topic → full message type (sorted by topic)."""
        return {c.topic: c.msgtype for c in sorted(self._open_reader().connections, key=lambda c: c.topic)}

    @property
    def counts(self) -> dict[str, int]:
        """Topic → messages recorded (readable ones of a salvaged file), from the index, not decoded."""
        counts: dict[str, int] = {}
        for conn in self._open_reader().connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + int(conn.msgcount)
        return dict(sorted(counts.items()))

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages in log-time order, of ``topics`` only (default: all; topics not in the bag are ignored).

        Storage damage met while reading (a bad chunk, a malformed page) ends the read with a
        :class:`BagReadWarning` and is added to :attr:`damage`.
        """
        reader, wanted = self._open_reader(), None if topics is None else set(topics)
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not connections:  # an empty filter would mean "all" to rosbags
            return
        stream, read = reader.messages(connections=connections), 0
        while True:
            try:
                conn, stamp_ns, raw = next(stream)
            except StopIteration:
                return
            except Exception as err:  # rosbags raises many kinds on damaged storage: stop, keep what was read
                self._stopped(read, sum(c.msgcount for c in connections) - read, err)
                return
            read += 1
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as err:  # any decoding failure: skip this message, keep reading the bag
                self.undecodable += 1
                warnings.warn(
                    f"skipping undecodable {conn.msgtype} message on {conn.topic} at {stamp_ns} ns "
                    f"in {self.path}: {type(err).__name__}: {err}",
                    BagReadWarning,
                    stacklevel=2,
                )
                continue
            yield BagMessage(conn.topic, conn.msgtype, int(stamp_ns), msg)

    def _open_reader(self) -> AnyReader:
        if self._reader is None:
            raise RuntimeError("BagReader is not open (use it in a with block)")
        return self._reader

    def _any(self, paths: list[Path]) -> AnyReader:
        reader = AnyReader(paths, default_typestore=make_typestore(self.distro))
        reader.open()
        return reader

    def _open(self) -> AnyReader:
        folder_error = None
        if (self.path / "metadata.yaml").is_file():
            try:
                return self._any([self.path])
            except Exception as err:  # damaged storage or metadata: the storage files on their own tell which
                folder_error = err
        files = storage_files(self.path, folder_error)
        readable, problems = [], []
        for file in files:
            try:
                self._any([file]).close()
                readable.append(file)
            except Exception as err:  # rosbags raises many kinds on damaged files (its own, struct, apsw)
                readable.append(self._salvage(file, err))
                problems.append(f"{file} is cut short or damaged ({_why(err, file)}); read its intact part")
        if folder_error is not None and not problems:
            problem = f"{self.path / 'metadata.yaml'} unusable ({_why(folder_error)}); read the storage files"
            warnings.warn(problem, BagReadWarning, stacklevel=3)
        reader = self._any(readable)
        if problems:
            recorded = recorded_count(self.path)
            lost = None if recorded is None else max(recorded - reader.message_count, 0)
            self.damage = BagDamage(tuple(problems), lost)
        return reader

    def _salvage(self, file: Path, err: Exception) -> Path:
        """A temporary copy of the intact part of ``file``; BagError when nothing of it is readable."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="gs_perception_bag_")
        copy = Path(self._scratch.name) / file.name
        readable = 0
        with contextlib.suppress(Exception):  # not even the start of a bag: the first error says why
            salvage(file, copy)
            reader = self._any([copy])
            readable = reader.message_count
            reader.close()
        if not readable:
            kind = "MCAP" if file.suffix == ".mcap" else "sqlite3"
            raise BagError(f"cannot read {file}: not a readable ROS 2 {kind} bag file ({_why(err, file)})")
        return copy

    def _stopped(self, read: int, unread: int, err: Exception) -> None:
        problem = f"reading {self.path} stopped after {read} messages ({_why(err)})"
        warnings.warn(f"{problem}; {unread} messages unread", BagReadWarning, stacklevel=3)
        before = self.damage or BagDamage((), 0)
        lost = None if before.lost is None else before.lost + max(unread, 0)
        self.damage = BagDamage((*before.problems, problem), lost)


def _why(err: BaseException, file: Path | None = None) -> str:
    """The error's text without rosbags' repetition of the file name (our messages start with it)."""
    text = str(err).replace(f" '{file}'", "").replace(f" {file}", "") if file else str(err)
    return text.strip().rstrip(".") or type(err).__name__


def read_bag(
    path: Path | str, topics: Iterable[str] | None = None, distro: str = "humble"
) -> Iterator[BagMessage]:
    """Messages of a bag (see :class:`BagReader` for what it opens and salvages), in log-time order.

    Args:
        path: Bag folder, or a lone .db3 / .mcap file.
        topics: Only these topics (default: all); topics absent from the bag are ignored.
        distro: Typestore for bags without embedded message definitions.

    Yields:
        :class:`BagMessage`; undecodable messages are skipped with a :class:`BagReadWarning`, and so is a
        damaged bag's unreadable part (one warning saying what was lost).

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        BagError: Not a bag, or nothing of it is readable.
    """
    with BagReader(path, distro) as bag:
        if bag.damage is not None:
            warnings.warn(f"damaged bag: {bag.damage}", BagReadWarning, stacklevel=2)
        yield from bag.messages(topics)


def bag_topics(path: Path | str, distro: str = "humble") -> dict[str, str]:
    """Topic → full message type of a bag (sorted by topic)."""
    with BagReader(path, distro) as bag:
        return bag.topics


def bag_message_counts(path: Path | str, distro: str = "humble") -> dict[str, int]:
    """Topic → number of messages recorded (from the bag's index, without decoding)."""
    with BagReader(path, distro) as bag:
        return bag.counts
