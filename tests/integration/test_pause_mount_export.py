"""pause/unpause, kill/stop/rm of paused containers, restart, mount/umount and
export, through the real CLI on runc and crun (this host: cgroup v1 freezer)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

TICKER = "while :; do echo tick; sleep 0.05; done"


def _status(husk, name):
    return husk("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=True).stdout.split()


def _pid(husk, name):
    return int(husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)


def _id(husk, name):
    return husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


def _proc_state(pid):
    with open(f"/proc/{pid}/status") as handle:
        return next(line.split()[1] for line in handle if line.startswith("State:"))


def _log_lines(husk, name):
    return husk("logs", name, check=True).stdout.count("tick\n")


def _events(husk, name):
    out = husk("events", "--stream=false", "--filter", f"container={name}", "--format", "{{.Status}}",
               check=True).stdout
    return out.split()


def _merged(husk, name):
    return os.path.join(husk.root, "containers", _id(husk, name), "merged")


def _is_mounted(path):
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == path for line in handle)


def _mount_count(husk, name):
    return husk.runtime().store.mount_count(_id(husk, name))


# -- pause / unpause ----------------------------------------------------------------------
def test_pause_freezes_and_unpause_thaws(husk_rt):
    husk_rt("run", "-d", "--name", "p", "busybox", "sh", "-c", TICKER, check=True)
    time.sleep(0.3)
    assert husk_rt("pause", "p", check=True).stdout == "p\n"
    pid = _pid(husk_rt, "p")
    assert _proc_state(pid) == "D"  # the freezer's refrigerator
    assert _status(husk_rt, "p") == ["paused", "0"]
    assert husk_rt("inspect", "--format", "{{.State.Paused}}", "p", check=True).stdout == "true\n"
    assert husk_rt("ps", "-a", "--format", "{{.Status}}", check=True).stdout == "Paused\n"  # as podman 4.3
    frozen = _log_lines(husk_rt, "p")
    time.sleep(0.5)
    assert _log_lines(husk_rt, "p") == frozen  # no output while frozen
    assert husk_rt("unpause", "p", check=True).stdout == "p\n"
    time.sleep(0.5)
    assert _log_lines(husk_rt, "p") > frozen + 3
    assert _status(husk_rt, "p") == ["running", "0"]
    assert _proc_state(pid) != "D"
    assert _events(husk_rt, "p")[-2:] == ["pause", "unpause"]


def test_pause_unpause_all(husk):
    for name in ("a", "b"):
        husk("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    husk("create", "--name", "c", "busybox", "true", check=True)
    assert sorted(husk("pause", "--all", check=True).stdout.split()) == sorted([_id(husk, "a"), _id(husk, "b")])
    assert [_status(husk, n)[0] for n in ("a", "b", "c")] == ["paused", "paused", "created"]
    husk("unpause", "-a", check=True)
    assert [_status(husk, n)[0] for n in ("a", "b", "c")] == ["running", "running", "created"]


def test_pause_unpause_illegal_states_have_the_seeds_messages(husk):
    cid = husk("create", "--name", "c", "busybox", "sleep", "1000", check=True).stdout.strip()
    result = husk("pause", "c")
    assert (result.returncode, result.stderr) == (125, "Error: \"created\" is not running, can't pause: "
                                                  "container state improper\n")
    result = husk("unpause", "c")
    assert (result.returncode, result.stderr) == (125, f"Error: \"{cid}\" is not paused, can't unpause: "
                                                  "container state improper\n")
    husk("start", "c", check=True)
    result = husk("unpause", "c")
    assert result.returncode == 125 and "is not paused, can't unpause" in result.stderr
    husk("pause", "c", check=True)
    result = husk("pause", "c")
    assert (result.returncode, result.stderr) == (125, f"Error: \"{cid}\" is already paused: "
                                                  "container state improper\n")
    husk("stop", "-t", "0", "c", check=True)
    result = husk("pause", "c")
    assert result.returncode == 125 and result.stderr == ("Error: \"exited\" is not running, can't pause: "
                                                          "container state improper\n")
    assert _status(husk, "c") == ["exited", "137"]
    result = husk("pause", "missing")
    assert result.returncode == 125 and "no such container" in result.stderr


# -- kill / stop / rm -f of a paused container --------------------------------------------
def test_kill_of_a_paused_container(husk_rt):
    husk_rt("run", "-d", "--name", "k", "busybox", "sh", "-c",
            "trap 'exit 9' TERM; while :; do sleep 0.05; done", check=True)
    husk_rt("pause", "k", check=True)
    # A catchable signal waits in the frozen process until it is thawed ...
    assert husk_rt("kill", "-s", "TERM", "k", check=True).stdout == "k\n"
    time.sleep(0.3)
    assert _status(husk_rt, "k") == ["paused", "0"]
    husk_rt("unpause", "k", check=True)
    assert husk_rt("wait", "k", check=True).stdout == "9\n"
    # ... SIGKILL ends it at once.
    husk_rt("start", "k", check=True)
    husk_rt("pause", "k", check=True)
    pid = _pid(husk_rt, "k")
    husk_rt("kill", "k", check=True)
    assert husk_rt("wait", "k", check=True, timeout=10).stdout == "137\n"
    assert not os.path.exists(f"/proc/{pid}")
    events = _events(husk_rt, "k")
    last_pause = len(events) - 1 - events[::-1].index("pause")
    assert events[last_pause:last_pause + 4] == ["pause", "kill", "unpause", "died"]


def test_stop_and_rm_force_of_a_paused_container(husk_rt):
    husk_rt("run", "-d", "--name", "s", "busybox", "sh", "-c",
            "trap 'exit 4' TERM; while :; do sleep 0.05; done", check=True)
    husk_rt("pause", "s", check=True)
    started = time.monotonic()
    assert husk_rt("stop", "s", check=True).stdout == "s\n"
    assert time.monotonic() - started < 5  # thawed, it took the stop signal
    assert _status(husk_rt, "s") == ["exited", "4"]
    husk_rt("run", "-d", "--name", "r", "busybox", "sleep", "1000", check=True)
    merged = _merged(husk_rt, "r")
    pid = _pid(husk_rt, "r")
    husk_rt("pause", "r", check=True)
    assert husk_rt("rm", "-f", "-t", "0", "r", check=True).stdout == "r\n"
    assert not os.path.exists(f"/proc/{pid}")
    assert not _is_mounted(merged)
    assert husk_rt("container", "exists", "r").returncode == 1


def test_pause_and_unpause_racing_with_stop(husk):
    """Whichever wins, the container ends exited, its process gone, never frozen."""
    for round_ in range(4):
        name = f"race{round_}"
        husk("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
        pid = _pid(husk, name)
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(husk, "pause", name), pool.submit(husk, "stop", "-t", "0", name),
                    pool.submit(husk, "unpause", name)]
            results = [job.result() for job in jobs]
        for result in results:
            assert result.returncode in (0, 125), result.stderr
            assert "Traceback" not in result.stderr
            if result.returncode:
                assert "container state improper" in result.stderr
        assert results[1].returncode == 0, results[1].stderr
        assert _status(husk, name) == ["exited", "137"]
        assert not os.path.exists(f"/proc/{pid}")


# -- restart ------------------------------------------------------------------------------
def test_restart_running_exited_and_created(husk_rt):
    husk_rt("run", "-d", "--name", "r", "busybox", "sleep", "1000", check=True)
    old_pid = _pid(husk_rt, "r")
    assert husk_rt("restart", "-t", "0", "r", check=True).stdout == "r\n"
    assert _status(husk_rt, "r") == ["running", "0"]
    assert _pid(husk_rt, "r") != old_pid and not os.path.exists(f"/proc/{old_pid}")
    assert _events(husk_rt, "r")[-6:] == ["restart", "died", "stop", "cleanup", "init", "start"]
    husk_rt("run", "--name", "once", "busybox", "sh", "-c", "echo ran", check=True)
    husk_rt("restart", "once", check=True)
    assert husk_rt("wait", "once", check=True).stdout == "0\n"
    assert husk_rt("logs", "once", check=True).stdout == "ran\nran\n"
    husk_rt("create", "--name", "fresh", "busybox", "sleep", "1000", check=True)
    husk_rt("restart", "fresh", check=True)
    assert _status(husk_rt, "fresh") == ["running", "0"]


def test_restart_all_running_and_refusals(husk):
    husk("run", "-d", "--name", "up", "busybox", "sleep", "1000", check=True)
    husk("create", "--name", "idle", "busybox", "sleep", "1000", check=True)
    up_pid = _pid(husk, "up")
    assert husk("restart", "--all", "--running", "-t", "0", check=True).stdout == _id(husk, "up") + "\n"
    assert _pid(husk, "up") != up_pid and _status(husk, "idle") == ["created", "0"]
    husk("pause", "up", check=True)
    result = husk("restart", "up")
    assert (result.returncode, result.stderr) == (125, "Error: unable to restart a container in a paused or "
                                                  "unknown state: container state improper\n")
    assert _status(husk, "up") == ["paused", "0"]
    result = husk("restart", "-t", "-1", "idle")
    assert result.returncode == 125 and "invalid timeout" in result.stderr
    result = husk("restart", "--running", "idle")
    assert result.returncode == 125 and "--running only applies with --all" in result.stderr


def test_restart_checks_dependencies(husk):
    husk("create", "--name", "db", "busybox", "sleep", "1000", check=True)
    husk("create", "--name", "app", "--requires", "db", "busybox", "sleep", "1000", check=True)
    result = husk("restart", "app")
    assert result.returncode == 125
    assert f"depends on container {_id(husk, 'db')} not being in running state" in result.stderr
    assert _status(husk, "app") == ["created", "0"]
    husk("start", "db", check=True)
    husk("restart", "app", check=True)
    assert _status(husk, "app") == ["running", "0"]


# -- mount / umount -----------------------------------------------------------------------
def test_mount_lists_and_counts(husk_rt):
    cid = husk_rt("create", "--name", "m", "busybox", "sleep", "1000", check=True).stdout.strip()
    merged = _merged(husk_rt, "m")
    assert husk_rt("mount", "m", check=True).stdout == merged + "\n"
    assert os.path.exists(os.path.join(merged, "bin", "busybox"))
    assert husk_rt("mount", check=True).stdout == f"{cid[:12]}  {merged}\n"
    assert husk_rt("mount", "--no-trunc", check=True).stdout == f"{cid}  {merged}\n"
    assert '"mountpoint": "%s"' % merged in husk_rt("mount", "--format", "json", check=True).stdout
    husk_rt("mount", "m", check=True)
    assert _mount_count(husk_rt, "m") == 2
    assert husk_rt("umount", "m", check=True).stdout == "m\n"
    assert _is_mounted(merged)
    husk_rt("unmount", "m", check=True)
    assert not _is_mounted(merged) and _mount_count(husk_rt, "m") == 0
    assert husk_rt("mount", check=True).stdout == ""
    assert husk_rt("umount", "m", check=True).stdout == "m\n"  # nothing mounted: fine, as podman
    assert _events(husk_rt, "m")[-4:] == ["mount", "mount", "unmount", "unmount"]


def test_users_mount_and_the_containers_own_coexist(husk_rt):
    husk_rt("run", "-d", "--name", "c", "busybox", "sleep", "1000", check=True)
    merged = _merged(husk_rt, "c")
    assert husk_rt("mount", "c", check=True).stdout == merged + "\n"
    assert _mount_count(husk_rt, "c") == 2
    husk_rt("stop", "-t", "0", "c", check=True)
    assert _mount_count(husk_rt, "c") == 1 and _is_mounted(merged)  # the user's stays
    husk_rt("start", "c", check=True)
    assert _mount_count(husk_rt, "c") == 2
    husk_rt("umount", "c", check=True)
    assert _mount_count(husk_rt, "c") == 1 and _is_mounted(merged)  # the container's own
    result = husk_rt("umount", "c")
    assert (result.returncode, result.stderr) == (125, f"Error: cannot unmount storage for container "
                                                  f"{_id(husk_rt, 'c')} as it is running or paused: "
                                                  "container state improper\n")
    assert husk_rt("umount", "-a", check=True).stdout == ""  # its own mount is not a user's
    husk_rt("stop", "-t", "0", "c", check=True)
    assert not _is_mounted(merged) and _mount_count(husk_rt, "c") == 0


def test_umount_force_and_all(husk):
    husk("create", "--name", "a", "busybox", "true", check=True)
    husk("create", "--name", "b", "busybox", "true", check=True)
    for _ in range(3):
        husk("mount", "a", check=True)
    husk("mount", "b", check=True)
    assert husk("umount", "-f", "a", check=True).stdout == "a\n"
    assert _mount_count(husk, "a") == 0 and not _is_mounted(_merged(husk, "a"))
    husk("mount", "a", check=True)
    assert sorted(husk("umount", "--all", check=True).stdout.split()) == sorted([_id(husk, "a"), _id(husk, "b")])
    assert husk("mount", check=True).stdout == ""
    result = husk("umount", "a", "missing")
    assert result.returncode == 125 and "no such container" in result.stderr


def test_umount_refusals_and_mount_of_a_removing_container(husk):
    from husk.define import State
    from husk.state.records import ExecSession

    cid = husk("create", "--name", "i", "busybox", "sleep", "1000", check=True).stdout.strip()
    husk("init", "i", check=True)
    result = husk("umount", "i")
    assert (result.returncode, result.stderr) == (125, f"Error: can't unmount {cid} last mount, it is still in use\n")
    ctr = husk.runtime().container("i")
    session_id = "e1" * 32  # exec session ids are 64 hex digits, like the files named after them
    ctr.state.exec_sessions = {session_id: ExecSession(id=session_id, command=["sh"])}
    ctr.save()
    result = husk("umount", "i")
    assert (result.returncode, result.stderr) == (125, f"Error: container {cid} has active exec sessions, "
                                                  "refusing to unmount: container state improper\n")
    husk("create", "--name", "gone", "busybox", "true", check=True)
    ctr = husk.runtime().container("gone")
    ctr.state.state = State.REMOVING
    ctr.save()
    result = husk("mount", "gone")
    assert (result.returncode, result.stderr) == (125, f"Error: cannot mount container {ctr.id} as it is being "
                                                  "removed: container state improper\n")
    result = husk("export", "-o", os.path.join(husk.root, "x.tar"), "gone")
    assert (result.returncode, result.stderr) == (125, f"Error: cannot export container {ctr.id} as it is being "
                                                  "removed: container state improper\n")
    assert not os.path.exists(os.path.join(husk.root, "x.tar"))


def test_two_mount_clis_racing_keep_the_count(husk):
    husk("create", "--name", "m", "busybox", "true", check=True)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: husk("mount", "m"), range(16)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    assert _mount_count(husk, "m") == 16
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: husk("umount", "m"), range(15)))
    assert all(r.returncode == 0 for r in results)
    assert _mount_count(husk, "m") == 1 and _is_mounted(_merged(husk, "m"))
    husk("umount", "m", check=True)
    assert not _is_mounted(_merged(husk, "m"))


# -- export -------------------------------------------------------------------------------
def test_export_streams_the_rootfs_and_reimports(husk_rt, tmp_path):
    # "ex" cannot be the prefix of a hex id, so the events filter matches this container only
    husk_rt("run", "--name", "ex", "busybox", "sh", "-c",
            "echo data > /marker && chown 1234:5678 /marker && ln /marker /hard && ln -s marker /soft "
            "&& mkfifo /fifo", check=True)
    merged = _merged(husk_rt, "ex")
    out = tmp_path / "e.tar"
    assert husk_rt("export", "-o", str(out), "ex", check=True).stdout == ""
    assert not _is_mounted(merged)  # mounted for the export only
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar}
    assert "bin/busybox" in members and not any(name.startswith(("/", "./")) for name in members)
    marker = members["marker"]
    assert (marker.uid, marker.gid, marker.uname, marker.gname) == (1234, 5678, "", "")
    assert members["marker"].islnk() and members["marker"].linkname == "hard"  # "hard" sorts first
    assert members["soft"].issym() and members["soft"].linkname == "marker"
    assert members["fifo"].isfifo()
    stdout = subprocess.run([*_argv(husk_rt), "export", "ex"], capture_output=True, check=True).stdout
    assert stdout == out.read_bytes()
    assert husk_rt("import", str(out), "localhost/exported", check=True).returncode == 0
    result = husk_rt("run", "--rm", "localhost/exported", "cat", "/marker")
    assert (result.returncode, result.stdout) == (0, "data\n")
    assert _events(husk_rt, "ex")[-2:] == ["export", "export"]


def test_export_of_a_mounted_or_running_container_keeps_its_mounts(husk):
    husk("run", "-d", "--name", "up", "busybox", "sleep", "1000", check=True)
    merged = _merged(husk, "up")
    data = subprocess.run([*_argv(husk), "export", "up"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "bin/sleep" in tar.getnames()
    assert _is_mounted(merged) and _mount_count(husk, "up") == 1
    result = husk("export", "missing")
    assert result.returncode == 125 and "no such container" in result.stderr


def test_export_refuses_a_terminal(husk):
    husk("create", "--name", "t", "busybox", "true", check=True)
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([*_argv(husk), "export", "t"], stdout=terminal, stderr=subprocess.PIPE,
                                text=True, timeout=30)
    finally:
        os.close(terminal)
        os.close(controller)
    assert (result.returncode, result.stderr) == (125, "Error: refusing to export to terminal. "
                                                  "Use -o flag or redirect\n")


def _argv(husk):
    from husk.testing import HUSK

    return [HUSK, *husk.global_args]
