"""CRIU's statistics files (stats-dump, stats-restore) for --print-stats.

A stats file is two magic numbers, a 32-bit length and one protobuf message
(images/stats.proto: stats_entry with a dump or a restore entry, all varint
fields).  Decoded by hand: a few varints do not warrant a protobuf dependency.
"""

from __future__ import annotations

import struct

SERVICE_MAGIC = 0x55105940
STATS_MAGIC = 0x57093306
DUMP_FIELDS = {1: "freezing_time", 2: "frozen_time", 3: "memdump_time", 4: "memwrite_time",
               5: "pages_scanned", 6: "pages_skipped_parent", 7: "pages_written", 8: "irmap_resolve",
               9: "pages_lazy", 10: "page_pipes", 11: "page_pipe_bufs", 12: "shpages_scanned",
               13: "shpages_skipped_parent", 14: "shpages_written"}
RESTORE_FIELDS = {1: "pages_compared", 2: "pages_skipped_cow", 3: "forking_time", 4: "restore_time",
                  5: "pages_restored"}


def read_stats(path: str) -> dict[str, int]:
    """The entry's fields by name; {} when the file is missing or not a stats file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 16)
        service, magic, length = struct.unpack_from("<III", data)
        if (service, magic) != (SERVICE_MAGIC, STATS_MAGIC):
            return {}
        entry = _fields(data[12:12 + length])
        for number, names in ((1, DUMP_FIELDS), (2, RESTORE_FIELDS)):
            if isinstance(entry.get(number), bytes):
                return {names[k]: v for k, v in _fields(entry[number]).items() if k in names}
    except (OSError, struct.error, IndexError, ValueError):
        pass
    return {}


def _fields(message: bytes) -> dict[int, int | bytes]:
    fields: dict[int, int | bytes] = {}
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields[number], position = _varint(message, position)
        elif wire_type == 2:
            length, position = _varint(message, position)
            fields[number] = message[position:position + length]
            position += length
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return fields


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
