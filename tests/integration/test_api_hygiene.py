"""The API service against hostile or odd clients, and started by socket activation.

Garbage on the wire (bad JSON, truncated chunked bodies, a Content-Length with
no body behind it, binary junk as the request line, absurd paths and query
values) gets an HTTP error or a closed connection, never a dead service: each
test ends by checking `_ping` still answers and the service logged no
traceback.  Socket activation is tested without systemd: the test holds the
listening socket, as systemd would, and starts the service with it as fd 3
and LISTEN_FDS/LISTEN_PID set.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from husk.testing import HUSK, ApiService, HuskEnv

#: what systemd does between fork and exec: the socket to fd 3, LISTEN_* naming this pid
ACTIVATE = ("import os, sys\n"
            "os.dup2(int(sys.argv[1]), 3)\n"
            "os.environ.update(LISTEN_FDS='1', LISTEN_PID=os.environ.get('TEST_LISTEN_PID') or str(os.getpid()))\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")


def exchange(path: str, data: bytes, shut: bool = True, timeout: float = 10) -> bytes:
    """Send raw bytes on a new connection and read until the service closes it
    (or `timeout`); `shut` half-closes our side first, as a client that gave up."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(path)
        conn.sendall(data)
        if shut:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        return received
    finally:
        conn.close()


def request(path: str, method: str, target: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
    """One HTTP/1.1 request with `Connection: close`: (status, body)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: husk\r\nConnection: close\r\n{headers}"
    if body and "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    answer = exchange(path, head.encode("utf-8", "surrogateescape") + b"\r\n" + body, shut=False)
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def ping(path: str) -> None:
    status, body = request(path, "GET", "/_ping")
    assert (status, body) == (200, b"OK")


def Service(base: str, argv_prefix=(), pass_fds=(), env_extra=None) -> ApiService:
    """The service on its own roots under `base` (no image needed), not waited for."""
    env = HuskEnv(root=os.path.join(base, "root"), runroot=os.path.join(base, "run"))
    return ApiService(env, os.path.join(base, "s.sock"), argv_prefix=argv_prefix, pass_fds=pass_fds,
                      env_extra=env_extra, wait=False)


@pytest.fixture
def base():
    path = tempfile.mkdtemp(prefix="hhyg-")  # short: AF_UNIX paths are limited to 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def service(base):
    running = Service(base)
    running.wait_listening(running.socket_path)
    yield running
    err = running.stop()
    assert "Traceback" not in err, err
    assert running.process.returncode == 0, err


# -- garbage on the wire ----------------------------------------------------------------------
RAW_GARBAGE = {
    "binary request line": b"\x00\xff\xfe\x16\x03\x01junk\r\n\r\n",
    "TLS client hello": bytes.fromhex("160301002a0100002603035f") + os.urandom(40),
    "no HTTP version": b"GET /_ping\r\n\r\n",
    "header without colon": b"GET /_ping HTTP/1.1\r\nHost husk\r\n\r\n",
    "huge request line": b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: husk\r\n\r\n",
    "huge header": b"GET /_ping HTTP/1.1\r\nHost: husk\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n",
    "negative Content-Length": b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nContent-Length: -5\r\n\r\n{}",
    "overflowing Content-Length": (b"POST /containers/create HTTP/1.1\r\nHost: husk\r\n"
                                   b"Content-Length: 99999999999999999999999999999\r\n\r\n{}"),
    "Content-Length with no body": (b"POST /containers/create HTTP/1.1\r\nHost: husk\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"),
    "truncated chunked body": (b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nContent-Type: application/json\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n40\r\n{\"Image\": \"busy"),
    "bad chunk size": (b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\n{}\r\n0\r\n\r\n"),
    "truncated chunked import": (b"POST /images/create?fromSrc=-&repo=junk HTTP/1.1\r\nHost: husk\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n200\r\n" + b"\x00" * 100),
    "headers cut off": b"POST /containers/create HTTP/1.1\r\nHost: hu",
    "both Content-Length and chunked": (b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nContent-Length: 3\r\n"
                                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(RAW_GARBAGE))
def test_garbage_on_the_wire_leaves_the_service_answering(service, name):
    answer = exchange(service.socket_path, RAW_GARBAGE[name])
    if answer:  # closing the connection without a word is also fine
        assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:200]  # aiohttp answers a request it cannot parse in 1.0
        assert int(answer.split()[1]) >= 400, answer[:200]
    ping(service.socket_path)


def test_a_client_vanishing_mid_body_frees_the_request(service):
    """Many clients that send a create header with a body that never comes, then
    close: none of them holds the service up."""
    for _ in range(20):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(service.socket_path)
        conn.sendall(b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nContent-Length: 5000\r\n\r\n{\"Im")
        conn.close()
    ping(service.socket_path)


BAD_REQUESTS = [
    ("POST", "/containers/create", b"{not json", 400),
    ("POST", "/containers/create", b"[1, 2, 3]", 400),
    ("POST", "/containers/create", b'{"Image": "busybox", "Cmd": 5}', 400),
    ("POST", "/containers/create", b'{"Image": "busybox", "HostConfig": {"Binds": "/x:/y"}}', 400),
    ("POST", "/containers/create", b'{"Image": "busybox", "HostConfig": {"ConsoleSize": [1e400, 1]}}', 400),
    ("POST", "/containers/create", b'{"Image": "busybox", "Env": ["=nokey"]}', 400),
    ("POST", "/containers/create", b'{"Image": 1' + b"0" * 5000 + b"}", 400),
    ("POST", "/containers/create", b"[" * 100_000, 400),
    ("POST", "/containers/create", b'{"Image": "' + "\u00e9\U0001f600".encode() + b'"}', 400),
    ("GET", "/containers/json?all=maybe", b"", 400),
    ("GET", "/containers/json?limit=1e999", b"", 400),
    ("GET", "/containers/json?limit=" + "9" * 5000, b"", 400),
    ("GET", "/containers/json?filters=%7Bbad", b"", 400),
    ("GET", "/containers/json?filters=%5B%5D", b"", 400),
    ("GET", "/containers/json?filters=%7B%22status%22%3A%5B1%5D%7D", b"", 400),
    ("GET", "/containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D", b"", 400),
    ("GET", "/containers/json?filters=%7B%22name%22%3A%5B%22%28%22%5D%7D", b"", 400),
    ("GET", "/events?since=yesterday", b"", 400),
    ("GET", "/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", b"", 400),
    ("GET", "/containers/%E2%9C%93%F0%9F%98%80/json", b"", 404),
    ("GET", "/containers/..%2F..%2Fetc/json", b"", 404),
    ("GET", "/containers/%FF%FE/json", b"", 404),
    ("DELETE", "/containers/nosuch?force=sometimes", b"", 400),
    ("POST", "/containers/nosuch/kill?signal=SIGNOPE", b"", 400),
    ("POST", "/containers/nosuch/kill?signal=99999999999999999999", b"", 400),
    ("POST", "/containers/nosuch/wait?condition=whenever", b"", 400),
    ("POST", "/containers/nosuch/resize?h=x&w=1", b"", 400),
    ("POST", "/containers/nosuch/stop?t=1.5", b"", 400),
    ("GET", "/images/%00/json", b"", 400),
    ("POST", "/images/create?fromSrc=http://example.invalid/x.tar", b"", 400),
    ("GET", "/v9.99/nothing/here", b"", 404),
    ("PATCH", "/containers/json", b"", 405),
]


@pytest.mark.parametrize("pieces, expected", [(2, 404), (1, 413)], ids=["split body", "oversized body"])
def test_a_body_is_read_whole(service, pieces, expected):
    size = 100 if pieces == 2 else 5 * 1024 * 1024
    body = json.dumps({"Image": "nosuchimage", "Labels": {"a": "x" * size}}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(20)
    try:
        conn.connect(service.socket_path)
        conn.sendall(b"POST /containers/create HTTP/1.1\r\nHost: husk\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.3)
        try:
            conn.sendall(body[10:])
        except (BrokenPipeError, ConnectionResetError):  # refused early: fine for the oversized body
            pass
        status_line = conn.recv(4096).partition(b"\r\n")[0]
    finally:
        conn.close()
    assert int(status_line.split()[1]) == expected, status_line
    ping(service.socket_path)


@pytest.mark.parametrize("method, target, body, expected", BAD_REQUESTS,
                         ids=[f"{m} {t[:60]} {b[:20]!r}" for m, t, b, _ in BAD_REQUESTS])
def test_bad_input_gets_a_json_error(service, method, target, body, expected):
    status, answer = request(service.socket_path, method, target, body,
                             "Content-Type: application/json\r\n" if body else "")
    assert status == expected, answer
    assert json.loads(answer)["message"]
    ping(service.socket_path)


# -- socket activation ------------------------------------------------------------------------
def _held_listener(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    return listener


def test_socket_activation_serves_the_inherited_socket_and_leaves_it(base):
    held = os.path.join(base, "held.sock")
    listener = _held_listener(held)
    try:
        # a client that connected before the service existed is answered (it waits in the backlog)
        early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        early.settimeout(20)
        early.connect(held)
        early.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: husk\r\nConnection: close\r\n\r\n")
        for round_ in range(2):  # systemd starts the service again on the same socket after it exits
            started = Service(base, [sys.executable, "-c", ACTIVATE, str(listener.fileno())],
                              pass_fds=(listener.fileno(),))
            if round_ == 0:
                answer = b""
                while chunk := early.recv(4096):
                    answer += chunk
                early.close()
                assert answer.startswith(b"HTTP/1.1 200") and b"Api-Version: " in answer, answer
            started.wait_listening(held)
            ping(held)
            assert not os.path.exists(started.socket_path)  # its own address was not bound
            err = started.stop()
            assert started.process.returncode == 0 and "Traceback" not in err, err
            assert os.path.exists(held)  # the socket is systemd's: the service leaves it
    finally:
        listener.close()


def test_socket_activation_ignores_variables_meant_for_another_process(base):
    """LISTEN_PID naming another pid (a parent's variables leaked into the
    environment): the service binds its own address, not fd 3."""
    held = os.path.join(base, "held.sock")
    listener = _held_listener(held)
    try:
        started = Service(base, [sys.executable, "-c", ACTIVATE, str(listener.fileno())],
                          pass_fds=(listener.fileno(),), env_extra={"TEST_LISTEN_PID": "1"})
        started.wait_listening(started.socket_path)
        ping(started.socket_path)
        err = started.stop()
        assert started.process.returncode == 0 and "Traceback" not in err, err
    finally:
        listener.close()


def test_socket_activation_refuses_an_fd_3_that_is_no_stream_socket(base):
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        started = Service(base, [sys.executable, "-c", ACTIVATE, str(datagram.fileno())],
                          pass_fds=(datagram.fileno(),))
        _, err = started.process.communicate(timeout=30)
    finally:
        datagram.close()
    assert started.process.returncode != 0
    assert "Error: socket activation: fd 3 is not a stream socket" in err.decode(), err
    assert "Traceback" not in err.decode()


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="systemd-socket-activate is not installed")
def test_systemd_socket_activate_starts_the_service_on_first_connection(base):
    """systemd's own activator (the same LISTEN_FDS protocol as husk.socket):
    it listens, and the first connection execs the service, which answers it,
    then exits after its idle time and leaves the socket file to its owner."""
    held = os.path.join(base, "held.sock")
    env = HuskEnv(root=os.path.join(base, "root"), runroot=os.path.join(base, "run"))
    activator = subprocess.Popen(["systemd-socket-activate", "-l", held, HUSK, *env.global_args, "system", "service",
                                  "--time", "1", f"unix://{os.path.join(base, 'other.sock')}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env.env())
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(held):
            assert activator.poll() is None and time.monotonic() < deadline, activator.stderr.read().decode()
            time.sleep(0.05)
        ping(held)
        ping(held)
        _, err = activator.communicate(timeout=30)  # the service (exec'd in its place) exits when idle
    finally:
        if activator.poll() is None:
            activator.kill()
            activator.communicate()
    assert activator.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    assert os.path.exists(held) and not os.path.exists(os.path.join(base, "other.sock"))


#: the service's garbage collection threshold, msgspec's UUID and Decimal and click's inspect, printed as it exits
LONG_LIVED = """
import atexit, gc, sys

def report():
    import click.core, click.decorators, click.termui, decimal, inspect, msgspec, uuid
    print("threshold:", gc.get_threshold()[0], file=sys.stderr)
    print("inspect:", inspect.__file__, click.core.inspect is click.decorators.inspect is click.termui.inspect is inspect,
          file=sys.stderr)
    print("encoded:", msgspec.json.encode([uuid.UUID(int=1), decimal.Decimal("1.5")]).decode(), file=sys.stderr)

atexit.register(report)
sys.argv = ["husk", *sys.argv[2:]]
from husk.cli import main
main()
"""


def test_the_service_collects_garbage_and_encodes_uuids_as_python_does(base):
    """The API service lives long: it takes Python's collector threshold back
    (the CLI's 50,000 is for a command's short life, husk.cli), and msgspec in
    it takes the real uuid and decimal (not the CLI's stand-ins), so a plugin
    or a library encoding a UUID or a Decimal with msgspec works there, and
    click's modules the real inspect (not the CLI's stand-in)."""
    running = Service(base, argv_prefix=(sys.executable, "-c", LONG_LIVED))
    running.wait_listening(running.socket_path)
    status, _ = request(running.socket_path, "GET", "/v1.41/containers/json?all=1")  # loads msgspec
    err = running.stop()
    assert status == 200 and running.process.returncode == 0, err
    assert "threshold: 700\n" in err, err
    assert 'encoded: ["00000000-0000-0000-0000-000000000001","1.5"]\n' in err, err
    assert f"inspect: {inspect.__file__} True\n" in err, err
