"""The whole container lifecycle through the real CLI, on runc, crun, the runc shim and gVisor."""

from __future__ import annotations

import json
import os
import re

import pytest

from husk.define import AlreadyStopped
from husk.testing import RUNTIME_BINARIES, needs_runtime, wait_until


@pytest.fixture(params=list(RUNTIME_BINARIES))
def husk_rt(request, husk_envs):
    """The lifecycle on every runtime backend husk ships: runc, crun, and runc
    under containerd's shim (io.containerd.runc.v2), gVisor's runsc, skipped where not installed."""
    needs_runtime(request.param)
    return husk_envs(request.param)


def _state(husk, name):
    return husk("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=True).stdout.split()


def test_run_rm_prints_output_and_exit_code(husk_rt):
    result = husk_rt("run", "--rm", "busybox", "echo", "hello")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")
    result = husk_rt("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert husk_rt("ps", "-aq").stdout == ""


def test_run_interactive_forwards_stdin(husk_rt):
    result = husk_rt("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", input="hi\nthere\n")
    assert (result.returncode, result.stdout) == (0, "hi\nthere\ndone\n")


def test_attached_run_forwards_signals(husk_rt):
    import signal
    import subprocess

    cli = husk_rt.popen("run", "--rm", "busybox", "sh", "-c",
                        "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do sleep 0.1; done",
                        stdout=subprocess.PIPE, text=True)
    assert cli.stdout.readline() == "ready\n"
    cli.send_signal(signal.SIGTERM)
    assert cli.stdout.read() == "got TERM\n"
    assert cli.wait(timeout=30) == 5


def test_create_init_start_stop_start_kill_rm(husk_rt):
    cid = husk_rt("create", "--name", "life", "busybox", "sleep", "1000", check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert _state(husk_rt, "life") == ["created", "0"]  # podman's name for configured
    assert husk_rt("init", "life", check=True).stdout == "life\n"
    assert _state(husk_rt, "life") == ["initialized", "0"]  # podman's name for created
    assert husk_rt("start", "life", check=True).stdout == "life\n"
    assert _state(husk_rt, "life") == ["running", "0"]
    pid = int(husk_rt("inspect", "--format", "{{.State.Pid}}", "life", check=True).stdout)
    assert os.path.exists(f"/proc/{pid}")
    assert husk_rt("stop", "-t", "1", "life", check=True).stdout == "life\n"
    # sleep is pid 1 without a TERM handler, so the kernel ignores SIGTERM: SIGKILL after 1 s;
    # gVisor's kernel delivers the SIGTERM to its pid 1 all the same (docs/plugins.md, gVisor)
    assert _state(husk_rt, "life") == ["exited", "143" if husk_rt.runtime_name == "runsc" else "137"]
    assert not os.path.exists(f"/proc/{pid}")
    husk_rt("start", "life", check=True)
    assert _state(husk_rt, "life")[0] == "running"
    assert husk_rt("kill", "life", check=True).stdout == "life\n"
    assert husk_rt("wait", "life", check=True).stdout == "137\n"
    assert husk_rt("rm", "life", check=True).stdout == "life\n"
    result = husk_rt("inspect", "life")
    assert result.returncode == 125
    assert husk_rt("container", "exists", "life").returncode == 1


def test_stop_sends_the_stop_signal_first(husk_rt):
    husk_rt("run", "-d", "--name", "trap", "--stop-signal", "USR1", "busybox", "sh", "-c",
            "trap 'exit 7' USR1; echo ready; while true; do sleep 0.1; done", check=True)
    # a USR1 reaching pid 1 before its handler is set is dropped by the kernel: wait for the trap
    assert wait_until(lambda: husk_rt("logs", "trap").stdout == "ready\n"), "the trap was not set"
    husk_rt("stop", "-t", "20", "trap", check=True)
    assert _state(husk_rt, "trap") == ["exited", "7"]


def test_illegal_transitions_have_podmans_messages(husk_rt):
    husk_rt("create", "--name", "c", "busybox", "sleep", "1000", check=True)
    result = husk_rt("kill", "c")
    assert result.returncode == 125
    assert "can only kill running containers" in result.stderr and "is in state created" in result.stderr
    result = husk_rt("stop", "c")
    assert result.returncode == 125 and "can only stop created or running containers" in result.stderr
    husk_rt("start", "c", check=True)
    result = husk_rt("init", "c")
    assert result.returncode == 125 and "has already been created in runtime" in result.stderr
    result = husk_rt("rm", "c")
    assert result.returncode == 2
    assert "cannot remove container" in result.stderr and "without force" in result.stderr
    husk_rt("stop", "-t", "0", "c", check=True)
    # podman's CLI counts an already stopped container as stopped (the API says "already stopped")
    assert husk_rt("stop", "c").stdout == "c\n"
    with pytest.raises(AlreadyStopped, match="container already stopped"):
        husk_rt.runtime().container("c").stop()
    result = husk_rt("kill", "c")
    assert result.returncode == 125 and "can only kill running containers" in result.stderr


def test_missing_container_errors(husk):
    result = husk("start", "nope")
    assert result.returncode == 125
    assert result.stderr == 'Error: no container with name or ID "nope" found: no such container\n'
    result = husk("rm", "nope")
    assert result.returncode == 1 and "no such container" in result.stderr
    result = husk("rm", "-f", "nope")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_run_detached_logs_and_inspect_shape(husk_rt):
    cid = husk_rt("run", "-d", "--name", "d", "-l", "team=blue", "busybox",
                  "sh", "-c", "echo one; echo two >&2; sleep 1000", check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    doc = json.loads(husk_rt("inspect", "d", check=True).stdout)[0]
    assert doc["Id"] == cid and doc["Name"] == "d"
    assert doc["State"]["Running"] is True and doc["State"]["Status"] == "running"
    assert doc["OCIRuntime"] == husk_rt.runtime_name
    assert doc["Config"]["Labels"] == {"team": "blue"}
    assert doc["HostConfig"]["LogConfig"]["Type"] == "k8s-file"
    log_path = doc["HostConfig"]["LogConfig"]["Path"]

    def logged_lines() -> int:
        return open(log_path).read().count("\n") if os.path.exists(log_path) else 0

    # the output goes container -> monitor (-> a shim's waiter first) -> log: wait for it, generously
    assert wait_until(lambda: logged_lines() >= 2), "the two lines did not reach the log"
    # one line per stream; their order is the streams' own only (containerd's runc shim copies
    # stdout and stderr in two goroutines: under load "two" is logged first, 1 run in 10)
    lines = sorted(open(log_path).read().splitlines(), key=lambda line: " stdout " not in line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F one", lines[0]), lines
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stderr F two", lines[1]), lines
    result = husk_rt("logs", "d", check=True)
    assert result.stdout == "one\n" and result.stderr == "two\n"
    ps = husk_rt("ps", "--format", "{{.Names}} {{.State}} {{.Labels}}", check=True).stdout
    assert ps == "d running map[team:blue]\n"
    husk_rt("rm", "-f", "-t", "0", "d", check=True)


def test_inside_the_container(husk_rt):
    result = husk_rt("run", "--rm", "--name", "inside", "-e", "FOO=bar", "busybox", "sh", "-c",
                     "echo $container $TERM $HOME $FOO; cat /etc/hostname; test -f /run/.containerenv && echo env;"
                     " grep -c inside /etc/hosts; id -u")
    out = result.stdout.split("\n")
    assert result.returncode == 0, result.stderr
    assert out[0] == "husk xterm /root bar"
    assert out[2] == "env"
    assert out[4] == "0"
    result = husk_rt("run", "--rm", "-u", "husk", "busybox", "sh", "-c", "id -u; echo $HOME")
    assert result.stdout == "1000\n/home/husk\n"


def test_exit_codes_for_bad_commands(husk_rt):
    result = husk_rt("run", "--rm", "busybox", "/no/such/binary")
    assert result.returncode == 127, result.stderr
    assert result.stderr.startswith("Error: ")
    result = husk_rt("run", "--rm", "busybox", "/etc")
    assert result.returncode == 126, result.stderr
    assert husk_rt("ps", "-aq").stdout == ""


@pytest.mark.parametrize("bad", [["--stop-timeout", "-1"], ["--name", "a/b"], ["--restart", "sometimes"],
                                 ["--stop-signal", "SIGNOPE"], ["--network", "bridge0"]])
def test_bad_create_flags_are_one_line(husk, bad):
    result = husk("create", *bad, "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert husk("ps", "-aq").stdout == ""


def test_name_in_use(husk):
    husk("create", "--name", "same", "busybox", "true", check=True)
    result = husk("create", "--name", "same", "busybox", "true")
    assert result.returncode == 125 and "already in use" in result.stderr


def test_stop_all_and_kill_all_echo_full_ids(husk):
    ids = {husk("run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip() for _ in range(3)}
    result = husk("stop", "--all", "-t", "0", check=True)
    assert set(result.stdout.split()) == ids
    assert set(husk("ps", "-aq", "--no-trunc").stdout.split()) == ids
    assert husk("ps", "-q").stdout == ""
    result = husk("rm", "-a", check=True)
    assert set(result.stdout.split()) == ids


def test_rm_all_takes_the_running_containers_first(husk):
    """--all lists running containers first: the worker pool starts jobs in that
    order, so their stops (up to the stop timeout) overlap the quick removals of
    the others instead of following them (issue 20).  rm prints in job order."""
    running = {husk("run", "-d", "--network", "none", "busybox", "sleep", "1000", check=True).stdout.strip()
               for _ in range(2)}
    created = {husk("create", "--network", "none", "busybox", "true", check=True).stdout.strip() for _ in range(15)}
    removed = husk("rm", "-a", "-f", "-t", "0", check=True).stdout.split()
    assert set(removed[:2]) == running and set(removed[2:]) == created


def test_events_record_the_lifecycle(husk):
    husk("run", "--rm", "--name", "ev", "busybox", "true", check=True)
    result = husk("events", "--stream=false", "--filter", "container=ev", "--format", "{{.Status}}", check=True)
    statuses = result.stdout.split()
    for status in ("create", "init", "start", "died", "cleanup", "remove"):
        assert status in statuses
    assert statuses.index("create") < statuses.index("start") < statuses.index("died") < statuses.index("remove")


def test_config_file_sets_the_defaults(husk, tmp_path):
    import subprocess

    from husk.testing import HUSK

    config = tmp_path / "husk.conf"
    config.write_text('[engine]\nruntime = "runc"\n\n[containers]\nstop_timeout = 3\n')
    env = {**husk.env(), "HUSK_CONFIG": str(config)}  # over the installation's own husk.conf
    roots = ["--root", husk.root, "--runroot", husk.runroot]
    subprocess.run([HUSK, *roots, "run", "-d", "--name", "conf", "busybox", "sleep", "1000"], env=env, check=True,
                   capture_output=True)
    shown = subprocess.run([HUSK, *roots, "inspect", "--format", "{{.OCIRuntime}} {{.Config.StopTimeout}}", "conf"],
                           env=env, check=True, capture_output=True, text=True).stdout
    assert shown == "runc 3\n"
    # a flag beats the file
    subprocess.run([HUSK, *roots, "--runtime", "crun", "create", "--name", "flag", "busybox", "true"], env=env,
                   check=True, capture_output=True)
    assert husk("inspect", "--format", "{{.OCIRuntime}}", "flag", check=True).stdout == "crun\n"


def test_detached_rm_container_is_removed_by_its_monitor(husk):
    husk("run", "-d", "--rm", "--name", "gone", "busybox", "sh", "-c", "sleep 0.2", check=True)
    assert wait_until(lambda: husk("container", "exists", "gone").returncode == 1), "the monitor did not remove it"
    statuses = husk("events", "--stream=false", "--format", "{{.Status}}", check=True).stdout.split()
    assert statuses[-3:] == ["died", "cleanup", "remove"]
