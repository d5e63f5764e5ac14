"""Waiting for a container without polling where the kernel can tell us.

Two things wake a waiter: the monitor's exit file appearing (inotify on the
exits directory: the monitor writes `<id>.tmp` and renames it, an
IN_MOVED_TO), and the monitor process ending (a pidfd: a monitor that dies
without writing the file must not leave a waiter blocked for ever).  Waiting
for a state other than an exit (running, paused, ...) watches the state store's
directory instead: every state save writes the LMDB data file, so a waiter
re-reads the state when something was saved, and at least every `interval`
(podman polls at that interval; here it is only the fallback).
"""

from __future__ import annotations

import os
import select
import time

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
_libc = None


def _inotify_calls():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
    return _libc


def _errno_error(what: str) -> OSError:
    import ctypes

    error = ctypes.get_errno()
    return OSError(error, os.strerror(error), what)


class Inotify:
    """An inotify descriptor with watches on a few directories; `fileno()` for poll."""

    def __init__(self) -> None:
        libc = _inotify_calls()
        self.fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise _errno_error("inotify_init1")

    def watch(self, directory: str, mask: int) -> int:
        """Watch `directory`; returns the watch descriptor its events carry."""
        wd = _inotify_calls().inotify_add_watch(self.fd, os.fsencode(directory), mask)
        if wd < 0:
            raise _errno_error(directory)
        return wd

    def unwatch(self, wd: int) -> None:
        _inotify_calls().inotify_rm_watch(self.fd, wd)  # fails only for a watch already gone

    def read_watches(self) -> set[int]:
        """The watch descriptors of the queued events (emptying the queue)."""
        import struct

        watches = set()
        try:
            while data := os.read(self.fd, 65536):
                offset = 0
                while offset < len(data):  # struct inotify_event: wd, mask, cookie, len, then the name
                    wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                    watches.add(wd)
                    offset += 16 + length
        except BlockingIOError:
            pass
        return watches

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> None:
        """Discard the queued events: the caller re-checks what it waits for anyway."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Inotify":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pidfd(pid: int) -> int | None:
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # gone already (or a kernel without pidfds: then inotify alone)
        return None


#: poll(2)'s longest timeout, in milliseconds (a C int: 24.8 days); a longer wait polls again
_POLL_MAX_MS = 2**31 - 1


def wait_for_exit_file(exit_file: str, monitor_pid: int, container_pid: int, timeout: float | None) -> bool:
    """Block until `exit_file` exists.  When the monitor `monitor_pid` has gone
    (killed: no one will write the file), wait for the container's process
    `container_pid` to end instead.  Returns False only when `timeout` passed."""
    if os.path.exists(exit_file):
        return True
    deadline = None if timeout is None else time.monotonic() + timeout
    directory = os.path.dirname(exit_file)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with Inotify() as inotify:
        inotify.watch(directory, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE)
        process = _pidfd(monitor_pid) if monitor_pid > 0 else None
        monitor_gone = monitor_pid > 0 and process is None
        if monitor_gone:
            process = _pidfd(container_pid)
            if process is None:
                return True
        try:
            poller = select.poll()
            poller.register(inotify.fd, select.POLLIN)
            if process is not None:
                poller.register(process, select.POLLIN)
            while not os.path.exists(exit_file):  # checked after the watch exists: no lost wake-up
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                ready = poller.poll(None if remaining is None else min(remaining * 1000, _POLL_MAX_MS))
                if any(fd == process for fd, _ in ready):
                    return True
                inotify.drain()
            return True
        finally:
            if process is not None:
                os.close(process)


class StoreWatch:
    """Wakes a waiter when a file in one of `directories` is written -- the state
    store (any container's save), the exits directory, the event log (every
    transition's event) -- or after `interval`, whichever comes first."""

    def __init__(self, *directories: str) -> None:
        self.inotify = Inotify()
        try:
            for directory in directories:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                self.inotify.watch(directory, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
        except BaseException:
            self.inotify.close()
            raise
        self.poller = select.poll()
        self.poller.register(self.inotify.fd, select.POLLIN)

    def wait(self, interval: float) -> None:
        if self.poller.poll(max(0.0, interval) * 1000):
            self.inotify.drain()

    def close(self) -> None:
        self.inotify.close()

    def __enter__(self) -> "StoreWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: podman's names for states (what `ps` and `inspect` show), then husk's own values
_CONDITION_NAMES = {"created": "configured", "initialized": "created"}
_NOT_TRACKED = ("unknown",)
#: conditions on the health check's status (husk's extension: podman 4.3 lacks them)
HEALTH_CONDITIONS = ("healthy", "unhealthy")


def parse_condition(text: str):
    """A `wait --condition` value as a State: podman's names first (`created` is a
    container that never ran, `initialized` one created in the runtime), then
    husk's state values (`configured`, ...); `healthy` and `unhealthy` stay
    strings: the health check's status (see husk.engine.health), and so does
    `stopping` (a running container that a stop waits on)."""
    from ..define import InvalidArgument, State

    name = text.strip().lower()
    if name in (*HEALTH_CONDITIONS, "stopping"):  # "stopping": a running container a stop waits on
        return name
    if name in _NOT_TRACKED:
        raise InvalidArgument(f"waiting for condition {text!r} is not supported: husk records no unknown "
                              "state")
    try:
        return State(_CONDITION_NAMES.get(name, name))
    except ValueError:
        raise InvalidArgument(f"invalid condition {text!r}: use created, initialized, running, paused, "
                              "stopped, exited, healthy, unhealthy (or configured)") from None
