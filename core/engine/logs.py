"""Reading a container's k8s-file log (`userdata/ctr.log`) for `husk logs`.

The monitor writes one record per chunk of output:

    2026-11-28T22:06:43.123456789Z stdout F hello

`F` ends a line (the newline itself is not stored); `P` is a partial chunk that
the next record of the same stream continues.  Readers join partials back into
whole lines, give each line the time of the record that ended it (as podman
does), and skip records that do not parse.  The monitor rotates the log to
`ctr.log.1`, which is read first.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator

TYPE_CHECKING = False  # typing itself costs more to import than this module
if TYPE_CHECKING:
    from typing import BinaryIO

from ..state.rotatingfile import RotatingFile
from ..formats.timestamps import NS_PER_SECOND, format_rfc3339_nano, parse_rfc3339_ns

STREAMS = ("stdout", "stderr")


class LogLine:
    """One line of a container's output: its time, its stream, its bytes.

    `text` ends with b"\\n" unless the output ended without one (a partial
    line still pending when the container stopped).
    """

    __slots__ = ("time_ns", "stream", "text")

    def __init__(self, time_ns: int, stream: str, text: bytes) -> None:
        self.time_ns = time_ns
        self.stream = stream
        self.text = text

    @property
    def time(self) -> float:
        return self.time_ns / NS_PER_SECOND

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogLine):
            return NotImplemented
        return (self.time_ns, self.stream, self.text) == (other.time_ns, other.stream, other.text)

    def __repr__(self) -> str:
        return f"LogLine(time_ns={self.time_ns}, stream={self.stream!r}, text={self.text!r})"


def encode_record(time_ns: int, stream: str, text: bytes, *, partial: bool) -> bytes:
    """One record as the monitor writes it; `text` must not contain a newline."""
    return b"%s %s %s %s\n" % (format_rfc3339_nano(time_ns).encode(), stream.encode(), b"P" if partial else b"F", text)


def _parse_record(record: bytes) -> tuple[int, str, bool, bytes] | None:
    """(time_ns, stream, partial, text) of one record, or None if it is not one."""
    fields = record.split(b" ", 3)
    if len(fields) < 3 or fields[2] not in (b"F", b"P"):
        return None
    stream = fields[1].decode("ascii", "replace")
    if stream not in STREAMS:
        return None
    try:
        time_ns = parse_rfc3339_ns(fields[0].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return time_ns, stream, fields[2] == b"P", fields[3] if len(fields) == 4 else b""


class _Joiner:
    """Turns records into lines, holding each stream's partial chunks until its line ends."""

    def __init__(self) -> None:
        self._pending: dict[str, list[bytes]] = {}
        self._pending_time: dict[str, int] = {}

    def feed(self, record: tuple[int, str, bool, bytes]) -> LogLine | None:
        time_ns, stream, partial, text = record
        if partial:
            self._pending.setdefault(stream, []).append(text)
            self._pending_time[stream] = time_ns
            return None
        chunks = self._pending.pop(stream, [])
        self._pending_time.pop(stream, None)
        return LogLine(time_ns, stream, b"".join(chunks) + text + b"\n")

    def flush(self) -> list[LogLine]:
        """The unfinished lines, oldest last chunk first, without a newline."""
        lines = [LogLine(self._pending_time[s], s, b"".join(c)) for s, c in self._pending.items()]
        self._pending.clear()
        self._pending_time.clear()
        return sorted(lines, key=lambda line: line.time_ns)


def _tail_records(log_file: RotatingFile, count: int) -> list[tuple[int, str, bool, bytes]]:
    """The records, oldest first, that make up at least the last `count` lines.

    Reads backwards until it has `count` line ends, then keeps going only
    until every stream seen so far has reached the end of its previous line,
    so the oldest lines get all their partial chunks.  A big log costs a few
    blocks.  (So a partial line left by a stream silent for that whole stretch
    is not found; `read_log` without `tail` does yield it.)
    """
    records = []
    line_ends = 0
    streams_seen: set[str] = set()
    streams_closed: set[str] = set()
    for raw in log_file.backward():
        record = _parse_record(raw)
        if record is None:
            continue
        stream, partial = record[1], record[2]
        if line_ends < count:
            records.append(record)
            streams_seen.add(stream)
            line_ends += not partial
        elif stream in streams_closed:
            continue
        elif partial:
            records.append(record)
            streams_seen.add(stream)
        else:
            streams_closed.add(stream)
        if line_ends >= count and streams_closed >= streams_seen:
            break
    records.reverse()
    return records


def _in_window(line: LogLine, since_ns: int | None, until_ns: int | None) -> bool:
    return (since_ns is None or line.time_ns > since_ns) and (until_ns is None or line.time_ns < until_ns)


def _to_ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * NS_PER_SECOND)


def _initial_lines(
    log_file: RotatingFile, joiner: _Joiner, tail: int | None
) -> Iterator[LogLine]:
    """The snapshot's complete lines (all of them, or the last `tail`); partials stay in `joiner`."""
    if tail is not None and tail <= 0:
        return
    if tail is None:
        records = (record for record in map(_parse_record, log_file.forward()) if record is not None)
    else:
        records = iter(_tail_records(log_file, tail))
    lines = (joiner.feed(record) for record in records)
    complete = (line for line in lines if line is not None)
    if tail is None:
        yield from complete
    else:
        yield from collections.deque(complete, maxlen=tail)


def read_log(
    path: str, *, tail: int | None = None, since: float | None = None, until: float | None = None
) -> Iterator[LogLine]:
    """The lines in the log now: all, or the last `tail`, with since < time < until.

    A line still partial at the end of the log is yielded last, without its
    newline, and counts towards `tail`.  A missing log yields nothing.
    """
    since_ns, until_ns = _to_ns(since), _to_ns(until)
    joiner = _Joiner()
    with RotatingFile(path) as log_file:
        if tail is None:
            for line in _initial_lines(log_file, joiner, None):
                if _in_window(line, since_ns, until_ns):
                    yield line
            lines = joiner.flush()
        else:
            lines = (list(_initial_lines(log_file, joiner, tail)) + joiner.flush())[-tail:] if tail > 0 else []
    for line in lines:
        if _in_window(line, since_ns, until_ns):
            yield line


def follow_log(
    path: str,
    is_running: Callable[[], bool],
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    poll_interval: float = 0.1,
) -> Iterator[LogLine]:
    """`logs --follow`: the current lines (like `read_log`), then new ones as they are written.

    Ends once `is_running()` is false and the log has no more data, or when the
    clock passes `until`.  Partial lines are held until their line ends; any
    still pending at the end are yielded without a newline.  Polls every
    `poll_interval` seconds while idle.
    """
    with LogFollower(path, tail=tail, since=since, until=until) as follower:
        yield from follower.initial()
        while not follower.ended:
            lines = follower.new()
            yield from lines
            if lines:
                continue
            if not is_running():
                yield from follower.new()
                break
            time.sleep(poll_interval)
        yield from follower.rest()


class LogFollower:
    """A container's log from a point on, read when the caller asks:
    `initial()` once (the lines there now: all, the last `tail`, from
    `since`), then `new()` whenever the log may have grown ([] only once caught
    up), until `ended` (the clock passed `until`); `rest()` gives the partial
    lines pending at the end.  `follow_log` polls it; the API service waits on
    inotify instead."""

    def __init__(self, path: str, *, tail: int | None = None, since: float | None = None,
                 until: float | None = None) -> None:
        self.file = RotatingFile(path)
        self.tail = tail
        self.since_ns, self.until_ns = _to_ns(since), _to_ns(until)
        self.joiner = _Joiner()
        self._past_until = False

    def initial(self) -> Iterator[LogLine]:
        for line in _initial_lines(self.file, self.joiner, self.tail):
            if _in_window(line, self.since_ns, self.until_ns):
                yield line

    def new(self) -> list[LogLine]:
        lines: list[LogLine] = []
        while not lines and not self._past_until and (raws := self.file.read_new()):
            for raw in raws:
                record = _parse_record(raw)
                line = self.joiner.feed(record) if record is not None else None
                if line is None:
                    continue
                if self.until_ns is not None and line.time_ns >= self.until_ns:
                    self._past_until = True
                    break
                if _in_window(line, self.since_ns, self.until_ns):
                    lines.append(line)
        return lines

    @property
    def ended(self) -> bool:
        return self._past_until or (self.until_ns is not None and time.time_ns() > self.until_ns)

    def rest(self) -> list[LogLine]:
        if self._past_until:
            return []
        return [line for line in self.joiner.flush() if _in_window(line, self.since_ns, self.until_ns)]

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "LogFollower":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_lines(lines: Iterable[LogLine], out_stdout: BinaryIO, out_stderr: BinaryIO, timestamps: bool,
                mark: Callable[[bytes], bytes] | None = None) -> None:
    """Copy lines to the CLI's binary stdout / stderr, flushing each so `--follow` is live.

    With `timestamps`, each line starts with its RFC3339Nano time and a space,
    as `podman logs -t` prints it; `mark` then prefixes or colours the whole
    (husk.presentation.logs: the container's id or name goes before the time).
    """
    for line in lines:
        out = out_stderr if line.stream == "stderr" else out_stdout
        text = format_rfc3339_nano(line.time_ns).encode() + b" " + line.text if timestamps else line.text
        out.write(mark(text) if mark else text)
        out.flush()
