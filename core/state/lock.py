"""Per-container locks: `fcntl.flock` on a lock file under the run root.

flock locks belong to the open file and die with the process, so a crashed
holder never leaves a stale lock, and a reboot (empty run root) needs no
cleanup.  The lock is re-entrant within one process (a depth count), which is
what lets `Container.batch` hold it across several public operations.
"""

from __future__ import annotations

import fcntl
import os

from ..define import StoreBusy


class FileLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with blocking=False return False when another process holds it."""
        if self._depth:
            self._depth += 1
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except InterruptedError:
            os.close(fd)
            raise StoreBusy(f"interrupted while waiting for lock {self.path}") from None
        self._fd, self._depth = fd, 1
        return True

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if not self._depth:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
