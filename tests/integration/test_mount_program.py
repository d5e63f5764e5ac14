"""A mount program for the containers' overlay (issue 18: fuse-overlayfs, podman's storage.conf
`mount_program`; husk.conf's `[storage] mount_program`): the rootfs is a fuse-overlayfs mount, the
container runs and writes into its own upper directory, and a stop or rm unmounts it and ends the
program's daemon.  (A rootless user here may not open /dev/fuse, mode 0600, so fuse-overlayfs is
tested as root.)"""

from __future__ import annotations

import os
import shutil

import pytest

from husk.testing import IMAGE, wait_until

FUSE_OVERLAYFS = shutil.which("fuse-overlayfs")
pytestmark = pytest.mark.skipif(FUSE_OVERLAYFS is None, reason="fuse-overlayfs is not installed")


def _use(husk, program: str) -> None:
    config = os.path.join(os.path.dirname(husk.root), "mount-program.conf")
    with open(config, "w") as handle:
        handle.write(f'[storage]\nmount_program = "{program}"\n')
    husk.extra_env["HUSK_CONFIG"] = config


def _mount_type(path: str) -> str | None:
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return None


def _daemons(merged: str) -> list[int]:
    """The fuse-overlayfs processes serving `merged` (their command line names it)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as handle:
                zombie = handle.read().rpartition(")")[2].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and os.fsencode(merged) in argv:
            pids.append(int(entry))
    return pids


def test_fuse_overlayfs_mounts_the_rootfs(husk_rt):
    husk = husk_rt
    _use(husk, FUSE_OVERLAYFS)
    cid = husk("run", "-d", "--name", "fused", "--network", "none", IMAGE, "sh", "-c",
               "echo written > /made; sleep 600", check=True).stdout.strip()
    merged = os.path.join(husk.root, "containers", cid, "merged")
    assert _mount_type(merged) == "fuse.fuse-overlayfs"
    assert len(_daemons(merged)) == 1
    assert wait_until(lambda: husk("exec", "fused", "cat", "/made").stdout == "written\n", timeout=60)
    assert open(os.path.join(husk.root, "containers", cid, "upper", "made")).read() == "written\n"
    husk("stop", "-t", "0", "fused", check=True)
    assert _mount_type(merged) is None
    assert wait_until(lambda: not _daemons(merged), timeout=30)
    husk("start", "fused", check=True)  # remounted: the upper directory's file is still there
    assert _mount_type(merged) == "fuse.fuse-overlayfs"
    assert husk("exec", "fused", "cat", "/made").stdout == "written\n"
    husk("rm", "-f", "-t", "0", "fused", check=True)
    assert _mount_type(merged) is None
    assert wait_until(lambda: not _daemons(merged), timeout=30)


def test_a_failing_mount_program_is_one_line(husk):
    _use(husk, "/bin/false")
    result = husk("run", "--rm", "--network", "none", IMAGE, "true")
    assert result.returncode == 125
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "with /bin/false: exit status 1" in lines[0], result.stderr
    missing = "/nonexistent/fuse-overlayfs"
    _use(husk, missing)
    result = husk("run", "--rm", "--network", "none", IMAGE, "true")
    assert result.returncode == 125 and f"with {missing}: No such file or directory" in result.stderr
    assert husk("ps", "-aq").stdout == ""
    del husk.extra_env["HUSK_CONFIG"]
    assert husk("run", "--rm", "--network", "none", IMAGE, "echo", "kernel").stdout == "kernel\n"


def test_the_fallback_program_serves_where_the_kernel_refuses_overlay(tmp_path, monkeypatch):
    """Where the kernel refuses overlay (ENODEV: no overlay for a user namespace before 5.11), the
    fallback program (rootless husk: fuse-overlayfs) mounts the layers before any vfs copy is made.
    Only the kernel's refusal is simulated; the mount is fuse-overlayfs's own."""
    import errno

    from husk.storage import rootfs

    def refuse(*args):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(rootfs, "_mount_overlayfs", refuse)
    lower = tmp_path / "layer"
    lower.mkdir()
    (lower / "from-layer").write_text("lower\n")
    merged = rootfs.mount_overlay([str(lower)], str(tmp_path / "container"), fallback_program=FUSE_OVERLAYFS)
    try:
        assert _mount_type(merged) == "fuse.fuse-overlayfs"
        assert open(os.path.join(merged, "from-layer")).read() == "lower\n"
        with open(os.path.join(merged, "new"), "w") as handle:
            handle.write("upper\n")
        assert (tmp_path / "container" / "upper" / "new").read_text() == "upper\n"
    finally:
        rootfs.unmount(merged)
    assert _mount_type(merged) is None and os.listdir(merged) == []
    assert wait_until(lambda: not _daemons(merged), timeout=30)
