"""rename, top, update and the resource limits of create/run, through the real
CLI on runc and crun.  Limits are checked where the kernel keeps them: the
container's cgroup files (this host: cgroup v1)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from husk.testing import HUSK, runs, wait_until


def _pid(husk, name):
    return int(husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """The content of `name` in the cgroup of process `pid` (v1: that controller's hierarchy)."""
    with open(f"/proc/{pid}/cgroup") as handle:
        entries = [line.rstrip("\n").split(":", 2) for line in handle]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        path = next(p for _, c, p in entries if not c)
        directory = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
    else:
        path = next(p for _, c, p in entries if controller in c.split(","))
        directory = os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"))
    with open(os.path.join(directory, name)) as handle:
        return handle.read().strip()


def _limits(pid):
    return (cgroup_file(pid, "memory", "memory.limit_in_bytes"), cgroup_file(pid, "pids", "pids.max"),
            cgroup_file(pid, "cpu", "cpu.cfs_quota_us"), cgroup_file(pid, "cpu", "cpu.shares"))


NO_MEMORY_LIMIT = str((2**63 - 1) // os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PAGE_SIZE"))


# -- resource limits --------------------------------------------------------------------------
def test_run_sets_the_limits_in_the_cgroup_and_inspect_shows_them(husk_rt):
    husk_rt("run", "-d", "--name", "lim", "-m", "64m", "--cpus", "0.5", "--cpu-shares", "512",
            "--pids-limit", "100", "busybox", "sleep", "60", check=True)
    assert _limits(_pid(husk_rt, "lim")) == (str(64 << 20), "100", "50000", "512")
    shown = husk_rt("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} "
                    "{{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}", "lim", check=True).stdout.split()
    assert shown == [str(64 << 20), "500000000", "512", "100"]


def test_the_default_is_podmans_pids_limit_and_nothing_else(husk_rt):
    husk_rt("run", "-d", "--name", "plain", "busybox", "sleep", "60", check=True)
    memory, pids, quota, shares = _limits(_pid(husk_rt, "plain"))
    assert (memory, pids, quota, shares) == (NO_MEMORY_LIMIT, "2048", "-1", "1024")


def test_a_memory_limit_is_enforced(husk_rt):
    """Past the limit the kernel kills the process (OOM): the limit is real, not a number on file."""
    result = husk_rt("run", "--rm", "-m", "8m", "busybox", "sh", "-c",
                     "x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo survived", timeout=60)
    assert "survived" not in result.stdout
    assert result.returncode == 137


@pytest.mark.parametrize("flags, message", [
    (["-m", "abc"], "invalid memory value 'abc'"),
    (["-m", "1k"], "minimum memory limit allowed is 6MB"),
    (["--cpus", "64"], "the range of CPUs is from 0.01 to"),
    (["--cpus", "x"], "invalid --cpus value 'x'"),
    (["--cpu-shares", "1"], "invalid CPU shares 1"),
    (["--pids-limit", "-5"], "invalid pids limit -5"),
])
def test_bad_limits_are_one_line_and_create_nothing(husk, flags, message):
    result = husk("create", *flags, "busybox")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert husk("ps", "-aq").stdout == ""


# -- update ---------------------------------------------------------------------------------
def test_update_changes_a_running_containers_cgroup_and_a_restart_keeps_it(husk_rt):
    husk_rt("run", "-d", "--name", "up", "-m", "64m", "--pids-limit", "100", "busybox", "sleep", "60", check=True)
    out = husk_rt("update", "--memory", "128m", "--cpus", "1", "--cpu-shares", "256", "--pids-limit", "200", "up",
                  check=True)
    container_id = husk_rt("inspect", "--format", "{{.Id}}", "up", check=True).stdout.strip()
    assert out.stdout.strip() == container_id
    assert _limits(_pid(husk_rt, "up")) == (str(128 << 20), "200", "100000", "256")
    husk_rt("restart", "-t", "0", "up", check=True)
    assert _limits(_pid(husk_rt, "up")) == (str(128 << 20), "200", "100000", "256")
    events = husk_rt("events", "--stream=false", "--filter", "container=up", "--format", "{{.Status}}",
                     check=True).stdout.split()
    assert "update" in events


def test_update_lifts_limits(husk_rt):
    husk_rt("run", "-d", "--name", "lift", "-m", "64m", "--cpus", "0.5", "--pids-limit", "100",
            "busybox", "sleep", "60", check=True)
    husk_rt("update", "-m", "0", "--cpus", "0", "--pids-limit", "-1", "lift", check=True)
    memory, pids, quota, _ = _limits(_pid(husk_rt, "lift"))
    assert memory == NO_MEMORY_LIMIT
    # runc writes "max"/-1; crun 1.8 cannot, and gets values that limit nothing
    assert pids in ("max", str(4 * 1024 * 1024))
    assert quota in ("-1", str(100_000 * os.cpu_count()))
    assert husk_rt("inspect", "--format", "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}", "lift",
                   check=True).stdout.split() == ["0", "0"]


def test_update_of_a_stopped_container_applies_at_its_next_start(husk_rt):
    husk_rt("create", "--name", "later", "busybox", "sleep", "60", check=True)
    husk_rt("update", "--memory", "32m", "--restart", "on-failure:2", "later", check=True)
    assert husk_rt("inspect", "--format", "{{.HostConfig.RestartPolicy.Name}} "
                   "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "later", check=True).stdout.split() == \
        ["on-failure", "2"]
    husk_rt("start", "later", check=True)
    assert _limits(_pid(husk_rt, "later"))[0] == str(32 << 20)


def test_update_refuses_bad_input_and_changes_nothing(husk):
    husk("run", "-d", "--name", "keep", "-m", "64m", "busybox", "sleep", "60", check=True)
    for args, message in ((["-m", "2k"], "minimum memory limit"), (["--restart", "sometimes"], "invalid restart policy"),
                          ([], "nothing to update")):
        result = husk("update", *args, "keep")
        assert result.returncode == 125 and message in result.stderr, result.stderr
    result = husk("update", "-m", "64m", "nosuch")
    assert result.returncode == 125 and 'no container with name or ID "nosuch" found' in result.stderr
    husk("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "60", check=True)
    result = husk("update", "--restart", "always", "gone")
    assert result.returncode == 125 and "--rm option conflicts with --restart" in result.stderr
    assert _limits(_pid(husk, "keep"))[0] == str(64 << 20)


# -- rename ---------------------------------------------------------------------------------
def test_rename_in_every_state_and_the_old_name_is_free(husk_rt):
    husk_rt("create", "--name", "a", "busybox", "sleep", "60", check=True)
    husk_rt("rename", "a", "b", check=True)
    husk_rt("start", "b", check=True)
    assert wait_until(lambda: runs(_pid(husk_rt, "b"), "sleep"))  # before the pause: top shows its args
    husk_rt("container", "rename", "b", "c", check=True)  # running
    husk_rt("pause", "c", check=True)
    husk_rt("rename", "c", "d", check=True)  # paused
    assert husk_rt("top", "d", "state,args", check=True).stdout.splitlines()[1].split() == ["D", "sleep", "60"]
    husk_rt("unpause", "d", check=True)
    husk_rt("stop", "-t", "0", "d", check=True)
    husk_rt("rename", "d", "e", check=True)  # exited
    assert husk_rt("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split() == ["e"]
    husk_rt("create", "--name", "a", "busybox", check=True)  # the old names are free again
    assert husk_rt("inspect", "--format", "{{.Name}}", "e", check=True).stdout.strip() == "e"
    events = husk_rt("events", "--stream=false", "--filter", "event=rename", "--format", "{{.Name}}",
                     check=True).stdout.split()
    assert events == ["b", "c", "d", "e"]


def test_rename_refusals(husk):
    husk("create", "--name", "one", "busybox", check=True)
    husk("create", "--name", "two", "busybox", check=True)
    cases = [(("one", "two"), 'the container name "two" is already in use'),
             (("one", "bad/name"), 'container name "bad/name" is invalid'),
             (("one", "one"), "same name as its current name"),
             (("nosuch", "three"), 'no container with name or ID "nosuch" found')]
    for args, message in cases:
        result = husk("rename", *args)
        assert result.returncode == 125 and message in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert sorted(husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()) == ["one", "two"]


def test_two_renames_to_one_name_at_once_exactly_one_wins(husk):
    for round_number in range(5):
        first, second, wanted = f"x{round_number}", f"y{round_number}", f"z{round_number}"
        husk("create", "--name", first, "busybox", check=True)
        husk("create", "--name", second, "busybox", check=True)
        procs = [subprocess.Popen([HUSK, *husk.global_args, "rename", name, wanted], stderr=subprocess.PIPE,
                                  text=True) for name in (first, second)]
        results = [(proc.wait(timeout=60), proc.stderr.read()) for proc in procs]
        assert sorted(code for code, _ in results) == [0, 125], results
        loser = (first, second)[[code for code, _ in results].index(125)]
        assert "already in use" in dict(results)[125]
        names = husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
        assert names.count(wanted) == 1 and loser in names
        winner_id = husk("inspect", "--format", "{{.Id}}", wanted, check=True).stdout.strip()
        assert husk("inspect", "--format", "{{.Id}}", loser, check=True).stdout.strip() != winner_id


# -- top ------------------------------------------------------------------------------------
def _table(text):
    return [line.split() for line in text.splitlines()]


def test_top_shows_the_containers_processes_with_podmans_columns(husk_rt):
    husk_rt("run", "-d", "--name", "t", "busybox", "sleep", "60", check=True)
    assert wait_until(lambda: runs(_pid(husk_rt, "t"), "sleep"))
    rows = _table(husk_rt("top", "t", check=True).stdout)
    assert rows[0] == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    assert rows[1][:3] == ["root", "1", "0"] and rows[1][-2:] == ["sleep", "60"]
    # ELAPSED and TIME are Go durations in podman's columns (`1.52s`, `0s`)
    go_duration = r"(\d+m)?\d+(\.\d+)?(s|ms|µs)"
    assert re.fullmatch(go_duration, rows[1][4]) and re.fullmatch(go_duration, rows[1][6]), rows[1]
    # an exec session's process is in the container's cgroup too
    husk_rt("exec", "-d", "t", "sleep", "30", check=True)
    rows = _table(husk_rt("container", "top", "t", "pid", "ppid", "user", "comm", check=True).stdout)
    assert rows[0] == ["PID", "PPID", "USER", "COMMAND"]
    assert sorted(row[3] for row in rows[1:]) == ["sleep", "sleep"]
    assert {row[1] for row in rows[1:]} <= {"0", "1"}


def test_top_with_ps_arguments_shows_host_pids(husk_rt):
    husk_rt("run", "-d", "--name", "t", "-u", "nobody", "busybox", "sleep", "60", check=True)
    pid = _pid(husk_rt, "t")
    assert wait_until(lambda: runs(pid, "sleep"))
    rows = _table(husk_rt("top", "t", "-ef", check=True).stdout)
    assert rows[0] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows[1][1] == str(pid) and rows[1][-2:] == ["sleep", "60"]
    assert rows[1][6] == "00:00:00"  # ps's own TIME format, as docker top shows it
    rows = _table(husk_rt("top", "t", "-o", "pid,user,hpid,args", check=True).stdout)
    assert rows[1][0] == str(pid) and rows[1][2] == str(pid)
    # descriptors without ps's -o are the container's view: its pid, its /etc/passwd
    rows = _table(husk_rt("top", "t", "pid,user,huser,etime,time,stime", check=True).stdout)
    assert rows[0] == ["PID", "USER", "HUSER", "ELAPSED", "TIME", "STIME"]
    assert rows[1][:2] == ["1", "nobody"]
    assert rows[1][2] in ("nobody", "65534")


def test_top_refusals(husk):
    husk("create", "--name", "idle", "busybox", "sleep", "60", check=True)
    result = husk("top", "idle")
    assert result.returncode == 125
    assert result.stderr == "Error: can only top running containers: container state improper\n"
    husk("start", "idle", check=True)
    result = husk("top", "idle", "pid", "nosuch")
    assert result.returncode == 125 and result.stderr.startswith("Error: unknown descriptor: nosuch")
    result = husk("top", "missing")
    assert result.returncode == 125 and 'no container with name or ID "missing" found' in result.stderr
