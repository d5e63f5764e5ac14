"""husk.engine.users and husk.storage.rootpath: --user forms against a rootfs's passwd and group
files, and lookups that an image's symlinks cannot lead out of the rootfs."""

from __future__ import annotations

import errno
import os

import pytest

from husk.storage import rootpath
from husk.define import InvalidArgument
from husk.engine.users import ExecUser, resolve_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment, then a malformed line
broken:x:notanumber:0::/:/bin/sh
bob:x:1000:1000:Bob:/home/bob:/bin/sh
nohome:x:1001:1001::
"""
GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:root,bob
audio:x:29:bob
bob:x:1000:
staff:x:50:
"""


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return str(root)


@pytest.mark.parametrize("user, expected", [
    ("", ExecUser(0, 0, [10], "/root")),
    ("root", ExecUser(0, 0, [10], "/root")),
    ("0", ExecUser(0, 0, [10], "/root")),
    ("bob", ExecUser(1000, 1000, [10, 29], "/home/bob")),
    ("1000", ExecUser(1000, 1000, [10, 29], "/home/bob")),
    ("bob:staff", ExecUser(1000, 50, [], "/home/bob")),
    ("bob:50", ExecUser(1000, 50, [], "/home/bob")),
    ("1000:10", ExecUser(1000, 10, [], "/home/bob")),
    ("4242", ExecUser(4242, 0, [], "/")),
    ("4242:4343", ExecUser(4242, 4343, [], "/")),
    ("daemon", ExecUser(1, 1, [], "/usr/sbin")),
    ("nohome", ExecUser(1001, 1001, [], "/")),
    ("bob:", ExecUser(1000, 1000, [10, 29], "/home/bob")),
])
def test_user_forms(rootfs, user, expected):
    assert resolve_user(rootfs, user) == expected


def test_unknown_user_is_refused_with_podmans_message(rootfs):
    with pytest.raises(InvalidArgument, match="^unable to find user alice: no matching entries in passwd file$"):
        resolve_user(rootfs, "alice")


def test_unknown_group_is_refused(rootfs):
    with pytest.raises(InvalidArgument, match="^unable to find group nogroup: no matching entries in group file$"):
        resolve_user(rootfs, "bob:nogroup")


def test_out_of_range_id_is_refused(rootfs):
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(rootfs, str(2**32))


def test_without_passwd_only_numbers_work(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    assert resolve_user(str(root), "") == ExecUser(0, 0, [], "/root")
    assert resolve_user(str(root), "7:8") == ExecUser(7, 8, [], "/")
    with pytest.raises(InvalidArgument):
        resolve_user(str(root), "root")


def test_absolute_symlink_resolves_inside_the_rootfs(tmp_path):
    """An image's /etc/passwd -> /../../outside/passwd must not read a host file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "outside").mkdir()
    (root / "outside" / "passwd").write_text("inside:x:5:5::/inside:/bin/sh\n")
    (root / "etc" / "passwd").symlink_to("/../../../outside/passwd")
    assert resolve_user(str(root), "inside") == ExecUser(5, 5, [], "/inside")
    with pytest.raises(InvalidArgument):
        resolve_user(str(root), "evil")


def test_relative_symlink_cannot_climb_out(tmp_path):
    (tmp_path / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "etc").symlink_to("../../../..")  # the rootfs itself, seen from inside
    assert rootpath.read_text(str(root), "/etc/passwd") is None
    (root / "passwd").write_text("x")
    assert rootpath.read_text(str(root), "/etc/passwd") == "x"


def test_only_regular_files_are_read(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc" / "passwd").mkdir(parents=True)
    assert rootpath.read_text(str(root), "/etc/passwd") is None
    os.mkfifo(root / "etc" / "group")
    assert rootpath.read_text(str(root), "/etc/group") is None


def test_symlink_loop_is_an_error(tmp_path):
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(OSError) as caught:
        rootpath.read_text(str(root), "/a")
    assert caught.value.errno == errno.ELOOP


def test_make_dirs_stays_inside(tmp_path):
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "app").symlink_to("/srv")
    rootpath.make_dirs(str(root), "/app/data/../work")
    assert (root / "srv" / "work").is_dir()
    assert not (tmp_path / "srv").exists()
    (root / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        rootpath.make_dirs(str(root), "/file")
    with pytest.raises(NotADirectoryError):
        rootpath.make_dirs(str(root), "/file/sub")
