"""husk.storage.layers: layer tars built in memory, unpacked for real (chroot needs root)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
import uuid

import pytest

from husk.define import InvalidArgument
from husk.storage.layers import OPAQUE_XATTR, extract_layer
from husk.testing import build_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking chroots into the layer: needs root")

MTIME = 1_600_000_000


def member(name: str, kind: bytes = tarfile.REGTYPE, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def regular(name: str, data: bytes = b"data\n", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    return member(name, **attrs), data


def entry(name: str, kind: bytes, **attrs) -> tuple[tarfile.TarInfo, None]:
    return member(name, kind, **attrs), None


@pytest.fixture(autouse=True, params=["tarfile-filters", "no-tarfile-filters"])
def tarfile_flavour(request, monkeypatch):
    """Every test twice: with tarfile's extraction filters, and as on Debian 12's
    python3 3.11.2, which has none (husk then filters member by member)."""
    if request.param == "no-tarfile-filters":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)  # absent before Python 3.11.4 (Debian 12 has 3.11.2)
    return request.param


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "layer" / "diff")


def test_files_keep_content_owner_mode_and_mtime(target):
    tar = build_tar(
        entry("etc", tarfile.DIRTYPE, mode=0o750, uid=10, gid=20),
        regular("etc/motd", b"hello\n", uid=1234, gid=5678, mode=0o640),
    )
    extract_layer(io.BytesIO(tar), target)
    path = os.path.join(target, "etc/motd")
    st = os.lstat(path)
    assert open(path, "rb").read() == b"hello\n"
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == (1234, 5678, 0o640, MTIME)
    dir_st = os.lstat(os.path.join(target, "etc"))
    assert (dir_st.st_uid, dir_st.st_gid, stat.S_IMODE(dir_st.st_mode)) == (10, 20, 0o750)
    assert dir_st.st_mtime == MTIME  # set after its children were written


def test_digest_and_size_are_of_the_uncompressed_tar(target):
    tar = build_tar(regular("a", b"x" * 5000))
    info = extract_layer(io.BytesIO(gzip.compress(tar)), target)
    assert info.digest == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert info.size == len(tar)


def test_reads_a_pipe_once(target):
    tar = build_tar(*(regular(f"f{n}", os.urandom(200_000)) for n in range(20)))
    read_fd, write_fd = os.pipe()

    def feed():
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(gzip.compress(tar, compresslevel=1))

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(read_fd, "rb") as pipe:
        info = extract_layer(pipe, target)
    feeder.join()
    assert info.digest == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert len(os.listdir(target)) == 20


def test_setuid_and_sticky_bits_survive(target):
    tar = build_tar(
        entry("tmp", tarfile.DIRTYPE, mode=0o1777),
        regular("bin/su", mode=0o4755, uid=0),
        regular("bin/wall", mode=0o2755, gid=5),
    )
    extract_layer(io.BytesIO(tar), target)
    assert stat.S_IMODE(os.lstat(os.path.join(target, "tmp")).st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(os.path.join(target, "bin/su")).st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(os.path.join(target, "bin/wall")).st_mode) == 0o2755


def test_absolute_symlink_is_kept_verbatim(target):
    tar = build_tar(entry("bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox"))
    extract_layer(io.BytesIO(tar), target)
    assert os.readlink(os.path.join(target, "bin/sh")) == "/bin/busybox"
    assert os.lstat(os.path.join(target, "bin/sh")).st_mtime == MTIME


def test_device_nodes_and_fifos(target):
    tar = build_tar(
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        entry("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660),
        entry("run/fifo", tarfile.FIFOTYPE, mode=0o600),
    )
    extract_layer(io.BytesIO(tar), target)
    null = os.lstat(os.path.join(target, "dev/null"))
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(os.lstat(os.path.join(target, "dev/loop0")).st_mode)
    assert stat.S_ISFIFO(os.lstat(os.path.join(target, "run/fifo")).st_mode)


@pytest.mark.parametrize("kind, word", [(tarfile.CHRTYPE, "character"), (tarfile.BLKTYPE, "block")])
def test_refused_device_nodes_fail_and_remove_the_target(target, kind, word):
    tar = build_tar(regular("first", b"1"), entry("dev/x", kind, devmajor=8, devminor=1, mode=0o666))
    with pytest.raises(InvalidArgument) as raised:
        extract_layer(io.BytesIO(tar), target, refuse_devices=True)
    assert str(raised.value) == (f"invalid layer: member 'dev/x' is a {word} device (8:1); "
                                 "device nodes are refused in a pulled layer")
    assert not os.path.exists(target)


def test_refusing_devices_keeps_fifos_and_whiteouts(target):
    tar = build_tar(entry("run/fifo", tarfile.FIFOTYPE, mode=0o600), regular("etc/.wh.shadow", b""))
    extract_layer(io.BytesIO(tar), target, refuse_devices=True)
    assert stat.S_ISFIFO(os.lstat(os.path.join(target, "run/fifo")).st_mode)
    assert os.lstat(os.path.join(target, "etc/shadow")).st_rdev == os.makedev(0, 0)


def test_hardlink_shares_the_inode(target):
    tar = build_tar(regular("bin/busybox", b"elf"), entry("bin/ls", tarfile.LNKTYPE, linkname="bin/busybox"))
    extract_layer(io.BytesIO(tar), target)
    first, second = (os.lstat(os.path.join(target, p)) for p in ("bin/busybox", "bin/ls"))
    assert first.st_ino == second.st_ino and first.st_nlink == 2


def test_whiteout_becomes_an_overlay_whiteout_device(target):
    tar = build_tar(entry("etc", tarfile.DIRTYPE), regular("etc/.wh.shadow", b""))
    extract_layer(io.BytesIO(tar), target)
    assert not os.path.lexists(os.path.join(target, "etc/.wh.shadow"))
    whiteout = os.lstat(os.path.join(target, "etc/shadow"))
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)


def test_whiteout_does_not_hide_its_own_layer(target):
    tar = build_tar(regular("keep", b"mine"), regular(".wh.keep", b""))
    extract_layer(io.BytesIO(tar), target)
    assert open(os.path.join(target, "keep"), "rb").read() == b"mine"


def test_opaque_marker_sets_the_overlay_xattr(target):
    tar = build_tar(entry("var/cache", tarfile.DIRTYPE), regular("var/cache/.wh..wh..opq", b""))
    extract_layer(io.BytesIO(tar), target)
    cache = os.path.join(target, "var/cache")
    assert os.listdir(cache) == []
    assert os.getxattr(cache, OPAQUE_XATTR) == b"y"


def test_pax_xattrs_are_applied(target):
    info, data = regular("bin/ping", b"elf")
    info.pax_headers = {"SCHILY.xattr.user.husk": "yes", "SCHILY.xattr.trusted.overlay.redirect": "/x"}
    extract_layer(io.BytesIO(build_tar((info, data))), target)
    path = os.path.join(target, "bin/ping")
    assert os.getxattr(path, "user.husk") == b"yes"
    assert "trusted.overlay.redirect" not in os.listxattr(path)


def test_absolute_member_name_lands_inside_the_layer(target):
    # tar(1) strips the leading "/", and so does husk
    extract_layer(io.BytesIO(build_tar(regular("/etc/x", b"inside"))), target)
    assert open(os.path.join(target, "etc/x"), "rb").read() == b"inside"


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/../x"])
def test_member_climbing_out_fails_and_removes_the_target(target, name):
    tar = build_tar(regular("first", b"1"), regular(name, b"escaped"))
    with pytest.raises(InvalidArgument) as raised:
        extract_layer(io.BytesIO(tar), target)
    assert str(raised.value) == f"invalid layer: member '{name}' escapes the layer"
    assert not os.path.exists(target)
    assert not os.path.exists(os.path.join(os.path.dirname(target), "x"))


def test_hardlink_to_outside_is_refused(target):
    tar = build_tar(entry("passwd", tarfile.LNKTYPE, linkname="../../../../../../etc/passwd"))
    with pytest.raises(InvalidArgument, match="hardlink 'passwd' -> '.*' escapes the layer"):
        extract_layer(io.BytesIO(tar), target)
    assert not os.path.exists(target)


@pytest.mark.parametrize("link", ["/", "../../../../../../../../../../.."])
def test_writing_through_a_symlink_stays_in_the_layer(target, link):
    unique = f"husk-escape-test-{uuid.uuid4().hex}"
    tar = build_tar(entry("escape", tarfile.SYMTYPE, linkname=link), regular(f"escape/{unique}", b"pwned"))
    extract_layer(io.BytesIO(tar), target)
    assert not os.path.lexists(f"/{unique}")
    assert open(os.path.join(target, unique), "rb").read() == b"pwned"


def test_later_member_replaces_a_symlink_instead_of_writing_through_it(target):
    tar = build_tar(
        regular("etc/shadow", b"secret"),
        entry("link", tarfile.SYMTYPE, linkname="/etc/shadow"),
        regular("link", b"replacement"),
    )
    extract_layer(io.BytesIO(tar), target)
    assert not os.path.islink(os.path.join(target, "link"))
    assert open(os.path.join(target, "etc/shadow"), "rb").read() == b"secret"


def test_truncated_gzip_fails_cleanly(target):
    compressed = gzip.compress(build_tar(regular("a", os.urandom(100_000))))
    with pytest.raises(InvalidArgument, match=r"^invalid layer: compressed stream is truncated$"):
        extract_layer(io.BytesIO(compressed[: len(compressed) // 2]), target)
    assert not os.path.exists(target)


def test_gzip_of_several_members_and_zero_padding_is_one_layer(target):
    tar = build_tar(regular("a", os.urandom(300_000)))
    compressed = gzip.compress(tar[:100_000]) + gzip.compress(tar[100_000:]) + bytes(20)
    info = extract_layer(io.BytesIO(compressed), target)
    assert info.digest == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert os.path.getsize(os.path.join(target, "a")) == 300_000


@pytest.mark.parametrize("where", [-6, -2])  # the CRC, the length
def test_gzip_trailer_mismatch_fails_cleanly(target, where):
    compressed = bytearray(gzip.compress(build_tar(regular("a", os.urandom(1000)))))
    compressed[where] ^= 1
    with pytest.raises(InvalidArgument, match=r"^invalid layer: "):
        extract_layer(io.BytesIO(bytes(compressed)), target)
    assert not os.path.exists(target)


def test_gzip_input_is_read_in_large_chunks(target):
    """Hashing and inflating 8 KiB at a time (gzip.GzipFile on 3.11) made a pull
    hand the GIL between layer threads for every 8 KiB (issue 14)."""
    reads = []

    class Recording(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    extract_layer(Recording(gzip.compress(build_tar(regular("a", os.urandom(3 << 20))), compresslevel=1)), target)
    assert max(reads) >= 64 << 10


def test_truncated_tar_fails_cleanly(target):
    tar = build_tar(regular("a", os.urandom(100_000)))
    with pytest.raises(InvalidArgument, match=r"^invalid layer: "):
        extract_layer(io.BytesIO(tar[:50_000]), target)
    assert not os.path.exists(target)


@pytest.mark.parametrize("garbage", [b"", b"this is not a tar archive at all" * 40])
def test_garbage_fails_cleanly(target, garbage):
    with pytest.raises(InvalidArgument, match=r"^invalid layer: "):
        extract_layer(io.BytesIO(garbage), target)
    assert not os.path.exists(target)


def test_gunzip_reader_read_zero_returns_nothing():
    """read(0) is b"" as io's readers give, not the next piece (zlib's max_length 0 means unbounded)."""
    from husk.storage.layers import _GunzipReader

    reader = _GunzipReader(io.BytesIO(gzip.compress(b"payload")))
    assert reader.read(0) == b""
    assert reader.read() == b"payload"
