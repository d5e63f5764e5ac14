"""Events in the systemd journal: `--events-backend journald`.

Where a journal runs (its socket exists), each event is also sent to it, with
the fields podman's journald backend writes (`PODMAN_EVENT`, `PODMAN_TYPE`,
`PODMAN_TIME`, `PODMAN_ID`, `PODMAN_NAME`, `PODMAN_IMAGE`, `PODMAN_LABELS`,
`PODMAN_EXIT_CODE`, `PODMAN_HEALTH_STATUS`) under `SYSLOG_IDENTIFIER=husk`
and podman's line as the MESSAGE, so `journalctl -t husk` shows them.  husk's
own events log is written as well: `husk events` and the API read it (their
filters, `--since`, streaming and the API's waits work as with `file`).

Sent over the journal's native protocol (a datagram of `KEY=value` fields;
a value holding a newline is sent with its length), with the standard
library only.  The journal going away never fails the command that emits.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import Event

#: where a running systemd journal listens
JOURNAL_SOCKET = "/run/systemd/journal/socket"
#: the `priority` of an event: informational, as podman's
PRIORITY_INFO = "6"


def journal_running(path: str = JOURNAL_SOCKET) -> bool:
    return os.path.exists(path)


def event_fields(event: "Event") -> dict[str, str]:
    """The journal fields podman's journald backend writes for an event."""
    from ..formats.timestamps import format_rfc3339_nano
    from .events import HEALTH_ATTRIBUTE, format_line

    fields = {"MESSAGE": format_line(event), "PRIORITY": PRIORITY_INFO, "SYSLOG_IDENTIFIER": "husk",
              "PODMAN_EVENT": event.status, "PODMAN_TYPE": event.type,
              "PODMAN_TIME": format_rfc3339_nano(event.time_ns)}
    for key, value in (("PODMAN_ID", event.id), ("PODMAN_NAME", event.name), ("PODMAN_IMAGE", event.image)):
        if value:
            fields[key] = value
    attributes = dict(event.attributes)
    if "containerExitCode" in attributes:
        fields["PODMAN_EXIT_CODE"] = attributes.pop("containerExitCode")
    if HEALTH_ATTRIBUTE in attributes:
        fields["PODMAN_HEALTH_STATUS"] = attributes.pop(HEALTH_ATTRIBUTE)
    for key in ("image", "name"):
        attributes.pop(key, None)
    if attributes and event.type == "container":
        fields["PODMAN_LABELS"] = json.dumps(attributes, separators=(",", ":"), sort_keys=True)
    return fields


def encode(fields: dict[str, str]) -> bytes:
    """The native protocol's datagram."""
    parts = []
    for key, value in fields.items():
        data = value.encode()
        if b"\n" in data:
            parts.append(key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(key.encode() + b"=" + data + b"\n")
    return b"".join(parts)


def send(event: "Event", path: str = JOURNAL_SOCKET) -> None:
    """Send `event` to the journal at `path`; nothing happens when it is not there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(encode(event_fields(event)), path)
        except OSError:
            pass  # the journal stopped (or is full): the event is still in husk's own log
