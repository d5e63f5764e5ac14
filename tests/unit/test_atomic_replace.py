"""husk.state.atomic.replace_file: the one atomic file replace."""

from __future__ import annotations

import os
import stat

import pytest

from husk.state.atomic import replace_file


def test_text_bytes_and_a_writer(tmp_path):
    path = tmp_path / "file"
    replace_file(str(path), "text é")
    assert path.read_text() == "text é"
    replace_file(str(path), b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    replace_file(str(path), lambda handle: handle.write(b"written"), durable=True)
    assert path.read_bytes() == b"written"
    assert os.listdir(tmp_path) == ["file"]


def test_mode_private_by_default_and_umask_applies(tmp_path):
    old = os.umask(0)
    try:
        replace_file(str(tmp_path / "private"), "x")
        os.umask(0o022)
        replace_file(str(tmp_path / "public"), "x", mode=0o666)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "private").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "public").st_mode) == 0o644


def test_a_failing_writer_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "file"
    path.write_text("old")

    def interrupted(handle):
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_file(str(path), interrupted)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["file"]


def test_missing_parent_fails_unless_made(tmp_path):
    path = tmp_path / "new" / "file"
    with pytest.raises(FileNotFoundError):
        replace_file(str(path), "x")
    replace_file(str(path), "x", make_parent=True)
    assert path.read_text() == "x"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_an_unwritable_place_raises_and_leaves_the_old_file(tmp_path, monkeypatch):
    """A read-only home: the OSError reaches the caller (a cache's caller
    catches it) and nothing is left behind."""
    import errno

    from husk.state import atomic

    path = tmp_path / "file"
    path.write_text("old")

    def read_only(*args):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.os, "replace", read_only)
    with pytest.raises(OSError) as caught:
        replace_file(str(path), "new")
    assert caught.value.errno == errno.EROFS
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["file"]


def test_a_stale_temporary_or_a_link_there_is_not_followed(tmp_path):
    """A temporary file left where this writer's would go (a crash, or a link
    planted to redirect the write) is removed, never written through."""
    from _thread import get_ident

    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / f".file.{os.getpid()}.{get_ident()}.tmp").symlink_to(target)
    replace_file(str(tmp_path / "file"), "new")
    assert (tmp_path / "file").read_text() == "new"
    assert target.read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["file", "target"]
