"""Exec sessions: commands run in a running container (`husk exec`).

Each session gets a monitor of its own (husk.monitor) whose "create" is the
runtime's ``exec --detach --process process.json``: the monitor becomes the
parent of the exec'd process, holds its stdio, serves an attach socket and
writes the session's exit file the moment it dies.  An exec's output never
goes to the container's log.  An attached caller hands the monitor its end of
a socket pair as an already-connected client, so not a byte the command
prints before the caller reads is lost.

:func:`start`, :func:`forget` and :func:`reap` run with the container lock
held.  :meth:`ExecProcess.wait` runs without it -- the lock is never held
while the command runs, so `stop` never waits for an exec -- and takes it
only to forget the session.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from ..define import InvalidArgument, NoSuchContainer, PluginFailure, RuntimeFailure
from ..faults import fault

if TYPE_CHECKING:
    from .attach_protocol import AttachClient
    from .container import Container
    from ..state.records import ExecSession


class ExecLaunch:
    """An exec session's monitor, started before the session (see
    PendingMonitor), with the attach socket pair of an attached one.  The CLI
    makes it first thing, so the monitor interpreter's start-up overlaps the
    container lookup and husk's imports; :func:`start` makes its own when
    given none.  A launch serves one session with the same `detach` and
    `preserve_fds` (its monitor inherits the descriptors from the start);
    `runroot` (when known) only names the run root on the monitor's command line."""

    def __init__(self, *, detach: bool, preserve_fds: int, runroot: str | None = None) -> None:
        from .monitor_client import PendingMonitor, exec_fds

        self.detach, self.preserve_fds = detach, preserve_fds
        self.mine = self.theirs = None
        try:
            if not detach:
                import _socket  # not socket: see husk.engine.attach_protocol

                self.mine, self.theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            self.monitor = PendingMonitor({"runroot": os.path.abspath(runroot)} if runroot else {},
                                          exec_fds(preserve_fds, self.client_fd))
        except BaseException:
            self._close()
            raise

    @property
    def client_fd(self) -> int:
        """The monitor's end of the socket pair (-1: detached)."""
        return self.theirs.fileno() if self.theirs is not None else -1

    def finish(self, config: dict[str, Any], meanwhile: Callable[[], None]) -> dict[str, Any]:
        """Hand the monitor its configuration; its report (see PendingMonitor.finish)."""
        try:
            return self.monitor.finish(config, meanwhile=meanwhile)
        finally:
            if self.theirs is not None:  # the monitor holds its own copy
                self.theirs.close()
                self.theirs = None

    def take_client(self) -> "AttachClient | None":
        """The caller's attach connection (None when detached), once."""
        from .attach_protocol import AttachClient

        mine, self.mine = self.mine, None
        return AttachClient(mine) if mine is not None else None

    def abandon(self) -> None:
        """No session (or a failed one): an unconfigured monitor exits having done
        nothing; the socket pair is closed.  Safe to call more than once."""
        self.monitor.abandon()
        self._close()

    def _close(self) -> None:
        for end in (self.mine, self.theirs):
            if end is not None:
                end.close()
        self.mine = self.theirs = None


def start(container: "Container", command: list[str], *, env: list[str] = (), user: str = "", workdir: str = "",
          tty: bool = False, privileged: bool = False, interactive: bool = False, preserve_fds: int = 0,
          detach: bool = False, console_size: tuple[int, int] | None = None, launch: ExecLaunch | None = None
          ) -> tuple["ExecSession", "AttachClient | None"]:
    """Start `command` in the running container `ctr` as a new session, with
    `launch`'s monitor when given (a fresh one otherwise).

    Returns the session's record and, unless `detach`, an attach connection
    made before the command started.
    :raises CommandNotFound: (127) the runtime found no such executable
    :raises CommandCannotInvoke: (126) it exists but cannot be run
    :raises HuskError: (125) anything else, with the runtime's message
    """
    if launch is None:
        launch = ExecLaunch(detach=detach, preserve_fds=preserve_fds, runroot=container.runtime.paths.runroot)
    elif (launch.detach, launch.preserve_fds) != (detach, preserve_fds):
        launch.abandon()
        raise ValueError("an exec launch serves a session with its own detach and preserve_fds")
    directory = None
    try:
        from .monitor_client import ExecMonitor, MonitorReport, exec_monitor_config, husk_command
        from ..formats.environment import check_env, utf8_json

        check_env(env)
        reap(container)
        paths = container.runtime.paths
        session_id = os.urandom(32).hex()  # secrets.token_hex, without importing hmac and OpenSSL
        while session_id in container.state.exec_sessions:
            session_id = os.urandom(32).hex()
        directory = paths.exec_dir(container.id, session_id)
        os.makedirs(directory, mode=0o700)

        def file(name: str) -> str:
            return paths.exec_file(container.id, session_id, name)

        # nobody waits for a detached session: its monitor's exit command forgets it (and emits exec_died)
        cleanup = husk_command(container, "container", "cleanup", "--exec", session_id, container.id)
        session_monitor = ExecMonitor(session_id, file, interactive, preserve_fds, launch.client_fd,
                                      tuple(cleanup) if detach else ())
        process = build_process(container, command, env=env, user=user, workdir=workdir, tty=tty,
                                privileged=privileged, console_size=console_size)
        with open(os.open(file("process.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(utf8_json(process))
        backend = container.runtime.oci_runtime(container.config.runtime)
        fault("exec.monitor.before")
        argv = backend.exec_command(container.id, file("process.json"), file("pidfile"), file("oci-log"),
                                    preserve_fds)
        report = launch.finish(exec_monitor_config(container, session_monitor, argv, tty=tty),
                               meanwhile=_import_the_rest)
        report = MonitorReport(int(report["pid"]), int(report.get("monitor_pid", 0)))
        fault("exec.monitor.after")
    except BaseException:
        launch.abandon()
        if directory is not None:
            _remove_files(directory)
        raise
    from ..state.records import ExecSession

    session = ExecSession(id=session_id, command=list(command), pid=report.pid,
                          monitor_pid=report.monitor_pid, tty=tty, detached=detach,
                          started_at=time.time())
    container.state.exec_sessions[session_id] = session
    container.save()
    fault("exec.record.after")
    container.runtime.emit("exec", container, execID=session_id)
    try:
        container.runtime.call_plugins("exec_session", container, session_id, list(command))
    except PluginFailure:
        _kill(container, session)
        forget(container, session_id)
        launch.abandon()
        raise
    return session, launch.take_client()


def _import_the_rest() -> None:
    """Import what a session needs once started (the attach client, the events
    log, shutil to remove its files), while the runtime execs: off the critical
    path of a short `husk exec`."""
    import shutil  # noqa: F401

    from . import attach_protocol  # noqa: F401
    from ..state import events  # noqa: F401


def check_arguments(command: list[str], preserve_fds: int) -> None:
    """Refuse an empty command, and preserved fds (the caller's 3 .. 2+N) that
    are not open.  The CLI calls this first, before husk opens files of its own."""
    if not command:
        raise InvalidArgument("must provide a non-empty command to start an exec session")
    if preserve_fds < 0:
        raise InvalidArgument(f"invalid --preserve-fds {preserve_fds}: must be 0 or more")
    for fd in range(3, 3 + preserve_fds):
        try:
            os.fstat(fd)
        except OSError:
            raise InvalidArgument(f"file descriptor {fd} is not available - the preserve-fds option "
                                  f"requires that all file descriptors between 3 and {2 + preserve_fds}, "
                                  "inclusive, be available") from None


def build_process(container: "Container", command: list[str], *, env: list[str] = (), user: str = "",
                  workdir: str = "", tty: bool = False, privileged: bool = False,
                  console_size: tuple[int, int] | None = None) -> dict:
    """The OCI process object of an exec: the container's own process (from its
    bundle's config.json) with the exec's args, environment, user, working
    directory, terminal and capabilities.  `user` is resolved in the rootfs the
    container runs on; a new user also gets its HOME (unless `env` sets one).
    What an exec without a user, environment or privileges does not need (the
    spec generator, the user lookup) is imported only when asked for."""
    import json

    with open(os.path.join(container.runtime.paths.userdata(container.id), "config.json")) as handle:
        spec = json.load(handle)
    process = spec["process"]
    process["args"] = list(command)
    process["terminal"] = tty
    process.pop("consoleSize", None)
    if tty and console_size and all(console_size):
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    extra_env = list(env)
    if user:
        from .spec import DEFAULT_UMASK
        from .users import resolve_user

        resolved = resolve_user(spec["root"]["path"], user)
        process["user"] = {"uid": resolved.uid, "gid": resolved.gid,
                           "umask": process["user"].get("umask", DEFAULT_UMASK)}
        if resolved.additional_gids:
            process["user"]["additionalGids"] = resolved.additional_gids
        extra_env.insert(0, f"HOME={resolved.home}")
    if extra_env:
        from .process_args import merge_env

        process["env"] = merge_env(process.get("env", []), extra_env, hostname=spec.get("hostname", ""), home="/")
    if workdir:
        if not workdir.startswith("/"):
            raise InvalidArgument(f"workdir {workdir!r} is not an absolute path")
        process["cwd"] = workdir
    if user or privileged:
        process["capabilities"] = _capabilities(container, process["user"]["uid"], privileged)
    return process


def _capabilities(container: "Container", uid: int, privileged: bool) -> dict[str, list[str]]:
    """The container's capability rules for an exec as `uid`; `privileged` bounds
    it by every capability husk holds.  As for the container's own process, a
    non-root user holds only the capabilities added explicitly."""
    from .capabilities import capability_set

    config = container.config
    bounding = capability_set(config.cap_add, config.cap_drop, privileged=privileged or config.privileged)
    if uid == 0:
        held = list(bounding)
    else:
        held = [cap for cap in capability_set(config.cap_add, [], privileged=False, base=()) if cap in bounding]
    return {"bounding": bounding, "effective": held, "permitted": list(held),
            "inheritable": [] if uid == 0 else list(held), "ambient": [] if uid == 0 else list(held)}


# -- finishing ----------------------------------------------------------------------------
def exit_code(container: "Container", session_id: str) -> int | None:
    """The session's exit code from its monitor's exit file, None while it runs."""
    try:
        with open(container.runtime.paths.exec_file(container.id, session_id, "exit")) as handle:
            return int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def forget(container: "Container", session_id: str, remove_files: bool = True) -> None:
    """Drop the session from the container's state (and its run files)."""
    if container.state.exec_sessions.pop(session_id, None) is not None:
        container.save()
    if remove_files:
        _remove_files(container.runtime.paths.exec_dir(container.id, session_id))


def _remove_files(directory: str) -> None:
    """Remove a session's run directory (and what is in it), if there."""
    import shutil  # lazily: it imports bz2 and lzma

    shutil.rmtree(directory, ignore_errors=True)


def reap(container: "Container", kill: bool = False) -> int:
    """Forget the sessions that have ended (with `kill`: every session, killing
    the processes still running); returns how many remain.

    An attached session's files stay for its caller, who reads the exit code
    after the output ends; a detached one has no caller, so they go here."""
    from .processes import pid_alive

    for session in list(container.state.exec_sessions.values()):
        try:
            code = exit_code(container, session.id)
        except InvalidArgument:
            # a corrupt record: an id that names no files; its process ends with
            # the container (or now, with `kill`), the record is dropped either way
            if kill:
                _kill(container, session)
            forget(container, session.id, remove_files=False)
            continue
        if code is None and pid_alive(session.monitor_pid):
            if not kill:
                continue
            _kill(container, session)
        if code is not None:
            container.runtime.emit("exec_died", container, execID=session.id, containerExitCode=code)
        forget(container, session.id, remove_files=session.detached)
    return len(container.state.exec_sessions)


def _kill(container: "Container", session: "ExecSession") -> None:
    """SIGKILL the session's process, if that pid still is a process of this
    container (its cgroup names the container), never a recycled pid."""
    try:
        with open(f"/proc/{session.pid}/cgroup") as handle:
            if container.id not in handle.read():
                return
        import signal

        os.kill(session.pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _wait_for_pid(pid: int) -> None:
    """Block until process `pid` (not our child) has exited."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll()
    finally:
        os.close(pidfd)


class ExecProcess:
    """A started exec session as its caller holds it: the session's `id`, the
    attach connection `client` (None when detached), and :meth:`wait`."""

    def __init__(self, container: "Container", session: "ExecSession", client: "AttachClient | None") -> None:
        self.container = container
        self.session = session
        self.client = client

    @property
    def id(self) -> str:
        return self.session.id

    def wait(self) -> int:
        """Wait for the command to exit and return its exit code (128 + signal
        when killed); forgets the session.  Output not read from `client` by
        then is dropped.  The container lock is taken only at the end.

        :raises RuntimeFailure: the session's monitor died without an exit code
        """
        if self.client is not None:
            self.client.close()
            self.client = None
        _wait_for_pid(self.session.monitor_pid)
        container = self.container
        code = exit_code(container, self.id)
        try:
            with container._locked(sync=False):
                if self.id in container.state.exec_sessions and code is not None:
                    container.runtime.emit("exec_died", container, execID=self.id, containerExitCode=code)
                forget(container, self.id)
        except NoSuchContainer:
            pass  # removed meanwhile, and its run files with it
        if code is None:
            raise RuntimeFailure(f"exec session {self.id}: its monitor died without recording an exit code")
        return code

    def run(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
            stderr: BinaryIO | None = None) -> int:
        """Copy `stdin` (read to its end, then closed) to the command and its
        output to `stdout`/`stderr` (None discards; a TTY's output is all
        stdout), then :meth:`wait`."""
        import threading

        from .attach_protocol import STREAM_STDERR

        client = self.client
        if client is not None:
            if stdin is not None:
                threading.Thread(target=_copy_stdin, args=(stdin, client), daemon=True).start()
            for stream, data in client:
                out = stderr if stream == STREAM_STDERR else stdout
                if out is not None:
                    out.write(data)
                    out.flush()
        return self.wait()


def _copy_stdin(stdin: BinaryIO, client: "AttachClient") -> None:
    read = getattr(stdin, "read1", stdin.read)  # what is there, not a full buffer
    try:
        while data := read(32768):
            client.send_stdin(data)
        client.close_stdin()
    except (OSError, ValueError):
        pass  # the command ended (and the socket with it), or stdin was closed


def cleanup_session(container: "Container", session_id: str) -> None:
    """`container cleanup --exec ID`: forget an exec session that has ended, with
    its run files (what the exit command of podman's exec sessions does)."""
    from ..define import NoSuchExecSession, StateInvalid

    def clean(c: "Container") -> None:
        if session_id not in c.state.exec_sessions:
            raise NoSuchExecSession(f"no exec session with ID {session_id} found in container {c.id}: "
                                    "no such exec session")
        code = exit_code(c, session_id)
        if code is None and _running(c.state.exec_sessions[session_id]):
            raise StateInvalid(f"cannot clean up exec session {session_id} as it is running")
        if code is not None:
            c.runtime.emit("exec_died", c, execID=session_id, containerExitCode=code)
        forget(c, session_id)
    container.batch(clean)


def _running(session: "ExecSession") -> bool:
    from .processes import pid_alive

    return pid_alive(session.monitor_pid)
