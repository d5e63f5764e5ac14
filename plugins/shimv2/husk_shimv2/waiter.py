"""The shim backend's "create": run by husk's monitor, lives beside the container.

husk's monitor runs a runtime's ``create`` and then waits (``waitpid``, as
subreaper) for the container's init.  A shim owns the init instead, so this
program stands in for both: started as the monitor's ``create_argv``
(``python -I -S waiter.py [--console-socket PATH] HEXCONFIG``), it starts the
shim (whose daemon reparents to the monitor, which reaps it), creates the
task (or, for an exec session, execs and starts the process) with stdio
through fifos, and forks.  The parent writes the pid file -- the init's pid,
then the child's -- and exits: "create" is done.  The child is the process
the monitor waits for: it carries stdio between the monitor's pipes (or a
pty of its own, for a terminal) and the fifos, asks the shim to ``Wait``, and
exits with the container's exit code.  The init's waiter also serves the
shim's events (:mod:`husk_shimv2.events`): an OOM kill leaves husk its
``oom`` marker in the userdata directory.  When the shim dies, it runs the
shim's ``delete`` action (which kills what is left) and exits with its status.

It imports only the standard library's C modules and its siblings: it costs
memory per container, as the monitor does.  The configuration (a marshal
dump, as hex) is written by :mod:`husk_shimv2.backend`: binary, namespace,
address, id, bundle, userdata, pid_file, options, checkpoint (a restore's
images), and for an exec: exec_id, process_file.
"""

import marshal
import os
import select
import stat
import sys
import time

if __name__ == "__main__":  # run as a script: import the siblings through the package
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from husk_shimv2 import events, proto, shim, ttrpc  # noqa: E402

CHUNK = 32768
#: after the exit, stop copying output once nothing arrived for this long
DRAIN_IDLE_SECONDS = 2.0
#: after the exit, how long to wait for the shim's exit event (an OOM event comes before it)
EXIT_EVENT_SECONDS = 10.0
#: the file in husk's userdata that tells husk the OOM killer struck (husk.engine.lifecycle)
OOM_MARKER = "oom"
FIFO_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def fail(message: str) -> None:
    """Tell the monitor why create failed (its last line of our output) and exit."""
    os.write(2, (message.strip() + "\n").encode(errors="replace"))
    os._exit(1)


def make_fifo(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)


def prepare_bundle(config: dict) -> None:
    """The shim's bundle: a directory named as the container, its config.json
    husk's own, and a ``log`` fifo (the runc shim exits silently without one)."""
    bundle = config["bundle"]
    os.makedirs(bundle, mode=0o700, exist_ok=True)
    link = os.path.join(bundle, "config.json")
    try:
        os.unlink(link)
    except FileNotFoundError:
        pass
    os.symlink(os.path.join(config["userdata"], "config.json"), link)
    make_fifo(os.path.join(bundle, "log"))


class Stdio:
    """The fifos of one process and what is copied through them."""

    def __init__(self, directory: str, prefix: str, want_stdin: bool, terminal: bool) -> None:
        self.paths = tuple(os.path.join(directory, prefix + name) if name != "stdin" or want_stdin else ""
                           for name in ("stdin", "stdout", "stderr"))
        if terminal:  # the shim's pty carries both streams on stdout
            self.paths = (self.paths[0], self.paths[1], "")
        self.readers = {}  # fifo fd -> where its data goes
        for path, target in zip(self.paths[1:], (1, 2)):
            if path:
                make_fifo(path)
                self.readers[os.open(path, FIFO_FLAGS)] = target
        self.stdin = -1
        if self.paths[0]:
            make_fifo(self.paths[0])
            # read-write: opening does not wait for the shim, and the fifo never sees EOF from us
            self.stdin = os.open(self.paths[0], os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def remove(self) -> None:
        for path in self.paths:
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass


class Waiter:
    """The long-lived half: copies stdio and waits for the exit."""

    def __init__(self, config: dict, stdio: Stdio, exec_id: str, log_fd: int,
                 event_server: "events.EventServer" = None) -> None:
        self.config = config
        self.events = event_server  # the init's waiter serves the shim's events; an exec's does not
        self.events_seen = self.exit_event_seen = False
        self.stdio = stdio
        self.exec_id = exec_id
        self.log_fd = log_fd
        self.source = 0  # what feeds the container's stdin (our stdin, or the pty)
        self.pending = bytearray()  # input the container has not taken yet
        self.eof = False
        self.sinks = {1: 1, 2: 2}
        self.pty = -1

    def use_pty(self, slave: int) -> None:
        """Carry the pty's slave to the shim's fifos (the monitor holds its
        master); window sizes follow through SIGWINCH, as the slave becomes
        our controlling terminal."""
        import fcntl
        import signal
        import termios

        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        self.pty = slave
        self.source = slave
        self.sinks = {1: slave, 2: slave}
        self.winch_r, winch_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(winch_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGWINCH, lambda signum, frame: None)
        self.resize()  # a size set before the slave was our terminal sent no SIGWINCH

    def resize(self) -> None:
        import fcntl
        import termios

        try:
            while os.read(self.winch_r, 64):
                pass
        except BlockingIOError:
            pass
        size = fcntl.ioctl(self.pty, termios.TIOCGWINSZ, b"\0" * 8)
        rows, cols = int.from_bytes(size[0:2], sys.byteorder), int.from_bytes(size[2:4], sys.byteorder)
        if not rows or not cols:
            return
        try:
            with self.task() as task:
                task.resize(cols, rows, self.exec_id)
        except (OSError, ttrpc.TtrpcError):
            pass

    def task(self) -> "shim.Task":
        address, service = shim.read_address(self.config["bundle"])
        return shim.Task(address, service, self.config["id"])

    def close_stdin(self) -> None:
        """Our stdin ended: so does the container's (the shim holds the fifo open itself)."""
        os.close(self.stdio.stdin)
        self.stdio.stdin = -1
        try:
            with self.task() as task:
                task.close_stdin(self.exec_id)
        except (OSError, ttrpc.TtrpcError):
            pass

    def run(self) -> int:
        try:
            waiting = self.task()
            wait_stream = waiting.send_wait(self.exec_id)
        except (OSError, ttrpc.TtrpcError):
            return self.shim_gone()
        readers = dict(self.stdio.readers)
        watch = [waiting.client.fileno(), *readers] + ([self.log_fd] if self.log_fd >= 0 else [])
        if self.stdio.stdin >= 0:
            watch.append(self.source)
        if self.pty >= 0:
            watch.append(self.winch_r)
        status = None
        while status is None:
            writable = [self.stdio.stdin] if self.pending else []
            event_fds = self.events.fds() if self.events else []
            ready, can_write, _ = select.select(watch + event_fds, writable, [])
            if can_write and not self.flush_stdin() and not self.eof:
                watch.append(self.source)  # all written: read the client's input again
            for fd in ready:
                if fd in event_fds:
                    self.on_events(fd)
                elif fd == waiting.client.fileno():
                    try:
                        status = waiting.wait_reply(wait_stream)
                    except (OSError, ttrpc.TtrpcError):
                        return self.shim_gone()
                elif fd == self.log_fd:
                    if not self.drain_log():
                        watch.remove(fd)
                elif fd in readers:
                    if not self.copy(fd, self.sinks[readers[fd]]):
                        watch.remove(fd)
                        del readers[fd]
                elif fd == self.source:
                    watch.remove(fd)
                    if self.feed_stdin():
                        watch.append(fd)
                elif self.pty >= 0 and fd == self.winch_r:
                    self.resize()
        waiting.close()
        self.drain(readers)
        self.await_exit_event()
        return status

    def on_events(self, fd: int) -> None:
        """What the shim sent to our events socket: an OOM of the container
        leaves husk its marker; its exit event is the last one we wait for."""
        for topic, fields in self.events.on_ready(fd):
            self.events_seen = True
            if proto.text(fields, 1) != self.config["id"]:
                continue
            if topic == events.TOPIC_OOM:
                marker = os.path.join(self.config["userdata"], OOM_MARKER)
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            elif topic == events.TOPIC_EXIT and proto.text(fields, 2) in ("", self.config["id"]):
                self.exit_event_seen = True

    def await_exit_event(self) -> None:
        """The init has exited: its OOM event, if any, may still be on its way
        (the shim sends events apart from Wait's answer).  The exit event comes
        after it, so wait for that, when the shim sends events at all."""
        if not self.events:
            return
        deadline = time.monotonic() + EXIT_EVENT_SECONDS
        while self.events_seen and not self.exit_event_seen and time.monotonic() < deadline:
            event_fds = self.events.fds()
            for fd in select.select(event_fds, [], [], max(0.0, deadline - time.monotonic()))[0]:
                self.on_events(fd)
        self.events.close()
        try:
            os.unlink(os.path.join(self.config["bundle"], events.SOCKET))
        except OSError:
            pass

    def feed_stdin(self) -> bool:
        """Input from the monitor into the stdin fifo; whether to keep reading
        (False at EOF, and while input waits for the container to read it:
        then output keeps flowing, so a container that writes before it
        reads never deadlocks against us)."""
        try:
            data = os.read(self.source, CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return self.flush_stdin() and False
        self.pending += data
        return not self.flush_stdin()

    def flush_stdin(self) -> bool:
        """Write what input waits; whether some still does.  At EOF with
        nothing left, the container's stdin is closed."""
        try:
            while self.pending:
                del self.pending[:os.write(self.stdio.stdin, self.pending)]
        except BlockingIOError:
            return True
        except OSError:
            self.pending.clear()
        if self.eof and self.stdio.stdin >= 0:
            self.close_stdin()
        return False

    def copy(self, fd: int, sink: int) -> bool:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            os.close(fd)
            return False
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(sink, view):]
        except OSError:
            pass
        return True

    def drain(self, readers: dict) -> None:
        """Output still in the fifos after the exit, until EOF or a quiet spell."""
        while readers:
            ready = select.select(list(readers), [], [], DRAIN_IDLE_SECONDS)[0]
            if not ready:
                return
            for fd in ready:
                if not self.copy(fd, self.sinks[readers[fd]]):
                    del readers[fd]

    def drain_log(self) -> bool:
        """The shim's own log: read (it must be) and dropped."""
        try:
            return bool(os.read(self.log_fd, CHUNK))
        except BlockingIOError:
            return True
        except OSError:
            return False

    def shim_gone(self) -> int:
        """The shim died (killed -9, say): its delete action kills what is left."""
        c = self.config
        try:
            return shim.shim_delete(c["binary"], c["namespace"], c["address"], c["id"], c["bundle"])
        except shim.ShimError as exc:
            os.write(2, ("%s\n" % exc).encode())
            return 255


def send_pty(console_socket: str) -> int:
    """A raw pty whose master goes to the monitor over its console socket, as
    runc sends the container's; returns the slave."""
    import _socket
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(console_socket)
        conn.sendmsg([b"console"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, master.to_bytes(4, sys.byteorder))])
    finally:
        conn.close()
        os.close(master)
    return slave


def main() -> None:
    args = sys.argv[1:]
    config = marshal.loads(bytes.fromhex(args[-1]))
    console_socket = ""
    if "--console-socket" in args:
        console_socket = args[args.index("--console-socket") + 1]
    if "--preserve-fds" in args:
        fail("the shim v2 runtime cannot pass descriptors to a container (--preserve-fds)")
    try:
        want_stdin = stat.S_ISFIFO(os.fstat(0).st_mode) if not console_socket else True
    except OSError:
        want_stdin = False
    exec_id = config.get("exec_id", "")
    bundle = config["bundle"]
    terminal = bool(console_socket)
    try:
        if exec_id:
            directory = os.path.dirname(config["pid_file"])
            stdio = Stdio(directory, "shim-", want_stdin, terminal)
            with open(config["process_file"], "rb") as handle:
                process = handle.read()
            log_fd = -1
            event_server = None
            task = shim.Task(*shim.read_address(bundle), config["id"])
            try:
                task.exec(exec_id, stdio.paths, terminal, process)
                try:
                    pid = task.start(exec_id)
                except ttrpc.TtrpcError:
                    task.delete(exec_id)
                    raise
            finally:
                task.close()
        else:
            prepare_bundle(config)
            log_fd = os.open(os.path.join(bundle, "log"), FIFO_FLAGS)
            stdio = Stdio(bundle, "", want_stdin, terminal)
            event_server = events.EventServer(bundle)
            address, service = shim.start_shim(config["binary"], config["namespace"], config["address"],
                                               config["id"], bundle, events.SOCKET)
            with shim.Task(address, service, config["id"]) as task:
                try:
                    pid = task.create(bundle, stdio.paths, terminal, config.get("options"),
                                      config.get("checkpoint", ""))
                    if config.get("checkpoint"):  # the shim restores at Start: running, as after runc restore
                        pid = task.start()
                except BaseException:
                    task.shutdown()  # no task, no shim: nothing is left to delete
                    raise
    except (OSError, ValueError, shim.ShimError, ttrpc.TtrpcError) as exc:
        fail(str(exc))
    try:
        slave = send_pty(console_socket) if console_socket else -1
    except OSError as exc:
        fail("cannot send the terminal to the monitor: %s" % exc)
    waiter_pid = os.fork()
    if waiter_pid:
        with open(config["pid_file"] + ".tmp", "w") as handle:
            handle.write("%d\n%d\n" % (pid, waiter_pid))
        os.rename(config["pid_file"] + ".tmp", config["pid_file"])
        os._exit(0)
    waiter = Waiter(config, stdio, exec_id, log_fd, event_server)
    if slave >= 0:
        waiter.use_pty(slave)
    status = waiter.run()
    if exec_id:
        try:
            with waiter.task() as task:
                task.delete(exec_id)
        except (OSError, ttrpc.TtrpcError):
            pass
        stdio.remove()
    os._exit(status & 0xFF)


if __name__ == "__main__":
    main()
