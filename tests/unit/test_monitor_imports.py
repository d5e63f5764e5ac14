"""What the monitor (core/monitor/) loads: its memory is paid once per
running container, so a detached container's monitor that nobody attaches to
must not load the socket module (0.08 MiB of PSS each, measured)."""

from __future__ import annotations

import ast
import marshal
import os
import pathlib
import socket
import stat
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[2] / "core"

LISTEN = """
import sys
sys.path.append(sys.argv[1])
import monitor
monitor.base.become_subreaper()
fd, address, holder = monitor.listen_unix(sys.argv[2], monitor.SOCK_SEQPACKET)
print("_socket" in sys.modules, address == sys.argv[2], holder)
"""


def test_the_attach_socket_listens_without_the_socket_module(tmp_path):
    path = tmp_path / "attach"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LISTEN, str(CORE), str(path)],
                            capture_output=True, text=True, env={}, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["False", "True", "[]"]
    mode = os.lstat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_long_path_binds_through_its_directory(tmp_path):
    """Past the 107 bytes of an AF_UNIX address: /proc/PID/fd/DIRFD/NAME."""
    directory = tmp_path / ("d" * 100)
    directory.mkdir()
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LISTEN, str(CORE), str(directory / "attach")],
                            capture_output=True, text=True, env={}, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split()[:2] == ["False", "False"]  # the /proc address, its dir fd held
    assert stat.S_ISSOCK(os.lstat(directory / "attach").st_mode)


LIFE = """
import sys
sys.path.append(sys.argv[1])
import marshal, monitor
config = marshal.loads(bytes.fromhex(sys.argv[2]))
finish = monitor.Monitor.finish

def report_parts(self):
    print(sorted(name for name in sys.modules if name.startswith("monitor.") or name == "_socket"), flush=True)
    finish(self)

monitor.Monitor.finish = report_parts
monitor.base.become_subreaper()
monitor.Monitor(config).run()
"""


def _monitor_life(tmp_path, **config) -> list[str]:
    """The monitor's parts and _socket loaded by the end of a container's life
    (a shell as the runtime's create: it starts the "init" and writes its pid)."""
    pid_file = tmp_path / "pidfile"
    config = {"id": "parts", "create_argv": ["/bin/sh", "-c", f"sleep 0.2 & echo $! > {pid_file}"],
              "pid_file": str(pid_file), "exit_file": str(tmp_path / "exit"), "log_path": str(tmp_path / "log"),
              "attach_socket": str(tmp_path / "attach"), "oom_marker": str(tmp_path / "oom"), **config}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LIFE, str(CORE), marshal.dumps(config).hex()],
                            capture_output=True, text=True, env={}, timeout=120,
                            pass_fds=[config["client_fd"]] if "client_fd" in config else ())
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "exit").read_text() == "0\n"
    return ast.literal_eval(result.stdout)


def test_a_detached_container_s_monitor_loads_no_optional_part(tmp_path):
    """No client, terminal, journal or health check: only the shared base, and no _socket."""
    assert _monitor_life(tmp_path) == ["monitor.base"]


WHOLE = """
import sys
bare = set(sys.modules)
sys.path.append(sys.argv[1])
import marshal, monitor
calls = []
libc, report, finish = monitor.libc, monitor.Monitor.report, monitor.Monitor.finish

def traced_libc(name, *args):
    calls.append(name)
    return libc(name, *args)

def traced_report(self, message):
    calls.append("report")
    report(self, message)

def at_exit(self):
    print(sorted(set(sys.modules) - bare), calls, flush=True)
    finish(self)

monitor.libc, monitor.Monitor.report, monitor.Monitor.finish = traced_libc, traced_report, at_exit
monitor.Monitor(marshal.loads(bytes.fromhex(sys.argv[2]))).run()
"""


def _subreaper() -> None:
    """The launcher's part (husk.engine.monitor_client), before the interpreter starts."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _whole_life(tmp_path, listener: socket.socket | None) -> tuple[list, list]:
    """The modules a monitor loaded beyond the bare interpreter's, and its libc calls, by its end."""
    pid_file = tmp_path / "pidfile"
    config = {"id": "lean", "create_argv": ["/bin/sh", "-c", f"sleep 0.2 & echo $! > {pid_file}"],
              "pid_file": str(pid_file), "exit_file": str(tmp_path / "exit"), "log_path": str(tmp_path / "log"),
              "attach_socket": str(tmp_path / "attach"), "oom_marker": str(tmp_path / "oom"),
              **({"listen_fd": listener.fileno()} if listener else {})}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", WHOLE, str(CORE), marshal.dumps(config).hex()],
                            capture_output=True, text=True, env={}, timeout=120, preexec_fn=_subreaper,
                            pass_fds=[listener.fileno()] if listener else ())
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "exit").read_text() == "0\n"
    return ast.literal_eval(result.stdout.replace("] [", "], ["))


def test_a_detached_container_s_monitor_loads_only_what_it_needs(tmp_path):
    """Every module beyond the bare interpreter's costs each monitor its
    memory for the container's life: the C modules the monitor needs
    (select for epoll) and its own two.  A container's monitor is handed
    its attach socket listening and is made the child subreaper by its
    launcher, so it makes no libc call and never loads _ctypes (~0.05 MiB)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(str(tmp_path / "attach"))
        listener.listen()
        listener.setblocking(False)
        modules, calls = _whole_life(tmp_path, listener)
    assert modules == ["monitor", "monitor.base", "select"]
    assert calls == ["report"]


def test_a_monitor_that_makes_its_own_socket_trims_its_heap(tmp_path):
    """An exec's or a restore's monitor, started before its container was
    known, binds its socket through _ctypes (no _struct: sockaddr_un is built
    by hand); with _ctypes loaded anyway, the C heap's free pages go back once
    the start is reported (release_free_memory)."""
    modules, calls = _whole_life(tmp_path, None)
    assert modules == ["_ctypes", "monitor", "monitor.base", "select"]
    assert calls[calls.index("report") + 1] == "malloc_trim"  # the first libc call after it


def test_an_attached_client_loads_the_clients_part(tmp_path):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours:
        try:
            parts = _monitor_life(tmp_path, client_fd=theirs.fileno(), exec=True)
        finally:
            theirs.close()
    assert parts == ["_socket", "monitor.base", "monitor.clients"]


SERVE = """
import sys
sys.path.append(sys.argv[1])
import marshal, monitor
monitor.base.become_subreaper()
monitor.Monitor(marshal.loads(bytes.fromhex(sys.argv[2]))).run()
"""


def test_an_attach_after_husk_went_away_leaves_the_monitor_running(tmp_path):
    """A part loaded late (the clients, at the first attach) comes from the
    files installed then: a husk removed or moved since the monitor started
    refuses the client, and the monitor lives on to record the exit (it died
    of the ImportError: no exit file, an orphaned container)."""
    import shutil
    import signal
    import time

    package = tmp_path / "installed"
    shutil.copytree(CORE / "monitor", package / "monitor", ignore=shutil.ignore_patterns("__pycache__"))
    pid_file, attach = tmp_path / "pidfile", tmp_path / "attach"
    config = {"id": "gone", "create_argv": ["/bin/sh", "-c", f"sleep 600 & echo $! > {pid_file}"],
              "pid_file": str(pid_file), "exit_file": str(tmp_path / "exit"), "log_path": str(tmp_path / "log"),
              "attach_socket": str(attach), "oom_marker": str(tmp_path / "oom")}
    monitor = subprocess.Popen([sys.executable, "-I", "-S", "-c", SERVE, str(package), marshal.dumps(config).hex()],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={})
    container = 0
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text().strip() and attach.exists()):
            assert time.monotonic() < deadline and monitor.poll() is None, "the monitor did not start its container"
            time.sleep(0.05)
        container = int(pid_file.read_text())
        os.unlink(package / "monitor" / "clients.py")  # husk uninstalled or moved meanwhile
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
            client.settimeout(60)
            client.connect(str(attach))
            assert client.recv(1) == b""  # refused: the connection is closed
        os.kill(container, signal.SIGKILL)
        _, stderr = monitor.communicate(timeout=120)
        assert (monitor.returncode, stderr) == (0, "")
        assert (tmp_path / "exit").read_text() == "137\n"
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        if container:
            try:
                os.kill(container, signal.SIGKILL)
            except ProcessLookupError:
                pass
