"""Network namespaces that husk owns: each is a file under the run root with
the namespace bind-mounted on it, so it lives as long as the file stays
mounted, whatever happens to the container's process.  Made before the
runtime's `create` (the spec names the file), removed at cleanup."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess

from ..define import HuskError

_MNT_DETACH = 2


def create(path: str) -> None:
    """A new network namespace bound to `path` (util-linux's unshare binds it)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w"):
        pass
    done = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        remove(path)
        raise HuskError(f"creating network namespace {path}: {done.stderr.strip() or 'unshare failed'}")


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
