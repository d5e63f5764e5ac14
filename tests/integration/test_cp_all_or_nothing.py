"""A copy into a container is all or nothing (issue 10 item 11): an archive
that fails part way (a hardlink to a member it never had, a file under the
archive's own symlink, a directory it implies over a file) is refused with
one line, exit 125 or HTTP 400, and leaves nothing of itself in the container,
not even the members before the failure; a good archive lands whole,
replacing and merging as unpacking in place did."""

from __future__ import annotations

import io
import tarfile

import pytest

from husk.testing import build_tar


def _member(name: str, data: bytes | None = b"x", kind=tarfile.REGTYPE, linkname: str = "", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info, data if kind == tarfile.REGTYPE else None


BAD = {
    "hardlink-to-missing": ([_member("first"), _member("h", kind=tarfile.LNKTYPE, linkname="missing")],
                            "hardlink 'h' -> 'missing'"),
    "file-under-own-symlink": ([_member("first"), _member("s", kind=tarfile.SYMTYPE, linkname="target"),
                                _member("s/f")], "below the archive's own symlink 's'"),
    "implied-dir-over-file": ([_member("first"), _member("existing/f")], "non-directory"),
    "truncated": ([_member("first"), _member("big", b"y" * 100_000)], "invalid archive"),
}


def _tree(husk, path: str = "c:/tmp") -> list[str]:
    out = husk("cp", path, "-", input=b"")
    assert out.returncode == 0, out.stderr
    return sorted(tarfile.open(fileobj=io.BytesIO(out.stdout)).getnames())


def _prepared(husk) -> list[str]:
    husk("create", "--name", "c", "busybox", "true", check=True)
    husk("cp", "-", "c:/tmp", input=build_tar(_member("existing", b"keep"), _member("dir/old", b"old")), check=True)
    return _tree(husk)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_refused_archive_leaves_nothing(husk, kind):
    before = _prepared(husk)
    members, message = BAD[kind]
    archive = build_tar(*members)
    if kind == "truncated":
        archive = archive[:20_000]
    result = husk("cp", "-", "c:/tmp", input=archive)
    stderr = result.stderr.decode()
    assert result.returncode == 125 and stderr.startswith("Error: invalid archive: "), stderr
    assert stderr.count("\n") == 1 and message in stderr, stderr
    assert _tree(husk) == before  # no `first`, no staging directory


def test_a_good_archive_replaces_and_merges(husk):
    _prepared(husk)
    archive = build_tar(_member("existing", b"new"), _member("dir", kind=tarfile.DIRTYPE, mode=0o750),
                        _member("dir/new", b"n"), _member("dir/sub/deep", b"d"),
                        _member("h", kind=tarfile.LNKTYPE, linkname="dir/new"))
    husk("cp", "-", "c:/tmp", input=archive, check=True)
    assert _tree(husk) == ["tmp", "tmp/dir", "tmp/dir/new", "tmp/dir/old", "tmp/dir/sub", "tmp/dir/sub/deep",
                           "tmp/existing", "tmp/h"]
    got = tarfile.open(fileobj=io.BytesIO(husk("cp", "c:/tmp", "-", input=b"").stdout))
    assert got.extractfile("tmp/existing").read() == b"new"
    assert got.getmember("tmp/dir").mode & 0o777 == 0o750
    assert got.getmember("tmp/h").islnk() or got.extractfile("tmp/h").read() == b"n"


def test_api_answers_400_and_leaves_nothing(api_crun):
    assert api_crun.request("POST", "/containers/create?name=c", {"Image": "busybox", "Cmd": ["true"]})[0] == 201
    assert api_crun.request("PUT", "/containers/c/archive?path=/tmp", body=build_tar(_member("keep")))[0] == 200
    for kind in ("hardlink-to-missing", "file-under-own-symlink"):
        members, message = BAD[kind]
        status, _, body = api_crun.request("PUT", "/containers/c/archive?path=/tmp", body=build_tar(*members))
        assert status == 400 and message in body["message"], (status, body)
        assert api_crun.request("HEAD", "/containers/c/archive?path=/tmp/first")[0] == 404
    status, _, listing = api_crun.request("GET", "/containers/c/archive?path=/tmp")
    assert status == 200 and sorted(tarfile.open(fileobj=io.BytesIO(listing)).getnames()) == ["tmp", "tmp/keep"]


def test_an_interrupted_copy_leaves_no_staging_directory(husk):
    """Ctrl-C while `cp -` unpacks: the unpacking child is not killed but refuses the cut
    archive, so its `.husk-cp-*` staging directory does not stay in the destination."""
    import os
    import signal
    import subprocess
    import time

    from husk.testing import HUSK

    husk("run", "-d", "--name", "cpint", "busybox", "sleep", "600", check=True)
    merged = husk("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}", "cpint", check=True).stdout.strip()
    header = tarfile.TarInfo("big")
    header.size = 64 << 20
    copier = subprocess.Popen([HUSK, *husk.global_args, "cp", "-", "cpint:/tmp"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=husk.env())
    try:
        copier.stdin.write(header.tobuf(format=tarfile.GNU_FORMAT) + b"x" * (1 << 20))
        copier.stdin.flush()
        deadline = time.monotonic() + 120
        while not any(name.startswith(".husk-cp-") for name in os.listdir(f"{merged}/tmp")):
            assert time.monotonic() < deadline and copier.poll() is None, "no staging directory appeared"
            time.sleep(0.05)
        copier.send_signal(signal.SIGINT)
        assert copier.wait(timeout=120) != 0
    finally:
        if copier.poll() is None:
            copier.kill()
            copier.wait()
        copier.stdin.close()
        copier.stderr.close()
    assert [name for name in os.listdir(f"{merged}/tmp") if name.startswith(".husk-cp-")] == []
    husk("rm", "-f", "-t", "0", "cpint", check=True)
