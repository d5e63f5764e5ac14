"""Network namespaces that husk owns: each is a file under the run root with
the namespace bind-mounted on it, so it lives as long as the file stays
mounted, whatever happens to the container's process.  Made before the
runtime's `create` (the spec names the file), removed at cleanup."""

from __future__ import annotations

import ctypes
import errno
import os

from ..define import HuskError

_MNT_DETACH = 2


_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096


def create(path: str) -> None:
    """A new network namespace bound to `path`: a forked child unshares its
    network namespace and binds it there, then exits (no program is run: an
    exec of util-linux's unshare cost a process start on every container start)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w"):
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    unshare, mount = libc.unshare, libc.mount  # looked up before the fork: the child only calls them
    target = path.encode()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child exits at once, whatever happens
        code = 0
        try:
            if unshare(_CLONE_NEWNET) != 0 or mount(b"/proc/thread-self/ns/net", target, None, _MS_BIND, None) != 0:
                code = ctypes.get_errno() or errno.EIO
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        remove(path)
        reason = os.strerror(code) if code > 0 else f"killed by signal {-code}"
        raise HuskError(f"creating network namespace {path}: {reason}")


def is_bound(path: str) -> bool:
    """Whether a namespace is mounted on `path` (a file of its own when not)."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


def remove(path: str) -> None:
    """Unmount and delete `path`; a namespace that is gone already is no error."""
    libc = ctypes.CDLL(None, use_errno=True)
    while libc.umount2(path.encode(), _MNT_DETACH) == 0:
        pass  # a file mounted over twice unmounts twice
    code = ctypes.get_errno()
    if code not in (errno.EINVAL, errno.ENOENT):
        raise HuskError(f"unmounting network namespace {path}: {os.strerror(code)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
