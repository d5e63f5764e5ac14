"""Starting a container's monitor and reading its report.

The monitor (the husk.monitor package) runs in a fresh bare interpreter:
a forked CLI or API service would hand it descriptors (a caller's stdout pipe,
an LMDB handle) that must not live as long as the container.  It is
detached by a fork: the first process exits at once, this side reaps it,
then reads the one line (the hex of a marshal dump) the monitor writes on the
sync pipe when ``create`` is done.

A container's monitor (its attach socket's path known at the launch) never
loads ``_ctypes`` (about 0.05 MiB of PSS per container, measured): this side
makes its attach socket and passes it on listening, and detaches it and
makes it the child subreaper before its interpreter starts
(:func:`_detach_as_subreaper`: the setting survives execve).  An exec's or a
restore's monitor started before its container is known does all three
itself, through ``_ctypes`` (see husk.monitor.main), and keeps subprocess's
vfork, which a preexec_fn costs (about 0.5 ms of CPU a launch, measured).
"""

from __future__ import annotations

import marshal
import os
import select
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from ..define import RuntimeFailure

if TYPE_CHECKING:
    from .container import Container

MONITOR_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "monitor")
# Import the monitor package from its cached bytecode instead of running it as
# a script (its __main__.py): a script is compiled from source on every start,
# and the compiler's garbage stays in the heap (about 1 MiB more per monitor,
# measured).  The package's parent directory goes last on sys.path, so that
# nothing beside the package shadows the stdlib.
_BOOTSTRAP = "import sys; sys.path.append({!r}); import monitor; monitor.main()"
#: how long ``create`` may take (image on slow disk, many hooks)
SYNC_TIMEOUT = 60.0


def spawn_monitor(config: dict[str, Any], timeout: float = SYNC_TIMEOUT,
                  pass_fds: tuple[int, ...] = ()) -> dict[str, Any]:
    """Start a monitor for ``config`` (the keys husk.monitor documents; ``sync_fd``
    is filled in here) and return its report: ``{"pid": <container init>,
    "monitor_pid": <monitor>}``.  ``pass_fds`` are descriptors the monitor
    inherits under the same numbers (an exec's ``client_fd`` and preserved fds).

    :raises CommandNotFound: the runtime says the command does not exist
    :raises CommandCannotInvoke: the runtime was refused permission
    :raises RuntimeFailure: any other failure, with the runtime's own message
    """
    return PendingMonitor(config, pass_fds).finish(timeout=timeout)


class PendingMonitor:
    """A monitor whose interpreter is started before its configuration is
    known: an exec starts it first (the CLI before it even looks up the
    container) and prepares the session meanwhile (its record, process.json,
    the runtime backend), so the interpreter's start-up (about 10 ms) runs
    beside that work instead of after it.  With no ``create_argv`` in
    ``config``, the monitor reads the rest of its configuration from its
    ``config_fd`` (:meth:`finish` writes it); closing the pipe unwritten
    (:meth:`abandon`) makes it exit having done nothing.  ``pass_fds`` must be
    known at the start.  (An exec's early config holds only ``runroot``, which
    the monitor ignores: its command line names the run root, as every
    monitor's does, for whoever looks for a run root's monitors.)"""

    def __init__(self, config: dict[str, Any], pass_fds: tuple[int, ...] = (), attach_socket: str = "") -> None:
        """``attach_socket``: the path the monitor's attach socket listens on,
        when known now (a container's): it is made here and passed on, and
        the monitor detached and made the subreaper here (see the module)."""
        self.config_write = -1
        self.read_end, write_end = os.pipe2(os.O_CLOEXEC)
        config_read = listener = -1
        self.attach_socket = attach_socket
        preexec_fn = None
        try:
            config = {**config, "sync_fd": write_end}
            if not config.get("create_argv"):
                config_read, self.config_write = os.pipe2(os.O_CLOEXEC)
                config["config_fd"] = config_read
            if attach_socket:
                from ..monitor.base import (  # not for an exec (0.4 ms)
                    PR_SET_CHILD_SUBREAPER, SOCK_SEQPACKET, libc_function, listen_unix)

                listener, _, holder = listen_unix(attach_socket, SOCK_SEQPACKET)
                for fd in holder:
                    os.close(fd)
                config["listen_fd"] = listener
                # looked up here: a lookup (dlsym) in the forked child of a threaded process
                # (the API service) could wait forever for a lock another thread held
                prctl = libc_function("prctl")
                preexec_fn = lambda: _detach_as_subreaper(lambda: prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))  # noqa: E731
            bootstrap = _BOOTSTRAP.format(os.path.dirname(MONITOR_SCRIPT))
            argv = [sys.executable, "-I", "-S", "-c", bootstrap, encode_config(config)]
            inherited = [write_end, *pass_fds, *(fd for fd in (config_read, listener) if fd >= 0)]
            self.first = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, pass_fds=inherited, start_new_session=True, preexec_fn=preexec_fn)
        except BaseException:
            self._close_config()
            os.close(self.read_end)
            self._remove_socket()
            raise
        finally:
            os.close(write_end)
            for fd in (config_read, listener):
                if fd >= 0:
                    os.close(fd)
        self.config_id = config.get("id", "")
        self.done = False

    def finish(self, config: dict[str, Any] | None = None, timeout: float = SYNC_TIMEOUT,
               meanwhile: Callable[[], None] | None = None) -> dict[str, Any]:
        """Hand the monitor its configuration (when it waits for one), run
        ``meanwhile`` (work of the caller's that needs no report: it runs while
        the runtime does) and return the monitor's report (see spawn_monitor)."""
        self.done = True
        try:
            if self.config_write >= 0:
                self.config_id = config["id"]
                data = marshal.dumps(config)
                while data:
                    data = data[os.write(self.config_write, data):]
                self._close_config()
            if meanwhile is not None:
                meanwhile()
            self.first.wait()
            line = _read_line(self.read_end, timeout)
        finally:
            self._close_config()
            os.close(self.read_end)
        if not line:
            raise RuntimeFailure(f"the monitor of container {self.config_id} exited without reporting")
        report = marshal.loads(bytes.fromhex(line.decode()))
        if "error" in report:
            from .oci_runtime import error_for_message  # not before an exec's monitor starts: json, shutil

            raise error_for_message(report["error"])
        return report

    def abandon(self) -> None:
        """The configuration will not come: the monitor exits without having
        started anything.  Nothing once finished (or abandoned)."""
        if self.done:
            return
        self.done = True
        self._close_config()
        self.first.wait()
        os.close(self.read_end)
        self._remove_socket()

    def _remove_socket(self) -> None:
        """The attach socket made here, when no monitor serves it."""
        if self.attach_socket:
            try:
                os.unlink(self.attach_socket)
            except OSError:
                pass

    def _close_config(self) -> None:
        if self.config_write >= 0:
            os.close(self.config_write)
            self.config_write = -1


def _detach_as_subreaper(become_subreaper: Callable[[], int]) -> None:
    """Popen's preexec_fn for a container's monitor, in its process before its
    interpreter starts: fork once more, the first process exiting at once
    (the caller reaps it; the exec error pipe still reports the monitor's
    exec), and make the monitor the child subreaper, so that the container's
    init, orphaned when the runtime's ``create`` exits, becomes its child.
    Here, not in the monitor, because the setting needs ``_ctypes`` and
    survives execve (a fork does not keep it)."""
    if os.fork() != 0:
        os._exit(0)
    if become_subreaper() != 0:
        raise OSError("prctl(PR_SET_CHILD_SUBREAPER) failed")


def encode_config(config: dict[str, Any]) -> str:
    """A monitor's configuration as its argument: the hex of a marshal dump
    (the monitor reads it without importing json, see husk.monitor)."""
    return marshal.dumps(config).hex()


def _read_line(fd: int, timeout: float) -> bytes:
    """Bytes up to the first newline or EOF; RuntimeFailure past ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise RuntimeFailure(f"the monitor did not report within {timeout:g} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


class MonitorConfig(NamedTuple):
    """What a monitor is told (the keys husk.monitor documents), typed: the one
    place that writes a monitor's configuration.  :func:`launch_monitor` fills
    it in for a container or an exec session.  (A NamedTuple, made once and
    never changed, so its empty defaults are never written to: dataclasses
    would be an import of its own on every run, and msgspec one before an
    exec's monitor starts.)"""

    id: str
    #: the runtime command the monitor runs as its "create" (create, exec --detach, restore --detach)
    create_argv: list[str]
    pid_file: str
    exit_file: str
    attach_socket: str
    #: the k8s-file log (empty: none, as for an exec session) and its rotation size
    log_path: str = ""
    log_max_size: int = 0
    #: --log-driver journald: the journal fields of every line (empty: nothing to the journal)
    journal: dict = {}
    #: seconds the container may run (run --timeout); then it is killed; 0: no limit
    timeout: int = 0
    stdin: bool = False
    tty: bool = False
    #: run when the process has exited (husk's cleanup; none for an exec session)
    exit_command: list[str] = []
    exec: bool = False
    #: descriptors 3.. of the caller that the runtime passes on to an exec'd command
    preserve_fds: int = 0
    #: an attached exec client's end of a socket pair (-1: none)
    client_fd: int = -1
    #: the health check: the command the monitor runs every ``health_interval`` seconds (none: no checks)
    health_argv: list[str] = []
    health_interval: float = 0.0
    #: the container's lock, taken before deciding whether the exit command has work left
    lock_path: str = ""
    #: the file whose absence says it has none (see husk.state.paths.cleanup_marker)
    cleanup_marker: str = ""
    #: made when the OOM killer struck the container (see husk.state.paths.oom_marker)
    oom_marker: str = ""


class MonitorReport(NamedTuple):
    """What a monitor reports once ``create`` is done."""

    pid: int  #: the container's (or exec'd command's) process
    monitor_pid: int


def husk_command(container: "Container", *args: str) -> list[str]:
    """A husk CLI command on the container's storage, for its monitor to run
    (with this Runtime's `--events-backend` when it is not the default file, as podman's exit command)."""
    paths = container.runtime.paths
    backend = container.runtime.events_backend
    events = ["--events-backend", backend] if backend != "file" else []
    return [sys.executable, "-m", "husk", "--root", paths.root, "--runroot", paths.runroot, *events, *args]


def exit_command(container: "Container") -> list[str]:
    """What a container's monitor runs when the container exits: husk's own cleanup."""
    return husk_command(container, "container", "cleanup", "--exit-command", container.id)


def launch_monitor(container: "Container", create_argv: list[str], *, tty: bool | None = None,
                   exec_session: "ExecMonitor | None" = None, pending: PendingMonitor | None = None) -> MonitorReport:
    """Start the monitor of ``container`` (init, restore) or of one of its exec
    sessions, running ``create_argv``, and wait for its report.

    For the container itself: its pid, exit, log and attach files, its stdin
    and tty (``tty`` overrides, as a restore without a terminal does), husk's
    cleanup as exit command; stale exit and pid files are removed first.  For
    an exec session: the session's files, no log, and the session's exit
    command (a detached one's cleanup; none for an attached one, whose caller cleans up).
    ``pending``: a monitor started earlier without a configuration (a
    restore's, whose interpreter starts while the rootfs is mounted), given this one.

    :raises CommandNotFound, CommandCannotInvoke, RuntimeFailure: as :func:`spawn_monitor`
    """
    config, pass_fds = _monitor_config(container, create_argv, tty, exec_session)
    if pending is None:
        pending = pending_monitor(container, pass_fds)
    report = pending.finish(config)
    return MonitorReport(int(report["pid"]), int(report.get("monitor_pid", 0)))


def pending_monitor(container: "Container", pass_fds: tuple[int, ...] | None = None) -> PendingMonitor:
    """A monitor of ``container`` started unconfigured, for :func:`launch_monitor`
    (an init's or a restore's starts before the mount and the bundle, so that
    its interpreter's start-up runs beside them), inheriting ``pass_fds``
    (None: the container's preserved descriptors).  The configuration goes
    through the pipe, not the command line: the interpreter keeps copies of its
    command line (wide strings among them) for the monitor's whole life, about
    0.1 MiB of PSS per container (measured).  The run root stays on it, for
    whoever looks for a run root's monitors."""
    paths = container.runtime.paths
    os.makedirs(paths.container_run_dir(container.id), mode=0o700, exist_ok=True)
    return unconfigured_monitor(paths.runroot, _preserved_fds(container) if pass_fds is None else pass_fds,
                                attach_socket=paths.attach_socket(container.id))


def unconfigured_monitor(runroot: str, pass_fds: tuple[int, ...] = (), attach_socket: str = "") -> PendingMonitor:
    """A monitor of a container of `runroot` started before the container is
    known (see :func:`pending_monitor`): a restore's CLI starts it before it
    even looks up the container, since no restore has descriptors to pass on
    (nor an attach socket to make: see PendingMonitor)."""
    from .run_options import notify_socket

    notify_socket()  # the caller's NOTIFY_SOCKET leaves the environment before the monitor (and its runtime) inherits it
    return PendingMonitor({"runroot": os.path.abspath(runroot)}, pass_fds, attach_socket)


def exec_monitor_config(container: "Container", exec_session: "ExecMonitor", create_argv: list[str], *,
                        tty: bool) -> dict[str, Any]:
    """The configuration of an exec session's monitor, for the PendingMonitor
    started (with the session's descriptors, :func:`exec_fds`) before it was known."""
    return _monitor_config(container, create_argv, tty, exec_session)[0]


def _monitor_config(container: "Container", create_argv: list[str], tty: bool | None,
                    exec_session: "ExecMonitor | None") -> tuple[dict[str, Any], tuple[int, ...]]:
    """The configuration launch_monitor describes, and the descriptors the monitor inherits."""
    paths = container.runtime.paths
    if exec_session is not None:
        config = MonitorConfig(
            id=f"{container.id} exec {exec_session.session_id}", create_argv=create_argv,
            pid_file=exec_session.file("pidfile"), exit_file=exec_session.file("exit"),
            attach_socket=exec_session.file("attach"), stdin=exec_session.interactive,
            tty=bool(tty), exec=True, preserve_fds=exec_session.preserve_fds, client_fd=exec_session.client_fd,
            exit_command=list(exec_session.exit_command))
        pass_fds = exec_fds(exec_session.preserve_fds, exec_session.client_fd)
    else:
        os.makedirs(paths.container_run_dir(container.id), mode=0o700, exist_ok=True)
        os.makedirs(paths.exits_dir, mode=0o700, exist_ok=True)
        for stale in (paths.exit_file(container.id), paths.pid_file(container.id)):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        config = MonitorConfig(
            id=container.id, create_argv=create_argv, pid_file=paths.pid_file(container.id),
            exit_file=paths.exit_file(container.id), attach_socket=paths.attach_socket(container.id),
            log_path="" if container.config.log_driver == "none" else paths.log_path(container.id),
            log_max_size=container.config.run_options.log_max_size or container.runtime.config.log_size_max,
            journal=_journal_fields(container),
            timeout=container.config.run_options.timeout,
            stdin=container.config.stdin_open, tty=container.config.tty if tty is None else tty,
            exit_command=exit_command(container), preserve_fds=_preserved(container, create_argv),
            lock_path=paths.lock_path(container.id), cleanup_marker=paths.cleanup_marker(container.id),
            oom_marker=paths.oom_marker(container.id), **_health_checks(container))
        pass_fds = tuple(range(3, 3 + config.preserve_fds))
    return config._asdict(), pass_fds


def _journal_fields(container: "Container") -> dict[str, str]:
    """The fields conmon gives a journald log's entries (none without --log-driver journald)."""
    if container.config.log_driver != "journald":
        return {}
    fields = {"CONTAINER_ID": container.id[:12], "CONTAINER_ID_FULL": container.id,
              "CONTAINER_NAME": container.name}
    tag = container.config.run_options.log_tag
    if tag:
        fields.update(CONTAINER_TAG=tag, SYSLOG_IDENTIFIER=tag)
    return fields


def _health_checks(container: "Container") -> dict[str, Any]:
    """The monitor's part of the health check (see husk.engine.health): the
    command it runs every interval; nothing without a check or with interval 0."""
    from .health import NS, is_defined

    check = container.config.healthcheck
    if not is_defined(check) or check.interval <= 0:
        return {}
    return {"health_argv": husk_command(container, "healthcheck", "run", container.id),
            "health_interval": check.interval / NS}


def _preserved(container: "Container", create_argv: list[str]) -> int:
    """The preserved descriptors' count (:func:`_preserved_fds`), also told to the runtime."""
    count = len(_preserved_fds(container))
    if count:
        create_argv[-1:-1] = ["--preserve-fds", str(count)]
    return count


#: how many of this process's descriptors 3.. are its caller's (:func:`preserve_caller_fds`)
_caller_fds = 0


def preserve_caller_fds(count: int) -> None:
    """Declare this process's descriptors 3 .. 2+`count` its caller's, to be
    preserved into the container it creates (run --preserve-fds, before husk
    opens anything).  Only a declaring process preserves any: in any other
    (a later start, a restart, the exit command's restart policy) 3.. are
    husk's own, its state store's among them, open read-write."""
    global _caller_fds
    _caller_fds = count


def _preserved_fds(container: "Container") -> tuple[int, ...]:
    """run --preserve-fds N: the caller's descriptors 3.. go to the container, when this
    process declared them (:func:`preserve_caller_fds`: the run that created it, not a
    later start) and still holds them."""
    count = container.config.run_options.preserve_fds
    if count > _caller_fds:
        return ()
    try:
        for fd in range(3, 3 + count):
            os.fstat(fd)
    except OSError:
        return ()
    return tuple(range(3, 3 + count))


class ExecMonitor(NamedTuple):
    """An exec session's side of :func:`launch_monitor`."""

    session_id: str
    #: the path of one of the session's files (``file("exit")``)
    file: Callable[[str], str]
    interactive: bool
    preserve_fds: int = 0
    client_fd: int = -1
    #: a detached session's cleanup (forget it, emit exec_died), run when it ends
    exit_command: tuple[str, ...] = ()

def exec_fds(preserve_fds: int, client_fd: int) -> tuple[int, ...]:
    """An exec session's descriptors for its monitor: the caller's 3 .. 2+N and the attach client's end."""
    return tuple(range(3, 3 + preserve_fds)) + ((client_fd,) if client_fd >= 0 else ())
