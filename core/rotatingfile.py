"""Reading a newline-delimited file that its writer rotates to `path + ".1"`.

Both the events log and a container's k8s-file log are rotated the same way:
when `path` grows too big its writer renames it to `path.1` (dropping the older
`.1`) and starts a new `path`.  Readers therefore take a snapshot of both
generations, older first, and a follower notices the rename by the inode at
`path` changing.  Only complete records are ever returned: bytes after the last
newline belong to a write in progress (or a torn one) and are left for later.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

BLOCK_SIZE = 64 * 1024
_FORWARD_CHUNK = 1024 * 1024


def _open_or_none(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


class RotatingFile:
    """A snapshot of `path.1` and `path`, readable forwards or backwards, then followable.

    Use as a context manager so the descriptors are closed.  The snapshot ends
    at the last newline of `path` when it was opened; `follow` continues from
    there.  The current file is opened before the old one: if a rotation slips
    in between, both descriptors name the same file and the old one is dropped,
    so a record is never read twice (the generation that rotation dropped is
    gone for every reader anyway).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._current = _open_or_none(path)
        self._old = _open_or_none(path + ".1")
        if self._current is not None and self._old is not None:
            if os.fstat(self._current).st_ino == os.fstat(self._old).st_ino:
                os.close(self._old)
                self._old = None
        self._old_end = self._complete_end(self._old)
        self._current_end = self._complete_end(self._current)

    def __enter__(self) -> "RotatingFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._current, self._old):
            if fd is not None:
                os.close(fd)
        self._current = self._old = None

    @staticmethod
    def _complete_end(fd: int | None) -> int:
        """Offset just past the last newline of the file (0 if it has none)."""
        if fd is None:
            return 0
        end = os.fstat(fd).st_size
        while end > 0:
            start = max(0, end - BLOCK_SIZE)
            block = os.pread(fd, end - start, start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
        return 0

    def forward(self) -> Iterator[bytes]:
        """Every complete record of the snapshot, oldest first, without its newline."""
        for fd, end in ((self._old, self._old_end), (self._current, self._current_end)):
            if fd is not None:
                yield from _records_forward(fd, 0, end)

    def backward(self) -> Iterator[bytes]:
        """Every complete record of the snapshot, newest first, reading blocks from the end."""
        for fd, end in ((self._current, self._current_end), (self._old, self._old_end)):
            if fd is not None:
                yield from _records_backward(fd, end)

    def skip_to_end(self) -> None:
        """Forget the snapshot's contents: `follow` then yields only what is written later."""
        if self._old is not None:
            os.close(self._old)
            self._old = None

    def follow(self, should_stop: Callable[[], bool], poll_interval: float = 0.1) -> Iterator[bytes]:
        """Records written after the snapshot, as they come, across rotations.

        Polls every `poll_interval` seconds while idle (polling rather than
        inotify: it needs no ctypes, and works on any filesystem).  Ends when
        `should_stop()` is true and one more look finds no new data; a caller
        may also simply stop iterating.  Two rotations within one poll lose the
        generation in between; with a 1 MB limit that takes a flood of writes.
        """
        fd = self._current
        offset = self._current_end
        pending = b""
        while True:
            if fd is None:
                fd = _open_or_none(self.path)
                offset, pending = 0, b""
                self._current = fd
            got_data = False
            if fd is not None:
                while chunk := os.pread(fd, _FORWARD_CHUNK, offset):
                    got_data = True
                    offset += len(chunk)
                    *records, pending = (pending + chunk).split(b"\n")
                    yield from records
                if self._rotated_away(fd):
                    # The old generation is complete: whatever it held was read above.
                    os.close(fd)
                    fd = self._current = None
                    continue
            if got_data:
                continue
            if should_stop():
                if fd is not None and os.fstat(fd).st_size > offset:
                    continue
                return
            time.sleep(poll_interval)

    def _rotated_away(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(fd).st_ino
        except FileNotFoundError:
            return False


def _records_forward(fd: int, start: int, end: int) -> Iterator[bytes]:
    pending = b""
    offset = start
    while offset < end:
        chunk = os.pread(fd, min(_FORWARD_CHUNK, end - offset), offset)
        if not chunk:
            break
        offset += len(chunk)
        *records, pending = (pending + chunk).split(b"\n")
        yield from records


def _records_backward(fd: int, end: int) -> Iterator[bytes]:
    """Records of `fd[:end]` newest first; `end` must sit just past a newline (or be 0)."""
    position = end
    head = b""  # the start of a record whose beginning lies in an earlier block
    first = True
    while position > 0:
        start = max(0, position - BLOCK_SIZE)
        parts = (os.pread(fd, position - start, start) + head).split(b"\n")
        position = start
        if first:
            parts.pop()  # empty: the snapshot ends at a newline
            first = False
        head = parts[0]
        yield from reversed(parts[1:])
    if not first:
        yield head
