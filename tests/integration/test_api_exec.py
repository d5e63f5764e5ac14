"""Docker's exec routes with real clients: the docker CLI, the docker SDK, and raw
HTTP for what the clients do not show (framing by the start's Tty, detached
starts, /exec/{id}/json once the process is gone, 409 on a stopped container).
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from husk.testing import needs_docker_cli


def _running(service, name: str = "box") -> str:
    created = service.request("POST", f"/containers/create?name={name}",
                              {"Image": "busybox", "Cmd": ["sleep", "300"]})
    assert created[0] == 201, created[2]
    assert service.request("POST", f"/containers/{name}/start")[0] == 204
    return created[2]["Id"]


def _start_hijacked(service, exec_id: str, body: dict) -> tuple[socket.socket, bytes]:
    """POST /exec/{id}/start with Upgrade; returns the socket and what came after the headers."""
    return service.hijack(f"/v1.41/exec/{exec_id}/start", body)


def _read_all(sock: socket.socket, data: bytes) -> bytes:
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        stream, length = struct.unpack(">BxxxL", data[:8])
        frames.append((stream, data[8:8 + length]))
        data = data[8 + length:]
    return frames


def _exec(service, container: str, body: dict) -> str:
    status, _, document = service.request("POST", f"/containers/{container}/exec", body)
    assert status == 201, document
    return document["Id"]


# -- raw HTTP: the rules clients rely on ---------------------------------------------------
def test_framing_follows_the_start_tty_and_the_exit_code_is_known_at_once(api):
    _running(api)
    command = ["sh", "-c", "echo out; echo err >&2; exit 5"]
    framed = _exec(api, "box", {"Cmd": command, "AttachStdout": True, "AttachStderr": True, "Tty": True})
    sock, rest = _start_hijacked(api, framed, {"Tty": False})
    assert sorted(_frames(_read_all(sock, rest))) == [(1, b"out\n"), (2, b"err\n")]
    document = api.request("GET", f"/exec/{framed}/json")[2]
    assert (document["Running"], document["ExitCode"], document["ProcessConfig"]["tty"]) == (False, 5, False)
    raw = _exec(api, "box", {"Cmd": ["echo", "hi"], "AttachStdout": True, "Tty": False})
    sock, rest = _start_hijacked(api, raw, {"Tty": True})
    assert _read_all(sock, rest) == b"hi\r\n"  # a terminal's line ending, no frame header
    assert api.request("GET", f"/exec/{raw}/json")[2]["ExitCode"] == 0
    assert api.request("POST", f"/exec/{raw}/start", {})[0] == 409  # one start per exec


def test_detached_start_has_an_empty_body_and_running_ends(api_crun):
    _running(api_crun)
    # it runs until told to end (a fixed sleep could be over before the check under load)
    exec_id = _exec(api_crun, "box", {"Cmd": ["sh", "-c", "until [ -e /tmp/end ]; do sleep 0.1; done; exit 3"]})
    before = api_crun.request("GET", f"/exec/{exec_id}/json")[2]
    assert (before["Running"], before["ExitCode"], before["Pid"]) == (False, None, 0)
    status, _, body = api_crun.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert (status, body) == (200, b"")
    assert api_crun.request("GET", f"/exec/{exec_id}/json")[2]["Running"] is True
    api_crun.env("exec", "box", "touch", "/tmp/end", check=True)
    deadline = time.monotonic() + 60
    while (document := api_crun.request("GET", f"/exec/{exec_id}/json")[2])["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert document["ExitCode"] == 3


def test_exec_errors(api_crun):
    assert api_crun.request("POST", "/containers/nope/exec", {"Cmd": ["true"]})[0] == 404
    created = api_crun.request("POST", "/containers/create?name=idle", {"Image": "busybox", "Cmd": ["true"]})
    assert created[0] == 201
    status, _, document = api_crun.request("POST", "/containers/idle/exec", {"Cmd": ["true"]})
    assert status == 409 and "is not running" in document["message"]
    _running(api_crun)
    assert api_crun.request("POST", "/containers/box/exec", {"Cmd": []})[0] == 400
    assert api_crun.request("POST", "/containers/box/exec", {"Cmd": 5})[0] == 400
    assert api_crun.request("POST", "/exec/nope/start", {})[0] == 404
    assert api_crun.request("GET", "/exec/nope/json")[0] == 404
    assert api_crun.request("POST", "/exec/nope/resize?h=10&w=10")[0] == 404
    exec_id = _exec(api_crun, "box", {"Cmd": ["true"]})
    assert api_crun.request("POST", f"/exec/{exec_id}/resize?h=0&w=10")[0] == 400
    assert api_crun.request("POST", f"/exec/{exec_id}/resize?h=20&w=70")[0] == 200
    assert api_crun.request("GET", "/_ping")[0] == 200


def test_resize_reaches_a_running_tty_exec(api_crun):
    _running(api_crun)
    exec_id = _exec(api_crun, "box", {"Cmd": ["sh"], "AttachStdin": True, "AttachStdout": True, "Tty": True})
    sock, rest = _start_hijacked(api_crun, exec_id, {"Tty": True})
    assert api_crun.request("POST", f"/exec/{exec_id}/resize?h=33&w=77")[0] == 200
    deadline = time.monotonic() + 60
    output = rest
    while b"33 77" not in output:  # the resize has its own connection: ask until it shows
        assert time.monotonic() < deadline, output
        sock.sendall(b"stty size\n")
        time.sleep(0.2)
        sock.settimeout(0.5)
        try:
            output += sock.recv(65536)
        except socket.timeout:
            pass
    sock.settimeout(15)
    sock.sendall(b"exit 4\n")
    _read_all(sock, b"")
    assert api_crun.request("GET", f"/exec/{exec_id}/json")[2]["ExitCode"] == 4


# -- the docker CLI -----------------------------------------------------------------------
@needs_docker_cli
def test_docker_exec_output_exit_code_and_stdin(api):
    _running(api)
    result = api.docker("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    result = api.docker("exec", "-i", "box", "cat", input=b"one\ntwo\n")
    assert (result.returncode, result.stdout) == (0, b"one\ntwo\n")
    result = api.docker("exec", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "box", "sh", "-c", "echo $X $PWD $(id -u)")
    assert result.stdout == b"1 /tmp 65534\n", result.stderr
    missing = api.docker("exec", "box", "/no/such/binary")
    assert missing.returncode == 127, missing.stderr
    assert b"/no/such/binary" in missing.stderr + missing.stdout
    stopped = api.docker("exec", "nope", "true")
    assert stopped.returncode == 1 and b"no container with name or ID" in stopped.stderr


@needs_docker_cli
def test_docker_exec_detached(api_crun):
    _running(api_crun)
    result = api_crun.docker("exec", "-d", "box", "sh", "-c", "echo done > /tmp/mark")
    assert (result.returncode, result.stdout) == (0, b"")
    deadline = time.monotonic() + 60
    while api_crun.docker("exec", "box", "cat", "/tmp/mark").stdout != b"done\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)


# -- the docker SDK -----------------------------------------------------------------------
def test_docker_sdk_exec_run(api):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    _running(api)
    container = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120).containers.get("box")
    assert tuple(container.exec_run(["sh", "-c", "echo a; exit 2"])) == (2, b"a\n")
    code, (out, err) = container.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    assert tuple(container.exec_run(["echo", "tty"], tty=True)) == (0, b"tty\r\n")
    result = container.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"], stream=True)
    assert result.exit_code is None
    assert b"".join(result.output) == b"1\n2\n3\n"
    result = container.exec_run(["sh", "-c", "echo x; sleep 0.1; echo y"], stream=True, tty=True)
    assert b"".join(result.output) == b"x\r\ny\r\n"
    # it runs until told to end, so that it still runs when docker-py asks /exec/{id}/json at once
    detached = container.exec_run(["sh", "-c", "until [ -e /tmp/end6 ]; do sleep 0.1; done; exit 6"], detach=True)
    assert detached.output == ""  # the empty body of a detached start
    assert detached.exit_code is None
    api.env("exec", "box", "touch", "/tmp/end6", check=True)
