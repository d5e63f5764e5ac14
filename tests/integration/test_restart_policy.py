"""Restart policies, applied by the monitor's exit command (`container cleanup`), on runc and crun."""

from __future__ import annotations

import time

import pytest


def _inspect(husk, name, template):
    return husk("inspect", "--format", template, name, check=True).stdout.strip()


def _settle(husk, name, want_status, want_count, timeout=30.0):
    """Poll until the container's status and RestartCount are what the test expects
    (the exit command runs asynchronously after each exit)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = _inspect(husk, name, "{{.State.Status}} {{.RestartCount}}")
        if seen == f"{want_status} {want_count}" or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def _events(husk, name):
    return husk("events", "--stream=false", "--filter", f"container={name}", "--format", "{{.Status}}",
                check=True).stdout.split()


def test_on_failure_restarts_up_to_the_retry_count(husk_rt):
    husk_rt("run", "-d", "--name", "r", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3", check=True)
    assert _settle(husk_rt, "r", "exited", 2) == "exited 2"
    assert _inspect(husk_rt, "r", "{{.State.ExitCode}}") == "3"
    assert _events(husk_rt, "r").count("restart") == 2
    assert _events(husk_rt, "r").count("start") == 3


def test_on_failure_does_not_restart_after_success(husk_rt):
    husk_rt("run", "-d", "--name", "ok", "--restart", "on-failure", "busybox", "true", check=True)
    assert _settle(husk_rt, "ok", "exited", 0) == "exited 0"
    time.sleep(0.5)
    assert _inspect(husk_rt, "ok", "{{.State.Status}} {{.RestartCount}}") == "exited 0"
    assert "restart" not in _events(husk_rt, "ok")


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_always_restarts_after_success_and_counts(husk, policy):
    husk("run", "-d", "--name", "a", "--restart", policy, "busybox", "sh", "-c", "sleep 0.2", check=True)
    deadline = time.monotonic() + 30
    while int(_inspect(husk, "a", "{{.RestartCount}}")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(_inspect(husk, "a", "{{.RestartCount}}")) >= 2
    # a user's stop ends it for good
    husk("stop", "-t", "0", "a", check=True)
    count = _inspect(husk, "a", "{{.RestartCount}}")
    time.sleep(1)
    assert _inspect(husk, "a", "{{.State.Status}} {{.RestartCount}}") == f"exited {count}"


def test_kill_by_the_user_is_not_restarted(husk_rt):
    husk_rt("run", "-d", "--name", "k", "--restart", "always", "busybox", "sleep", "1000", check=True)
    husk_rt("kill", "k", check=True)
    assert husk_rt("wait", "k", check=True).stdout == "137\n"
    assert _settle(husk_rt, "k", "exited", 0) == "exited 0"
    time.sleep(0.5)
    assert _inspect(husk_rt, "k", "{{.State.Status}} {{.RestartCount}}") == "exited 0"


def test_a_process_killed_from_outside_is_restarted(husk):
    import os
    import signal

    husk("run", "-d", "--name", "x", "--restart", "always", "busybox", "sleep", "1000", check=True)
    pid = int(_inspect(husk, "x", "{{.State.Pid}}"))
    os.kill(pid, signal.SIGKILL)
    assert _settle(husk, "x", "running", 1) == "running 1"
    assert int(_inspect(husk, "x", "{{.State.Pid}}")) not in (0, pid)


def test_a_users_start_resets_the_restart_count(husk):
    husk("run", "-d", "--name", "s", "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 1", check=True)
    assert _settle(husk, "s", "exited", 1) == "exited 1"
    husk("start", "s", check=True)
    assert _settle(husk, "s", "exited", 1) == "exited 1"  # reset to 0 by start, then one restart


def test_rm_after_cleanup_without_a_restart_policy(husk):
    husk("run", "-d", "--rm", "--name", "gone", "busybox", "true", check=True)
    deadline = time.monotonic() + 30
    while husk("container", "exists", "gone").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert husk("container", "exists", "gone").returncode == 1


def test_rm_conflicts_with_a_restart_policy(husk):
    result = husk("run", "-d", "--rm", "--restart", "always", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: the --rm option conflicts with --restart")
    assert husk("ps", "-aq").stdout == ""
