"""Per-container locks: `fcntl.flock` on a lock file under the run root.

flock locks belong to the open file and die with the process, so a crashed
holder never leaves a stale lock, and a reboot (empty run root) needs no
cleanup.  The lock is re-entrant within the thread that holds it (a depth
count), which is what lets `Container.batch` hold it across several public
operations.  Other threads sharing the object wait as other processes do: a
build's watcher thread kills a RUN container while the stage's thread removes
it, and a depth count shared between threads let both in at once (and close
the lock's descriptor under the other: EBADF).
"""

from __future__ import annotations

import fcntl
import os
import threading

from ..define import StoreBusy


class FileLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._depth = 0
        #: the thread holding the lock, and what the other threads of the process wait on
        self._holder: int | None = None
        self._threads = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether the calling thread holds the lock (another thread's hold is
        not this thread's: it would block on acquire)."""
        return self._holder == threading.get_ident()

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with blocking=False return False when another process or thread holds it."""
        if self._holder == threading.get_ident():
            self._depth += 1
            return True
        if not self._threads.acquire(blocking):
            return False
        try:
            fd = self._open()
        except BaseException:
            self._threads.release()
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BaseException as exc:
            os.close(fd)
            self._threads.release()
            if isinstance(exc, BlockingIOError):
                return False
            if isinstance(exc, InterruptedError):
                raise StoreBusy(f"interrupted while waiting for lock {self.path}") from None
            raise
        self._fd, self._depth, self._holder = fd, 1, threading.get_ident()
        return True

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def release(self) -> None:
        """Release one hold of this thread's (a thread that does not hold the lock releases nothing)."""
        if self._holder != threading.get_ident():
            return
        self._depth -= 1
        if not self._depth:
            os.close(self._fd)  # closing drops the flock
            self._fd, self._holder = -1, None
            self._threads.release()

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
