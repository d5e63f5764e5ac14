"""Stdin through every path (CLI run -i, exec -i, attach; API attach and exec):
piped input is data, every byte of it, and it is flow-controlled.

Detach keys are watched for only where podman and Docker watch for them (a
TTY, typed on a raw terminal: see test_attach.py), so megabytes of random
bytes with ctrl-p,ctrl-q in them arrive whole; digests are compared inside
the container.  A container that does not read its stdin makes the writer
wait, and its monitor's memory stays put (issue 10, item 7).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

DETACH = b"\x10\x11"  # the default detach keys, ctrl-p ctrl-q
#: the bytes each path must carry whole
PAYLOAD_SIZE = 8 << 20
#: how much a monitor may grow while a writer pushes into a container that does not read
RSS_SLACK_KIB = 4096


@pytest.fixture(scope="module")
def payload() -> tuple[bytes, str]:
    """8 MiB of random bytes with the detach keys in them, and its sha256sum line."""
    data = bytearray(random.Random(7).randbytes(PAYLOAD_SIZE))
    for offset in (0, 1000, PAYLOAD_SIZE // 2, PAYLOAD_SIZE - 2):
        data[offset:offset + 2] = DETACH
    return bytes(data), hashlib.sha256(data).hexdigest() + "  -\n"


def _summed(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


# -- the CLI -----------------------------------------------------------------------------------
def test_detach_keys_in_piped_input_are_data(husk_rt):
    result = husk_rt("run", "--rm", "-i", "busybox", "wc", "-c", input=b"a" + DETACH + b"bcdef")
    assert (result.returncode, result.stdout.strip()) == (0, b"8")


def test_binary_stdin_through_run_exec_and_attach(husk_rt, payload):
    data, digest = payload
    assert _summed(husk_rt("run", "--rm", "-i", "busybox", "sha256sum", input=data)) == digest
    husk_rt("run", "-d", "-i", "--name", "box", "busybox", "sleep", "300", check=True)
    assert _summed(husk_rt("exec", "-i", "box", "sha256sum", input=data)) == digest
    husk_rt("run", "-d", "-i", "--name", "sum", "busybox", "sha256sum", check=True)
    assert _summed(husk_rt("attach", "sum", input=data)) == digest


def test_stdin_and_output_flow_at_once_through_run_and_exec(husk_rt, payload):
    """`cat` echoes while we write: the output must keep flowing while stdin
    waits for the container (the monitor then stops reading us), or the two
    wait for each other."""
    data, _ = payload
    result = husk_rt("run", "--rm", "-i", "busybox", "cat", input=data)
    assert (result.returncode, len(result.stdout), result.stdout == data) == (0, len(data), True)
    husk_rt("run", "-d", "-i", "--name", "box", "busybox", "sleep", "300", check=True)
    result = husk_rt("exec", "-i", "box", "cat", input=data)
    assert (result.returncode, len(result.stdout), result.stdout == data) == (0, len(data), True)


# -- the API -----------------------------------------------------------------------------------
def _send_and_read(sock: socket.socket, rest: bytes, data: bytes) -> bytes:
    """Write `data`, half-close, and read until the service closes; the stdout frames' bytes."""
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(30)
    received = rest
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    out = b""
    while received:
        stream, length = struct.unpack(">BxxxL", received[:8])
        if stream == 1:
            out += received[8:8 + length]
        received = received[8 + length:]
    return out


def test_binary_stdin_through_api_attach_and_exec(api, payload):
    data, digest = payload
    created = api.request("POST", "/containers/create?name=sum",
                          {"Image": "busybox", "Cmd": ["sha256sum"], "OpenStdin": True, "StdinOnce": True})
    assert created[0] == 201, created[2]
    sock, rest = api.hijack("/v1.41/containers/sum/attach?stream=1&stdin=1&stdout=1&stderr=1")
    assert api.request("POST", "/containers/sum/start")[0] == 204
    assert _send_and_read(sock, rest, data).decode() == digest

    created = api.request("POST", "/containers/create?name=box", {"Image": "busybox", "Cmd": ["sleep", "300"]})
    assert created[0] == 201 and api.request("POST", "/containers/box/start")[0] == 204
    # detach keys named explicitly: without a TTY they are data all the same, as in Docker
    status, _, document = api.request("POST", "/containers/box/exec", {
        "Cmd": ["sha256sum"], "AttachStdin": True, "AttachStdout": True, "DetachKeys": "ctrl-p,ctrl-q"})
    assert status == 201, document
    sock, rest = api.hijack(f"/v1.41/exec/{document['Id']}/start", {"Tty": False})
    assert _send_and_read(sock, rest, data).decode() == digest
    assert api.request("GET", f"/exec/{document['Id']}/json")[2]["ExitCode"] == 0


# -- backpressure ------------------------------------------------------------------------------
def _monitor_pid(husk, name: str, timeout: float = 20) -> int:
    """The monitor's pid once the container runs."""
    deadline = time.monotonic() + timeout
    while True:
        result = husk("inspect", "--format", "{{.State.Status}} {{.State.ConmonPid}}", name)
        if result.stdout.startswith("running "):
            return int(result.stdout.split()[1])
        assert time.monotonic() < deadline, result.stdout + result.stderr
        time.sleep(0.05)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class _Writer(threading.Thread):
    """Writes up to 1 GiB of zeros into `pipe` until the reader goes away."""

    def __init__(self, pipe) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        chunk = bytes(1 << 20)
        try:
            while self.written < 1 << 30:
                self.written += os.write(self.pipe.fileno(), chunk)
        except BrokenPipeError:
            pass  # the CLI exited with the container: the pipe's end, as for any reader
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.mark.parametrize("verb", ["attach", "run"])
def test_a_container_that_does_not_read_stdin_makes_the_writer_wait(husk_rt, verb):
    command = ("busybox", "sleep", "5")
    if verb == "attach":
        husk_rt("run", "-d", "-i", "--name", "idle", *command, check=True)
        cli = husk_rt.popen("attach", "idle", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        cli = husk_rt.popen("run", "-i", "--name", "idle", *command,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    monitor = _monitor_pid(husk_rt, "idle")
    idle = _rss_kib(monitor)
    writer = _Writer(cli.stdin)
    writer.start()
    peak = idle
    while cli.poll() is None:
        try:
            peak = max(peak, _rss_kib(monitor))
        except (OSError, StopIteration):
            pass  # the monitor has exited
        time.sleep(0.05)
    writer.join(timeout=30)  # the CLI has gone: the writer's next write fails, as with any reader
    out, err = cli.communicate(timeout=30)
    assert (cli.returncode, out, err) == (0, b"", b"")
    assert not writer.is_alive() and writer.error is None
    assert writer.written < 64 << 20, "the writer was not held back"
    assert peak <= idle + RSS_SLACK_KIB, f"monitor RSS {idle} KiB idle, {peak} KiB at most while written to"
