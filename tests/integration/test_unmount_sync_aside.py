"""A checkpoint's unmount leaves the filesystem's end (overlayfs syncs its
upper file system then: CRIU's images) to a detached process
(husk.storage.rootfs.unmount_sync_aside, issue 20): the path is free at
once, nothing stays mounted, and the container's changes are kept."""

from __future__ import annotations

import os

from husk.storage import rootfs


def _mount_ids(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        return [line.split()[0] for line in mountinfo if line.split()[4] == path]


def test_the_path_is_unmounted_and_free_at_once(tmp_path):
    target = tmp_path / "merged"
    target.mkdir()
    rootfs._mount("tmpfs", str(target), "tmpfs", "size=1m")
    (target / "file").write_text("x")
    rootfs.unmount_sync_aside(str(target))
    assert _mount_ids(str(target)) == []
    assert os.listdir(target) == []  # the mount's file is not seen through the path any more
    rootfs._mount("tmpfs", str(target), "tmpfs", "size=1m")  # the path takes a new mount
    rootfs.unmount(str(target))
    assert _mount_ids(str(target)) == []


def test_a_path_that_is_not_mounted_is_left_alone(tmp_path):
    rootfs.unmount_sync_aside(str(tmp_path))
    rootfs.unmount_sync_aside(str(tmp_path / "missing"))
    assert tmp_path.is_dir()


def test_a_checkpoint_unmounts_the_rootfs_and_the_restore_sees_its_changes(husk_envs):
    runc = husk_envs("runc")
    runc("run", "-d", "--name", "aside", "--network", "none", "busybox", "sh", "-c",
         "echo kept > /kept; exec sleep 600", check=True)
    merged = runc("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "aside", check=True).stdout.strip()
    assert len(_mount_ids(merged)) == 1
    runc("container", "checkpoint", "aside", check=True)
    assert _mount_ids(merged) == []
    runc("container", "restore", "aside", check=True)
    assert len(_mount_ids(merged)) == 1
    assert runc("exec", "aside", "cat", "/kept", check=True).stdout == "kept\n"
    runc("rm", "-f", "-t", "0", "aside", check=True)


def test_the_next_mount_waits_for_the_detached_end_of_the_previous_one(tmp_path):
    """The detached process holds the container directory's lock until its
    close of the old overlay (the sync) is done; a mount meanwhile would share
    the upper directory with a live superblock ("in use": the kernel's warning,
    EBUSY with index=on, seen on an immediate restore)."""
    import fcntl
    import threading

    lower, container = tmp_path / "lower", tmp_path / "container"
    lower.mkdir()
    (lower / "file").write_text("x")
    merged = rootfs.mount_overlay([str(lower)], str(container))
    rootfs.unmount_sync_aside(merged)
    held = os.open(container, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a detached process whose sync has not ended
    mounting = threading.Thread(target=rootfs.mount_overlay, args=([str(lower)], str(container)))
    try:
        mounting.start()
        mounting.join(2)
        assert mounting.is_alive() and _mount_ids(merged) == []
    finally:
        os.close(held)
        mounting.join(60)
        mounted = _mount_ids(merged)
        rootfs.unmount(merged)
    assert not mounting.is_alive() and len(mounted) == 1
