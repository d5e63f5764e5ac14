"""The libpod container routes beyond the basics, through podman-py: restart,
pause/unpause (really frozen), init, resize, attach, events, and CRIU
checkpoint/restore with the archive streamed both ways (runc: crun here is
built without CRIU).  podman-py 5.8 has no checkpoint/restore methods and its
attach raises NotImplementedError, so those go through its own low-level
client (`client.api`) or a raw socket."""

from __future__ import annotations

import json
import os
import socket
import struct
import tarfile
import time

import pytest

podman = pytest.importorskip("podman", reason="podman-py is in the test extra")

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"
LIBPOD = "/v4.0.0/libpod"


def _client(service):
    return podman.PodmanClient(base_url=f"unix://{service.socket_path}", timeout=120)  # a hang fails, not stalls


def _counts(container) -> list[int]:
    return [int(x) for x in b"".join(container.logs(stderr=False)).split()]


def _last(container) -> int:
    counts = _counts(container)
    return counts[-1] if counts else 0


def _wait_above(container, value: int, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    while (last := _last(container)) <= value:
        assert time.monotonic() < deadline, f"the counter is stuck at {last}"
        time.sleep(0.1)
    return last


def _counter(client, name: str):
    container = client.containers.create("busybox", ["sh", "-c", COUNTER], name=name)
    container.start()
    _wait_above(container, 3)
    return container


def test_init_pause_unpause_restart(api):
    client = _client(api)
    container = client.containers.create("busybox", ["sh", "-c", COUNTER], name="c")
    assert container.status == "created"
    container.init()
    container.reload()
    assert container.status == "initialized"  # podman's name for created in the runtime
    status, _, _ = api.request("POST", f"{LIBPOD}/containers/c/init")
    assert status == 304  # already initialised, as podman answers
    container.start()
    _wait_above(container, 3)

    container.pause()
    container.reload()
    assert container.status == "paused"
    frozen = _last(container)
    time.sleep(0.6)
    assert _last(container) == frozen, "the counter advanced while paused"
    with pytest.raises(podman.errors.APIError) as excinfo:
        container.pause()
    assert excinfo.value.status_code == 409
    container.unpause()
    container.reload()
    assert container.status == "running"
    _wait_above(container, frozen + 2)

    container.restart(timeout=0)
    container.reload()
    assert container.status == "running"
    deadline = time.monotonic() + 60
    while _counts(container).count(1) < 2:  # the counter began again from 1
        assert time.monotonic() < deadline, "the restarted container did not count again"
        time.sleep(0.1)
    container.remove(force=True)


def test_errors_unknown_and_wrong_state(api_crun):
    client = _client(api_crun)
    for method, path in [("POST", "/containers/nope/restart"), ("POST", "/containers/nope/pause"),
                         ("POST", "/containers/nope/unpause"), ("POST", "/containers/nope/init"),
                         ("POST", "/containers/nope/checkpoint"), ("POST", "/containers/nope/restore"),
                         ("POST", "/containers/nope/resize?h=10&w=10"),
                         ("POST", "/containers/nope/attach?stream=1&stdout=1")]:
        status, _, document = api_crun.request(method, LIBPOD + path)
        assert status == 404, (path, document)
        assert "nope" in document["message"]
    stopped = client.containers.create("busybox", ["true"], name="stopped")
    stopped.start()
    assert stopped.wait() == 0
    for action in (stopped.pause, stopped.unpause):
        with pytest.raises(podman.errors.APIError) as excinfo:
            action()
        assert excinfo.value.status_code == 409, action
        assert "state improper" in excinfo.value.explanation
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/stopped/restore")
    assert status == 409 and "a complete checkpoint for this container cannot be found" in document["message"]
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/stopped/checkpoint")
    assert status == 409 and "not running" in document["message"]
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/stopped/checkpoint?export=maybe")
    assert status == 400 and "export" in document["message"]
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/stopped/restore?name=x")
    assert status == 400 and "import" in document["message"]
    running = _counter(client, "running")
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/running/checkpoint")
    assert status == 400 and "crun" in document["message"]  # this crun is built without CRIU
    running.reload()
    assert running.status == "running"  # the refusal changed nothing
    running.remove(force=True)


def test_resize_reaches_the_terminal(api_crun):
    client = _client(api_crun)
    container = client.containers.create(
        "busybox", ["sh", "-c", "trap 'stty size' WINCH; echo ready; while :; do sleep 0.1; done"],
        name="tty", tty=True)
    container.start()
    deadline = time.monotonic() + 60
    # a TTY's log is raw bytes, which podman-py's logs() would parse as frames: the CLI reads it
    while "ready" not in (out := api_crun.env("logs", "tty", check=True).stdout):
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    container.resize(height=33, width=111)
    while "33 111" not in (out := api_crun.env("logs", "tty", check=True).stdout):
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    container.remove(force=True)


def _attach(service, path: str) -> tuple[bytes, bytes]:
    """(head, body) of a hijacked attach read to the end."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(service.socket_path)
    sock.settimeout(10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_attach_replays_and_streams_framed(api_crun):
    client = _client(api_crun)
    container = client.containers.create("busybox", ["sh", "-c", "echo out; echo err >&2"], name="a")
    container.start()
    assert container.wait() == 0
    head, body = _attach(api_crun, f"{LIBPOD}/containers/a/attach?logs=1&stream=0&stdout=1&stderr=1")
    assert head.startswith(b"HTTP/1.1 101")
    frames = []
    while body:
        kind, size = struct.unpack(">BxxxL", body[:8])
        frames.append((kind, body[8:8 + size]))
        body = body[8 + size:]
    assert sorted(frames) == [(1, b"out\n"), (2, b"err\n")]


def test_events_through_podman_py(api_crun):
    client = _client(api_crun)
    since = int(time.time()) - 1
    container = client.containers.create("busybox", ["true"], name="ev")
    container.start()
    container.wait()
    until = int(time.time()) + 1
    events = [e for e in client.events(since=since, until=until, decode=True)
              if e["Actor"]["Attributes"].get("name") == "ev"]
    actions = [e["Action"] for e in events]
    assert actions.index("create") < actions.index("init") < actions.index("start"), actions
    assert all(e["Type"] == "container" and e["id"] == container.id for e in events)
    # stream=false ends with what has been recorded (no until needed)
    response = client.api.get("/events", params={"stream": False}, timeout=10)
    assert response.status_code == 200
    assert "create" in [json.loads(line)["Action"] for line in response.text.splitlines()]


# -- checkpoint / restore (runc with CRIU) ------------------------------------------------
def _continues(container, was: int) -> None:
    """Counting goes on from about `was` (memory kept), not from 1 again."""
    _wait_above(container, was + 3)
    counts = _counts(container)
    assert counts.count(1) == 1, "the counter restarted"
    # the line in flight at the checkpoint may be lost or repeated; nothing else
    after = counts[len(counts) - 1 - counts[::-1].index(was) + 1:]
    assert was <= after[0] <= was + 2, f"the counter went from {was} to {after[0]}"
    assert after == list(range(after[0], after[0] + len(after))), "the counter skipped or repeated"


def test_checkpoint_and_restore_in_place(api_runc):
    client = _client(api_runc)
    container = _counter(client, "count")
    response = client.api.post(f"/containers/{container.id}/checkpoint", params={"printStats": True})
    report = response.json()
    assert report["Id"] == container.id and report["runtime_checkpoint_duration"] > 0
    container.reload()
    assert container.status == "exited"
    was = _last(container)
    time.sleep(0.5)
    assert _last(container) == was
    report = client.api.post(f"/containers/{container.id}/restore").json()
    assert report["Id"] == container.id and report["runtime_restore_duration"] > 0
    container.reload()
    assert container.status == "running"
    _continues(container, was)
    # a second restore of a running container is a wrong state
    with pytest.raises(podman.errors.APIError) as excinfo:
        client.api.post(f"/containers/{container.id}/restore").raise_for_status()
    assert excinfo.value.status_code == 409
    container.remove(force=True)


def test_export_then_import_as_a_new_container(api_runc, tmp_path):
    client = _client(api_runc)
    container = _counter(client, "orig")
    response = client.api.post(f"/containers/{container.id}/checkpoint",
                               params={"export": True, "leaveRunning": True}, stream=True)
    assert response.status_code == 200
    archive = tmp_path / "checkpoint.tar"
    with open(archive, "wb") as out:
        for chunk in response.iter_content(1 << 16):
            out.write(chunk)
    assert archive.stat().st_size > 0
    container.reload()
    assert container.status == "running"  # leaveRunning
    with open(archive, "rb") as body:
        response = client.api.post("/containers/import/restore", params={"import": True, "name": "copy"},
                                   data=body)
    assert response.status_code == 200, response.text
    copy = client.containers.get("copy")
    assert response.json()["Id"] == copy.id != container.id
    assert copy.status == "running"
    with tarfile.open(archive) as tar:  # the log as it was at the checkpoint (k8s-file lines)
        was = int(tar.extractfile("container.log").read().split()[-1])
    _continues(copy, was)  # it went on from the checkpoint, not from 1
    # the path without a placeholder name, from the same archive
    with open(archive, "rb") as body:
        response = client.api.post("/containers/restore", params={"import": True, "name": "copy2"}, data=body)
    assert response.status_code == 200, response.text
    assert client.containers.get("copy2").status == "running"
    # the same name twice is refused, and nothing is left of the attempt
    with open(archive, "rb") as body:
        response = client.api.post("/containers/restore", params={"import": True, "name": "copy"}, data=body)
    assert response.status_code == 409 and response.json()["message"]
    assert sorted(c.name for c in client.containers.list(all=True)) == ["copy", "copy2", "orig"]
    for c in client.containers.list(all=True):
        c.remove(force=True)


@pytest.mark.parametrize("body", [b"", b"not a tar at all" * 100, b"\x1f\x8b garbage gzip"])
def test_restore_of_a_garbage_archive(api_runc, body):
    client = _client(api_runc)
    keep = client.containers.create("busybox", ["true"], name="keep")
    status, _, document = api_runc.request("POST", f"{LIBPOD}/containers/restore?import=true&name=bad", body=body,
                                           headers={"Content-Type": "application/x-tar"})
    assert status == 400, document
    assert "checkpoint archive" in document["message"]
    assert [c.name for c in client.containers.list(all=True)] == ["keep"]  # store intact
    assert api_runc.env("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split() == ["keep"]
    assert not [name for name in os.listdir(api_runc.env.root) if name.startswith(".restore-")]
    keep.remove()
    assert client.ping() is True


def test_prune_through_podman_py(api_crun):
    client = _client(api_crun)
    done = client.containers.create("busybox", ["true"], name="done", labels={"k": "v"})
    done.start()
    done.wait()
    other = client.containers.create("busybox", ["true"], name="other")
    running = _counter(client, "running")
    assert client.containers.prune(filters={"label": "k=v"}) == {"ContainersDeleted": [done.id],
                                                                   "SpaceReclaimed": 0}
    result = client.containers.prune()
    assert result["ContainersDeleted"] == [other.id]
    assert [c.name for c in client.containers.list(all=True)] == ["running"]
    status, _, document = api_crun.request("POST", f"{LIBPOD}/containers/prune?filters=%7B%22name%22%3A%5B%22x%22%5D%7D")
    assert status == 400 and "invalid filter" in document["message"]
    running.remove(force=True)
