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
_CLONE_NEWUSER = 0x10000000
_MS_BIND = 4096


def create(path: str, uid_map: list[list[int]] | None = None, gid_map: list[list[int]] | None = None,
           owner: str = "") -> None:
    """A new network namespace bound to `path`: a forked child unshares its
    network namespace and binds it there, then exits (no program is run: an
    exec of util-linux's unshare cost a process start on every container start).

    With maps, the network namespace belongs to a new user namespace with those
    maps, bound beside it (:func:`userns_path`) for the container to join: its root
    may then configure the network it lives in (sysctls, sysfs, ports below 1024),
    which it may not in a namespace the host's root owns.  With `owner` (a user
    namespace's file), it belongs to that existing user namespace."""
    if uid_map or owner:
        _create_in_userns(path, uid_map or [], gid_map or uid_map or [], owner)
        return
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


def userns_path(path: str) -> str:
    """Where the user namespace that owns the network namespace at `path` is bound, when it has one."""
    return path + ".userns"


def _create_in_userns(path: str, uid_map: list[list[int]], gid_map: list[list[int]], owner: str) -> None:
    """The child unshares a user namespace (or joins `owner`), waits for its maps (written here, by
    the host's root), then unshares the network namespace inside it; this process binds them (the
    child has no right to mount on the host's files)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    bound = [("net", path)] + ([] if owner else [("user", userns_path(path))])
    for _, target in bound:
        with open(target, "w"):
            pass
    try:
        owner_fd = os.open(owner, os.O_RDONLY | os.O_CLOEXEC) if owner else -1
    except OSError as exc:
        remove(path)
        raise HuskError(f"creating network namespace {path}: opening {owner}: {exc.strerror}") from None
    libc = ctypes.CDLL(None, use_errno=True)
    unshare, setns = libc.unshare, libc.setns
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only unshares and waits to be bound
        code = 0
        try:
            os.close(ready_r), os.close(go_w)
            if (setns(owner_fd, _CLONE_NEWUSER) if owner else unshare(_CLONE_NEWUSER)) != 0:
                code = ctypes.get_errno() or errno.EIO
            else:
                os.write(ready_w, b"1")
                if os.read(go_r, 1) != b"1" or unshare(_CLONE_NEWNET) != 0:
                    code = ctypes.get_errno() or errno.EIO
                else:
                    os.write(ready_w, b"2")
                    os.read(go_r, 1)  # bound (or given up): exit
        finally:
            os._exit(code)
    os.close(ready_w), os.close(go_r)
    if owner:
        os.close(owner_fd)
    error = ""
    try:
        if os.read(ready_r, 1) != b"1":
            error = f"cannot {'join' if owner else 'make'} its user namespace"
        else:
            for kind, mapping in (("uid", uid_map), ("gid", gid_map)) if not owner else ():
                with open(f"/proc/{child}/{kind}_map", "w") as handle:
                    handle.write("".join(f"{inside} {host} {size}\n" for inside, host, size in mapping))
            os.write(go_w, b"1")
            if os.read(ready_r, 1) != b"2":
                error = "cannot make it in its user namespace"
            else:
                for kind, target in bound:
                    if libc.mount(f"/proc/{child}/ns/{kind}".encode(), target.encode(), None, _MS_BIND, None) != 0:
                        error = f"binding its {kind} namespace: {os.strerror(ctypes.get_errno())}"
                        break
    except OSError as exc:
        error = exc.strerror or str(exc)
    finally:
        os.close(ready_r)
        os.close(go_w)  # EOF: the child exits
        os.waitpid(child, 0)
    if error:
        remove(path)
        raise HuskError(f"creating network namespace {path}: {error}")


def is_bound(path: str) -> bool:
    """Whether a namespace is mounted on `path` (a file of its own when not)."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


def remove(path: str) -> None:
    """Unmount and delete `path` (and the user namespace bound beside it); a namespace that is gone
    already is no error."""
    libc = ctypes.CDLL(None, use_errno=True)
    for target in (path, userns_path(path)):
        while libc.umount2(target.encode(), _MNT_DETACH) == 0:
            pass  # a file mounted over twice unmounts twice
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise HuskError(f"unmounting network namespace {target}: {os.strerror(code)}")
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass
