"""Load (issue 22): many CLIs on one container, many creates at once, and a
soak after which nothing has grown.

- CLIs at once on one container (start, stop, exec, inspect, rm mixed): every
  command either works or fails with one podman line; at most one `rm` wins,
  and exactly one when the container is gone; the container's events never
  show two starts without an exit between them; the records agree with the
  OCI runtime's list.
- Containers created in parallel: every one there once, with its own id;
  `rm -a` removes them all.
- A soak: `run --rm` cycles (the CLI's, and Docker's create + start with
  AutoRemove through a long-running `system service`) and exec sessions (the
  CLI's and the API's) on a container that runs throughout.  Afterwards the
  service's descriptors and memory, the mounts under the roots, the files
  under the run root, the monitors and the records are back to their
  baseline (taken after a warm-up), within the allowances below.

CI runs a bounded version (seconds); the full one is

    HUSK_SOAK=full .venv/bin/pytest -p no:cacheprovider -q -s tests/integration/test_load.py

(100 CLIs, 500 creates, 2,000 cycles and 500 exec sessions; `-s` prints the
figures docs/reliability.md quotes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from husk.testing import ApiService, find_monitors, wait_until
from test_faults import _check_consistent, _mounts_under, _records  # same directory (rootdir imports)

FULL = os.environ.get("HUSK_SOAK") == "full"
CLIS = 100 if FULL else 20
CREATES = 500 if FULL else 30
CYCLES = 2000 if FULL else 24
EXECS = 500 if FULL else 12
#: growth allowed over the baseline: the service's descriptors, its memory (KiB)
FD_ALLOWANCE = 2
RSS_ALLOWANCE_KIB = 16 * 1024
SLEEPER = ["busybox", "sleep", "1000"]


def _parallel(husk, commands, workers=None):
    with ThreadPoolExecutor(workers or len(commands)) as pool:
        return list(pool.map(lambda args: husk(*args, timeout=600), commands))


def _one_podman_line(result, patterns) -> None:
    """A loser: exit code and one `Error:` line that is one of podman's."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), (result.args, result.stderr)
    assert any(re.fullmatch(pattern, lines[0][len("Error: "):]) for pattern in patterns), (result.args, lines)


NO_SUCH = r'no container with name or ID "(c|[0-9a-f]{64})" found: no such container'
#: the losers' messages, by verb (podman 4.3's words)
LOSERS = {
    "start": [NO_SUCH],  # a start of a running container is no error (podman's)
    "stop": [NO_SUCH],
    "inspect": [r'inspecting object: no such object: "c"'],
    "exec": [NO_SUCH, r"can only create exec sessions on running containers: container state improper"],
    "rm": [NO_SUCH, r"cannot remove container [0-9a-f]{64} as it is running - running or paused containers "
                    r"cannot be removed without force: container state improper"],
}
#: the exit code of each verb's loser (podman's: rm's "no such container" is 1)
LOSER_CODES = {"start": {125}, "stop": {125}, "inspect": {125}, "exec": {125, 126, 137}, "rm": {1, 2, 125}}


def test_concurrent_clis_on_one_container(husk):
    husk("run", "-d", "--name", "c", *SLEEPER, check=True)
    cid = husk("inspect", "--format", "{{.Id}}", "c", check=True).stdout.strip()
    verbs = [("start", "c"), ("stop", "-t", "0", "c"), ("exec", "c", "true"), ("inspect", "c"), ("rm", "c")]
    commands = [verbs[i % len(verbs)] for i in range(CLIS)]
    results = _parallel(husk, commands)
    rm_winners = []
    for command, result in zip(commands, results):
        verb = command[0]
        if result.returncode == 0:
            assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr
            if verb == "rm":
                rm_winners.append(result)
        elif verb == "exec" and result.returncode in (137, 143) and result.stderr == "":
            pass  # the container was stopped under its exec: the process's own end
        else:
            assert result.returncode in LOSER_CODES[verb], (command, result.returncode, result.stderr)
            _one_podman_line(result, LOSERS[verb])
    records = _check_consistent(husk)
    gone = cid not in records
    assert len(rm_winners) == (1 if gone else 0), [r.stdout for r in rm_winners]
    # the events of c: never two starts without an exit between them
    states = [event["status"] for event in _events(husk) if event.get("id") == cid
              and event["status"] in ("start", "died")]
    for before, after in zip(states, states[1:]):
        assert (before, after) != ("start", "start"), states
        assert (before, after) != ("died", "died"), states
    if gone:
        assert _records(husk) == {}
    else:  # the survivor still works as any container does
        husk("rm", "-f", "-t", "0", "c", check=True)
    assert wait_until(lambda: find_monitors(husk.runroot) == []), "a monitor outlived its container"
    assert _mounts_under(husk.root) == []
    husk("run", "--rm", "--name", "c", "busybox", "true", check=True)


def _events(env) -> list[dict]:
    path = os.path.join(env.runroot, "events", "events.log")
    with open(path) as log:
        return [json.loads(line) for line in log]


def test_many_creates_in_parallel(husk):
    started = time.monotonic()
    results = _parallel(husk, [("create", "--name", f"m{i}", "busybox", "true") for i in range(CREATES)],
                        workers=min(CREATES, 50))
    elapsed = time.monotonic() - started
    assert [r.stderr for r in results if r.returncode] == []
    ids = [r.stdout.strip() for r in results]
    assert len(set(ids)) == CREATES
    records = _check_consistent(husk)
    assert sorted(records) == sorted(ids) and set(records.values()) == {"created"}
    names = husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(names) == sorted(f"m{i}" for i in range(CREATES))
    inspected = json.loads(husk("inspect", *ids, timeout=600, check=True).stdout)
    assert sorted(entry["Id"] for entry in inspected) == sorted(ids)
    removed = husk("rm", "-a", timeout=600, check=True).stdout.split()
    assert sorted(removed) == sorted(ids)
    assert _records(husk) == {}
    assert os.listdir(os.path.join(husk.root, "containers")) == []
    print(f"\n{CREATES} creates in parallel (50 at a time): {elapsed:.1f} s")


# -- the soak ------------------------------------------------------------------------------------

def _snapshot(env, service) -> dict:
    """What must not grow: the service's descriptors and memory, mounts under
    the roots, files under the run root (the events log aside: it rotates),
    monitors, records and exec sessions of the records."""
    pid = service.process.pid
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    files = set()
    for top, _, names in os.walk(env.runroot):
        files.update(os.path.relpath(os.path.join(top, name), env.runroot) for name in names)
    files -= {"events/events.log", "events/events.log.1"}  # the log and its one rotation: bounded by size
    records = _records(env)
    sessions = json.loads(env("inspect", *records, check=True).stdout) if records else []
    return {"fds": len(os.listdir(f"/proc/{pid}/fd")), "rss_kib": rss,
            "mounts": sorted(_mounts_under(env.root) + _mounts_under(env.runroot)),
            "files": files, "monitors": len(find_monitors(env.runroot)), "records": records,
            "exec_ids": sorted(i for entry in sessions for i in entry.get("ExecIDs") or [])}


def _api_run_rm(service, index: int) -> None:
    """Docker's `run --rm`: create with AutoRemove, start, wait until removed."""
    status, _, created = service.request("POST", f"/containers/create?name=api{index}", {
        "Image": "localhost/busybox:latest", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}})
    assert status == 201, created
    status_start, _, start_body = service.request("POST", f"/containers/{created['Id']}/start")
    assert status_start == 204, start_body
    status, _, body = service.request("POST", f"/containers/{created['Id']}/wait?condition=removed")
    assert status in (200, 404), body


def _api_exec(service, cid: str) -> None:
    status, _, created = service.request("POST", f"/containers/{cid}/exec",
                                         {"Cmd": ["echo", "soak"], "AttachStdout": True})
    assert status == 201, created
    status, _, output = service.request("POST", f"/exec/{created['Id']}/start", {"Detach": False})
    assert status == 200 and output.endswith(b"soak\n"), (status, output)
    status, _, document = service.request("GET", f"/exec/{created['Id']}/json")
    assert (status, document["ExitCode"], document["Running"]) == (200, 0, False), document


def _soak_round(env, service, cid: str, cycles: int, execs: int, offset: int) -> None:
    """`cycles` run --rm (a quarter through the API) and `execs` exec sessions
    (half through the API), two at a time."""
    def cycle(i):
        if i % 4 == 3:
            _api_run_rm(service, offset + i)
        else:
            result = env("run", "--rm", "busybox", "true", timeout=300)
            assert (result.returncode, result.stderr) == (0, ""), result.stderr

    def exec_(i):
        if i % 2:
            _api_exec(service, cid)
        else:
            result = env("exec", "s", "echo", "soak", timeout=300)
            assert (result.returncode, result.stdout) == (0, "soak\n"), result.stderr

    jobs = [(cycle, i) for i in range(cycles)] + [(exec_, i) for i in range(execs)]
    jobs.sort(key=lambda job: job[1] / (cycles if job[0] is cycle else execs))  # interleaved
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(function, i) for function, i in jobs]:
            future.result()


def test_soak_returns_to_baseline(husk):
    base = tempfile.mkdtemp(prefix="hsoak-")
    service = ApiService(husk, os.path.join(base, "s.sock"))
    try:
        husk("run", "-d", "--name", "s", "busybox", "sleep", "1000000", check=True)  # outlives the full soak
        cid = husk("inspect", "--format", "{{.Id}}", "s", check=True).stdout.strip()
        _soak_round(husk, service, cid, 4, 4, offset=0)  # warm-up: caches, the first network, imports
        assert wait_until(lambda: len(find_monitors(husk.runroot)) == 1)
        before = _snapshot(husk, service)
        started = time.monotonic()
        _soak_round(husk, service, cid, CYCLES, EXECS, offset=10)
        elapsed = time.monotonic() - started
        assert wait_until(lambda: len(find_monitors(husk.runroot)) == 1), "a monitor outlived its container"
        after = _snapshot(husk, service)
        print(f"\nsoak: {CYCLES} run --rm + {EXECS} execs in {elapsed:.0f} s (load {os.getloadavg()[0]:.1f}); "
              f"service fds {before['fds']} -> {after['fds']}, RSS {before['rss_kib']} -> {after['rss_kib']} KiB; "
              f"mounts {len(before['mounts'])} -> {len(after['mounts'])}; run-root files "
              f"{len(before['files'])} -> {len(after['files'])}; records {len(before['records'])} -> "
              f"{len(after['records'])}; exec ids {len(before['exec_ids'])} -> {len(after['exec_ids'])}")
        assert after["fds"] <= before["fds"] + FD_ALLOWANCE, (before["fds"], after["fds"])
        assert after["rss_kib"] <= before["rss_kib"] + RSS_ALLOWANCE_KIB, (before["rss_kib"], after["rss_kib"])
        for key in ("mounts", "files", "monitors", "records", "exec_ids"):
            assert after[key] == before[key], (key, before[key], after[key])
    finally:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert "Traceback" not in err, err
