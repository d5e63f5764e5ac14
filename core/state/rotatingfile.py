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
        #: where the snapshot of `path` ends, then how far `read_new` has read
        self._current_end = self._complete_end(self._current)
        #: bytes after the last newline read: a record still being written
        self._pending = b""

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
        inotify: it needs no ctypes, and works on any filesystem; the API
        service waits on inotify instead and calls `read_new` itself).  Ends
        when `should_stop()` is true and one more look finds no new data; a
        caller may also simply stop iterating.
        """
        while True:
            records = self.read_new()
            yield from records
            if records:
                continue
            if should_stop():
                yield from self.read_new()
                return
            time.sleep(poll_interval)

    def read_new(self) -> list[bytes]:
        """The complete records written since the snapshot or the last call, at
        most about one chunk's worth ([] once caught up); never blocks.

        A rotation is followed to the new file once the old one is read to its
        end.  Two rotations between calls lose the generation in between; with
        a 1 MB limit that takes a flood of writes.
        """
        while True:
            if self._current is None:
                self._current = _open_or_none(self.path)
                self._current_end, self._pending = 0, b""
                if self._current is None:
                    return []
            chunk = os.pread(self._current, _FORWARD_CHUNK, self._current_end)
            if chunk:
                self._current_end += len(chunk)
                *records, self._pending = (self._pending + chunk).split(b"\n")
                if records:
                    return records
                continue  # one record longer than a chunk: read on to its end
            if not self._rotated_away(self._current):
                return []
            # The old generation is complete: whatever it held was read above.
            os.close(self._current)
            self._current = None

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
