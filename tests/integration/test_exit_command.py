"""The monitor's exit command runs only when it has work left (issue 20).

Every Python process the test's husk starts with `site` (the CLI, an exit
command; not the monitor, a bare `python -I -S`) appends its argv to a log,
through a sitecustomize on PYTHONPATH.  Once the container's monitor is gone
(it waits for its exit command), the log says whether an exit command ran.
"""

from __future__ import annotations

import os

import pytest

from husk.testing import find_monitors, wait_until

SLEEPER = ["busybox", "sleep", "1000"]

RECORDER = """import os, sys
with open(os.environ["HUSK_TEST_ARGV_LOG"], "a") as log:
    log.write(" ".join(sys.argv) + "\\n")
"""


def _recording(husk, tmp_path) -> str:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(RECORDER)
    log = str(tmp_path / "argv.log")
    husk.extra_env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(site), husk.env().get("PYTHONPATH")])),
                          HUSK_TEST_ARGV_LOG=log)
    return log


def _exit_commands(husk, log: str) -> list[str]:
    assert wait_until(lambda: not find_monitors(husk.runroot)), "the monitors did not end"
    with open(log) as handle:
        return [line for line in handle if "--exit-command" in line]


def test_attached_run_rm_cleans_up_without_an_exit_command(husk_rt, tmp_path):
    log = _recording(husk_rt, tmp_path)
    result = husk_rt("run", "--rm", "--name", "x", "busybox", "sh", "-c", "echo out; exit 3")
    assert (result.returncode, result.stdout) == (3, "out\n"), result.stderr
    assert _exit_commands(husk_rt, log) == []
    assert husk_rt("ps", "-a", "-q", check=True).stdout == ""


def test_stop_leaves_the_exit_command_nothing(husk, tmp_path):
    log = _recording(husk, tmp_path)
    husk("run", "-d", "--name", "s", "busybox", "sleep", "1000", check=True)
    husk("stop", "-t", "0", "s", check=True)
    assert _exit_commands(husk, log) == []
    assert husk("inspect", "--format", "{{.State.Status}}", "s", check=True).stdout.strip() == "exited"
    husk("rm", "s", check=True)


def test_exit_by_itself_runs_the_exit_command(husk, tmp_path):
    """No command cleaned up: the exit command does (and removes a --rm container)."""
    log = _recording(husk, tmp_path)
    husk("run", "-d", "--rm", "--name", "r", "busybox", "true", check=True)
    assert len(_exit_commands(husk, log)) == 1
    assert wait_until(lambda: husk("ps", "-a", "-q", check=True).stdout == "")


def test_killed_attached_run_leaves_cleanup_to_the_exit_command(husk, tmp_path):
    """The CLI that promised the cleanup dies: its monitor sees the hang-up and runs the exit command."""
    import signal
    import subprocess

    log = _recording(husk, tmp_path)
    run = husk.popen("run", "--rm", "--name", "k", "busybox", "sh", "-c", "echo up; sleep 1000",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert run.stdout.readline() == b"up\n"
        run.kill()
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    pid = int(husk("inspect", "--format", "{{.State.Pid}}", "k", check=True).stdout)
    os.kill(pid, signal.SIGKILL)
    assert len(_exit_commands(husk, log)) == 1
    assert wait_until(lambda: husk("ps", "-a", "-q", check=True).stdout == "")


def test_output_of_an_instant_exit_reaches_run(husk):
    """A process that exits as soon as it starts: its monitor may see the exit
    before it has accepted run's connection or read its messages; the output
    still arrives (a socket closed on unread data resets its peer, which lost
    the output: 3 runs in 40 printed nothing, on the default network)."""
    for attempt in range(12):
        result = husk("run", "--rm", "busybox", "echo", "again")
        assert (result.returncode, result.stdout) == (0, "again\n"), (attempt, result.stderr)


@pytest.mark.parametrize("point", ["remove.record.after", "remove.files.after"])
def test_killed_removal_of_an_rm_container_is_finished_by_the_exit_command(husk, point):
    """`rm -f` of a --rm container dies half-way (its record `removing`; after
    its files went, the cleanup marker with them): the exit command finishes
    the removal (the monitor skipped it when the marker had gone with the
    run directory, and the exit command refused a `removing` container)."""
    husk("run", "-d", "--rm", "--name", "r", *SLEEPER, check=True)
    husk.extra_env["HUSK_FAULT"] = f"{point}:kill"  # the rm CLI only: the monitor was started without it
    try:
        assert husk("rm", "-f", "-t", "0", "r", timeout=120).returncode == -9
    finally:
        del husk.extra_env["HUSK_FAULT"]
    assert wait_until(lambda: not find_monitors(husk.runroot)), "the monitor did not end"
    assert husk("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout == ""
