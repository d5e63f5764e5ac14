"""Fault injection (issue 22): at every fault point of husk.faults, the
operation that reaches it dies there (or fails there), and the next ordinary
commands repair everything.

For each case: the operation runs with ``HUSK_FAULT=POINT:ACTION``; then,
without it, `ps -a` and `inspect` answer (no lock held: every command has a
timeout), the records agree with the OCI runtime's own list (a container in
the runtime is a record in created/running/paused, and back), the container
is either fully there or fully gone, `rm -f` removes it, and then nothing is
left: no runtime container, monitor or container process, no mount under
the storage root, no network namespace, bridge or firewall rule, and a new
container of the same name runs.

CI runs every point once, with ``kill`` (runc and crun in turn).  The full
matrix, every point x kill/raise/enospc x runc/crun (CRIU's points with runc
only: Debian's crun has no checkpoint support), is one command:

    HUSK_FAULTS=all .venv/bin/pytest -p no:cacheprovider -n 2 tests/integration/test_faults.py
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from husk import faults
from husk.testing import find_monitors, processes, wait_until

SLEEPER = ["busybox", "sleep", "1000"]
ARCHIVE = "{tmp}/image.tar"

#: operation -> its scenarios: (commands that set the scene, the command the fault is armed for)
SCENARIOS: dict[str, list[tuple[list[list[str]], list[str]]]] = {
    "create": [([], ["create", "--name", "f", *SLEEPER])],
    "init": [([], ["run", "-d", "--name", "f", *SLEEPER]),
             # an exited container started again: its old runtime container goes first
             ([["run", "--name", "f", "busybox", "true"]], ["start", "f"]),
             # a restart: the cleanup before the init keeps the rootfs mounted for it
             ([["run", "-d", "--name", "f", *SLEEPER]], ["restart", "-t", "0", "f"])],
    "start": [([["create", "--name", "f", *SLEEPER]], ["start", "f"])],
    "stop": [([["run", "-d", "--name", "f", *SLEEPER]], ["stop", "-t", "0", "f"])],
    "cleanup": [([["run", "-d", "--name", "f", *SLEEPER]], ["stop", "-t", "0", "f"])],
    "remove": [([["run", "-d", "--name", "f", *SLEEPER]], ["rm", "-f", "-t", "0", "f"])],
    "exec": [([["run", "-d", "--name", "f", *SLEEPER]], ["exec", "f", "sh", "-c", "echo in"])],
    "checkpoint": [([["run", "-d", "--name", "f", *SLEEPER]], ["container", "checkpoint", "f"])],
    "restore": [([["run", "-d", "--name", "f", *SLEEPER], ["container", "checkpoint", "f"]],
                 ["container", "restore", "f"])],
    # the container ends by itself: its monitor writes the exit file then
    "monitor": [([], ["run", "--name", "f", "busybox", "sh", "-c", "exit 3"])],
    # the image is saved, removed, then pulled back from the archive
    "pull": [([["save", "--format", "oci-archive", "-o", ARCHIVE, "localhost/busybox:latest"],
               ["rmi", "localhost/busybox:latest"]],
              ["pull", f"oci-archive:{ARCHIVE}:localhost/busybox:latest"])],
    "save": [([], ["save", "-o", ARCHIVE, "localhost/busybox:latest"])],
}
#: operations that only runc can do here (CRIU)
RUNC_ONLY = {"checkpoint", "restore"}


def _cases() -> list:
    full = os.environ.get("HUSK_FAULTS") == "all"
    cases = []
    for index, point in enumerate(faults.POINTS):
        operation = point.split(".")[0]
        runtimes = ["runc"] if operation in RUNC_ONLY else ["runc", "crun"]
        for scenario in range(len(SCENARIOS.get(operation, ()))):
            if full:
                cases += [pytest.param(point, scenario, action, rt, id=f"{point}-{scenario}-{action}-{rt}")
                          for action in faults.ACTIONS for rt in runtimes]
            else:
                rt = runtimes[(index + scenario) % len(runtimes)]
                cases.append(pytest.param(point, scenario, "kill", rt, id=f"{point}-{scenario}-kill-{rt}"))
    return cases


def test_every_point_has_a_scenario():
    assert sorted({point.split(".")[0] for point in faults.POINTS} - set(SCENARIOS)) == []


def _runtime_list(env) -> list[str]:
    root = os.path.join(env.runroot, "runtime", env.runtime_name)
    if not os.path.isdir(root):
        return []
    result = subprocess.run([env.runtime_name, "--root", root, "list", "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(entry["id"] for entry in json.loads(result.stdout or "[]") or [])


def _records(env) -> dict[str, str]:
    """id -> state of every container record (`ps -a` answers: no lock held)."""
    result = env("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}")  # podman's: Status is prose
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(path + "/")]


def _container_processes(ids) -> list[int]:
    """Processes whose cgroup names one of the containers."""
    return [pid for pid, cgroup in processes("cgroup") if any(cid.encode() in cgroup for cid in ids)]


def _check_consistent(env) -> dict[str, str]:
    """The records against the runtime's list.  `ps` says podman's words:
    "initialized" is husk's created (in the runtime), "created" its configured
    (not yet); a stopped container may still be in the runtime until its cleanup."""
    # the reads are not one: a container whose process is ending (a stop killed after its
    # signal) gets its exit file, and its exit command deletes it from the runtime, at any
    # moment; records that read the same before and after the runtime's list held throughout.
    # A repair may be under way too: the killed CLI's lock goes to the old monitor's exit
    # command, which releases an abandoned init (deletes the runtime's container) while `ps`,
    # which never waits for a lock, still shows the record: so wait until they agree.
    seen: list = []
    running = ("initialized", "running", "stopping", "paused")  # stopping: a stop killed half-way

    def agree(records: dict, runtime: list) -> bool:
        may_be = {cid for cid, state in records.items() if state in (*running, "stopped")}
        must_be = {cid for cid, state in records.items() if state in running}
        return must_be <= set(runtime) <= may_be

    def settled() -> bool:
        seen[:] = [_records(env), _runtime_list(env), _records(env)]
        return seen[0] == seen[2] and agree(seen[0], seen[1])

    assert wait_until(settled), ("the records never agreed with the runtime", seen)
    records = seen[0]
    for cid in records:
        result = env("inspect", "--format", "{{.State.Status}}", cid)
        assert result.returncode == 0, result.stderr
    return records


@pytest.mark.parametrize("point,scenario,action,runtime", _cases())
def test_fault_point(point, scenario, action, runtime, husk_envs, tmp_path):
    env = husk_envs(runtime)
    operation = point.split(".")[0]
    setup, command = SCENARIOS[operation][scenario]

    def fill(argv):
        return [arg.replace("{tmp}", str(tmp_path)) for arg in argv]

    for argv in setup:
        env(*fill(argv), check=True)
    env.extra_env["HUSK_FAULT"] = f"{point}:{action}"
    try:
        faulted = env(*fill(command), timeout=120)
    finally:
        del env.extra_env["HUSK_FAULT"]
    assert "Traceback" not in faulted.stderr, faulted.stderr
    if action == "kill" and operation != "monitor":
        assert faulted.returncode == -9, f"{point} was not reached: {faulted.returncode} {faulted.stderr}"
    elif operation != "monitor":
        assert faulted.returncode == 125, f"{point}: {faulted.returncode} {faulted.stderr}"
        # one error line, last (pull's progress goes to stderr before it, as podman's)
        errors = [line for line in faulted.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and faulted.stderr.endswith(errors[0] + "\n"), faulted.stderr
        assert "Warning" not in faulted.stderr, faulted.stderr
    if operation == "monitor":  # its monitor died, or failed to write the exit file
        assert wait_until(lambda: find_monitors(env.runroot) == []), "the monitor did not end"

    # the next ordinary commands: they answer, and agree with the runtime
    records = _check_consistent(env)
    assert len(records) <= 1, records
    if action != "kill":  # a stop that failed (not one killed half-way) is over
        assert "stopping" not in records.values(), records
    if operation in ("pull", "save"):
        _check_image_operation(env, operation, tmp_path)
    ids = list(records)
    result = env("rm", "-f", "-t", "0", "f")
    assert result.returncode in (0, 1), result.stderr  # 1: no such container (podman's rm -f says so too)
    assert "Traceback" not in result.stderr, result.stderr

    # and nothing is left
    assert _records(env) == {}
    assert _runtime_list(env) == []
    assert wait_until(lambda: find_monitors(env.runroot) == []), "a monitor outlived rm -f"
    assert wait_until(lambda: _container_processes(ids) == []), "a container process outlived rm -f"
    assert _mounts_under(env.root) == []
    assert env.network_leaks() == []
    result = env("run", "--rm", "--name", "f", "busybox", "echo", "again", timeout=120)
    assert (result.returncode, result.stdout) == (0, "again\n"), result.stderr


def _check_image_operation(env, operation: str, tmp_path) -> None:
    """After a faulted pull or save: the image store answers, and the
    operation goes through when it is run again."""
    archive = str(tmp_path / "image.tar")
    if operation == "save":
        # the output is either absent or a whole archive; a save again works
        if os.path.exists(archive):
            env("load", "-i", archive, check=True)
        env("save", "-o", archive, "localhost/busybox:latest", check=True)
        env("load", "-i", archive, check=True)
    else:
        result = env("images", "--format", "{{.Repository}}:{{.Tag}}")
        assert result.returncode == 0, result.stderr
        env("pull", f"oci-archive:{archive}:localhost/busybox:latest", check=True)
    assert env("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout == "localhost/busybox:latest\n"


def test_rm_force_purges_a_record_with_a_malformed_exec_session_id(husk):
    """A corrupt record (an exec session id that is no id: the paths refuse it)
    is still removed with everything it holds: process, mount, network."""
    from husk.state.records import ExecSession

    husk("run", "-d", "--name", "bad", *SLEEPER, check=True)
    ctr = husk.runtime().container("bad")
    ctr.state.exec_sessions = {"../e1": ExecSession(id="../e1", command=["sh"], pid=ctr.state.pid)}
    ctr.save()
    ids = [ctr.id]
    result = husk("rm", "-f", "-t", "0", "bad")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert _records(husk) == {}
    assert _runtime_list(husk) == []
    assert wait_until(lambda: find_monitors(husk.runroot) == [])
    assert wait_until(lambda: _container_processes(ids) == [])
    assert _mounts_under(husk.root) == []
    assert husk.network_leaks() == []
