"""husk.storage.rootfs: real overlay mounts (and the copying fallback) of layers unpacked by husk.storage.layers."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from husk.define import HuskError
from husk.storage.layers import extract_layer
from husk.storage.rootfs import is_mounted, mount_overlay, unmount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def build_tar(*members: tuple[str, bytes, dict]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind, attrs in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mtime = 1_600_000_000
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            data = attrs.pop("data", b"")
            for key, value in attrs.items():
                setattr(info, key, value)
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def file(name, data=b"", **attrs):
    return name, tarfile.REGTYPE, {"data": data, **attrs}


def directory(name, **attrs):
    return name, tarfile.DIRTYPE, attrs


BASE = build_tar(
    directory("etc"),
    file("etc/hostname", b"base\n"),
    file("etc/secret", b"hidden by the upper layer\n"),
    directory("tmp", mode=0o1777),
    directory("var/cache"),
    file("var/cache/old", b"stale\n"),
    file("bin/busybox", b"elf", mode=0o4755),
    ("bin/ls", tarfile.LNKTYPE, {"linkname": "bin/busybox", "mode": 0o4755}),
    ("bin/sh", tarfile.SYMTYPE, {"linkname": "/bin/busybox"}),
)
TOP = build_tar(
    directory("etc"),
    file("etc/.wh.secret"),
    file("etc/hostname", b"top\n"),
    directory("var/cache"),
    file("var/cache/.wh..wh..opq"),
    file("var/cache/new", b"fresh\n"),
)


@pytest.fixture
def layers(tmp_path):
    """Two unpacked layers, top-most first."""
    dirs = []
    for name, tar in (("top", TOP), ("base", BASE)):
        diff = str(tmp_path / "layers" / name / "diff")
        extract_layer(io.BytesIO(tar), diff)
        dirs.append(diff)
    return dirs


@pytest.fixture
def container_dir(tmp_path):
    path = tmp_path / "containers" / "c1"
    yield str(path)
    unmount(str(path / "merged"))


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def assert_layers_merged(merged):
    assert read(os.path.join(merged, "etc/hostname")) == b"top\n"
    assert not os.path.lexists(os.path.join(merged, "etc/secret"))
    assert os.listdir(os.path.join(merged, "var/cache")) == ["new"]
    assert stat.S_IMODE(os.lstat(os.path.join(merged, "tmp")).st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(os.path.join(merged, "bin/busybox")).st_mode) == 0o4755
    assert os.readlink(os.path.join(merged, "bin/sh")) == "/bin/busybox"


def test_overlay_merges_layers_and_writes_land_in_upper(layers, container_dir):
    merged = mount_overlay(layers, container_dir)
    assert merged == os.path.join(container_dir, "merged")
    assert is_mounted(merged)
    assert_layers_merged(merged)
    with open(os.path.join(merged, "etc/written"), "w") as handle:
        handle.write("by the container\n")
    assert read(os.path.join(container_dir, "upper/etc/written")) == b"by the container\n"
    assert not any(os.path.exists(os.path.join(layer, "etc/written")) for layer in layers)

    unmount(merged)
    assert not is_mounted(merged)
    assert os.listdir(merged) == []
    unmount(merged)  # not mounted: no error


def test_mounting_twice_mounts_once(layers, container_dir):
    first = mount_overlay(layers, container_dir)
    second = mount_overlay(layers, container_dir)
    assert first == second
    unmount(first)
    assert not is_mounted(first)


def test_busy_mount_is_detached(layers, container_dir):
    merged = mount_overlay(layers, container_dir)
    with open(os.path.join(merged, "etc/hostname")):
        unmount(merged)
        assert not is_mounted(merged)


def test_vfs_copies_layers_applying_whiteouts(layers, container_dir):
    merged = mount_overlay(layers, container_dir, driver="vfs")
    assert not is_mounted(merged)
    assert_layers_merged(merged)
    busybox, ls = (os.lstat(os.path.join(merged, p)) for p in ("bin/busybox", "bin/ls"))
    assert busybox.st_ino == ls.st_ino
    assert os.lstat(os.path.join(merged, "etc/hostname")).st_mtime == 1_600_000_000
    unmount(merged)  # a copy: nothing to do, and it stays
    assert read(os.path.join(merged, "etc/hostname")) == b"top\n"


def test_overlay_falls_back_to_a_copy_where_it_cannot_mount(layers, tmp_path):
    # overlayfs refuses another overlay as its upper file system (EINVAL)
    outer = mount_overlay(layers, str(tmp_path / "outer"))
    try:
        merged = mount_overlay(layers, os.path.join(outer, "tmp/inner"))
        assert not is_mounted(merged)
        assert_layers_merged(merged)
    finally:
        unmount(outer)


def test_many_layers_mount_with_relative_lowerdirs(tmp_path, container_dir):
    # 40 absolute paths of this length exceed a 4 KiB page; relative ones fit
    lower = []
    for index in range(40):
        diff = tmp_path / "layers" / f"{index:064x}" / "diff"
        diff.mkdir(parents=True)
        (diff / f"file{index}").write_text(str(index))
        lower.append(str(diff))
    assert len(":".join(lower)) > os.sysconf("SC_PAGESIZE")
    merged = mount_overlay(lower, container_dir)
    assert is_mounted(merged)
    assert sorted(os.listdir(merged)) == sorted(f"file{index}" for index in range(40))


def test_too_many_layers_is_a_clear_error(tmp_path, container_dir):
    lower = []
    for index in range(80):
        diff = tmp_path / "layers" / f"{index:064x}" / "diff"
        diff.mkdir(parents=True)
        lower.append(str(diff))
    with pytest.raises(HuskError, match=r"too many layers \(80\)"):
        mount_overlay(lower, container_dir)
