"""Rootless husk (issue 18): an unprivileged user runs husk in a user namespace
of its own, set up as podman sets up its rootless one.

The first command of a user starts a *pause process* (catatonit -P, as podman
does) in a new user namespace and mount namespace: the user's own id is root in
it and the user's /etc/subuid and /etc/subgid ranges follow (written by the
setuid helpers newuidmap and newgidmap, Debian's uidmap), and its pid is kept
in the run root's ``pause.pid``.  When the pause process has died while containers run, the
next command's new pause process joins the namespaces of one of their monitors instead (as
podman joins a conmon's), so their mounts stay in sight.  Every command of that user (the first one
included) joins both namespaces before it touches the store, so the overlay
mounts one command makes are there for the next, and the monitors and runtimes
it starts run inside them as root of the namespace.  Without any subordinate
ids the namespace maps only the user's own id, with podman's warning.

Joining a user namespace needs a single-threaded process: :func:`enter` is
called when the CLI builds its Runtime, before anything starts a thread.  The
environment variable :data:`husk.engine.config.ROOTLESS_ENV` (the user's host
uid) tells the processes started inside that they are rootless already (their
euid is 0 there).  Nothing here is imported by a rootful husk.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import subprocess
import sys

from ..define import HuskError, InvalidArgument
from ..state.paths import is_id
from .config import ROOTLESS_ENV

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_REC, _MS_PRIVATE = 0x4000, 1 << 18

SINGLE_MAPPING_WARNING = ("WARNING: Using rootless single mapping into the namespace. This might break some "
                          "images. Check /etc/subuid and /etc/subgid for adding sub*ids if not using a network user")


def enter(runroot: str) -> None:
    """Join the user's pause process's namespaces, starting it first when there is none."""
    if ROOTLESS_ENV in os.environ:
        return  # started inside already (a monitor's exit command, a build's step...)
    uid = os.geteuid()
    os.makedirs(runroot, mode=0o700, exist_ok=True)
    os.chmod(runroot, 0o700)
    pidfile = os.path.join(runroot, "pause.pid")
    pid = _alive(pidfile, uid)
    if pid is None:
        with open(os.path.join(runroot, "pause.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one pause process per user, whoever comes first
            pid = _alive(pidfile, uid)
            if pid is None:
                from ..state.atomic import replace_file

                pid = _start_pause(uid, os.getegid(), join=_running_monitor(runroot, uid))
                replace_file(pidfile, str(pid))
    try:
        cwd = os.getcwd()
    except OSError:  # removed under us
        cwd = "/"
    _join(pid)
    try:
        os.chdir(cwd)  # setns into a mount namespace moves the process to its root
    except OSError:
        pass
    os.environ[ROOTLESS_ENV] = str(uid)


def _alive(pidfile: str, uid: int) -> int | None:
    """The pause process's pid when it still runs: ours, a pause process (the pid may be another
    process's since: it would be joined, or refuse the join for ever), in a user namespace other
    than ours, and not a zombie (whose mount namespace is gone already)."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
        if os.stat(f"/proc/{pid}").st_uid != uid:
            return None
        with open(f"/proc/{pid}/comm") as handle:
            if handle.read().strip() != "catatonit":
                return None
        if os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user"):
            return None
        os.readlink(f"/proc/{pid}/ns/mnt")
    except (OSError, ValueError):
        return None
    return pid


def _running_monitor(runroot: str, uid: int) -> int | None:
    """The monitor of a container of this run root that still runs, when there is one: the pause
    process died while containers ran, and their mounts live in the namespaces the monitors are in
    (podman joins a conmon's for the same reason).  The monitor is the parent of the process it
    waits for, the pid file's last (as the monitor reads it: the container's init, or a shim
    backend's waiter after the init's pid; the monitor is the subreaper of its subtree); it must be
    the user's, in a user namespace other than ours, and a husk monitor (its command line says so)."""
    directory = os.path.join(runroot, "containers")
    try:
        entries = os.listdir(directory)
    except OSError:
        return None
    own = os.readlink("/proc/self/ns/user")
    for entry in entries:
        if not is_id(entry):
            continue
        try:
            with open(os.path.join(directory, entry, "pidfile")) as handle:
                waited = int(handle.read().split()[-1])
            with open(f"/proc/{waited}/stat") as handle:
                monitor = int(handle.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{monitor}/cmdline", "rb") as handle:
                command = handle.read()
            if (os.stat(f"/proc/{monitor}").st_uid == uid and b"monitor.main()" in command
                    and os.readlink(f"/proc/{monitor}/ns/user") != own):
                os.readlink(f"/proc/{monitor}/ns/mnt")  # not a zombie
                return monitor
        except (OSError, ValueError, IndexError):
            continue
    return None


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _start_pause(uid: int, gid: int, join: int | None = None) -> int:
    """Fork the pause process: it unshares, waits for its maps, makes its mounts private and
    becomes catatonit -P (in a new session, its own descriptors closed).  With ``join`` (a running
    monitor's pid) it joins that process's user and mount namespaces instead of making new ones,
    so the running containers and their mounts stay visible to every later command."""
    pause = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
    libc = _libc()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe2(os.O_CLOEXEC)  # EOF once the child has exec'd (or died)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child only
        try:
            os.close(ready_r), os.close(go_w), os.close(done_r)
            if join is not None:
                try:
                    _join(join)
                except HuskError as error:
                    os.write(done_w, str(error).encode())
                    os._exit(1)
                os.write(ready_w, b"1")
            else:
                if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) != 0:
                    os.write(done_w, f"unshare: {os.strerror(ctypes.get_errno())}".encode())
                    os._exit(1)
                os.write(ready_w, b"1")
                if os.read(go_r, 1) != b"1":
                    os._exit(1)
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
                    os.write(done_w, f"making / private: {os.strerror(ctypes.get_errno())}".encode())
                    os._exit(1)
            os.setsid()
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, done_w)
            os.closerange(done_w + 1, 65536)
            os.execv(pause, [pause, "-P"])
        finally:
            os._exit(127)
    os.close(ready_w), os.close(go_r), os.close(done_w)
    try:
        if os.read(ready_r, 1) != b"1":
            raise HuskError("cannot set up the rootless user namespace: " + _read_all(done_r))
        if join is None:
            _write_maps(child, uid, gid)
            os.write(go_w, b"1")
        error = _read_all(done_r)
        if error:
            raise HuskError(f"cannot set up the rootless user namespace: {error}")
    except BaseException:
        os.kill(child, 9)
        os.waitpid(child, 0)
        raise
    finally:
        os.close(ready_r), os.close(go_w), os.close(done_r)
    if os.waitpid(child, os.WNOHANG)[0] != 0:
        raise HuskError(f"cannot set up the rootless user namespace: {pause} -P exited at once")
    return child  # reparented to init when this command ends; catatonit reaps nothing else


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _write_maps(pid: int, uid: int, gid: int) -> None:
    """uid 0 is the user, 1... the user's subordinate ranges, laid end to end (newuidmap/newgidmap);
    only the user's own ids, with podman's warning, when the user has none."""
    import pwd

    from .userns import SUBGID, SUBUID, sub_ranges

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    try:
        subuids, subgids = sub_ranges(name, SUBUID), sub_ranges(name, SUBGID)
    except InvalidArgument:  # none in one of the files
        subuids = subgids = []
    if not subuids or not subgids:
        print(SINGLE_MAPPING_WARNING, file=sys.stderr)
        with open(f"/proc/{pid}/setgroups", "w") as handle:
            handle.write("deny")
        for kind, own in (("uid", uid), ("gid", gid)):
            with open(f"/proc/{pid}/{kind}_map", "w") as handle:
                handle.write(f"0 {own} 1\n")
        return
    for tool, own, ranges in (("newuidmap", uid, subuids), ("newgidmap", gid, subgids)):
        argv = [tool, str(pid), "0", str(own), "1"]
        inside = 1
        for start, count in ranges:
            argv += [str(inside), str(start), str(count)]
            inside += count
        path = shutil.which(tool)
        if path is None:
            raise HuskError(f"cannot set up the rootless user namespace: {tool} not found "
                            "(install Debian's uidmap package)")
        result = subprocess.run([path, *argv[1:]], capture_output=True, text=True)
        if result.returncode != 0:
            raise HuskError(f"cannot set up the rootless user namespace: {tool}: "
                            + (result.stderr.strip() or f"exit status {result.returncode}"))


def _join(pid: int) -> None:
    """setns into the user namespace of ``pid`` (the pause process, or a monitor), then its mount
    namespace (both opened before either setns)."""
    libc = _libc()
    fds = []
    try:
        for kind in ("user", "mnt"):
            try:
                fds.append(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
            except OSError as error:
                raise HuskError(f"cannot join the rootless {kind} namespace of process {pid}: "
                                f"{error.strerror}") from None
        for kind, flag, fd in zip(("user", "mnt"), (_CLONE_NEWUSER, _CLONE_NEWNS), fds):
            if libc.setns(fd, flag) != 0:
                raise HuskError(f"cannot join the rootless {kind} namespace of process {pid}: "
                                + os.strerror(ctypes.get_errno()))
    finally:
        for fd in fds:
            os.close(fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
