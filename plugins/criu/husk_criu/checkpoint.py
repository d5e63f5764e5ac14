"""Checkpoint and restore through the container's OCI runtime.

The CRIU images go to userdata/checkpoint, CRIU's logs (dump.log,
restore.log, stats-dump) to userdata, as podman lays them out.  A restore is a
`runc restore --detach` run by a new monitor in place of `create`: runc gives
the restored process the monitor's pipes in place of the checkpointed stdio,
and the restored init, orphaned when runc exits, is reaped by the monitor (a
child subreaper), so logs, attach, wait and exit handling are a started
container's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time

from husk.define import InvalidArgument, StateInvalid
from husk.engine.oci_runtime import probe_binary

# shutil is imported where a tree is removed or a binary's path is needed, not here: it loads
# bz2 and lzma (~1.3 ms of -X importtime), and a checkpoint and a restore need neither

IMAGES = "checkpoint"
#: what CRIU and runc leave in the work directory
LOGS = ("dump.log", "restore.log", "stats-dump", "stats-restore")


#: the index file of CRIU's images (a backend with images of its own names another: OCIRuntime.checkpoint_image)
CRIU_INDEX = "inventory.img"


def image_dir(container) -> str:
    return os.path.join(container.runtime.paths.userdata(container.id), IMAGES)


def backend_for(container):
    """The container's runtime, refused with a clear message when it cannot checkpoint."""
    backend = container.runtime.oci_runtime(container.config.runtime)
    if not backend.supports_checkpoint:
        raise InvalidArgument(f"the OCI runtime {backend.name!r} cannot checkpoint here ({_why_not(backend)}); "
                              "create the container with --runtime runc")
    if backend.checkpoint_image == CRIU_INDEX and not probe_binary("criu"):
        raise InvalidArgument("criu is not installed: run contrib/setup.sh (plugins/criu/contrib/install-criu.sh)")
    return backend


def _why_not(backend) -> str:
    if backend.binary == "crun":
        return f"{_first_line(backend.path)} was built without +CRIU"
    return "no checkpoint support"


@functools.cache
def _first_line(path: str) -> str:
    import subprocess  # here: a checkpoint runs no command of its own (~1.5 ms of its import)

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return path
    return out.splitlines()[0] if out else path


#: why CRIU fails on every TCP/UDP socket here, when it does (see :func:`inet_sockets_blocked`)
INET_SOCKETS_BLOCKED = ("CRIU {version} cannot checkpoint TCP or UDP sockets on Linux {kernel}: since 6.16 the "
                        "kernel refuses SO_PASSCRED and SO_PASSSEC on them, which CRIU before 4.2 reads for every "
                        "socket (checkpoint-restore/criu#2718); upgrade CRIU")


@functools.cache
def inet_sockets_blocked() -> str:
    """The reason CRIU cannot dump an inet socket on this host ("" when it can):
    the kernel refuses SO_PASSCRED on an AF_INET socket and CRIU is older than 4.2."""
    import errno
    import shutil
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED)
            return ""
        except OSError as exc:
            if exc.errno != errno.EOPNOTSUPP:
                return ""
    version = _first_line(shutil.which("criu") or "criu").removeprefix("Version: ").strip()
    try:
        numbers = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return ""
    if numbers >= (4, 2):
        return ""
    return INET_SOCKETS_BLOCKED.format(version=version, kernel=os.uname().release)


#: where `--pre-checkpoint` dumps the memory (podman's layout), beside IMAGES
PRE_IMAGES = "pre-checkpoint"


@functools.cache
def dirty_tracking_off() -> str:
    """Why CRIU cannot pre-dump memory here ("" when it can): it needs the
    kernel's soft-dirty bits, which `criu check --feature mem_dirty_track` tests."""
    import shutil
    import subprocess

    criu = shutil.which("criu")
    if criu is None:
        return "criu is not installed"
    done = subprocess.run([criu, "check", "--feature", "mem_dirty_track"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode == 0:
        return ""
    return ("CRIU's dirty memory tracking is off on this kernel (criu check --feature mem_dirty_track: "
            "no soft-dirty bits), so memory cannot be pre-dumped here")


def checkpoint(container, options: dict) -> None:
    """Dump the running container's processes (the caller holds the lock).
    A dump that fails where CRIU cannot dump a TCP socket at all says why (see
    :func:`inet_sockets_blocked`); `--tcp-established` is taken as podman takes
    it (a process without inet sockets is dumped as without the flag).
    `pre_checkpoint` dumps only the memory, into userdata/pre-checkpoint, the
    container running on; `with_previous` then dumps only what changed since.
    Both are refused where CRIU cannot track dirty memory."""
    backend = backend_for(container)
    flags = _flags(options, leave_running="keep_running")
    userdata = container.runtime.paths.userdata(container.id)
    images = image_dir(container)
    if options.get("pre_checkpoint") or options.get("with_previous"):
        flag = "--pre-checkpoint" if options.get("pre_checkpoint") else "--with-previous"
        if dirty_tracking_off():
            raise InvalidArgument(f"{flag}: {dirty_tracking_off()}")
        previous = os.path.join(userdata, PRE_IMAGES)
        if options.get("pre_checkpoint"):
            images, flags = previous, [*flags, "--pre-dump"]
        elif not os.path.exists(os.path.join(previous, "inventory.img")):
            raise InvalidArgument(f"--with-previous: container {container.id} has no pre-checkpoint "
                                  "(checkpoint --pre-checkpoint first)")
        else:
            flags = [*flags, "--parent-path", os.path.join("..", PRE_IMAGES)]
    if os.path.lexists(images):  # a kept or an unrestored checkpoint's (a restore renames its own aside)
        _remove_tree(images)
    os.makedirs(images, mode=0o700)
    log = os.path.join(userdata, "dump.log")
    try:
        os.unlink(log)  # an earlier (--keep) dump's: a log there after a failure is this run's
    except FileNotFoundError:
        pass
    started = time.monotonic()
    try:
        with _early_writeback(images):
            backend.checkpoint(container.id, images, userdata, flags)
    except InvalidArgument:
        raise  # a backend's refusal (runsc's), before CRIU ran: no log to read
    except Exception as exc:
        if not os.path.exists(log):  # the runtime failed before CRIU ran: no log to point to
            raise
        why = f"; {inet_sockets_blocked()}" if _says(log, "Can't get 1:16 opt") and inet_sockets_blocked() else ""
        raise type(exc)(f"{exc} (CRIU's log: {log}){why}") from None
    runtime_us = int((time.monotonic() - started) * 1e6)
    options["dumped"] = True  # husk records the checkpoint even if the export below fails
    if options.get("target_file"):
        from .archive import write_archive

        write_archive(container, images, options["target_file"], options.get("compression") or "none",
                      bool(options.get("ignore_rootfs")), bool(options.get("ignore_volumes")))
    options["stats"] = _stats(container, runtime_us, "runtime_checkpoint_duration", "stats-dump",
                              bool(options.get("print_stats")))
    if not options.get("pre_checkpoint"):  # what inspect shows (podman's CheckpointPath, CheckpointLog)
        st = container.state
        st.checkpoint_path, st.checkpoint_log = images, os.path.join(userdata, "dump.log")
    if not options.get("keep"):
        _remove_logs(userdata)
        container.state.checkpoint_log = ""


#: how often the dump's memory images are handed to the disk while CRIU writes them
WRITEBACK_PERIOD = 0.01


@contextlib.contextmanager
def _early_writeback(images: str):
    """Start writing the memory images (pages-*.img) to disk while CRIU is
    still dumping: the rootfs unmount after a dump syncs the filesystem the
    images are on (an overlay's sync_fs syncs its upper filesystem), and that
    was the whole 100 MB written at once, 30-90 ms measured.  Started as CRIU
    writes them, the writes overlap its remaining work (the mounts' tars).
    sync_file_range(SYNC_FILE_RANGE_WRITE) only queues the writes: nothing is
    waited for here, and the pages stay cached for a restore."""
    done = threading.Event()

    def queue_writes() -> None:
        import ctypes  # here, in the thread: its import (~1 ms) overlaps runc's checkpoint

        try:
            start_writeback = ctypes.CDLL(None, use_errno=True).sync_file_range
        except (OSError, AttributeError):
            return
        while not done.wait(WRITEBACK_PERIOD):
            try:
                names = [name for name in os.listdir(images) if name.startswith("pages-")]
            except OSError:
                return
            for name in names:
                try:
                    fd = os.open(os.path.join(images, name), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    start_writeback(fd, ctypes.c_int64(0), ctypes.c_int64(0), _SYNC_FILE_RANGE_WRITE)
                finally:
                    os.close(fd)

    worker = threading.Thread(target=queue_writes, name="husk-criu-writeback", daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()


_SYNC_FILE_RANGE_WRITE = 2


def restore(container, options: dict) -> None:
    """Restore under a new monitor (the core's already started one,
    ``options["monitor"]``, when there is one); sets ``ctr.state.pid`` and
    ``monitor_pid``.  The caller holds the lock, has mounted the rootfs and written the bundle."""
    from husk.engine.monitor_client import launch_monitor

    backend = backend_for(container)
    paths = container.runtime.paths
    images = image_dir(container)
    index = os.path.join(images, backend.checkpoint_image)
    if not os.path.exists(index):
        raise StateInvalid("a complete checkpoint for this container cannot be found, cannot restore: "
                           f"stat {index}: no such file or directory", improper=False)
    userdata = paths.userdata(container.id)
    argv = backend.restore_command(container.id, userdata, images, paths.pid_file(container.id),
                                   os.path.join(userdata, "oci-log"), _flags(options))
    started = time.monotonic()
    report = launch_monitor(container, argv, pending=options.get("monitor"))
    container.state.pid, container.state.monitor_pid = report.pid, report.monitor_pid
    options["stats"] = _stats(container, int((time.monotonic() - started) * 1e6), "runtime_restore_duration",
                              "stats-restore", bool(options.get("print_stats")))
    st = container.state
    st.restore_log = os.path.join(userdata, "restore.log")
    if not options.get("keep"):
        _remove_aside(images)
        _remove_logs(userdata)
        st.checkpoint_path = st.checkpoint_log = st.restore_log = ""


def _remove_aside(images: str) -> None:
    """Remove a restored checkpoint's images off the command's path: renamed
    at once (nothing finds them afterwards, a new checkpoint starts afresh),
    unlinked by an `rm -rf` in a session of its own that nobody waits for
    (15-80 ms for CRIU's files, more with a big process's pages; a shell
    between, to detach it, was 5-15 ms more of each restore under load).  The
    `rm` also takes what an earlier one left (killed half-way, or never
    started: a CLI killed after its rename), else kept until the container's removal."""
    import subprocess

    directory, name = os.path.split(images)
    aside = f"{images}.removing-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.rename(images, aside)
        asides = [os.path.join(directory, entry) for entry in os.listdir(directory)
                  if entry.startswith(f"{name}.removing-")]
        subprocess.Popen(["rm", "-rf", "--", *asides], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except (OSError, subprocess.SubprocessError):
        _remove_tree(images)
        _remove_tree(aside)


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _says(log: str, text: str) -> bool:
    try:
        with open(log, errors="replace") as handle:
            return text in handle.read()
    except OSError:
        return False


def _flags(options: dict, leave_running: str = "") -> list[str]:
    flags = []
    if leave_running and options.get(leave_running):
        flags.append("--leave-running")
    if options.get("tcp_established"):
        flags.append("--tcp-established")
    if options.get("file_locks"):
        flags.append("--file-locks")
    return flags


def _stats(container, runtime_us: int, key: str, stats_file: str, print_stats: bool) -> dict:
    """podman's --print-stats document (CRIU's own numbers when its stats file
    parses); CRIU's file is read only for --print-stats, as podman reads it
    (the API's report without printStats has null criu_statistics, as podman's)."""
    criu = None
    if print_stats:
        from .stats import read_stats

        for directory in (container.runtime.paths.userdata(container.id), image_dir(container)):
            criu = read_stats(os.path.join(directory, stats_file))
            if criu:
                break
    return {"container_statistics": [{"Id": container.id, "Name": container.name, key: runtime_us,
                                      "criu_statistics": criu}]}


def _remove_logs(userdata: str) -> None:
    for name in LOGS:
        try:
            os.unlink(os.path.join(userdata, name))
        except FileNotFoundError:
            pass
