"""`husk cp` with real containers on runc and crun: both ways, running and
stopped, stdin/stdout tars, symlinks confined to the root, malicious tars."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from husk.testing import build_tar


def _file(name: str, data: bytes, **fields) -> tuple:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _only_file(data: bytes) -> bytes:
    archive = tarfile.open(fileobj=io.BytesIO(data))
    return archive.extractfile(archive.getmembers()[0]).read()


def _stderr(result) -> str:
    """The stderr of a run given bytes on stdin (so captured as bytes)."""
    return result.stderr.decode()


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        return [line for line in mountinfo if path in line]


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_both_ways(husk_rt, tmp_path, running):
    husk = husk_rt
    husk("run", "-d", "--name", "c", "busybox", "sleep", "300", check=True)
    if not running:
        husk("stop", "-t", "0", "c", check=True)
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_text("deep\n")
    (tmp_path / "one").write_text("one\n")

    husk("cp", str(tmp_path / "tree"), "c:/tmp/", check=True)         # into a directory
    husk("cp", str(tmp_path / "one"), "c:/tmp/renamed", check=True)    # as a new name
    husk("cp", "c:/tmp/tree", str(tmp_path / "back"), check=True)      # out, as a new name
    husk("cp", "c:/etc/passwd", str(tmp_path), check=True)             # out, into a directory
    husk("cp", "c:/tmp/renamed", str(tmp_path / "one"), check=True)    # out, over a file
    husk("cp", "c:/tmp/tree/.", str(tmp_path / "contents"), check=True)  # a directory's contents
    husk("cp", str(tmp_path / "tree" / "."), "c:/tmp/tree2", check=True)

    assert (tmp_path / "back" / "sub" / "f").read_text() == "deep\n"
    assert (tmp_path / "contents" / "sub" / "f").read_text() == "deep\n"
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0:")
    assert (tmp_path / "one").read_text() == "one\n"
    listing = tarfile.open(fileobj=io.BytesIO(husk("cp", "c:/tmp", "-", input=b"").stdout)).getnames()
    assert {"tmp/tree/sub/f", "tmp/renamed", "tmp/tree2/sub/f"} <= set(listing)
    if running:
        assert husk("exec", "c", "cat", "/tmp/tree/sub/f", check=True).stdout == "deep\n"
        assert husk("exec", "c", "stat", "-c", "%u:%g", "/tmp/renamed", check=True).stdout == "0:0\n"
    else:
        assert husk("inspect", "--format", "{{.State.Status}}", "c", check=True).stdout.strip() == "exited"
        assert husk("mount").stdout == ""  # mounted for the copy only
        assert _mounts_under(husk.root) == []


def test_cp_stdin_stdout_and_ownership(husk, tmp_path):
    husk("create", "--name", "c", "busybox", "true", check=True)
    data = build_tar(_file("a/b.txt", b"bee\n", uid=1234, gid=4321, mode=0o640), _file(".wh.kept", b"w\n"))
    result = husk("cp", "-", "c:/tmp", input=data)
    assert result.returncode == 0, _stderr(result)
    out = tarfile.open(fileobj=io.BytesIO(husk("cp", "c:/tmp/a/b.txt", "-", input=b"").stdout))
    member = out.getmembers()[0]
    assert (member.name, member.uid, member.gid, member.mode) == ("b.txt", 0, 0, 0o640)  # --archive: root
    assert out.extractfile(member).read() == b"bee\n"
    assert husk("cp", "c:/tmp/.wh.kept", str(tmp_path / "w")).returncode == 0  # no whiteout in cp
    assert husk("cp", "--archive=false", "-", "c:/tmp", input=data).returncode == 0
    member = tarfile.open(fileobj=io.BytesIO(husk("cp", "c:/tmp/a/b.txt", "-", input=b"").stdout)).getmembers()[0]
    assert (member.uid, member.gid) == (1234, 4321)


def test_cp_errors_are_one_line(husk, tmp_path):
    husk("create", "--name", "c", "busybox", "true", check=True)
    cases = [
        (("cp", "c:/no/such", str(tmp_path / "x")), "Error: /no/such: no such file or directory"),
        (("cp", "nosuch:/etc", str(tmp_path)), "Error: no container with name or ID \"nosuch\" found: no such container"),
        (("cp", str(tmp_path / "missing"), "c:/tmp"), f"Error: {tmp_path}/missing: no such file or directory"),
        (("cp", "a", "b"), "Error: invalid arguments a, b: one of them must be CONTAINER:PATH"),
        (("cp", "c:/no/such", "c:/tmp"), "Error: /no/such: no such file or directory"),
        (("cp", "-", "c:/etc/passwd"), "Error: extraction point is not a directory: /etc/passwd"),
    ]
    for args, line in cases:
        result = husk(*args, input=b"")
        assert result.returncode == 125, (args, _stderr(result))
        assert _stderr(result).strip().splitlines() == [line], (args, _stderr(result))


def test_cp_follows_symlinks_only_inside_the_root(husk, tmp_path):
    """A link to / or to ../../.. inside the container means the container's
    root; copying through it never reads or writes the host's files."""
    husk("create", "--name", "c", "busybox", "true", check=True)
    links = build_tar(_link("tmp/up", "../../../../../../"), _link("tmp/abs", "/etc"),
                 _link("tmp/hostpw", "/../../../../etc/passwd"))
    assert husk("cp", "-", "c:/", input=links).returncode == 0
    # reading through the links gets the container's files
    content = _only_file(husk("cp", "-L", "c:/tmp/hostpw", "-", input=b"").stdout)
    assert content == _only_file(husk("cp", "c:/etc/passwd", "-", input=b"").stdout)
    with open("/etc/passwd", "rb") as host:
        assert content != host.read()
    listed = tarfile.open(fileobj=io.BytesIO(husk("cp", "c:/tmp/up/etc", "-", input=b"").stdout)).getnames()
    assert "etc/passwd" in listed and "etc/shadow" not in listed  # busybox has no shadow; the host has
    # writing through them lands in the container's root
    marker = f"husk-cp-escape-{os.getpid()}"
    result = husk("cp", "-", "c:/tmp/up/tmp", input=build_tar(_file(marker, b"x")))
    assert result.returncode == 0, _stderr(result)
    assert not os.path.exists(f"/tmp/{marker}")
    assert husk("cp", f"c:/tmp/{marker}", "-", input=b"").returncode == 0


def _device(name: str) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0  # the host's first disk
    return info, None


MALICIOUS = {
    "dotdot": lambda marker: [_file(f"../../../../../../tmp/{marker}", b"x")],
    "absolute": lambda marker: [_file(f"/tmp/{marker}", b"x")],
    "symlink-then-write": lambda marker: [_link("escape", "/../../../../../../tmp"),
                                          _file(f"escape/{marker}", b"x")],
    "hardlink-out": lambda marker: [_link(marker, "../../../../etc/passwd", tarfile.LNKTYPE)],
    "device": lambda marker: [_device(marker)],
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_cp_malicious_tars_stay_inside_the_root(husk, kind):
    husk("create", "--name", "c", "busybox", "true", check=True)
    marker = f"husk-cp-{kind}-{os.getpid()}"
    members = MALICIOUS[kind](marker)
    with open("/etc/passwd", "rb") as host:
        host_passwd = host.read()
    result = husk("cp", "-", "c:/tmp", input=build_tar(*members))
    assert not os.path.exists(f"/tmp/{marker}")
    with open("/etc/passwd", "rb") as host:
        assert host.read() == host_passwd
    if kind != "absolute":  # below the archive's own symlink: refused, as a copy is staged before it lands
        assert result.returncode == 125
        assert _stderr(result).startswith("Error: invalid archive: ") and _stderr(result).count("\n") == 1
        if kind == "dotdot":
            assert _stderr(result).strip().endswith("escapes the destination directory")
    else:  # a leading "/" is dropped: under the target
        assert result.returncode == 0, _stderr(result)
        found = husk("cp", f"c:/tmp/tmp/{marker}", "-", input=b"")
        assert found.returncode == 0, _stderr(found)
    assert husk("mount").stdout == ""  # unmounted again
    assert _mounts_under(husk.root) == []


def test_cp_bind_mounted_files_come_from_their_source(husk, tmp_path):
    (tmp_path / "vol").mkdir()
    husk("run", "-d", "--name", "c", "-v", f"{tmp_path / 'vol'}:/data", "busybox", "sleep", "300", check=True)
    (tmp_path / "in").write_text("to the volume\n")
    husk("cp", str(tmp_path / "in"), "c:/data/", check=True)
    assert (tmp_path / "vol" / "in").read_text() == "to the volume\n"
    assert husk("exec", "c", "cat", "/data/in", check=True).stdout == "to the volume\n"
    husk("cp", "c:/etc/hostname", str(tmp_path / "hostname"), check=True)
    assert (tmp_path / "hostname").read_text() == husk("exec", "c", "cat", "/etc/hostname", check=True).stdout


def test_cp_between_containers_and_within_one(husk_rt):
    """podman 4's container-to-container copy: the rules of a copy into a container."""
    husk_rt("run", "-d", "--name", "a", "busybox", "sh", "-c",
            "mkdir -p /d/sub && echo one > /d/f && echo two > /d/sub/g && touch /ready && sleep 1000", check=True)
    husk_rt("create", "--name", "b", "--user", "65534", "busybox", "true", check=True)  # stopped: copied all the same
    for _ in range(600):
        if husk_rt("exec", "a", "test", "-e", "/ready").returncode == 0:
            break
    husk_rt("cp", "a:/d", "b:/tmp/", check=True)  # into a directory: under its own name
    husk_rt("cp", "a:/d/f", "b:/tmp/renamed", check=True)  # a new name
    husk_rt("cp", "a:/d/.", "b:/", check=True)  # a directory's contents
    husk_rt("cp", "a:/d/sub", "a:/d/again", check=True)  # within one container
    listing = husk_rt("cp", "b:/tmp", "-", check=True, input=b"")
    with tarfile.open(fileobj=io.BytesIO(listing.stdout)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["tmp", "tmp/d", "tmp/d/f", "tmp/d/sub", "tmp/d/sub/g", "tmp/renamed"]
    assert members["tmp/renamed"].uid == 65534  # archive mode: the destination container's user owns them
    assert husk_rt("cp", "b:/sub/g", "-", check=True, input=b"").returncode == 0
    assert husk_rt("exec", "a", "cat", "/d/again/g", check=True).stdout == "two\n"
    husk_rt("rm", "-f", "-t", "0", "a", "b", check=True)
