"""The default image's rootfs tar, as contrib/build-busybox-image.py writes it.

Every husk test that runs a container runs this rootfs, so its layout is
checked here against the real host busybox, and the tree is run under chroot
to prove the shell, the applet links and the user database work.
"""

from __future__ import annotations

import pathlib
import stat
import subprocess
import sys
import tarfile

import pytest

BUILDER = pathlib.Path(__file__).resolve().parents[2] / "contrib" / "build-busybox-image.py"


def build_tar(out: pathlib.Path) -> pathlib.Path:
    subprocess.run([sys.executable, BUILDER, "--tar-only", out], check=True)
    return out


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_tar(tmp_path_factory.mktemp("image") / "rootfs.tar")


@pytest.fixture(scope="module")
def members(rootfs_tar: pathlib.Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(rootfs_tar) as tar:
        return {info.name: info for info in tar.getmembers()}


def read_member(rootfs_tar: pathlib.Path, name: str) -> str:
    with tarfile.open(rootfs_tar) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read().decode()


DIRECTORIES = [
    ("tmp", 0o1777, 0),
    ("var/tmp", 0o1777, 0),
    ("root", 0o700, 0),
    ("home/husk", 0o755, 1000),
    ("proc", 0o555, 0),
    ("sys", 0o555, 0),
    ("dev", 0o755, 0),
    ("run", 0o755, 0),
    ("etc", 0o755, 0),
]


@pytest.mark.parametrize(("path", "mode", "uid"), DIRECTORIES, ids=[path for path, _, _ in DIRECTORIES])
def test_directories_have_their_modes_and_owners(members, path, mode, uid):
    info = members[path]
    assert info.isdir()
    assert stat.S_IMODE(info.mode) == mode
    assert (info.uid, info.gid) == (uid, uid)


def test_busybox_is_the_hosts_binary(members):
    info = members["bin/busybox"]
    assert info.isreg()
    assert info.mode == 0o755
    assert info.size == pathlib.Path("/bin/busybox").stat().st_size


def test_every_applet_is_a_relative_link_to_busybox(members):
    listing = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True)
    applets = set(listing.stdout.split()) - {"busybox"}
    assert {"sh", "echo", "cat", "id", "sleep", "top", "ls"} <= applets
    for applet in applets:
        info = members[f"bin/{applet}"]
        assert info.issym(), applet
        assert info.linkname == "busybox", applet


def test_owners_are_numeric_only(members):
    assert all(info.uname == "" and info.gname == "" for info in members.values())


def test_passwd_has_root_daemon_husk_and_nobody(rootfs_tar):
    entries = {line.split(":")[0]: line.split(":") for line in read_member(rootfs_tar, "etc/passwd").splitlines()}
    assert entries["root"][2:4] == ["0", "0"] and entries["root"][5:] == ["/root", "/bin/sh"]
    assert entries["husk"][2:4] == ["1000", "1000"] and entries["husk"][5] == "/home/husk"
    assert entries["nobody"][2:4] == ["65534", "65534"]
    assert entries["daemon"][2] == "1"


def test_group_has_wheel_with_root_and_the_users_groups(rootfs_tar):
    entries = {line.split(":")[0]: line.split(":") for line in read_member(rootfs_tar, "etc/group").splitlines()}
    assert entries["wheel"][3] == "root"
    assert entries["husk"][2] == "1000"
    assert entries["users"][2] == "100"
    assert entries["nogroup"][2] == "65534"
    assert entries["root"][2] == "0"


def test_os_release_names_husk_busybox(rootfs_tar):
    assert 'NAME="husk-busybox"' in read_member(rootfs_tar, "etc/os-release").splitlines()


def test_the_same_busybox_gives_the_same_bytes(rootfs_tar, tmp_path):
    """A stable tar means a stable image id across builds and test sessions."""
    assert build_tar(tmp_path / "again.tar").read_bytes() == rootfs_tar.read_bytes()


def test_the_rootfs_runs_as_root_and_as_the_plain_user(rootfs_tar, tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "xf", rootfs_tar, "--numeric-owner", "-C", rootfs], check=True)
    script = "id -un; cd ~ && pwd; touch /tmp/probe-$(id -u) && echo wrote"
    as_root = subprocess.run(["chroot", rootfs, "/bin/sh", "-c", script], capture_output=True, text=True, check=True)
    assert as_root.stdout.split() == ["root", "/root", "wrote"]
    as_user = subprocess.run(
        ["chroot", "--userspec=1000:1000", rootfs, "/bin/sh", "-c", f"HOME=/home/husk; {script}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert as_user.stdout.split() == ["husk", "/home/husk", "wrote"]
