"""`--events-backend`: none records nothing (the container's own cleanup
included) and `events` says so; journald is refused with the reason."""

from __future__ import annotations

import os
import time

import pytest

from husk.cli.global_flags import JOURNAL_SOCKET


def gone(husk, name: str, timeout: float = 120) -> None:
    """Until the container is removed (by its --rm exit command)."""
    deadline = time.monotonic() + timeout
    while husk("container", "exists", name).returncode == 0:
        assert time.monotonic() < deadline, f"{name} was never removed"
        time.sleep(0.2)


def test_none_records_nothing_and_events_refuses(husk_rt):
    # detached: the monitor's exit command cleans up and removes, with the same backend
    husk_rt("--events-backend", "none", "run", "-d", "--rm", "--name", "quiet", "busybox", "true", check=True)
    gone(husk_rt, "quiet")
    husk_rt("--events-backend", "none", "create", "--name", "quiet2", "busybox", check=True)
    husk_rt("--events-backend", "none", "rm", "quiet2", check=True)
    husk_rt("run", "-d", "--rm", "--name", "loud", "busybox", "true", check=True)
    gone(husk_rt, "loud")
    statuses = {status: husk_rt.events(status) for status in ("create", "start", "died", "remove")}
    assert all(events for events in statuses.values()), statuses
    assert "quiet" not in repr(statuses)
    result = husk_rt("--events-backend", "none", "events", "--stream=false")
    assert (result.returncode, result.stdout, result.stderr) == (
        125, "", 'Error: cannot read events with the "none" backend\n')
    assert husk_rt("--events-backend", "none", "info", "--format", "{{.Host.EventLogger}}",
                   check=True).stdout == "none\n"
    assert husk_rt("--events-backend", "file", "events", "--stream=false", "--filter", "event=died",
                   "--format", "{{.Name}}", check=True).stdout == "loud\n"


@pytest.mark.skipif(os.path.exists(JOURNAL_SOCKET), reason="a journal runs here")
def test_journald_without_a_journal_is_refused(husk):
    result = husk("--events-backend", "journald", "events", "--stream=false")
    assert (result.returncode, result.stderr) == (
        125, f"Error: --events-backend journald: no systemd journal is running on this host ({JOURNAL_SOCKET} "
             "is missing): use file or none\n")
