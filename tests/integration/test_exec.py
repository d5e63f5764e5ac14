"""`husk exec` and Container.exec on real runc and crun: output and exit codes,
126/127/125, options, sessions in state, events, the hook, detached sessions,
exec while stop, several execs at once, and a TTY driven through a real pty."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import termios
import textwrap
import time

import pytest

from husk.testing import HUSK, PtyTerminal, find_monitors, wait_until

CTRL_P, CTRL_Q = b"\x10", b"\x11"


def _running(husk, name: str = "box") -> None:
    husk("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)


def _sessions(husk, name: str = "box") -> list[str]:
    return json.loads(husk("inspect", "--format", "{{json .ExecIDs}}", name, check=True).stdout)


def _until(condition, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


# -- the basics, on both runtimes -------------------------------------------------------------
def test_exec_output_exit_code_and_options(husk_rt, tmp_path):
    _running(husk_rt)
    result = husk_rt("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=f\nB=file\n")
    result = husk_rt("exec", "-e", "A=1", "-e", "B=flag", "--env-file", str(env_file), "-u", "nobody",
                     "-w", "/tmp", "box", "sh", "-c", "echo $A $B $FROM_FILE $HOME; id -u; pwd")
    assert (result.returncode, result.stdout) == (0, "1 flag f /nonexistent\n65534\n/tmp\n")
    # the container's own environment is the base of the exec's
    assert husk_rt("exec", "box", "sh", "-c", "echo $PATH $HOSTNAME", check=True).stdout.split()[0] \
        .startswith("/usr/local/sbin")
    assert _sessions(husk_rt) == []  # an attached session is forgotten when it ends
    # exec output never reaches the container's log
    assert husk_rt("logs", "box", check=True).stdout == ""


def test_exec_not_found_cannot_invoke_and_engine_errors(husk_rt):
    _running(husk_rt)
    result = husk_rt("exec", "box", "/no/such/command")
    assert result.returncode == 127 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "not found" in result.stderr
    result = husk_rt("exec", "box", "/etc/passwd")
    assert result.returncode == 126 and "permission denied" in result.stderr.lower()
    result = husk_rt("exec", "-u", "nosuchuser", "box", "true")
    assert result.returncode == 125 and "nosuchuser" in result.stderr
    result = husk_rt("exec", "box")
    assert (result.returncode, result.stderr) == (
        125, "Error: must provide a non-empty command to start an exec session\n")
    assert husk_rt("inspect", "--format", "{{.State.Status}}", "box", check=True).stdout == "running\n"
    assert _sessions(husk_rt) == []
    assert husk_rt("exec", "box", "true").returncode == 0


def test_exec_into_a_container_that_is_not_running(husk):
    husk("create", "--name", "made", "busybox", "sleep", "1000", check=True)
    husk("run", "--name", "done", "busybox", "true", check=True)
    for name in ("made", "done"):
        result = husk("exec", name, "true")
        assert (result.returncode, result.stderr) == (
            125, "Error: can only create exec sessions on running containers: container state improper\n")
    assert husk("exec", "nosuch", "true").returncode == 125
    # the CLI started each session's monitor before the lookup: given up, it is gone
    assert wait_until(lambda: find_monitors(husk.runroot) == []), "an exec's monitor outlived its failed exec"


def test_exec_interactive_copies_stdin(husk_rt):
    _running(husk_rt)
    result = husk_rt("exec", "-i", "box", "sh", "-c", "cat; echo done", input="one\ntwo\n")
    assert (result.returncode, result.stdout) == (0, "one\ntwo\ndone\n")
    # without -i the command's stdin is empty
    assert husk_rt("exec", "box", "cat", input="ignored\n", check=True).stdout == ""


def test_exec_privileged_grants_all_capabilities(husk_rt):
    from husk.engine.spec import all_capabilities

    _running(husk_rt)
    def effective(*flags):
        out = husk_rt("exec", *flags, "box", "grep", "CapEff", "/proc/self/status", check=True).stdout
        return int(out.split()[1], 16)

    assert bin(effective()).count("1") == 11  # podman's default set
    assert bin(effective("--privileged")).count("1") == len(all_capabilities())
    assert effective("--privileged", "-u", "nobody") == 0  # a non-root user holds only added ones


def test_exec_preserve_fds_passes_descriptors(husk_rt, tmp_path):
    _running(husk_rt)
    target = tmp_path / "fd3"
    # a shell opens fd 3 for husk (never dup2 onto 3 here: pytest-xdist talks over it)
    result = subprocess.run(["sh", "-c", 'exec "$@" 3>"$TARGET"', "sh", HUSK, *husk_rt.global_args, "exec",
                             "--preserve-fds", "1", "box", "sh", "-c", "echo through fd 3 >&3"],
                            capture_output=True, text=True, env={**husk_rt.env(), "TARGET": str(target)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "through fd 3\n"
    result = husk_rt("exec", "--preserve-fds", "2", "box", "true")  # fds 3 and 4 are not open here
    assert result.returncode == 125 and "preserve-fds" in result.stderr


def test_exec_python_api(husk_rt):
    from husk.define import CommandNotFound, StateInvalid

    _running(husk_rt)
    ctr = husk_rt.runtime().container("box")
    out, err = io.BytesIO(), io.BytesIO()
    code = ctr.exec(["sh", "-c", "cat; echo e >&2; exit 5"], stdin=io.BytesIO(b"in\n"), stdout=out, stderr=err)
    assert (code, out.getvalue(), err.getvalue()) == (5, b"in\n", b"e\n")
    out = io.BytesIO()
    # crun 1.8.1 sets the initial size just after the command starts: ask a moment later
    assert ctr.exec(["sh", "-c", "sleep 0.3; stty size"], tty=True, console_size=(31, 97), stdout=out) == 0
    assert out.getvalue() == b"31 97\r\n"
    with pytest.raises(CommandNotFound) as caught:
        ctr.exec(["/nope"])
    assert caught.value.exit_code == 127
    process = ctr.exec_start(["sh", "-c", "echo big; head -c 3000000 /dev/zero"])
    received = b"".join(data for _, data in process.client)  # the monitor waits for a slow reader
    assert process.wait() == 0 and received == b"big\n" + bytes(3000000)
    husk_rt("stop", "-t", "0", "box", check=True)
    with pytest.raises(StateInvalid, match="can only create exec sessions on running containers"):
        ctr.exec(["true"])


# -- sessions, events, the hook ----------------------------------------------------------------
def test_exec_detached_prints_the_session_id_and_is_reaped(husk):
    _running(husk)
    # the detached command lives until the test lets it end: however loaded the
    # machine, its session is still there when it is looked at
    result = husk("exec", "-d", "box", "sh", "-c", "until [ -e /tmp/go ]; do sleep 0.05; done; touch /tmp/ran")
    assert result.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", result.stdout)
    session_id = result.stdout.strip()
    assert _sessions(husk) == [session_id]
    husk("exec", "box", "touch", "/tmp/go", check=True)
    _until(lambda: husk("exec", "box", "test", "-e", "/tmp/ran").returncode == 0, what="the detached command")
    _until(lambda: husk("exec", "box", "true").returncode == 0 and _sessions(husk) == [], what="the reap")
    run_dir = os.path.join(husk.runroot, "containers")
    assert not any(session_id in dirs for _, dirs, _ in os.walk(run_dir))
    died = [e for e in husk.events("exec_died") if e["attributes"]["execID"] == session_id]
    assert len(died) == 1 and died[0]["attributes"]["containerExitCode"] == "0"


def test_exec_events_carry_the_session_id(husk):
    _running(husk)
    cid = husk("inspect", "--format", "{{.Id}}", "box", check=True).stdout.strip()
    husk("exec", "box", "sh", "-c", "exit 2")
    started, died = husk.events("exec"), husk.events("exec_died")
    assert len(started) == 1 and len(died) == 1
    assert started[0]["id"] == cid and died[0]["id"] == cid
    assert started[0]["attributes"]["execID"] == died[0]["attributes"]["execID"]
    assert died[0]["attributes"]["containerExitCode"] == "2"


PROBE = textwrap.dedent('''
    import json, os
    from husk.hooks import hookimpl

    @hookimpl
    def husk_exec_session(container, session_id, command):
        with open(os.environ["PROBE_LOG"], "a") as log:
            log.write(json.dumps({"id": container.id, "session": session_id, "command": command,
                                  "sessions": sorted(container.state.exec_sessions)}) + "\\n")
        if os.environ.get("PROBE_RAISE"):
            raise RuntimeError("probe refuses exec")
''')


def test_hook_exec_session_fires_with_the_session_and_command(husk, tmp_path):
    (tmp_path / "execprobe.py").write_text(PROBE)
    log = tmp_path / "probe.log"
    husk.load_plugin(str(tmp_path), "execprobe", PROBE_LOG=str(log))
    _running(husk)
    cid = husk("inspect", "--format", "{{.Id}}", "box", check=True).stdout.strip()
    session_id = husk("exec", "-d", "box", "sleep", "100", check=True).stdout.strip()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [{"id": cid, "session": session_id, "command": ["sleep", "100"], "sessions": [session_id]}]
    husk.extra_env["PROBE_RAISE"] = "1"
    result = husk("exec", "box", "sh", "-c", "sleep 100")
    assert result.returncode == 125 and "probe refuses exec" in result.stderr
    assert session_id in _sessions(husk) and len(_sessions(husk)) == 1  # the refused one is gone


def test_cleanup_reaps_exec_sessions(husk):
    _running(husk)
    session_id = husk("exec", "-d", "box", "sleep", "1000", check=True).stdout.strip()
    assert _sessions(husk) == [session_id]
    husk("stop", "-t", "0", "box", check=True)
    assert _sessions(husk) == []
    assert husk("start", "box", check=True).returncode == 0
    assert husk("exec", "box", "true").returncode == 0 and _sessions(husk) == []


# -- concurrency -------------------------------------------------------------------------------
def test_exec_while_stop_does_not_wait_for_the_exec(husk_rt):
    _running(husk_rt)
    cli = husk_rt.popen("exec", "box", "sh", "-c", "echo started; sleep 100", stdout=subprocess.PIPE, text=True)
    assert cli.stdout.readline() == "started\n"
    begun = time.monotonic()
    husk_rt("stop", "-t", "0", "box", check=True, timeout=30)
    assert time.monotonic() - begun < 10
    assert cli.wait(timeout=30) == 137  # killed with the container
    assert husk_rt("inspect", "--format", "{{.State.Status}}", "box", check=True).stdout == "exited\n"
    assert _sessions(husk_rt) == []


def test_several_execs_at_once_in_one_container(husk):
    _running(husk)
    clis = [husk.popen("exec", "box", "sh", "-c", f"sleep 2; echo {n}; exit {n}", stdout=subprocess.PIPE,
                       text=True) for n in range(6)]
    _until(lambda: len(_sessions(husk)) >= 2, what="two sessions at once")
    for n, cli in enumerate(clis):
        assert cli.stdout.read() == f"{n}\n"
        assert cli.wait(timeout=60) == n
    assert _sessions(husk) == []
    ids = [e["attributes"]["execID"] for e in husk.events("exec")]
    assert len(ids) == len(set(ids)) == 6


# -- a TTY through a real pty -------------------------------------------------------------------
def test_exec_tty_on_a_real_pty_follows_resize_and_detaches(husk_rt):
    _running(husk_rt)
    terminal = PtyTerminal([HUSK, *husk_rt.global_args, "exec", "-it", "box", "sh"], husk_rt.env(), rows=21, cols=77)
    try:
        terminal.expect(rb"# ")  # the prompt: the initial size is set by now (crun sets it just after start)
        terminal.send(b"tty; stty size; echo mark-$((6*7))\n")
        assert re.fullmatch(rb"/dev/pts/\d+", terminal.expect(rb"/dev/pts/\d+").group())
        terminal.expect(rb"21 77\r\n")
        terminal.expect(rb"mark-42")
        terminal.resize(45, 132)
        time.sleep(0.2)  # SIGWINCH -> resize message -> the container's pty
        terminal.send(b"stty size\n")
        terminal.expect(rb"45 132\r\n")
        terminal.send(CTRL_P + CTRL_Q)
        assert terminal.proc.wait(timeout=20) == 0
        assert len(_sessions(husk_rt)) == 1  # detached: the shell runs on
        # the local terminal is back in cooked mode
        assert termios.tcgetattr(terminal.slave)[3] & termios.ICANON
    finally:
        terminal.close()
    terminal = PtyTerminal([HUSK, *husk_rt.global_args, "exec", "-it", "box", "sh", "-c", "exit 9"], husk_rt.env())
    try:
        assert terminal.proc.wait(timeout=20) == 9
    finally:
        terminal.close()


def test_pause_during_an_exec_freezes_it_too(husk_rt):
    import threading
    import time

    husk_rt("run", "-d", "--name", "frozen", "busybox", "sleep", "1000", check=True)
    cli = husk_rt.popen("exec", "frozen", "sh", "-c", "i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo $i; sleep 0.1; done",
                        stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(cli.stdout), daemon=True)
    reader.start()
    while not lines:
        time.sleep(0.05)
    husk_rt("pause", "frozen", check=True)
    time.sleep(0.3)  # a line already on its way may still arrive
    seen = len(lines)
    time.sleep(1)
    assert len(lines) == seen < 30, "the exec kept running in a paused container"
    husk_rt("unpause", "frozen", check=True)
    assert cli.wait(timeout=60) == 0
    reader.join(timeout=10)
    assert [int(line) for line in lines] == list(range(1, 31))
    husk_rt("rm", "-f", "-t", "0", "frozen", check=True)
