"""The libpod API with podman-py (the `podman` package): the client podman's
users script against, through its own request code."""

from __future__ import annotations

import pytest


podman = pytest.importorskip("podman", reason="podman-py is in the test extra")


def _client(service):
    return podman.PodmanClient(base_url=f"unix://{service.socket_path}")


def test_podman_py_runs_waits_reads_logs_and_removes(api):
    client = _client(api)
    assert client.ping() is True
    served = client.version()  # the engine component named as podman's client looks it up
    assert (served["Platform"]["Name"], served["Components"][0]["Name"]) == ("husk", "Podman Engine")
    assert served["Components"][0]["Details"]["APIVersion"] == "4.3.1"
    assert "host" in client.info() or client.info()
    container = client.containers.create("busybox", ["sh", "-c", "echo one; echo two >&2; exit 3"],
                                         name="pp", environment={"X": "1"}, labels={"k": "v"})
    assert container.name == "pp"
    assert container.status == "created"
    assert container.labels == {"k": "v"}
    container.start()
    assert container.wait() == 3
    container.reload()
    assert container.status in ("stopped", "exited")  # "stopped" until the cleanup has run
    assert b"".join(container.logs(stderr=False)) == b"one\n"
    assert b"".join(container.logs(stdout=False)) == b"two\n"
    assert client.containers.exists("pp") is True
    assert [c.name for c in client.containers.list(all=True)] == ["pp"]
    assert client.containers.list() == []
    container.remove()
    assert client.containers.exists("pp") is False
    with pytest.raises(podman.errors.NotFound):
        client.containers.get("pp")


def test_podman_py_stop_kill_and_list_running(api_crun):
    client = _client(api_crun)
    container = client.containers.create(
        "busybox", ["sh", "-c", "trap 'exit 9' TERM; while true; do sleep 0.1; done"], name="long")
    container.start()
    assert [c.id for c in client.containers.list()] == [container.id]
    assert [c.id for c in client.containers.list(filters={"status": "running"})] == [container.id]
    container.stop(timeout=0)
    assert container.wait() == 137
    container.start()
    container.kill(signal="TERM")
    assert container.wait() == 9
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 9
    container.remove(force=True)
    assert client.containers.list(all=True) == []


def test_podman_py_exec_run(api):
    client = _client(api)
    container = client.containers.create("busybox", ["sleep", "300"], name="ex")
    container.start()
    # without demux podman-py hands back the body as it came: multiplexed frames, as from podman
    framed = container.exec_run(["sh", "-c", "echo $X; exit 4"], environment={"X": "hi"})
    assert framed == (4, b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n")
    code, (out, err) = container.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    assert container.exec_run(["echo", "t"], tty=True) == (0, b"t\r\n")
    container.remove(force=True)


def test_podman_py_images(api_crun):
    client = _client(api_crun)
    images = client.images.list()
    assert [image.tags for image in images] == [["localhost/busybox:latest"]]
    assert client.images.exists("busybox") is True
    assert client.images.exists("nope") is False


def test_libpod_errors_are_json(api_crun):
    for method, path, body, status in [
        ("GET", "/v4.0.0/libpod/containers/nope/json", None, 404),
        ("GET", "/v4.0.0/libpod/containers/nope/exists", None, 404),
        ("POST", "/v4.0.0/libpod/containers/create", {"image": "busybox", "command": "x"}, 400),
        ("POST", "/v4.0.0/libpod/containers/create", {"image": "no-such"}, 404),
        ("POST", "/v4.0.0/libpod/containers/nope/wait?condition=bogus", None, 400),
    ]:
        got, _, document = api_crun.request(method, path, body)
        assert got == status, (path, document)
        assert document["message"]
    status, response, _ = api_crun.request("GET", "/v4.0.0/libpod/_ping")
    assert status == 200 and response.getheader("Libpod-API-Version")
