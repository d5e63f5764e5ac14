"""`--events-backend`: none records nothing (the container's own cleanup
included) and `events` says so; journald sends the events to a running
journal (one of the test's own, in a private mount namespace) and is refused
with the reason where none runs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time

import pytest

from husk.state.journal import JOURNAL_SOCKET

JOURNALD = "/lib/systemd/systemd-journald"


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


def _with_a_journal(body: str, env: dict) -> subprocess.CompletedProcess:
    """Run the shell `body` beside a journal of the test's own: journald started in a private
    mount namespace, over tmpfs at /run/systemd, /run/log and /var/log/journal, so the host's
    stay untouched; husk, its monitors and their exit commands run in that namespace and
    find its socket.  journald is stopped at the end."""
    script = f"""
set -e
mount -t tmpfs none /run/systemd
mkdir -p /run/log && mount -t tmpfs none /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs none /var/log/journal; fi
{JOURNALD} & journald=$!
trap 'kill $journald; wait $journald || true' EXIT
i=0; while [ ! -S {JOURNAL_SOCKET} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
{body}
"""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                          text=True, timeout=300, env=env)


def _journal_until(last: str, match: str, out) -> str:
    """Shell: wait until the journal has an entry matching `last`, then write those matching
    `match` to `out`, as JSON lines."""
    return f"""journalctl --sync || true
i=0; until journalctl --no-pager -o json {last} | grep -q .; do [ $i -lt 300 ] || exit 9; sleep 0.1; i=$((i+1)); done
journalctl --no-pager -o json {match} > {shlex.quote(str(out))}"""


needs_journald = pytest.mark.skipif(not os.access(JOURNALD, os.X_OK), reason="systemd-journald is not installed")


@needs_journald
def test_journald_backend_sends_podmans_fields_to_a_running_journal(husk, tmp_path):
    from husk.testing import HUSK

    husk_cmd = shlex.join([HUSK, *husk.global_args, "--events-backend", "journald"])
    out = tmp_path / "journal.json"
    result = _with_a_journal(f"""
{husk_cmd} run --rm --name jd --label tier=web busybox true
{husk_cmd} events --stream=false --filter container=jd --format '{{{{.Status}}}}'
{_journal_until("SYSLOG_IDENTIFIER=husk PODMAN_NAME=jd PODMAN_EVENT=remove", "SYSLOG_IDENTIFIER=husk PODMAN_NAME=jd",
                out)}
""", husk.env())
    assert result.returncode == 0, result.stderr
    assert {"create", "start", "died", "remove"} <= set(result.stdout.split())  # husk's own log as well
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    by_event = {entry["PODMAN_EVENT"]: entry for entry in entries}
    assert {"create", "start", "died", "remove"} <= set(by_event)
    died = by_event["died"]
    assert (died["PODMAN_TYPE"], died["PODMAN_IMAGE"], died["PODMAN_EXIT_CODE"]) == (
        "container", "localhost/busybox:latest", "0")
    assert len(died["PODMAN_ID"]) == 64 and json.loads(died["PODMAN_LABELS"]) == {"tier": "web"}
    assert died["MESSAGE"].endswith(f"container died {died['PODMAN_ID']} (image=localhost/busybox:latest, "
                                    "name=jd, tier=web)")
    assert died["PRIORITY"] == "6" and died["PODMAN_TIME"].endswith("Z")


@needs_journald
def test_journald_log_driver_sends_each_line_and_logs_still_reads(husk_rt, tmp_path):
    from husk.testing import HUSK

    husk_cmd = shlex.join([HUSK, *husk_rt.global_args])
    out = tmp_path / "journal.json"
    result = _with_a_journal(f"""
{husk_cmd} run -d --name jl --log-driver journald --log-opt tag=web busybox sh -c 'echo one; echo two >&2; printf three'
{husk_cmd} wait jl > /dev/null
{husk_cmd} logs jl > {shlex.quote(str(tmp_path / "logs.txt"))} 2>&1
{husk_cmd} inspect --format '{{{{.HostConfig.LogConfig.Type}}}}' jl
{_journal_until("CONTAINER_NAME=jl MESSAGE=three", "CONTAINER_NAME=jl", out)}
""", husk_rt.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "journald"
    assert (tmp_path / "logs.txt").read_text() == "one\ntwo\nthree"  # husk's own k8s-file log is still written
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["MESSAGE"], e["PRIORITY"]) for e in entries] == [("one", "6"), ("two", "3"), ("three", "6")]
    first = entries[0]
    assert len(first["CONTAINER_ID_FULL"]) == 64 and first["CONTAINER_ID"] == first["CONTAINER_ID_FULL"][:12]
    assert (first["CONTAINER_NAME"], first["CONTAINER_TAG"], first["SYSLOG_IDENTIFIER"]) == ("jl", "web", "web")
