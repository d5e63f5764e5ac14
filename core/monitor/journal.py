"""``--log-driver journald``: the monitor's journal writer, loaded only for a
container whose configuration has journal fields."""

import _socket as socket
import _struct as struct

from .base import STREAM_STDERR, STREAM_STDOUT

#: where a running systemd journal listens (husk.state.journal's, restated: the monitor imports no husk)
JOURNAL_SOCKET = "/run/systemd/journal/socket"
#: the most of one line a journal entry carries (a longer line goes as several)
JOURNAL_LINE_MAX = 48 * 1024


class JournalWriter:
    """``--log-driver journald``: each line of output also goes to the journal, as
    conmon sends it (``MESSAGE``, ``PRIORITY`` 6 for stdout and 3 for stderr, and
    the container's ``fields``: CONTAINER_ID, CONTAINER_ID_FULL, CONTAINER_NAME,
    CONTAINER_TAG and SYSLOG_IDENTIFIER with a tag); a partial line waits for its
    end, or for the exit.  No ``fields``: nothing is sent.  The journal gone
    loses the entries, never the monitor."""

    def __init__(self, fields: dict) -> None:
        self.common = b"".join(b"%s=%s\n" % (k.encode(), str(v).encode()) for k, v in sorted(fields.items())
                               if "\n" not in str(v))
        self.partial = {STREAM_STDOUT: b"", STREAM_STDERR: b""}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if fields else None

    def write(self, stream: int, chunk: bytes) -> None:
        if self.sock is None:
            return
        lines = (self.partial.get(stream, b"") + chunk).split(b"\n")
        self.partial[stream] = lines.pop()
        for line in lines:
            self._send(stream, line)

    def _send(self, stream: int, line: bytes) -> None:
        priority = b"3" if stream == STREAM_STDERR else b"6"
        for start in range(0, max(len(line), 1), JOURNAL_LINE_MAX):
            part = line[start:start + JOURNAL_LINE_MAX]
            try:
                self.sock.sendto(b"MESSAGE\n" + struct.pack("<Q", len(part)) + part + b"\nPRIORITY=" + priority
                                 + b"\n" + self.common, JOURNAL_SOCKET)
            except OSError:
                return

    def close(self) -> None:
        if self.sock is None:
            return
        for stream, rest in self.partial.items():
            if rest:
                self._send(stream, rest)
        self.sock.close()
        self.sock = None
