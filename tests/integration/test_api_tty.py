"""Interactive sessions through the service with the real docker CLI, driven
through a pty so the CLI sees a terminal (raw mode, its size, SIGWINCH, its
own handling of the detach keys): `run -it`, `exec -it`, detach and attach
again, and `attach` to a container without a TTY (ctrl-c is forwarded).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time

import pytest

from husk.testing import DOCKER, needs_docker_cli

pytestmark = needs_docker_cli


class Terminal:
    """A process (the docker CLI) on the slave side of a pty we hold the master of."""

    def __init__(self, service, *args: str, rows: int = 24, cols: int = 80) -> None:
        env = {**os.environ, "DOCKER_HOST": f"unix://{service.socket_path}",
               "DOCKER_CONFIG": os.path.dirname(service.socket_path), "TERM": "xterm"}
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdio is the slave, sized before docker starts
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(DOCKER, [DOCKER, *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.seen = pid, fd, b""

    def expect(self, pattern: bytes, timeout: float = 20) -> re.Match:
        """Read until `pattern` matches what came since the last match; consume it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not (match := regex.search(self.seen)):
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen in {self.seen!r}"
            if not self._read(left):
                raise AssertionError(f"the terminal closed before {pattern!r}; got {self.seen!r}")
        self.seen = self.seen[match.end():]
        return match

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child side is gone
            return False
        self.seen += data
        return bool(data)

    def _drain(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def resize(self, rows: int, cols: int) -> None:
        """What a terminal emulator does: set the size, signal the process."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def size_inside(self) -> bytes:
        self.type(b"stty size\r")
        return self.expect(rb"\r\n(\d+ \d+)\r\n").group(1)

    def exit_code(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._drain()  # what it wrote last may still wait in the pty
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._read(0.1)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"docker did not exit; output {self.seen!r}")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.fd)
        except OSError:
            pass


@pytest.fixture
def terminals():
    """Terminal(...) factory; whatever is left running is killed at the end."""
    made: list[Terminal] = []

    def make(*args, **kwargs) -> Terminal:
        made.append(Terminal(*args, **kwargs))
        return made[-1]

    yield make
    for terminal in made:
        terminal.close()


def _follow_size(terminal: Terminal, rows: int, cols: int) -> None:
    """After a resize, `stty size` inside shows it.  The resize goes over its own
    request, and the CLI may not watch SIGWINCH yet (it starts to once /start
    has answered, while the shell may have printed its prompt already): the
    signal is sent again until the size shows."""
    deadline = time.monotonic() + 60
    while True:
        terminal.resize(rows, cols)
        time.sleep(0.2)
        if (size := terminal.size_inside()) == f"{rows} {cols}".encode():
            return
        assert time.monotonic() < deadline, size


def test_docker_run_it_session(api, terminals):
    """The first size is the create's ConsoleSize (no resize has come yet when
    `stty size` is the command itself); then a shell session with arithmetic,
    a resize, and the exit code of `exit 3`."""
    first = terminals(api, "run", "--rm", "-it", "busybox", "stty", "size", rows=33, cols=101)
    assert first.expect(rb"(\d+ \d+)\r\n").group(1) == b"33 101"
    assert first.exit_code() == 0, first.seen

    shell = terminals(api, "run", "-it", "--name", "tty", "busybox", "sh", rows=30, cols=100)
    shell.expect(rb"# ")
    assert shell.size_inside() == b"30 100"
    shell.type(b"echo $((6*7))\r")
    shell.expect(rb"\r\n42\r\n")
    _follow_size(shell, 50, 132)
    shell.type(b"exit 3\r")
    assert shell.exit_code() == 3
    assert api.docker("inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.ConsoleSize}}", "tty").stdout == \
        b"3 [30 100]\n"


def test_docker_exec_it_session(api_crun, terminals):
    assert api_crun.docker("run", "-d", "--name", "box", "busybox", "sleep", "300").returncode == 0
    shell = terminals(api_crun, "exec", "-it", "box", "sh", rows=40, cols=120)
    shell.expect(rb"# ")
    assert shell.size_inside() == b"40 120"
    _follow_size(shell, 45, 90)
    shell.type(b"echo $((6*7))\r")
    shell.expect(rb"\r\n42\r\n")
    shell.type(b"exit 4\r")
    assert shell.exit_code() == 4
    assert api_crun.docker("inspect", "-f", "{{.State.Running}}", "box").stdout == b"true\n"


def test_detach_with_ctrl_p_ctrl_q_then_attach_again(api, terminals):
    """The docker CLI spots the detach keys itself and hangs up: the shell must
    not see that as the end of its input (with a TTY, Docker never closes it)."""
    first = terminals(api, "run", "-it", "--name", "kept", "busybox", "sh")
    first.expect(rb"# ")
    first.type(b"echo started\r")
    first.expect(rb"\r\nstarted\r\n")
    first.type(b"\x10\x11")
    assert first.exit_code() == 0, first.seen
    time.sleep(0.5)  # a wrongly closed stdin ends the shell within this
    assert api.docker("inspect", "-f", "{{.State.Running}}", "kept").stdout == b"true\n"

    again = terminals(api, "attach", "kept", rows=25, cols=70)
    deadline = time.monotonic() + 60
    while b"\r\n25\r\n" not in again.seen:  # the attach is live once the echo comes back
        assert time.monotonic() < deadline, again.seen
        again.type(b"echo $((5*5))\r")
        again._read(0.5)
    _follow_size(again, 26, 71)
    again.type(b"exit 5\r")
    assert again.exit_code() == 5
    assert api.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "kept").stdout == b"exited 5\n"


def test_docker_attach_without_tty_shows_output_and_forwards_ctrl_c(api_crun, terminals):
    """`docker attach` (default --sig-proxy) to a container without a TTY:
    ctrl-c in the CLI's terminal becomes a SIGINT to the container's process."""
    script = "trap 'echo got INT; exit 7' INT; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"
    assert api_crun.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c", script).returncode == 0
    attached = terminals(api_crun, "attach", "ticker")
    attached.expect(rb"tick \d+\r\n")
    attached.expect(rb"tick \d+\r\n")  # live output, not only what was there before
    attached.type(b"\x03")
    attached.expect(rb"got INT")
    assert attached.exit_code() == 7
    assert api_crun.docker("inspect", "-f", "{{.State.ExitCode}}", "ticker").stdout == b"7\n"


def test_console_size_is_checked_at_create(api_crun):
    bad = api_crun.request("POST", "/containers/create",
                           {"Image": "busybox", "Tty": True, "HostConfig": {"ConsoleSize": [1, 2, 3]}})
    assert bad[0] == 400 and "ConsoleSize" in bad[2]["message"], bad[2]
    assert api_crun.request("POST", "/containers/create", {"Image": "busybox", "HostConfig": {
        "ConsoleSize": [70000, 5]}})[0] == 400
    assert api_crun.request("GET", "/containers/json?all=1")[2] == []


def test_detach_from_docker_exec_it_leaves_the_command_running(api_crun, terminals):
    assert api_crun.docker("run", "-d", "--name", "box", "busybox", "sleep", "300").returncode == 0
    shell = terminals(api_crun, "exec", "-it", "box", "sh")
    shell.expect(rb"# ")
    shell.type(b"echo $$ > /tmp/exec-shell\r")
    shell.type(b"echo written\r")
    shell.expect(rb"\r\nwritten\r\n")
    shell.type(b"\x10\x11")
    # the docker CLI's own way out of an exec (as against Docker too): the
    # escape sequence is its error, exit 1
    assert shell.exit_code() == 1 and b"read escape sequence" in shell.seen, shell.seen
    time.sleep(0.5)  # an EOF sent to the shell on the hang-up would end it within this
    check = api_crun.docker("exec", "box", "sh", "-c", 'kill -0 "$(cat /tmp/exec-shell)" && echo alive')
    assert check.stdout == b"alive\n", check
