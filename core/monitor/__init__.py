"""The monitor: one small process per container (or exec session), like conmon.

It runs the runtime's ``create``, becomes the parent of the container's init
(as child subreaper), holds the container's stdio, writes the k8s-file log,
serves the attach socket and writes the exit file the moment the init dies,
then runs the exit command (husk's cleanup).  It outlives the CLI that started
it and never needs it alive.

Its memory is paid once per container, so it runs in a bare interpreter
(``python -I -S``): no site-packages, no husk package, and only the C modules
underneath the stdlib's (``posix``, ``_signal``, ``select``, ``marshal``, and
``_socket`` only once a client connects or a socket is sent to;
``os`` alone would add posixpath, stat and _collections_abc, 0.25 MiB):
``socket``, ``signal``, ``selectors`` and ``json`` import ``enum`` and ``re``,
which cost about 1.8 MiB of PSS per monitor (measured with 10 interpreters).
The configuration comes in, and the one report goes out, as the hex of a
``marshal`` dump (a dict of str, int, bool and lists; both sides are husk's).
It works as a script (``python -I -S path/to/monitor <hex-config>``, see
__main__.py); husk imports the package from its parent directory instead
(``monitor.main()``), which uses the cached bytecode and saves the compiler's
heap.  This module is the part every monitor runs; the rest loads on demand
(see ``Monitor``), and base.py is what all parts share.  :mod:`husk.engine.monitor_client` starts it and
reads its one report line; :mod:`husk.engine.attach_protocol` is the client side of
the attach socket.

Config keys: id, create_argv, pid_file, exit_file, log_path, log_max_size,
attach_socket, stdin, tty, exit_command, sync_fd, exec, client_fd, preserve_fds,
health_argv, health_interval, lock_path, cleanup_marker, oom_marker (see ``Monitor``),
listen_fd (the attach socket already listening, made by the launcher when it
knew the path at the start: a container's; without it the monitor makes it,
through ``_ctypes``: an exec's and a restore's started before their container was known).  An exec session's monitor (``exec``: true) runs the
runtime's ``exec --detach`` as its "create", which starts the command, so
output read before it returns belongs to the command (unless exec failed); it
has no log (empty log_path) and an exit command only when detached; its
``client_fd`` is the exec CLI's end of a socket pair, attached before the
command starts so no output is lost, and slowed down to (never dropped for)
the client's pace; ``preserve_fds`` numbers the caller's descriptors 3.. that
the runtime passes on to the command (the monitor closes its copies).
With ``config_fd`` (husk's launches: the monitor starts before its caller
knows the whole configuration, and a command line's copies would stay in its
memory for its life), the rest of the configuration is read from that pipe
first (a marshal dump of config keys, over those of the argument); EOF with
nothing written means the caller gave up: the monitor exits having done nothing.

Health checks (``health_argv``, every ``health_interval`` seconds): see .health.

The exit command is skipped when someone else has done its work: a
container's monitor creates ``cleanup_marker`` at start, and husk's cleanup
removes it once nothing is left for the exit command (never for a --rm or pod
container before removal).  At exit the monitor waits for a client that sent
MSG_CLEANUP (run and start -a, which clean up or remove the container
themselves) to hang up, then takes the container's lock (``lock_path``, as
husk's commands do) and runs the exit command only when the marker is still
there (or its directory is gone: a removal died half-way) and the lock
file was not removed with the container.  Every doubt
(a killed CLI, a marker left behind) runs it: the exit command repairs, and
is idempotent.

OOM kills: the monitor sees the init's exit first, while the container's
cgroup is still there (the runtime's delete, in the exit command, removes
it).  The kernel counts the OOM killer's kills per memory cgroup (v1:
``oom_kill`` in memory.oom_control, v2: in memory.events); the monitor finds
that file from /proc/PID/cgroup of the init when ``create`` is done, reads
the count then and at the exit, and creates ``oom_marker`` before the exit
file when it grew: husk's exit recording takes the marker (as a shim
backend's), so any process of the container killed for memory makes it
OOMKilled, as in podman.  The count at start keeps a cgroup the container
shares (none of its own: rootless on v1) from reporting older kills.
"""

import _signal as signal
import marshal
import posix as os  # os's C core: the os module (posixpath, stat, _collections_abc) costs ~0.25 MiB PSS a monitor
import select
import sys
import time

from .base import (DEVNULL, MAX_DATA, SOCK_SEQPACKET, STREAM_STDERR, STREAM_STDOUT, accept, become_subreaper, libc,
                   listen_unix, spawn)

#: after the init died, stop draining output when nothing arrived for this long
DRAIN_IDLE_SECONDS = 2.0
#: how long the last output may take to reach attach clients at exit
FLUSH_SECONDS = 5.0
#: how long the exit command waits for a client that promised the cleanup (then runs anyway)
CLEANUP_WAIT_SECONDS = 30.0
ENFILE = 23
EMFILE = 24
#: out of descriptors, the listener stays readable: it is not watched for this long (no busy loop)
ACCEPT_BACKOFF_SECONDS = 0.2
STREAM_NAMES = {STREAM_STDOUT: b"stdout", STREAM_STDERR: b"stderr"}
#: armed fault points (husk/faults.py's table, read the same way: this script
#: cannot import husk); ``kill`` kills the monitor, any other action fails the step
FAULTS = {name: action for name, _, action in
          (entry.strip().rpartition(":") for entry in os.environ.get(b"HUSK_FAULT", b"").decode().split(",")) if name}


def fault(name: str) -> None:
    action = FAULTS.get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action is not None:
        raise OSError(28, "No space left on device (fault %s)" % name)


def timestamp() -> bytes:
    """RFC 3339 UTC with nanoseconds, as k8s-file logs carry it."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%09dZ" % nanos).encode()


def k8s_records(stream: int, chunk: bytes) -> bytes:
    """One chunk of output as k8s-file records: F for each full line, P for a trailing partial."""
    prefix = timestamp() + b" " + STREAM_NAMES[stream] + b" "
    lines = chunk.split(b"\n")
    tail = lines.pop()
    records = [prefix + b"F " + line + b"\n" for line in lines]
    if tail:
        records.append(prefix + b"P " + tail + b"\n")
    return b"".join(records)


class LogWriter:
    """Appends k8s-file records; rotates to ``<path>.1`` past ``max_size``.

    A failing write (disk full, removed directory) loses log lines but never
    stops the monitor: output still reaches attach clients."""

    def __init__(self, path: str, max_size: int) -> None:
        self.path = path
        self.max_size = max_size
        self.fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        if not self.path:
            return
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.size = os.fstat(self.fd).st_size
        except OSError:
            self.fd = -1

    def _rotate(self) -> None:
        os.close(self.fd)
        self.fd = -1
        try:
            os.rename(self.path, self.path + ".1")
        except OSError:
            pass
        self._open()

    def write(self, records: bytes) -> None:
        if self.fd < 0:
            self._open()
            if self.fd < 0:
                return
        if self.max_size and self.size and self.size + len(records) > self.max_size:
            self._rotate()
            if self.fd < 0:
                return
        view = memoryview(records)
        try:
            while view:
                written = os.write(self.fd, view)
                self.size += written
                view = view[written:]
        except OSError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def exit_code(status: int) -> int:
    """The shell's convention: the exit code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def oom_counter(pid: int) -> str:
    """The file counting OOM kills in the memory cgroup of ``pid`` ("": none found)."""
    try:
        with open("/proc/%d/cgroup" % pid) as handle:
            entries = [line.split(":", 2) for line in handle.read().splitlines()]
    except OSError:
        return ""
    for _, controllers, path in entries:
        if "memory" in controllers.split(","):  # v1 (a hybrid host's memory is there)
            return "/sys/fs/cgroup/%s%s/memory.oom_control" % (controllers, path)
    for hierarchy, _, path in entries:
        if hierarchy == "0":
            return "/sys/fs/cgroup%s/memory.events" % path
    return ""


def oom_kills(path: str) -> int:
    """The ``oom_kill`` count of a memory.oom_control or memory.events file (0 when unreadable)."""
    try:
        with open(path) as handle:
            for line in handle.read().splitlines():
                if line.startswith("oom_kill "):
                    return int(line[9:])
    except (OSError, ValueError):
        pass
    return 0


class Monitor:
    """The event loop.  Phases: ``create`` (runtime output is error text),
    ``running`` (output is logged and forwarded), ``draining`` (the init died;
    read what is left), then the exit sequence in :meth:`finish`.

    What only some monitors need is loaded when they need it, so that the
    others never hold its code (its memory is paid once per container): the
    attach clients (.clients), a terminal's console (.console), the journal
    (.journal), health checks (.health) and a failed create's message (.failure).
    A part loaded late (the clients, by the first attach) comes from the husk
    installed then, perhaps newer than this monitor: the parts use only the
    attributes set in ``__init__`` and the methods above ``report``, which
    must therefore keep their names and meaning across versions.  When the
    clients cannot be loaded any more (husk removed or moved), an attach is
    refused (its connection closed) and the monitor lives on."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.tty = bool(config.get("tty"))
        self.want_stdin = bool(config.get("stdin"))
        self.sync_fd = config.get("sync_fd", -1)
        self.poller = select.epoll()
        self.registered: dict = {}  # fd -> epoll events
        self.handlers: dict = {}  # fd -> [on_read, on_write]
        self.children: dict = {}  # pid -> wait status of reaped children
        self.outputs: dict = {}  # fd -> stream id, for output we read
        self.clients: dict = {}  # fd -> [socket, queued packets, queued bytes] (see .clients)
        self.stdin_fd = -1
        self.stdin_queue = bytearray()
        self.stdin_close_pending = False
        self.stdin_held: set = set()  # clients not read while their input waits for the container
        self.pty_master = -1
        self.console = -1  # the console socket's listening descriptor
        self.console_holder: list = []
        self.listener = -1  # the attach socket's
        self.socket_identity = None  # path_identity of the attach socket once listening
        self.accept_resume = None  # monotonic seconds: when to watch the listener again (out of descriptors)
        self.runtime_output = bytearray()
        self.phase = "create"
        self.create_pid = 0
        self.container_pid = 0
        self.exit_pid = 0
        self.deadline = None  # run --timeout: when the container is killed (monotonic seconds)
        self.owner = -1  # the client never dropped for its pace (see .clients)
        self.cleaner = -1  # the client that sent MSG_CLEANUP
        self.outputs_paused = False
        self.is_exec = bool(config.get("exec"))
        self.early_output: list = []
        self.log = LogWriter(config.get("log_path", ""), int(config.get("log_max_size") or 0))
        self.journal = None
        if config.get("journal"):
            from .journal import JournalWriter

            self.journal = JournalWriter(config["journal"])
        self.health_argv = list(config.get("health_argv") or [])
        self.health_interval = float(config.get("health_interval") or 0)
        self.health_pid = 0
        self.health_due = 0.0  # monotonic seconds
        self.oom_counter = ""  # the file counting the container's OOM kills, and its count at start
        self.oom_kills = 0

    # -- fd bookkeeping --------------------------------------------------------------
    def watch(self, fd: int, on_read=None, on_write=None) -> None:
        """Set the read/write handlers of ``fd`` (None clears one) and sync the selector."""
        handlers = self.handlers.setdefault(fd, [None, None])
        handlers[0] = on_read if on_read is not None else handlers[0]
        handlers[1] = on_write if on_write is not None else handlers[1]
        self._sync(fd)

    def unwatch(self, fd: int, read: bool = False, write: bool = False) -> None:
        handlers = self.handlers.get(fd)
        if handlers is None:
            return
        if read:
            handlers[0] = None
        if write:
            handlers[1] = None
        self._sync(fd)

    def _sync(self, fd: int) -> None:
        on_read, on_write = self.handlers[fd]
        events = (select.EPOLLIN if on_read else 0) | (select.EPOLLOUT if on_write else 0)
        registered = self.registered.get(fd, 0)
        if not events:
            del self.handlers[fd]
            if registered:
                del self.registered[fd]
                self.poller.unregister(fd)
        elif not registered:
            self.poller.register(fd, events)
            self.registered[fd] = events
        elif registered != events:
            self.poller.modify(fd, events)
            self.registered[fd] = events

    def forget(self, fd: int) -> None:
        """Stop watching ``fd`` and close it."""
        if fd in self.handlers:
            self.handlers[fd] = [None, None]
            self._sync(fd)
        os.close(fd)

    # -- start-up ----------------------------------------------------------------------
    def start(self) -> None:
        """Set up stdio, the attach socket and the console socket; run ``create``."""
        if self.config.get("cleanup_marker"):
            os.close(os.open(self.config["cleanup_marker"], os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        reap_r, reap_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(reap_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.watch(reap_r, on_read=lambda: self.on_sigchld(reap_r))

        self.listener = self.config.get("listen_fd", -1)
        if self.listener >= 0:  # made by the launcher, which knew the path (see husk.engine.monitor_client)
            os.set_inheritable(self.listener, False)  # not into the runtime and the container
        else:
            self.listener, _, holder = listen_unix(self.config["attach_socket"], SOCK_SEQPACKET)
            for fd in holder:
                os.close(fd)
        self.socket_identity = path_identity(self.config["attach_socket"])
        self.watch(self.listener, on_read=self.on_attach_connect)
        if self.config.get("client_fd", -1) >= 0:
            from . import clients

            self.owner = self.config["client_fd"]
            os.set_inheritable(self.owner, False)
            clients.add(self, self.owner)

        argv = list(self.config["create_argv"])
        devnull = os.open(DEVNULL, os.O_RDWR | os.O_CLOEXEC)
        child_fds = [devnull]
        stdin_read = devnull
        if self.want_stdin and not self.tty:
            stdin_read, self.stdin_fd = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(self.stdin_fd, False)
            child_fds.append(stdin_read)
        for stream in (STREAM_STDOUT, STREAM_STDERR):
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(read_end, False)
            self.outputs[read_end] = stream
            self.watch(read_end, on_read=lambda fd=read_end: self.on_output(fd))
            child_fds.append(write_end)
        if self.tty:
            from . import console

            console.listen(self, argv)
        self.oci_log, self.oci_log_offset = "", 0
        if "--log" in argv:
            self.oci_log = argv[argv.index("--log") + 1]
            try:
                self.oci_log_offset = os.stat(self.oci_log).st_size
            except OSError:
                pass
        try:
            self.create_pid = spawn(argv, stdin_read, child_fds[-2], child_fds[-1])
        except OSError as exc:
            self.fail("%s: %s" % (argv[0], exc.strerror))
        for fd in child_fds:
            os.close(fd)
        for fd in range(3, 3 + int(self.config.get("preserve_fds") or 0)):
            try:
                os.close(fd)  # the runtime has them now; our copies would keep pipes open
            except OSError:
                pass
        self.on_sigchld(reap_r)

    # -- event handlers -------------------------------------------------------------
    def on_sigchld(self, wakeup_fd: int) -> None:
        """Reap every child: the runtime's create, the container init, and any
        orphan reparented to us as subreaper."""
        try:
            while wakeup_fd >= 0 and os.read(wakeup_fd, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children[pid] = status

    def on_output(self, fd: int) -> None:
        try:
            chunk = os.read(fd, MAX_DATA)
        except BlockingIOError:
            return
        except OSError:  # EIO: every pty slave is closed
            chunk = b""
        if not chunk:
            del self.outputs[fd]
            if fd == self.pty_master:
                self.unwatch(fd, read=True)  # stays open as stdin until the end
            else:
                self.forget(fd)
            return
        stream = self.outputs[fd]
        if self.phase == "create":
            self.runtime_output += chunk
            del self.runtime_output[:-65536]
            if self.is_exec:  # the command may already run: its output, unless exec fails
                self.early_output.append((stream, chunk))
            return
        self.forward(stream, chunk)

    def forward(self, stream: int, chunk: bytes) -> None:
        """Output of the container (or exec'd command): to the log and the clients."""
        self.log.write(k8s_records(stream, chunk))
        if self.journal is not None:
            self.journal.write(stream, chunk)
        if self.clients:
            from . import clients

            clients.broadcast(self, bytes([stream]) + chunk)

    def on_attach_connect(self) -> None:
        """Accept every client waiting, not just one: the output read next in
        the same round of events must reach all that connected before it."""
        while True:
            try:
                conn = accept(self.listener)
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # BlockingIOError: none left
                if exc.errno in (EMFILE, ENFILE):
                    # the client stays queued; a listener watched now would wake us at once, forever
                    self.unwatch(self.listener, read=True)
                    self.accept_resume = time.monotonic() + ACCEPT_BACKOFF_SECONDS
                return
            try:
                from . import clients
            except ImportError:  # husk removed or moved since this monitor started: no client, the container lives on
                os.close(conn)
                continue
            clients.add(self, conn)

    # -- phases -----------------------------------------------------------------------
    def report(self, message: dict) -> None:
        """Send the one sync line to the launcher and close the pipe."""
        if self.sync_fd < 0:
            return
        data = marshal.dumps(message).hex().encode() + b"\n"
        try:
            while data:
                data = data[os.write(self.sync_fd, data):]
        except OSError:
            pass  # the launcher is gone; the container lives on regardless
        os.close(self.sync_fd)
        self.sync_fd = -1

    def fail(self, message: str) -> None:
        """``create`` failed: clean up, report, exit without an exit file."""
        if self.clients:
            from . import clients

            for fd in list(self.clients):
                clients.drop(self, fd)
        if self.console >= 0:
            from . import console

            console.close(self)
        self.remove_socket()
        self.report({"error": message})
        os._exit(1)

    def remove_socket(self) -> None:
        """Unlink the attach socket's path if it is still ours: while this
        monitor flushes its clients after the exit (seconds), a ``start`` may
        have bound the next monitor's socket at the same path."""
        if self.socket_identity is not None and path_identity(self.config["attach_socket"]) == self.socket_identity:
            try:
                os.unlink(self.config["attach_socket"])
            except OSError:
                pass

    def on_create_exited(self) -> None:
        status = self.children.pop(self.create_pid)
        code = exit_code(status)
        if code != 0:
            from .failure import last_output_line, oci_log_error

            message = oci_log_error(self.oci_log, self.oci_log_offset) if self.oci_log else ""
            message = message or last_output_line(bytes(self.runtime_output))
            self.fail(message or "%s create exited with code %d" % (self.config["create_argv"][0].rpartition("/")[2], code))
        if self.tty:
            from . import console

            if self.pty_master < 0:
                console.on_connect(self)  # the master may still wait in the backlog
                if self.pty_master < 0:
                    self.fail("the OCI runtime sent no terminal on the console socket")
            console.close(self)
        try:
            with open(self.config["pid_file"]) as pid_file:
                pids = pid_file.read().split()
            self.container_pid = int(pids[0])
            # a second pid: the process whose exit is the container's (a shim
            # backend's waiter, which asks the shim, the init's parent)
            self.exit_pid = int(pids[1]) if len(pids) > 1 else self.container_pid
        except (OSError, ValueError, IndexError) as exc:
            self.fail("cannot read the container's pid file %s: %s" % (self.config["pid_file"], exc))
        if self.config.get("oom_marker"):
            self.oom_counter = oom_counter(self.container_pid)
            self.oom_kills = oom_kills(self.oom_counter)
        self.runtime_output = bytearray()
        self.phase = "running"
        if int(self.config.get("timeout") or 0) > 0:
            self.deadline = time.monotonic() + int(self.config["timeout"])
        self.health_due = time.monotonic() + self.health_interval
        for stream, chunk in self.early_output:
            self.forward(stream, chunk)
        self.early_output = []
        self.report({"pid": self.container_pid, "monitor_pid": os.getpid()})
        release_free_memory()

    def begin_drain(self) -> None:
        """The init died: accept the clients that connected before (a listener
        closed on them would reset them, their output lost), then no more, and
        read the output that is left."""
        self.phase = "draining"
        if select.select([self.listener], [], [], 0)[0]:  # (none waiting: no accept, which loads _socket)
            self.on_attach_connect()
        self.forget(self.listener)
        self.listener = -1
        self.accept_resume = None

    def run(self) -> None:
        self.start()
        while True:
            if self.phase == "create" and self.create_pid in self.children:
                self.on_create_exited()
            if self.phase == "running" and self.exit_pid in self.children:
                self.begin_drain()
            if self.phase == "draining" and not self.outputs:
                break
            timeout = DRAIN_IDLE_SECONDS if self.phase == "draining" else None
            if self.deadline is not None and self.phase == "running":
                timeout = max(0.0, self.deadline - time.monotonic())
                if not timeout:  # run --timeout: its time is up, as conmon's --timeout
                    self.deadline = None
                    os.kill(self.container_pid, signal.SIGKILL)
                    continue
            if self.health_argv and self.phase == "running":
                from . import health

                timeout = health.timer(self, timeout)
            if self.accept_resume is not None:
                timeout = self.resume_accepting(timeout)
            events = self.poller.poll(-1 if timeout is None else timeout)
            # new clients first: output read in this round must reach a client that connected before it was written
            events.sort(key=lambda event: event[0] != self.listener)
            if not events and self.phase == "draining":
                break
            for fd, mask in events:
                # as selectors does: a hang-up or an error wakes both the reader
                # and the writer, which see EOF or the error
                handlers = self.handlers.get(fd)
                if handlers and mask & ~select.EPOLLOUT and handlers[0]:
                    handlers[0]()
                handlers = self.handlers.get(fd)
                if handlers and mask & ~select.EPOLLIN and handlers[1]:
                    handlers[1]()
        self.finish()

    def resume_accepting(self, timeout):
        """Watch the listener again once its back-off is over; the poll timeout until then."""
        wait = self.accept_resume - time.monotonic()
        if wait > 0:
            return wait if timeout is None else min(timeout, wait)
        self.accept_resume = None
        self.watch(self.listener, on_read=self.on_attach_connect)
        return timeout

    def finish(self) -> None:
        """OOM marker, exit file, last output to clients, socket removal, exit command."""
        code = exit_code(self.children[self.exit_pid])
        if self.oom_counter and oom_kills(self.oom_counter) > self.oom_kills:
            try:
                os.close(os.open(self.config["oom_marker"], os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError:
                pass
        exit_file = self.config["exit_file"]
        temporary = exit_file + ".tmp"
        try:
            fault("monitor.exit-file.before")
            with open(temporary, "w") as handle:
                handle.write("%d\n" % code)
            os.rename(temporary, exit_file)
            fault("monitor.exit-file.after")
        except OSError:
            pass
        self.log.close()
        if self.journal is not None:
            self.journal.close()
        cleaner = None
        if self.clients:
            from . import clients

            cleaner = clients.flush_at_exit(self, time.monotonic() + FLUSH_SECONDS)
        self.remove_socket()
        command = self.config.get("exit_command") or []
        if command and not self.cleanup_pending(cleaner):
            command = []
        if command:
            devnull = os.open(DEVNULL, os.O_RDWR | os.O_CLOEXEC)
            try:
                pid = spawn(list(command), devnull, devnull, devnull)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass
        self.on_sigchld(-1)  # orphans that died meanwhile (a shim the cleanup shut down)
        os._exit(0)


    def cleanup_pending(self, cleaner) -> bool:
        """Whether the exit command has work left: after ``cleaner`` (the client
        that promised the cleanup, or None) hung up, and under the container's
        lock, the cleanup marker is still there and the container not removed."""
        if cleaner is not None:
            try:
                cleaner.settimeout(CLEANUP_WAIT_SECONDS)
                cleaner.recv(1)  # anything but its hang-up is a protocol error: decide now
            except OSError:
                pass
            cleaner.close()
        lock_path, marker = self.config.get("lock_path"), self.config.get("cleanup_marker")
        if not lock_path or not marker:
            return True
        import fcntl

        try:
            lock = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # removed with the container
        except OSError:
            return True
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # the marker's directory gone with the lock still there: a removal
            # (of a --rm container, say) died before the records went; finish it
            return os.fstat(lock).st_nlink > 0 and (exists(marker) or not exists(marker.rpartition("/")[0]))
        except OSError:
            return True
        finally:
            os.close(lock)  # the lock goes with it


def path_identity(path: str):
    """What tells the file ``path`` names now from another made there later
    (an unlinked socket's inode number may be given to the next at once, its
    time of making not), None when nothing is there."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_mtime_ns


def exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Give the C heap's free pages back once the start-up is done: the
    buffers of the import (a whole .pyc file each), of the configuration and
    of the runtime's output stay resident otherwise, for the container's life
    (about 0.02 MiB of PSS per monitor, measured).  Only in a monitor that
    made its attach socket itself (an exec's, a restore's started before its
    container was known), whose ``_ctypes`` is loaded anyway: a container's
    monitor otherwise never loads it, which saves more (about 0.05 MiB of
    PSS net of the trim, measured).
    Nothing without glibc's malloc_trim, and never a reason for the monitor to fail."""
    if "_ctypes" not in sys.modules:
        return
    try:
        libc("malloc_trim", 0)
    except (AttributeError, OSError):
        pass


def read_late_config(fd: int) -> dict:
    """The rest of the configuration from the launcher's pipe; exit quietly on EOF without it."""
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    if not data:
        os._exit(0)
    return marshal.loads(data)


def main() -> None:
    """The monitor.  Handed its attach socket (``listen_fd``: a container's,
    launched by husk.engine.monitor_client), it is already detached and the
    child subreaper: the launcher did both before the interpreter started,
    so that it never loads ``_ctypes``.  Otherwise (an exec's or a restore's
    monitor, started before its container was known, whose socket needs
    ``_ctypes`` anyway; the monitor run as a script) it does all three itself."""
    config = marshal.loads(bytes.fromhex(sys.argv[1]))
    if config.get("config_fd", -1) >= 0:
        config.update(read_late_config(config["config_fd"]))
    if config.get("listen_fd", -1) < 0:
        # The launcher waits for this first process; the monitor lives on in the child.
        if os.fork() != 0:
            os._exit(0)
        become_subreaper()
    os.chdir("/")
    for fd in (0, 1, 2):  # keep stdio numbers taken so pipes never land on them
        try:
            os.fstat(fd)
        except OSError:
            os.open(DEVNULL, os.O_RDWR)
    # Handlers, not SIG_IGN: handlers reset to default in the runtime and the
    # container, an ignore would be inherited by them.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: None)
    if config.get("sync_fd", -1) >= 0:
        os.set_inheritable(config["sync_fd"], False)  # not into the runtime and the container
    monitor = Monitor(config)
    try:
        monitor.run()
    except SystemExit:
        raise
    except BaseException as exc:
        monitor.report({"error": "monitor: %s: %s" % (type(exc).__name__, exc)})
        os._exit(1)


if __name__ == "__main__":
    main()
