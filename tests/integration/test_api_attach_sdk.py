"""The docker SDK's attach: `container.attach(stream=True)` and `attach_socket`.

docker-py reads the 101's headers through a buffered file, then the stream
from the raw socket beneath it: bytes that arrive in the same read as the
headers stay in that buffer and are lost.  A replayed log comes right after
the 101, so these tests repeat the attach to catch it (before the service
waited for the headers to be read, most attempts lost lines).
"""

from __future__ import annotations

import socket
import struct
import time

import docker
import pytest


@pytest.fixture
def client(api_crun):
    sdk = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    yield sdk
    sdk.close()


def _logged(client, name: str, command: str):
    """A running container that printed three lines and sleeps."""
    container = client.containers.run("busybox", ["sh", "-c", command + "; sleep 300"], detach=True, name=name)
    deadline = time.monotonic() + 60
    while container.logs().count(b"\n") < 3:
        assert time.monotonic() < deadline, container.logs()
        time.sleep(0.05)
    return container


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(60)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_attach_replays_the_log_whole_every_time(client):
    container = _logged(client, "replay", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three")
    for _ in range(15):
        assert container.attach(stdout=True, stderr=True, logs=True, stream=False) == b"one\ntwo\nthree\n"
        assert container.attach(stdout=False, stderr=True, logs=True, stream=False) == b"two\n"


def test_attach_socket_replay_is_framed_and_whole(client):
    container = _logged(client, "framed", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three")
    for _ in range(15):
        wrapper = client.api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "logs": 1, "stream": 0})
        data = _read_until_closed(wrapper._sock)
        wrapper.close()
        frames = []
        while data:
            kind, length = struct.unpack(">BxxxL", data[:8])
            frames.append((kind, data[8:8 + length]))
            data = data[8 + length:]
        assert frames == [(1, b"one\n"), (2, b"two\n"), (1, b"three\n")]


def test_attach_stream_replay_meets_the_live_stream_exactly(client):
    """`logs=1&stream=1` on a busy container: the replay and the live output join
    without a line twice or missing (before the service synchronised the two,
    about one try in four showed a line twice)."""
    script = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; sleep 0.01; done"
    for trial in range(6):
        container = client.containers.run("busybox", ["sh", "-c", script], detach=True, name=f"live{trial}")
        time.sleep(0.03 * trial)  # the attach lands at a different point of the output each time
        lines = []
        for chunk in container.attach(stdout=True, stderr=True, stream=True, logs=True):
            lines += chunk.decode().splitlines()
            if len(lines) >= 100:
                break
        assert lines[:100] == [f"line {n}" for n in range(1, 101)], trial
        container.remove(force=True)


def test_attach_socket_with_stdin(client):
    """Write to `cat` through the hijacked socket, read it back, half-close: cat exits."""
    container = client.containers.create("busybox", ["cat"], stdin_open=True, name="cat")
    wrapper = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stream": 1})
    sock = wrapper._sock
    container.start()
    sock.sendall(b"hello through the socket\n")
    sock.settimeout(60)
    data = b""
    while len(data) < 8 or len(data) < 8 + struct.unpack(">BxxxL", data[:8])[1]:
        data += sock.recv(65536)
    assert data[8:] == b"hello through the socket\n"
    sock.shutdown(socket.SHUT_WR)
    _read_until_closed(sock)
    wrapper.close()
    assert container.wait(timeout=120)["StatusCode"] == 0
