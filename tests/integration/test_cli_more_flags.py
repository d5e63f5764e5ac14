"""More of podman's verb flags (issue 12 item 3): mount/umount --latest,
container exists --external, container cleanup --rm/--rmi/--latest."""

from __future__ import annotations

import os

from husk.testing import runs, wait_until


def test_mount_umount_latest(husk):
    husk("create", "--network", "none", "--name", "older", "busybox", check=True)
    husk("create", "--network", "none", "--name", "newer", "busybox", check=True)
    path = husk("mount", "-l").stdout.strip()
    assert os.path.isdir(os.path.join(path, "bin"))
    listed = husk("mount", "--no-trunc").stdout
    newer_id = husk("inspect", "-f", "{{.Id}}", "newer").stdout.strip()
    assert newer_id in listed and path in listed
    husk("umount", "--latest", check=True)
    assert husk("mount").stdout == ""


def test_container_exists_external(husk):
    husk("create", "--network", "none", "--name", "here", "busybox", check=True)
    assert husk("container", "exists", "--external", "here").returncode == 0
    assert husk("container", "exists", "--external", "nothere").returncode == 1


def test_container_cleanup_rm_rmi_latest(husk):
    husk("run", "--network", "none", "--name", "done", "busybox", "true", check=True)
    assert husk("container", "cleanup", "--rm", "done").stdout == "done\n"
    assert husk("container", "exists", "done").returncode == 1
    husk("tag", "busybox", "gone:1", check=True)
    husk("run", "--network", "none", "--name", "last", "gone:1", "true", check=True)
    husk("container", "cleanup", "--latest", "--rmi", check=True)
    assert husk("container", "exists", "last").returncode == 1
    assert husk("image", "exists", "gone:1").returncode == 1
    assert husk("image", "exists", "busybox").returncode == 0


def test_latest_on_exec_top_attach(husk):
    husk("run", "-d", "--network", "none", "--name", "first", "busybox", "sleep", "100", check=True)
    husk("run", "-d", "--network", "none", "--name", "second", "busybox", "sh", "-c",
         "echo attached-output; sleep 8; echo later", check=True)
    assert husk("exec", "-l", "hostname").stdout.strip() == \
        husk("inspect", "-f", "{{.Config.Hostname}}", "second").stdout.strip()
    pid = int(husk("inspect", "-f", "{{.State.Pid}}", "second", check=True).stdout)
    assert wait_until(lambda: runs(pid, "sh"), timeout=120)  # start returns before init execs sh
    top = husk("top", "-l", "pid", "args").stdout.splitlines()
    assert top[0].split() == ["PID", "COMMAND"] and "echo attached-output" in top[1]
    assert husk("top").returncode == 125
    attached = husk("attach", "--latest", "--no-stdin")
    assert attached.returncode == 0 and "later" in attached.stdout


def test_checkpoint_restore_latest(husk):
    """runc checkpoints (Debian's crun has no CRIU)."""
    husk("run", "-d", "--runtime", "runc", "--network", "none", "--name", "older", "busybox", "sleep", "100",
         check=True)
    husk("run", "-d", "--runtime", "runc", "--network", "none", "--name", "cp", "busybox", "sh", "-c",
         "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done", check=True)
    result = husk("container", "checkpoint", "-l")
    assert result.returncode == 0, result.stderr
    assert husk("inspect", "-f", "{{.State.Status}}", "cp").stdout.strip() == "exited"
    assert husk("inspect", "-f", "{{.State.Status}}", "older").stdout.strip() == "running"
    husk("container", "restore", "--latest", check=True)
    assert husk("inspect", "-f", "{{.State.Status}}", "cp").stdout.strip() == "running"


def test_cp_overwrite(husk, tmp_path):
    (tmp_path / "etc" / "passwd").mkdir(parents=True)
    (tmp_path / "etc" / "passwd" / "f").write_text("x")
    husk("create", "--network", "none", "--name", "cpx", "busybox", check=True)
    refused = husk("cp", str(tmp_path / "etc"), "cpx:/")
    assert refused.returncode == 125 and "cannot overwrite non-directory" in refused.stderr
    husk("cp", "--overwrite", str(tmp_path / "etc"), "cpx:/", check=True)
    out = tmp_path / "back"
    out.mkdir()
    husk("cp", "cpx:/etc/passwd/f", str(out), check=True)
    assert (out / "f").read_text() == "x"
