"""Crashes: a killed monitor, a killed CLI, a reboot.  The next command repairs state."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest


def _inspect(husk, name, fmt):
    return husk("inspect", "--format", fmt, name, check=True).stdout.strip()


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(path)]


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_killed_monitor_then_ps_and_stop_tell_the_truth(husk_rt):
    husk_rt("run", "-d", "--name", "m", "busybox", "sleep", "1000", check=True)
    monitor = int(_inspect(husk_rt, "m", "{{.State.ConmonPid}}"))
    pid = int(_inspect(husk_rt, "m", "{{.State.Pid}}"))
    os.kill(monitor, signal.SIGKILL)
    assert _wait_until(lambda: not os.path.exists(f"/proc/{monitor}/cmdline") or
                       open(f"/proc/{monitor}/stat").read().split(") ")[1][0] == "Z")
    # The container outlives its monitor, as podman's outlives conmon.
    assert husk_rt("ps", "--format", "{{.Names}} {{.State}}").stdout == "m running\n"
    os.kill(pid, signal.SIGKILL)
    assert _wait_until(lambda: "exited" in husk_rt("ps", "-a", "--format", "{{.State}}").stdout)
    status = _inspect(husk_rt, "m", "{{.State.Status}} {{.State.ExitCode}}")
    assert status == "exited -1"
    assert "monitor died" in _inspect(husk_rt, "m", "{{.State.Error}}")
    husk_rt("start", "m", check=True)
    assert _inspect(husk_rt, "m", "{{.State.Status}}") == "running"
    husk_rt("rm", "-f", "-t", "0", "m", check=True)
    assert _mounts_under(husk_rt.root) == []


def test_a_slow_monitor_is_waited_for_not_declared_dead(husk_rt):
    """A process that has gone while its monitor, alive, has not yet written the
    exit file (it drains the last output first): readers keep the container
    running, an explicit sync waits, and the real exit code is recorded -- not
    -1 with "monitor died" (the docker SDK's wait saw -1 under load)."""
    husk_rt("run", "-d", "--name", "slow", "busybox", "sh", "-c",
            "until [ -f /tmp/go ]; do sleep 0.05; done; exit 4", check=True)
    monitor = int(_inspect(husk_rt, "slow", "{{.State.ConmonPid}}"))
    pid = int(_inspect(husk_rt, "slow", "{{.State.Pid}}"))
    os.kill(monitor, signal.SIGSTOP)  # it cannot reap nor write the exit file
    try:
        open(f"/proc/{pid}/root/tmp/go", "w").close()
        assert _wait_until(lambda: open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z")
        assert husk_rt("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout == "slow running\n"
        assert _inspect(husk_rt, "slow", "{{.State.Status}}") == "running"
    finally:
        os.kill(monitor, signal.SIGCONT)
    assert husk_rt("wait", "slow").stdout == "4\n"
    assert _inspect(husk_rt, "slow", "{{.State.ExitCode}} {{.State.Error}}") == "4"
    husk_rt("rm", "slow", check=True)


def test_killed_monitor_of_running_container_stop_still_works(husk):
    husk("run", "-d", "--name", "s", "busybox", "sleep", "1000", check=True)
    os.kill(int(_inspect(husk, "s", "{{.State.ConmonPid}}")), signal.SIGKILL)
    result = husk("stop", "-t", "0", "s")
    assert result.returncode == 0, result.stderr
    assert _inspect(husk, "s", "{{.State.Status}}") == "exited"


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.06, 0.1, 0.15, 0.25])
def test_cli_killed_during_run_leaves_repairable_state(husk, delay):
    cli = husk.popen("run", "--name", "k", "busybox", "sleep", "1000",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    cli.kill()
    cli.wait()
    # Whatever phase the CLI died in, the next commands work and repair the state.
    result = husk("ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout in ("", "k created\n", "k initialized\n", "k running\n"), result.stdout
    result = husk("rm", "-f", "-t", "0", "k")
    assert result.returncode == 0, result.stderr
    assert husk("ps", "-aq").stdout == ""
    assert _mounts_under(husk.root) == []
    # no lock left held: a new container with the same name goes through its whole life
    assert husk("run", "--rm", "--name", "k", "busybox", "true").returncode == 0


def _kill_husk_processes(runroot: str) -> None:
    """SIGKILL every process whose command line names `runroot` (husk's exit
    commands), as a reboot would."""
    from husk.testing import processes

    for pid, cmdline in processes():
        if runroot.encode() in cmdline.split(b"\0"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _reboot(husk):
    """What a reboot leaves: no processes, no mounts, an empty run root.  Monitors
    go first, so none of them sees its container die and cleans up after it."""
    from husk.testing import _kill_monitors, _unmount_under

    pids = [int(p) for p in husk("ps", "-a", "--format", "{{.Pid}}").stdout.split() if int(p)]
    _kill_monitors(husk.runroot)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    _kill_husk_processes(husk.runroot)  # an exit command still cleaning up writes into the run root
    _unmount_under(husk.root)
    _unmount_under(husk.runroot)
    for _ in range(50):  # a killed process's last write may still land
        try:
            shutil.rmtree(husk.runroot)
            break
        except OSError:
            time.sleep(0.1)
    assert not os.path.exists(husk.runroot)


def test_empty_run_root_refreshes_every_container(husk_rt):
    husk_rt("create", "--name", "configured", "busybox", "true", check=True)
    husk_rt("create", "--name", "created", "busybox", "sleep", "1000", check=True)
    husk_rt("init", "created", check=True)
    husk_rt("run", "-d", "--name", "running", "busybox", "sleep", "1000", check=True)
    husk_rt("run", "--name", "exited", "busybox", "sh", "-c", "exit 4")
    _reboot(husk_rt)
    result = husk_rt("ps", "-a", "--sort", "names", "--format", "{{.Names}} {{.State}} {{.Pid}}")
    assert result.returncode == 0, result.stderr
    # every container that was not exited is back to configured (podman shows that as "created")
    assert result.stdout.splitlines() == ["configured created 0", "created created 0",
                                          "exited exited 0", "running created 0"]
    assert _inspect(husk_rt, "exited", "{{.State.ExitCode}}") == "4"
    assert os.path.exists(os.path.join(husk_rt.runroot, "alive"))
    for name in ("configured", "created", "running", "exited"):
        assert husk_rt("start", name).returncode == 0, name
    assert _inspect(husk_rt, "running", "{{.State.Status}}") == "running"
    husk_rt("rm", "-af", "-t", "0", check=True)
    assert _mounts_under(husk_rt.root) == []


def test_a_record_whose_files_are_gone_is_removed_after_a_reboot(husk):
    """A container's record can outlive its files (a removal whose record write never
    reached the disk, files deleted by hand): after the reboot it reads as exited and
    an `rm` removes it."""
    container = husk("run", "-d", "--name", "undone", "busybox", "sleep", "1000", check=True).stdout.strip()
    _reboot(husk)
    files = os.path.join(husk.root, "containers", container)
    assert os.path.isdir(files)
    shutil.rmtree(files)  # what the removal did before its record's commit was lost
    assert husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split() == ["undone"]
    result = husk("rm", "undone")
    assert result.returncode == 0, result.stderr
    assert husk("ps", "-a", "-q", check=True).stdout == ""
    assert _mounts_under(husk.root) == []
