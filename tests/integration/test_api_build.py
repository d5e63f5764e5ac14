"""POST /build with real clients: the docker CLI's classic builder and the docker SDK."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time

import pytest

from husk.testing import IMAGE, UnixHTTP, build_tar, needs_docker_cli


def _context_dir(tmp_path, containerfile: str, files: dict | None = None) -> str:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_text(containerfile)
    for name, data in (files or {}).items():
        (root / name).write_text(data)
    return str(root)


@needs_docker_cli
def test_docker_build_with_the_classic_builder(api, tmp_path):
    context = _context_dir(tmp_path, f'FROM {IMAGE}\nARG X=def\nRUN echo "run sees $X"\nCOPY f /f\nCMD ["cat", "/f"]\n'
                                     "HEALTHCHECK CMD true\nEXPOSE 80\n",
                           {"f": "copied\n"})
    env_build = ("build", "--build-arg", "X=given", "-t", "dapp", "--label", "a=b", "--iidfile",
                 str(tmp_path / "iid"), context)
    result = api.docker(*env_build, timeout=120)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "STEP 3/7: RUN echo \"run sees $X\"" in out and "run sees given" in out
    image_id = (tmp_path / "iid").read_text()
    assert f"Successfully built {image_id[7:19]}" in out
    assert api.docker("run", "--rm", "dapp", timeout=60).stdout == b"copied\n"
    config = json.loads(api.docker("image", "inspect", "dapp").stdout)[0]["Config"]
    assert config["Labels"]["a"] == "b"
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"] and config["ExposedPorts"] == {"80/tcp": {}}
    quiet = api.docker("build", "-q", context, timeout=120)
    shown = quiet.stdout.decode().split()
    assert len(shown) == 1 and shown[0].startswith("sha256:") and len(shown[0]) == 71, shown
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN echo boom; exit 4\n")
    failed = api.docker("build", context, timeout=120)
    assert failed.returncode == 4
    assert b"boom" in failed.stdout
    assert b'building at STEP "RUN echo boom; exit 4": while running runtime: exit status 4' in failed.stderr
    assert api.docker("ps", "-aq").stdout == b""


def test_the_docker_sdk_builds(api_crun, tmp_path):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=300)  # a build under load
    try:
        context = _context_dir(tmp_path, f"FROM {IMAGE} AS base\nRUN echo sdk > /s\nFROM base\nCMD [\"cat\", \"/s\"]\n")
        image, logs = client.images.build(path=context, tag="sdk:1", rm=True, forcerm=True)
        assert "sdk:1" in " ".join(image.tags) or "localhost/sdk:1" in image.tags
        assert any("STEP 1/2: RUN" not in (entry.get("stream") or "") for entry in logs)
        assert client.containers.run(image.id, remove=True) == b"sdk\n"
        with pytest.raises(docker.errors.BuildError) as failure:
            client.images.build(fileobj=io.BytesIO(b"FROM " + IMAGE.encode() + b"\nRUN exit 7\n"), rm=True)
        assert "exit status 7" in str(failure.value)
    finally:
        client.close()


def test_a_client_gone_mid_build_cancels_it_and_leaves_nothing(api_crun):
    """The client disconnects while a RUN runs: the build stops, its container is removed."""
    containerfile = f"FROM {IMAGE}\nRUN echo started; sleep 600\n".encode()
    info = tarfile.TarInfo("Dockerfile")
    body = build_tar((info, containerfile))
    conn = UnixHTTP(api_crun.socket_path)
    conn.request("POST", "/v1.41/build", body=body, headers={"Content-Type": "application/x-tar"})
    response = conn.getresponse()
    seen = b""
    while b"started" not in seen:
        line = response.fp.readline()
        assert line, seen
        seen += line
    conn.close()
    deadline = time.monotonic() + 60
    while True:
        status, _, containers = api_crun.request("GET", "/v1.41/containers/json?all=1")
        if status == 200 and containers == []:
            break
        assert time.monotonic() < deadline, containers
        time.sleep(0.2)
    assert not [line for line in open("/proc/self/mountinfo") if os.path.dirname(api_crun.env.root) in line]


def test_a_syntax_error_is_an_error_line(api_crun):
    info = tarfile.TarInfo("Dockerfile")
    status, _, body = api_crun.request("POST", "/v1.41/build", body=build_tar((info, b"FROM x\nNOPE y\n")),
                                       headers={"Content-Type": "application/x-tar"})
    lines = [json.loads(line) for line in body.splitlines()] if isinstance(body, bytes) else [body]
    assert status == 200
    assert lines[-1]["errorDetail"] == {"code": 125, "message": "Dockerfile:2: unknown instruction: NOPE"}


def test_podman_py_builds_through_libpod(api_crun, tmp_path):
    podman = pytest.importorskip("podman")
    client = podman.PodmanClient(base_url=f"unix://{api_crun.socket_path}", timeout=300)  # a build under load
    try:
        context = _context_dir(tmp_path, f"FROM {IMAGE}\nRUN echo libpod > /l\nCMD [\"cat\", \"/l\"]\n")
        image, logs = client.images.build(path=context, tag="localhost/pp:1")
        assert "localhost/pp:1" in image.tags
        assert any(b"STEP 2/3: RUN echo libpod > /l" in line for line in logs)
        assert api_crun.env("run", "--rm", "localhost/pp:1", check=True).stdout == "libpod\n"
    finally:
        client.close()
