"""The archive and export routes with real clients: the docker CLI (`docker cp`,
`docker export`), the docker SDK, podman-py, and raw HTTP for malicious and
broken archives, which must get a 400 and leave nothing outside the root."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import pytest

from husk.testing import UnixHTTP, build_tar, needs_docker_cli


def _member(name: str, data: bytes | None = b"", kind=tarfile.REGTYPE, linkname: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, data if kind == tarfile.REGTYPE else None


def _run(api, *command: str, name: str = "c") -> str:
    created = api.request("POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": list(command)})
    assert created[0] == 201, created
    assert api.request("POST", f"/containers/{name}/start")[0] == 204
    return created[2]["Id"]


def _files(data: bytes) -> dict[str, bytes]:
    archive = tarfile.open(fileobj=io.BytesIO(data))
    return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        return [line for line in mountinfo if path in line]


# -- the docker CLI -------------------------------------------------------------------------
@needs_docker_cli
def test_docker_cp_both_ways_and_export(api, tmp_path):
    _run(api, "sleep", "300")
    hostname = api.request("GET", "/containers/c/json")[2]["Config"]["Hostname"]
    out = api.docker("cp", "c:/etc/hostname", str(tmp_path / "x"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "x").read_text() == hostname + "\n"

    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "f").write_text("in a dir\n")
    out = api.docker("cp", str(tmp_path / "dir"), "c:/tmp/")
    assert out.returncode == 0, out.stderr
    assert api.docker("exec", "c", "cat", "/tmp/dir/sub/f").stdout == b"in a dir\n"

    out = api.docker("cp", "-", "c:/tmp", input=build_tar(_member("from-stdin", b"piped\n")))
    assert out.returncode == 0, out.stderr
    assert api.docker("exec", "c", "cat", "/tmp/from-stdin").stdout == b"piped\n"

    out = api.docker("cp", "c:/etc", "-")
    assert out.returncode == 0, out.stderr
    assert _files(out.stdout)["etc/passwd"].startswith(b"root:x:0:0:")

    out = api.docker("export", "c")
    assert out.returncode == 0, out.stderr
    exported = _files(out.stdout)
    assert exported["tmp/dir/sub/f"] == b"in a dir\n" and exported["etc/group"].startswith(b"root:x:0:")


@needs_docker_cli
def test_docker_cp_errors(api_crun, tmp_path):
    _run(api_crun, "sleep", "300")
    missing = api_crun.docker("cp", "c:/no/such", str(tmp_path / "x"))
    assert missing.returncode == 1 and b"no such file or directory" in missing.stderr
    unknown = api_crun.docker("cp", "nosuch:/etc", str(tmp_path / "x"))
    assert unknown.returncode == 1 and b"nosuch" in unknown.stderr
    corrupt = api_crun.docker("cp", "-", "c:/tmp", input=b"not a tar" * 200)
    assert corrupt.returncode == 1 and b"invalid archive" in corrupt.stderr
    assert api_crun.request("GET", "/_ping")[0] == 200


# -- the docker SDK ---------------------------------------------------------------------------
@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_docker_sdk_archives_and_export(api, running):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    container = client.containers.run("busybox", ["sleep", "300"], detach=True)
    if not running:
        container.stop(timeout=0)
    assert container.put_archive("/tmp", build_tar(_member("sdk/put.txt", b"from the sdk\n")))
    chunks, stat = container.get_archive("/tmp/sdk")
    assert stat["name"] == "sdk" and stat["mode"] & (1 << 31)  # Go's os.ModeDir
    assert _files(b"".join(chunks)) == {"sdk/put.txt": b"from the sdk\n"}
    chunks, stat = container.get_archive("/bin/sh")
    assert stat["linkTarget"] == "/bin/busybox" and stat["mode"] & (1 << 27)  # os.ModeSymlink
    exported = _files(b"".join(container.export()))
    assert exported["tmp/sdk/put.txt"] == b"from the sdk\n"
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/no/such")
    with pytest.raises(docker.errors.APIError) as failure:
        container.put_archive("/tmp", b"\x00garbage" * 100)
    assert failure.value.status_code == 400
    if not running:
        assert _mounts_under(api.env.root) == []  # mounted for each call only


# -- podman-py ------------------------------------------------------------------------------
def test_podman_py_archives_and_export(api):
    podman = pytest.importorskip("podman", reason="podman-py is in the test extra")
    client = podman.PodmanClient(base_url=f"unix://{api.socket_path}", timeout=120)
    _run(api, "sleep", "300")
    container = client.containers.get("c")
    assert container.put_archive("/tmp", build_tar(_member("podman.txt", b"from podman-py\n")))
    chunks, stat = container.get_archive("/tmp/podman.txt")
    assert stat["name"] == "podman.txt" and stat["size"] == len(b"from podman-py\n")
    assert _files(b"".join(chunks)) == {"podman.txt": b"from podman-py\n"}
    assert _files(b"".join(container.export()))["tmp/podman.txt"] == b"from podman-py\n"
    assert not container.put_archive("/no/such/dir", build_tar(_member("x", b"x")))


# -- raw HTTP ---------------------------------------------------------------------------------
def test_head_reports_the_stat_and_404s(api_crun):
    _run(api_crun, "sleep", "300")
    status, response, body = api_crun.request("HEAD", "/v1.41/containers/c/archive?path=/etc/passwd")
    assert status == 200 and body == b""
    stat = json.loads(base64.b64decode(response.getheader("X-Docker-Container-Path-Stat")))
    assert stat["name"] == "passwd" and stat["mode"] == 0o644 and stat["linkTarget"] == ""
    assert stat["mtime"].endswith("Z") and stat["size"] > 0
    assert api_crun.request("HEAD", "/containers/c/archive?path=/no/such")[0] == 404
    for method, path in (("HEAD", "/containers/nosuch/archive?path=/"), ("GET", "/containers/nosuch/archive?path=/"),
                         ("PUT", "/containers/nosuch/archive?path=/"), ("GET", "/containers/nosuch/export"),
                         ("GET", "/v4.0.0/libpod/containers/nosuch/export")):
        status, _, body = api_crun.request(method, path, body=b"" if method == "PUT" else None)
        assert status == 404, (method, path, status)
        if method != "HEAD":
            assert "nosuch" in body["message"]
    status, _, body = api_crun.request("GET", "/containers/c/archive")
    assert status == 400 and body["message"].startswith("path is required")
    status, _, body = api_crun.request("PUT", "/containers/c/archive?path=/no/dir", body=build_tar(_member("x", b"x")))
    assert status == 404 and "/no/dir" in body["message"]
    status, _, body = api_crun.request("PUT", "/containers/c/archive?path=/etc/passwd", body=build_tar(_member("x")))
    assert status == 400 and body["message"] == "extraction point is not a directory: /etc/passwd"


def test_put_streams_a_chunked_body(api_crun):
    _run(api_crun, "sleep", "300")
    big = os.urandom(3 << 20)
    archive = build_tar(_member("big.bin", big))
    conn = UnixHTTP(api_crun.socket_path)
    try:
        conn.request("PUT", "/containers/c/archive?path=/tmp",
                     body=(archive[i:i + 100_000] for i in range(0, len(archive), 100_000)),
                     headers={"Content-Type": "application/x-tar"}, encode_chunked=True)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    status, _, body = api_crun.request("GET", "/containers/c/archive?path=/tmp/big.bin")
    assert status == 200 and _files(body) == {"big.bin": big}


MALICIOUS = {
    "dotdot": lambda marker: [_member(f"../../../../../../../tmp/{marker}", b"x")],
    "symlink-then-write": lambda marker: [_member("out", kind=tarfile.SYMTYPE, linkname="/../../../../../../tmp"),
                                          _member(f"out/{marker}", b"x")],
    "hardlink-out": lambda marker: [_member(marker, kind=tarfile.LNKTYPE, linkname="../../../../../etc/passwd")],
    "device": lambda marker: [_member(marker, kind=tarfile.CHRTYPE)],
    "truncated": lambda marker: [_member(marker, b"x" * 100_000)],
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_put_is_refused_or_stays_inside(api_crun, kind):
    created = api_crun.request("POST", "/containers/create?name=c", {"Image": "busybox", "Cmd": ["true"]})
    assert created[0] == 201
    marker = f"husk-api-cp-{kind}-{os.getpid()}"
    archive = build_tar(*MALICIOUS[kind](marker))
    if kind == "truncated":
        archive = archive[:20_000]
    with open("/etc/passwd", "rb") as host:
        host_passwd = host.read()
    status, _, body = api_crun.request("PUT", "/v1.41/containers/c/archive?path=/tmp", body=archive)
    assert not os.path.exists(f"/tmp/{marker}")
    with open("/etc/passwd", "rb") as host:
        assert host.read() == host_passwd
    assert status == 400 and body["message"].startswith("invalid archive: "), body
    assert api_crun.request("GET", "/containers/json?all=1")[0] == 200  # still serving
    assert _mounts_under(api_crun.env.root) == []  # the created container's rootfs was unmounted


def test_a_path_through_a_symlink_stays_inside_the_root(api_crun):
    _run(api_crun, "sleep", "300")
    links = build_tar(_member("up", kind=tarfile.SYMTYPE, linkname="../../../../../../../.."),
                 _member("pw", kind=tarfile.SYMTYPE, linkname="/../../../etc/passwd"))
    assert api_crun.request("PUT", "/containers/c/archive?path=/tmp", body=links)[0] == 200
    status, response, _ = api_crun.request("HEAD", "/containers/c/archive?path=/tmp/pw")
    stat = json.loads(base64.b64decode(response.getheader("X-Docker-Container-Path-Stat")))
    assert status == 200 and stat["linkTarget"] == "/etc/passwd"
    container_passwd = _files(api_crun.request("GET", "/containers/c/archive?path=/etc/passwd")[2])["passwd"]
    status, _, body = api_crun.request("GET", "/containers/c/archive?path=/tmp/up/etc/passwd")
    assert status == 200 and _files(body) == {"passwd": container_passwd}
    with open("/etc/passwd", "rb") as host:
        assert host.read() != container_passwd
    assert api_crun.request("GET", "/containers/c/archive?path=/tmp/up/etc/shadow")[0] == 404  # the host has one


def test_libpod_archive_routes(api_crun):
    _run(api_crun, "sleep", "300")
    prefix = "/v4.0.0/libpod/containers/c"
    status, _, body = api_crun.request("PUT", f"{prefix}/archive?path=/tmp",
                                       body=build_tar(_member("lp.txt", b"libpod\n")))
    assert status == 200, body
    status, response, body = api_crun.request("GET", f"{prefix}/archive?path=/tmp/lp.txt")
    assert status == 200 and _files(body) == {"lp.txt": b"libpod\n"}
    assert response.getheader("X-Docker-Container-Path-Stat")
    status, _, body = api_crun.request("GET", f"{prefix}/export")
    assert status == 200 and _files(body)["tmp/lp.txt"] == b"libpod\n"


def test_a_client_leaving_an_export_frees_the_container(api_crun):
    _run(api_crun, "sleep", "300")
    big = build_tar(_member("big", bytes(32 << 20)))  # far more than the socket buffers hold
    assert api_crun.request("PUT", "/containers/c/archive?path=/tmp", body=big)[0] == 200
    conn = UnixHTTP(api_crun.socket_path)
    conn.request("GET", "/containers/c/export")
    response = conn.getresponse()
    assert response.status == 200
    response.read(1000)
    conn.close()  # gone mid-stream: the export's lock must be released, or stop would wait for it
    assert api_crun.request("POST", "/containers/c/stop?t=0")[0] == 204
