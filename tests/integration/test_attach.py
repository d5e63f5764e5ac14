"""attach, start -a -i, run -it: real runc and crun, and a real pty wherever a
terminal is involved (the CLI runs with the pty's slave as its controlling
terminal; the test types into the master as a terminal emulator would)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import termios
import textwrap
import time

import pytest

from husk.define import InvalidArgument, StateInvalid
from husk.testing import HUSK, PtyTerminal

CTRL_P, CTRL_Q = b"\x10", b"\x11"
WAIT_FOR_GO = "while [ ! -e /x/go ]; do sleep 0.05; done; "


@pytest.fixture
def terminals():
    """`terminals(husk, *args, rows=, cols=)`: `husk args...` on a pty; closed at the end."""
    opened: list[PtyTerminal] = []

    def open_terminal(husk, *args, **size) -> PtyTerminal:
        opened.append(PtyTerminal([HUSK, *husk.global_args, *args], husk.env(), **size))
        return opened[-1]

    yield open_terminal
    for terminal in opened:
        terminal.close()


def _status(husk, name: str) -> str:
    return husk("inspect", "--format", "{{.State.Status}}", name, check=True).stdout.strip()


def _wait_for_attaches(husk, count: int, timeout: float = 20) -> None:
    """Until `count` attach events are logged: each is emitted once its client is connected."""
    deadline = time.monotonic() + timeout
    while len(husk.events("attach")) < count:
        assert time.monotonic() < deadline, "the attach clients did not connect"
        time.sleep(0.02)


def _wait_for_log(husk, name: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in (logs := husk("logs", name).stdout):
        assert time.monotonic() < deadline, f"{text!r} not in the logs: {logs!r}"
        time.sleep(0.05)
    return logs


# -- non-TTY attach -----------------------------------------------------------------------
def test_attach_sees_new_output_on_stdout_and_stderr_separately(husk_rt, tmp_path):
    husk_rt("run", "-d", "--name", "a", "-v", f"{tmp_path}:/x", "busybox", "sh", "-c",
            "echo early; " + WAIT_FOR_GO + "echo out; echo err >&2; exit 4", check=True)
    _wait_for_log(husk_rt, "a", "early")
    cli = husk_rt.popen("attach", "a", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_attaches(husk_rt, 1)
    (tmp_path / "go").touch()
    out, err = cli.communicate(timeout=30)
    assert (cli.returncode, out, err) == (4, b"out\n", b"err\n")  # only output after the attach
    assert _status(husk_rt, "a") == "exited"


def test_two_attaches_at_once_both_see_all_output_and_leave_the_lock_free(husk, tmp_path):
    husk("run", "-d", "--name", "two", "-v", f"{tmp_path}:/x", "busybox", "sh", "-c",
         WAIT_FOR_GO + "for i in 1 2 3; do echo line$i; echo e$i >&2; done", check=True)
    clis = [husk.popen("attach", "--no-stdin", "two", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    _wait_for_attaches(husk, 2)
    # the lock is free while they are attached: sync takes it
    assert husk("container", "sync", "two", timeout=10).returncode == 0
    (tmp_path / "go").touch()
    for cli in clis:
        out, err = cli.communicate(timeout=30)
        assert (cli.returncode, out, err) == (0, b"line1\nline2\nline3\n", b"e1\ne2\ne3\n")


def test_stdin_through_attach(husk_rt):
    husk_rt("run", "-d", "-i", "--name", "cat", "busybox", "sh", "-c", "cat; echo cat-done", check=True)
    result = husk_rt("attach", "cat", input="hello\nworld\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\nworld\ncat-done\n", "")
    assert _status(husk_rt, "cat") == "exited"


def test_no_stdin_leaves_the_containers_stdin_alone(husk):
    husk("run", "-d", "-i", "--name", "cat", "busybox", "cat", check=True)
    cli = husk.popen("attach", "--no-stdin", "cat", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _wait_for_attaches(husk, 1)
    cli.stdin.write(b"not for cat\n")
    cli.stdin.close()  # EOF of ours is not the container's: cat keeps running
    time.sleep(0.5)
    assert cli.poll() is None and _status(husk, "cat") == "running"
    assert husk("logs", "cat").stdout == ""
    husk("stop", "-t", "0", "cat", check=True)
    assert cli.wait(timeout=30) == 137


# A TTY container whose terminal passes every byte as it is, both ways (stty raw),
# so what the attached terminal sends shows exactly in the output and the log.
RAW_CAT = ("busybox", "sh", "-c", "stty raw -echo; echo ready; cat")


def test_detach_keys_in_one_write_with_other_bytes(husk_rt, terminals):
    husk_rt("run", "-d", "-it", "--name", "cat", *RAW_CAT, check=True)
    _wait_for_log(husk_rt, "cat", "ready")
    term = terminals(husk_rt, "attach", "cat")
    _wait_for_attaches(husk_rt, 1)
    term.send(b"hello\n" + CTRL_P + CTRL_Q + b"dropped\n")
    assert term.wait() == 0
    assert _status(husk_rt, "cat") == "running"
    _wait_for_log(husk_rt, "cat", "hello")
    time.sleep(0.2)
    assert husk_rt("logs", "cat").stdout == "ready\nhello\n"  # before the keys: sent; after: dropped


def test_custom_detach_keys_and_the_default_ones_pass_through(husk, terminals):
    husk("run", "-d", "-it", "--name", "cat", *RAW_CAT, check=True)
    _wait_for_log(husk, "cat", "ready")
    term = terminals(husk, "attach", "--detach-keys", "ctrl-a,x", "cat")
    _wait_for_attaches(husk, 1)
    term.send(b"one " + CTRL_P + CTRL_Q + b"\n")
    term.expect(re.escape(b"one " + CTRL_P + CTRL_Q + b"\n"))
    term.send(b"\x01")  # held back: it may start the sequence...
    time.sleep(0.2)
    term.send(b"y\n")  # ...but does not, so it reaches cat after all
    term.expect(re.escape(b"\x01y\n"))
    term.send(b"\x01")
    time.sleep(0.2)
    term.send(b"x")
    assert term.wait() == 0
    assert _status(husk, "cat") == "running"
    bad = husk("attach", "--detach-keys", "ctrl-1", "cat")
    assert bad.returncode == 125 and bad.stderr.startswith("Error: invalid detach keys") and bad.stderr.count("\n") == 1


def test_detach_keys_without_a_raw_terminal_are_data(husk):
    """Piped into a TTY container, or typed into a non-TTY one: no detaching (podman, Docker)."""
    husk("run", "-d", "-it", "--name", "tty", *RAW_CAT, check=True)
    _wait_for_log(husk, "tty", "ready")
    husk("run", "-d", "-i", "--name", "pipe", "busybox", "cat", check=True)
    for name in ("tty", "pipe"):
        cli = husk.popen("attach", name, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.write(cli.stdin.fileno(), b"a" + CTRL_P + CTRL_Q + b"b\n")
        assert cli.stdout.readline() == b"a" + CTRL_P + CTRL_Q + b"b\n"
        assert cli.poll() is None
        cli.kill()
        cli.wait()
    assert _status(husk, "tty") == _status(husk, "pipe") == "running"


def test_attach_sig_proxy_forwards_signals_unless_disabled(husk):
    script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"
    husk("run", "-d", "--name", "sig", "busybox", "sh", "-c", script, check=True)
    _wait_for_log(husk, "sig", "ready")
    quiet = husk.popen("attach", "--sig-proxy=false", "sig", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    _wait_for_attaches(husk, 1)
    quiet.send_signal(signal.SIGTERM)
    assert quiet.wait(timeout=20) == -signal.SIGTERM
    assert _status(husk, "sig") == "running"
    proxy = husk.popen("attach", "sig", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    _wait_for_attaches(husk, 2)
    assert husk.events("kill") == []
    proxy.send_signal(signal.SIGTERM)
    assert proxy.stdout.read() == b"got TERM\n"
    assert proxy.wait(timeout=20) == 7
    # forwarded through Container.kill, as podman's proxy does: a kill event, stopped by the user
    assert len(husk.events("kill")) == 1


@pytest.mark.parametrize("setup", [("create",), ("run",)])
def test_attach_needs_a_created_or_running_container(husk, setup):
    husk(*setup, "--name", "idle", "busybox", "true", check=True)
    attaches = len(husk.events("attach"))  # `run` attaches itself
    result = husk("attach", "idle")
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == "Error: can only attach to created or running containers: container state improper\n"
    assert _status(husk, "idle") == ("created" if setup[0] == "create" else "exited")
    assert len(husk.events("attach")) == attaches


def test_start_attach_of_a_running_container_attaches(husk):
    husk("run", "-d", "-i", "--name", "cat", "busybox", "cat", check=True)
    result = husk("start", "-a", "-i", "cat", input="via start\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "via start\n", "")


def test_run_t_without_a_terminal_is_one_stream(husk_rt):
    result = husk_rt("run", "-t", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 2", input=b"")
    assert (result.returncode, result.stdout, result.stderr) == (2, b"out\r\nerr\r\n", b"")


# -- TTY through a real pty -----------------------------------------------------------------
def test_run_it_shell_is_interactive_on_a_terminal(husk_rt, terminals):
    term = terminals(husk_rt, "run", "-it", "--rm", "busybox", "sh", rows=33, cols=101)
    term.expect(rb"/ # ")
    term.send(b"tty; stty size\r")
    term.expect(rb"tty; stty size\r\n")  # echoed by the container's terminal
    term.expect(rb"/dev/pts/\d+\r\n33 101\r\n")
    term.send(b"sleep 100\r")
    term.expect(b"sleep 100\r\n")
    time.sleep(0.3)
    term.send(b"\x03")  # a character in raw mode: SIGINT from the container's terminal, not ours
    term.expect(rb"\^C")
    term.send(b"echo alive-$?\r")
    term.expect(rb"alive-130", timeout=10)
    term.resize(40, 120)
    time.sleep(0.2)
    term.send(b"stty size\r")
    term.expect(rb"\n40 120\r\n")
    term.send(b"exit 3\r")
    assert term.wait() == 3
    restored = termios.tcgetattr(term.slave)
    assert restored[3] & (termios.ICANON | termios.ECHO) == termios.ICANON | termios.ECHO
    assert restored == term.initial_modes
    assert husk_rt("ps", "-aq").stdout == ""


def test_detach_from_a_terminal_leaves_the_container_running(husk_rt, terminals):
    husk_rt("run", "-d", "-it", "--name", "t", "busybox", "sh", check=True)
    term = terminals(husk_rt, "attach", "t", rows=20, cols=50)
    term.send(b"echo hi-$((1+1)); stty size\r")
    term.expect(rb"hi-2\r\n20 50\r\n")  # the size is sent right after attaching
    term.send(CTRL_P)  # keys arrive one read each, as typed
    time.sleep(0.2)
    term.send(CTRL_Q)
    assert term.wait() == 0
    assert termios.tcgetattr(term.slave) == term.initial_modes
    assert _status(husk_rt, "t") == "running"
    again = terminals(husk_rt, "attach", "t")
    again.send(b"exit 3\r")
    assert again.wait() == 3
    assert _status(husk_rt, "t") == "exited"


def test_run_it_detach_keeps_an_rm_container_until_it_exits(husk, terminals):
    term = terminals(husk, "run", "-it", "--rm", "--name", "keep", "busybox", "sh")
    term.expect(rb"/ # ")
    term.send(CTRL_P + CTRL_Q)
    assert term.wait() == 0
    assert _status(husk, "keep") == "running"
    husk("stop", "-t", "0", "keep", check=True)
    deadline = time.monotonic() + 20
    while husk("container", "exists", "keep").returncode == 0:  # the monitor's cleanup removes it
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_start_attach_interactive_with_a_tty(husk_rt, terminals):
    husk_rt("create", "-it", "--name", "s", "busybox", "sh", check=True)
    term = terminals(husk_rt, "start", "-a", "-i", "s", rows=21, cols=77)
    term.expect(rb"/ # ")
    term.send(b"stty size; exit 5\r")
    term.expect(rb"\n21 77\r\n")
    assert term.wait() == 5
    assert _status(husk_rt, "s") == "exited"


# -- the Python API ---------------------------------------------------------------------------
def _read_until(client, text: bytes, timeout: float = 20) -> bytes:
    client.sock.settimeout(timeout)
    seen = b""
    while text not in seen:
        message = client.recv()
        assert message is not None, f"{text!r} not seen: {seen!r}"
        seen += message[1]
    return seen


def test_start_and_attach_and_attach_resize(husk_rt):
    rt = husk_rt.runtime()
    ctr = rt.create_container("busybox", ["sh", "-c", "echo first; stty size; while read x; do stty size; done"],
                              tty=True, stdin_open=True)
    with ctr.start_and_attach(console_size=(11, 22)) as client:
        assert ctr.state.state.value == "running"
        assert b"first\r\n11 22\r\n" in _read_until(client, b"11 22\r\n")  # nothing before it was lost
        ctr.attach_resize(30, 90)
        # the resize travels on a connection of its own, so it may land after the next
        # line of stdin: ask again until the new size shows
        for _ in range(50):
            client.send_stdin(b"\r")
            if b"30 90" in _read_until(client, b" ", timeout=20):
                break
        else:
            raise AssertionError("the resize never reached the container's terminal")
        client.send_stdin(b"\x04")  # ^D: read sees EOF, the shell exits 0
    assert ctr.wait() == 0
    with pytest.raises(StateInvalid, match="^can only resize created or running containers"):
        ctr.attach_resize(30, 90)
    with pytest.raises(StateInvalid, match="^can only attach to created or running containers"):
        ctr.attach()
    with pytest.raises(InvalidArgument):
        ctr.attach_resize(0, 90)
    assert [e["id"] for e in husk_rt.events("attach")] == [ctr.id]


@pytest.mark.parametrize("verb", ["resize", "attach to"])
def test_attach_or_resize_that_meets_the_exit_is_refused_as_after_it(husk, monkeypatch, verb):
    """The process may end between the state check and the first message on
    the monitor's connection (the docker CLI's resize requests can meet the end
    of `run -it`): the monitor closes the connection, and the call is refused
    as after the exit.  It raised BrokenPipeError, which the service logged
    with a traceback (500)."""
    import select

    from husk.engine.attach_protocol import AttachClient

    ctr = husk.runtime().create_container("busybox", ["sleep", "300"], tty=True)
    ctr.start()
    connect = AttachClient.connect.__func__

    def connect_then_exit(cls, path, timeout=None):
        client = connect(cls, path, timeout)
        os.kill(ctr.state.pid, signal.SIGKILL)
        poller = select.poll()
        poller.register(client.sock, select.POLLHUP)
        assert poller.poll(60_000), "the monitor did not close the connection at the exit"
        return client

    monkeypatch.setattr(AttachClient, "connect", classmethod(connect_then_exit))
    with pytest.raises(StateInvalid, match=f"^can only {verb} created or running containers"):
        ctr.attach_resize(30, 90) if verb == "resize" else ctr.attach()
    monkeypatch.undo()
    assert ctr.wait() == 137


def test_start_and_attach_starts_once_the_monitor_took_the_resize(husk):
    # the monitor stopped while start_and_attach runs: the start must wait for the monitor to
    # take the client and its resize (it once started at once, the process read a 0x0 terminal)
    import threading

    ctr = husk.runtime().create_container("busybox", ["stty", "size"], tty=True)
    ctr.init()
    monitor_pid = ctr.state.monitor_pid
    assert monitor_pid > 0
    os.kill(monitor_pid, signal.SIGSTOP)
    started: list = []
    try:
        starter = threading.Thread(target=lambda: started.append(ctr.start_and_attach(console_size=(11, 22))))
        starter.start()
        starter.join(2)  # long enough for a start that does not wait to be done
    finally:
        os.kill(monitor_pid, signal.SIGCONT)
    starter.join(30)
    assert started, "start_and_attach did not return"
    with started[0] as client:
        assert _read_until(client, b"\n") == b"11 22\r\n"
    assert ctr.wait() == 0


def test_start_and_attach_refuses_a_running_container(husk):
    ctr = husk.runtime().create_container("busybox", ["sleep", "100"])
    ctr.start()
    with pytest.raises(StateInvalid, match="already running"):
        ctr.start_and_attach()
    ctr.stop(0)


# -- the husk_attach hook ----------------------------------------------------------------------
PROBE = textwrap.dedent('''
    import json, os
    from husk.hooks import hookimpl

    @hookimpl
    def husk_attach(container):
        with open(os.environ["PROBE_LOG"], "a") as log:
            log.write(json.dumps({"id": container.id, "state": str(container.state.state)}) + "\\n")
''')


def test_husk_attach_hook_fires_for_each_attach(husk, tmp_path):
    (tmp_path / "attachprobe.py").write_text(PROBE)
    log = tmp_path / "probe.log"
    husk.load_plugin(str(tmp_path), "attachprobe", PROBE_LOG=str(log))
    cid = husk("run", "-d", "-i", "busybox", "cat", check=True).stdout.strip()
    assert not log.exists()  # run -d attaches nothing
    assert husk("attach", cid, input="x\n").returncode == 0
    assert husk("attach", cid).returncode == 125  # exited: refused before the hook
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [{"id": cid, "state": "running"}]


def test_run_rm_whose_container_another_removal_took_returns_its_exit_code(husk_rt, monkeypatch):
    """run --rm removes the container once its exit file is there; a removal
    that got there first (the monitor's exit command once its 30 s wait for
    the CLI is over, on a loaded machine; a user's rm -f) leaves nothing to
    remove: the run still returns the container's exit code, as the removal
    after a wait() always did, not the removal's 'no such container'."""
    from husk.cli.attach import run_attached
    from husk.engine.container import Container

    runtime = husk_rt.runtime()
    ctr = runtime.create_container("busybox", ["sh", "-c", "exit 3"], name="rm-raced", auto_remove=True)
    remove = Container.remove

    def removed_first(self, *args, **kwargs):
        monkeypatch.setattr(Container, "remove", remove)
        runtime.container(self.id).remove(force=True, timeout=0)  # the other removal
        return remove(self, *args, **kwargs)

    monkeypatch.setattr(Container, "remove", removed_first)
    assert run_attached(ctr, attach_stdin=False, sig_proxy=False) == 3
    assert husk_rt("ps", "-a", "-q", check=True).stdout == ""
