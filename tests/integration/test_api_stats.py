"""Stats through the API with real clients: `docker stats --no-stream` (docker CLI 28),
the docker SDK's `container.stats()`, raw streams, and libpod's `/containers/stats`."""

from __future__ import annotations

import json
import re
import time

import pytest

from husk.testing import UnixHTTP, needs_docker_cli

#: a container spinning one CPU
BUSY = ["sh", "-c", "while :; do :; done"]


def _wait_cpu(api, name: str, nanos: int = 200_000_000, timeout: float = 120) -> None:
    """Until the container has used `nanos` of CPU time (so its CPU % is well above zero)."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = api.request("GET", f"/v1.41/containers/{name}/stats?stream=false&one-shot=true")
        assert status == 200, body
        if body["cpu_stats"]["cpu_usage"]["total_usage"] >= nanos:
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


@needs_docker_cli
def test_docker_stats_no_stream_computes_cpu_and_memory(api):
    assert api.docker("run", "-d", "--name", "busy", "--network", "none", "busybox", *BUSY).returncode == 0
    _wait_cpu(api, "busy")
    result = api.docker("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "busy")
    assert result.returncode == 0, result.stderr
    name, cpu, mem, pids = result.stdout.decode().strip().split("|")
    assert name == "busy" and pids == "1"
    assert float(cpu.rstrip("%")) > 0.0, cpu  # docker computes it from precpu_stats: a second's worth
    assert re.fullmatch(r"[\d.]+[KMG]?i?B / [\d.]+[KMGT]iB", mem), mem
    table = api.docker("stats", "--no-stream").stdout.decode().splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "busy" in table[1]


def test_docker_sdk_stats_one_document_and_a_stream(api):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    container = client.containers.run("busybox", ["sleep", "600"], detach=True, name="sdk")
    document = container.stats(stream=False)
    assert document["name"] == "/sdk" and document["id"] == container.id
    assert document["precpu_stats"]["system_cpu_usage"] > 0  # sampled a second before
    assert document["cpu_stats"]["system_cpu_usage"] > document["precpu_stats"]["system_cpu_usage"]
    assert document["cpu_stats"]["online_cpus"] >= 1 and document["pids_stats"]["current"] == 1
    assert document["memory_stats"]["usage"] > 0 and document["memory_stats"]["limit"] > 0
    assert "total_inactive_file" in document["memory_stats"]["stats"] or "inactive_file" in document["memory_stats"]["stats"]
    assert set(document["networks"]) == {"eth0"}  # the container's own network namespace
    assert "io_service_bytes_recursive" in document["blkio_stats"]
    # streamed: one document a second, each carrying the one before as precpu_stats
    stream = container.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    stream.close()
    assert first["preread"] == "0001-01-01T00:00:00Z"
    assert second["preread"] == first["read"]
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    container.remove(force=True)


def test_stats_of_a_stopped_container_and_bad_input(api):
    assert api.request("POST", "/v1.41/containers/create?name=idle", {"Image": "busybox", "Cmd": ["true"]})[0] == 201
    status, _, body = api.request("GET", "/v1.41/containers/idle/stats?stream=false")
    assert status == 200 and body["read"] == "0001-01-01T00:00:00Z" and body["memory_stats"] == {}
    # a stream of a container that is not running: one zero document, then the end
    status, _, body = api.request("GET", "/v1.41/containers/idle/stats")  # one line: parsed whole
    assert status == 200 and body["name"] == "/idle"
    status, _, body = api.request("GET", "/v1.41/containers/idle/stats?stream=true&one-shot=true")
    assert status == 400 and "one-shot" in body["message"]
    assert api.request("GET", "/v1.41/containers/nosuch/stats?stream=false")[0] == 404
    assert api.request("GET", "/v4.0.0/libpod/containers/stats?containers=nosuch&stream=false")[0] == 404
    assert api.request("GET", "/v4.0.0/libpod/containers/stats?interval=0&stream=false")[0] == 400


def test_libpod_stats_reports(api):
    assert api.request("POST", "/v4.0.0/libpod/containers/create",
                       {"image": "busybox", "name": "lp", "command": ["sleep", "600"],
                        "netns": {"nsmode": "none"}})[0] == 201
    assert api.request("POST", "/v4.0.0/libpod/containers/lp/start")[0] == 204
    status, _, body = api.request("GET", "/v4.0.0/libpod/containers/stats?stream=false")
    assert status == 200 and body["Error"] is None, body
    [report] = body["Stats"]
    assert report["Name"] == "lp" and report["PIDs"] == 1 and report["MemUsage"] > 0 and report["MemLimit"] > 0, body
    assert report["CPUNano"] > 0 and report["SystemNano"] > 0, body
    # streamed every interval
    conn = UnixHTTP(api.socket_path)
    try:
        conn.request("GET", "/v4.0.0/libpod/containers/stats?containers=lp&interval=1")
        response = conn.getresponse()
        assert response.status == 200
        reports = [json.loads(response.readline()) for _ in range(2)]
        assert [r["Stats"][0]["Name"] for r in reports] == ["lp", "lp"], reports
        assert reports[1]["Stats"][0]["SystemNano"] > reports[0]["Stats"][0]["SystemNano"], reports
    finally:
        conn.close()
    assert api.request("DELETE", "/v4.0.0/libpod/containers/lp?force=true")[0] == 200


def test_podman_py_stats_and_df(api):
    podman = pytest.importorskip("podman", reason="podman-py is in the test extra")
    client = podman.PodmanClient(base_url=f"unix://{api.socket_path}", timeout=120)
    container = client.containers.create("busybox", ["sleep", "600"], name="ppy", network_mode="none")
    container.start()
    report = json.loads(container.stats(stream=False))
    assert report["Error"] is None and report["Stats"][0]["Name"] == "ppy" and report["Stats"][0]["PIDs"] == 1
    stream = container.stats(stream=True, decode=True)
    assert next(stream)["Stats"][0]["ContainerID"] == container.id
    stream.close()
    usage = client.df()
    assert [image["Repository"] for image in usage["Images"]] == ["localhost/busybox"]
    assert [entry["Names"] for entry in usage["Containers"]] == ["ppy"]
    container.remove(force=True)


def test_clients_that_hang_up_on_streams_leave_no_traceback(api_crun):
    """Clients that reset the connection in the middle of a stats, followed-log
    and events stream: the service's stderr (checked at the fixture's end) stays
    free of tracebacks.  A handler's write to the closing connection raised
    ClientConnectionResetError, which the error middleware passed to aiohttp,
    and aiohttp logged it with a traceback (stats, two hang-ups in five)."""
    import socket
    import struct

    status, _, body = api_crun.request("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["sh", "-c", "while :; do echo chatter; sleep 0.01; done"]})  # not a busy loop
    assert status == 201, body
    cid = body["Id"]
    assert api_crun.request("POST", f"/containers/{cid}/start")[0] == 204
    for path in (f"/containers/{cid}/stats", f"/containers/{cid}/logs?follow=1&stdout=1", "/events"):
        for _ in range(6):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(60)
                sock.connect(api_crun.socket_path)
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
                assert sock.recv(4096).startswith(b"HTTP/1.1 200"), path
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
    assert api_crun.request("POST", f"/containers/{cid}/kill")[0] == 204
