"""The storage files of a rosbag2 bag: find them, read metadata.yaml's count, salvage cut ones.

:func:`salvage` writes a new, well-formed storage file holding what could be read of one cut short (a killed
recording, a partial copy); rosbags then reads it like any other (:class:`~gs_perception.ros.bag_io.BagReader`
does this when a file does not open). Neither format needs more than its own specification: MCAP records are
length-prefixed, and sqlite reads any page that is still there.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class BagError(ValueError):
    """A bag that cannot be read: the message is one line naming the file and what is wrong with it."""


def storage_files(path: Path, folder_error: Exception | None) -> list[Path]:
    """The .db3/.mcap files of a bag folder (or the file itself); BagError when there are none."""
    if path.is_file():
        if path.suffix in (".db3", ".mcap"):
            return [path]
        raise BagError(f"{path}: not a ROS 2 bag (expected a bag folder, a .db3 or an .mcap file)")
    files = sorted(p for p in path.iterdir() if p.suffix in (".db3", ".mcap") and p.is_file())
    if not files:
        why = f"metadata.yaml: {str(folder_error).rstrip('.')}" if folder_error else "no metadata.yaml"
        raise BagError(f"{path}: not a ROS 2 bag folder ({why}; no .db3 or .mcap file in it)")
    return files


def recorded_count(path: Path) -> int | None:
    """Messages the bag's metadata.yaml says were recorded (None without a readable one)."""
    try:
        info = YAML(typ="safe").load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return int(info["message_count"])
    except (OSError, YAMLError, KeyError, TypeError, ValueError):
        return None


def salvage(src: Path, dst: Path) -> None:
    """Write the readable part of the .mcap or .db3 file ``src`` to the new file ``dst`` (same suffix).

    Raises:
        ValueError: ``src`` is not an MCAP or SQLite file at all.
    """
    (_salvage_mcap if src.suffix == ".mcap" else _salvage_sqlite)(src, dst)


_MCAP_MAGIC = b"\x89MCAP0\r\n"
_MCAP_FOOTER, _MCAP_CHUNK, _MCAP_DATA_END = 0x02, 0x06, 0x0F
_MCAP_CHUNK_CONTENT = (0x03, 0x04, 0x05)  # schema, channel, message


def _mcap_record(op: int, body: bytes) -> bytes:
    return bytes([op]) + len(body).to_bytes(8, "little") + body


def _salvage_mcap(src: Path, dst: Path) -> None:
    """Copy the complete records of an MCAP file that was cut short, then close it with a summary-less footer.

    A record is opcode (1 byte), length (u64 LE), body. Of an incomplete last chunk, the complete schema,
    channel and message records are kept as top-level records when it is uncompressed (a compressed one is
    lost: at most one chunk, about a MiB). Readers scan a data section without summary (rosbags does).
    """
    size = src.stat().st_size
    with src.open("rb") as f, dst.open("wb") as g:
        if f.read(8) != _MCAP_MAGIC:
            raise ValueError(f"{src}: no MCAP magic")
        g.write(_MCAP_MAGIC)
        pos = 8
        while pos + 9 <= size:
            op, length = f.read(1)[0], int.from_bytes(f.read(8), "little")
            if op in (_MCAP_FOOTER, _MCAP_DATA_END):
                break
            body = f.read(min(length, size - pos - 9))
            if len(body) < length:
                g.write(_chunk_records(body) if op == _MCAP_CHUNK else b"")
                break
            g.write(_mcap_record(op, body))
            pos += 9 + length
        g.write(_mcap_record(_MCAP_DATA_END, bytes(4)) + _mcap_record(_MCAP_FOOTER, bytes(20)) + _MCAP_MAGIC)


def _chunk_records(body: bytes) -> bytes:
    """The complete schema, channel and message records of a cut uncompressed chunk's body."""
    if len(body) < 32:
        return b""
    name_len = int.from_bytes(body[28:32], "little")  # after start, end, size (u64), crc (u32)
    if name_len:  # compressed: a cut frame is not worth decoding
        return b""
    data, pos, out = body[40:], 0, bytearray()  # after the empty name and the records' length (u64)
    while pos + 9 <= len(data):
        end = pos + 9 + int.from_bytes(data[pos + 1 : pos + 9], "little")
        if end > len(data):
            break
        if data[pos] in _MCAP_CHUNK_CONTENT:
            out += data[pos:end]
        pos = end
    return bytes(out)


_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_PROBE = 10_000
"""Rowids tried one by one past an unreadable page before the rest of a table is given up."""


def _salvage_sqlite(src: Path, dst: Path) -> None:
    """Copy the readable rows of a cut or damaged rosbag2 sqlite3 file into a new database ``dst``.

    sqlite refuses a file shorter than the page count in its header, so a page-aligned copy with that count
    corrected is read. Its tables are recreated and their rows copied in rowid order, skipping unreadable
    pages (rows were appended in time order, so a cut loses the last ones).
    """
    with src.open("rb") as f:
        head = f.read(100)
    if not head.startswith(_SQLITE_MAGIC) or len(head) < 100:
        raise ValueError(f"{src}: not an SQLite file")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page  # the header's encoding of the largest page size
    cut = dst.with_name(dst.name + ".cut")
    shutil.copyfile(src, cut)
    try:
        pages = cut.stat().st_size // page
        with cut.open("r+b") as f:
            f.truncate(pages * page)
            f.seek(28)  # the header's database size in pages
            f.write(pages.to_bytes(4, "big"))
        # Two connections, not ATTACH: a corruption error in one database of a transaction fails its commit.
        old, new = sqlite3.connect(cut), sqlite3.connect(dst)
        try:
            old.execute("PRAGMA writable_schema = ON")  # accept schema rows whose root pages were cut off
            schema = old.execute("SELECT type, name, sql FROM sqlite_master WHERE sql NOT NULL").fetchall()
            tables = [(name, sql) for kind, name, sql in schema if kind == "table" and name[:7] != "sqlite_"]
            for name, sql in tables:
                new.execute(sql)
                _copy_rows(old, new, name)
            for kind, _, sql in schema:
                if kind == "index":  # rebuilt from the copied rows: rosbags reads in timestamp order
                    new.execute(sql)
            new.commit()
        finally:
            old.close()
            new.close()
    finally:
        cut.unlink(missing_ok=True)


def _copy_rows(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> None:
    """Copy the rows of ``table`` in rowid order, stepping over unreadable pages."""
    scan = f'SELECT rowid FROM "{table}" WHERE rowid > ? ORDER BY rowid'
    last, misses = 0, 0
    while misses < _SQLITE_PROBE:
        try:
            for (rowid,) in old.execute(scan, (last,)):
                last, misses = rowid, 0
                _copy_row(old, new, table, rowid)
            return
        except sqlite3.DatabaseError:  # a page of the table's tree is missing: probe the next rowid
            last, misses = last + 1, misses + 1
            if _copy_row(old, new, table, last):
                misses = 0


def _copy_row(old: sqlite3.Connection, new: sqlite3.Connection, table: str, rowid: int) -> bool:
    try:  # fails when the row (or its overflow pages) lies in the cut part
        row = old.execute(f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
    except sqlite3.DatabaseError:
        return False
    if row is not None:
        new.execute(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(row))})', row)
    return row is not None
