"""The API service's doors (docs/security.md, "The API service"): requests from
web pages, JSON bodies that do not say they are JSON, TCP beyond loopback,
connections that send nothing or half a request, and the connection cap.

Each test makes a request that must fail, and checks that it changed nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from husk.testing import HUSK, ApiService

PRIVILEGED = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Privileged": True, "Binds": ["/:/host"]}}


@pytest.fixture
def serve(husk_envs):
    """`serve(*flags)`: a service on crun with those flags of `system service`."""
    started = []

    def start(*options, runtime="crun"):
        base = tempfile.mkdtemp(prefix="hdoor-")
        service = ApiService(husk_envs(runtime), os.path.join(base, "s.sock"), options=options)
        started.append((service, base))
        return service

    yield start
    for service, base in started:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert "Traceback" not in err, err


def raw(path: str, data: bytes) -> bytes:
    """`data` on a new connection; everything the service answers until it closes."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(path)
    try:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received
    finally:
        conn.close()


def containers(service) -> list:
    status, _, listed = service.request("GET", "/containers/json?all=1")
    assert status == 200
    return listed


# -- requests from web pages, and bodies that are not declared JSON ---------------------------------
@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_the_reviews_browser_request_creates_nothing(serve, runtime):
    """The review's repro: a page's cross-site POST (Origin, text/plain) creating
    a privileged container with / bound.  Refused (403), nothing created."""
    service = serve(runtime=runtime)
    body = json.dumps(PRIVILEGED).encode()
    status, _, answer = service.request("POST", "/v1.41/containers/create", body=body,
                                        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert status == 403 and "Origin: http://evil.example" in answer["message"] and "--cors" in answer["message"]
    # the Origin alone is enough, whatever the body says it is
    status, _, _ = service.request("POST", "/v1.41/containers/create", body=PRIVILEGED,
                                   headers={"Origin": "http://evil.example"})
    assert status == 403
    assert containers(service) == []


def test_a_json_body_sent_as_text_plain_is_refused(serve):
    service = serve()
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    status, _, answer = service.request("POST", "/v1.41/containers/create", body=body,
                                        headers={"Content-Type": "text/plain"})
    assert status == 400
    assert answer["message"] == "unsupported Content-Type header (text/plain): must be 'application/json'"
    assert containers(service) == []
    # what real clients send is served: JSON with a charset, and no Content-Type at all (podman's remote client)
    status, _, _ = service.request("POST", "/v1.41/containers/create", body=body,
                                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 201
    status, _, _ = service.request("POST", "/v4.3.0/libpod/containers/create",
                                   body=json.dumps({"image": "busybox", "command": ["true"]}).encode())
    assert status == 201
    # the docker CLI's bodiless POSTs say text/plain: no body, nothing to refuse
    ctr = containers(service)[0]["Id"]
    status, _, _ = service.request("POST", f"/v1.41/containers/{ctr}/start", headers={"Content-Type": "text/plain"})
    assert status == 204


def test_cors_serves_the_allowed_origin_only(serve):
    service = serve("--cors", "http://ok.example")
    status, response, _ = service.request("GET", "/_ping", headers={"Origin": "http://ok.example"})
    assert status == 200 and response.getheader("Access-Control-Allow-Origin") == "http://ok.example"
    status, response, _ = service.request("OPTIONS", "/v1.41/containers/create",
                                          headers={"Origin": "http://ok.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert status == 204 and response.getheader("Access-Control-Allow-Origin") == "http://ok.example"
    status, response, _ = service.request("POST", "/v1.41/containers/create", body=PRIVILEGED,
                                          headers={"Origin": "http://evil.example"})
    assert status == 403 and response.getheader("Access-Control-Allow-Origin") is None
    assert containers(service) == []
    status, _, _ = service.request("GET", "/_ping")  # no Origin: not a browser, served as ever
    assert status == 200


# -- TCP ------------------------------------------------------------------------------------------
def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_tcp_beyond_loopback_is_refused_without_the_flag(husk):
    result = husk("system", "service", "--time", "1", f"tcp://0.0.0.0:{_free_port()}")
    assert result.returncode == 125
    assert result.stderr.splitlines() == [
        "Error: refusing to serve the API on 0.0.0.0, which is not loopback: it has no authentication, so "
        "anyone who can connect is root on this host; serve it with --tls-cert, --tls-key and --tls-client-ca, "
        "or pass --insecure-tcp if that is meant"]
    assert husk("system", "service", "--cors", "evil.example", "unix:///nonexistent/s").returncode == 125


def test_tcp_on_loopback_warns(husk):
    port = _free_port()
    service = husk.popen("system", "service", "--time", "1", f"tcp://127.0.0.1:{port}", stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    _, err = service.communicate(timeout=30)
    assert service.returncode == 0
    assert (f"WARNING: the API on tcp://127.0.0.1 has no authentication: anyone who can connect from this host "
            "is root here") in err.decode()


# -- timeouts and the connection cap --------------------------------------------------------------
def _closed_after(path: str, data: bytes) -> float:
    """Seconds until the service closes a connection that sent `data` and then nothing."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(path)
    started = time.monotonic()
    try:
        conn.sendall(data)
        while conn.recv(65536):
            pass
        return time.monotonic() - started
    finally:
        conn.close()


def test_silent_and_half_sent_connections_are_closed(serve):
    service = serve("--header-timeout", "1", "--idle-timeout", "3")
    assert 0.8 < _closed_after(service.socket_path, b"") < 2.5
    assert 0.8 < _closed_after(service.socket_path, b"GET /_ping HTTP/1.1\r\nHost: husk\r\n") < 2.5
    # between requests, the idle timeout: a kept-alive connection lives on past the header timeout
    assert 2.5 < _closed_after(service.socket_path, b"GET /_ping HTTP/1.1\r\nHost: husk\r\n\r\n") < 4.5
    # a body that stops arriving fails once it has sent nothing for the idle timeout
    started = time.monotonic()
    answer = raw(service.socket_path, b"POST /v1.41/images/load HTTP/1.1\r\nHost: husk\r\n"
                                      b"Content-Type: application/x-tar\r\nContent-Length: 1000\r\n\r\nabc")
    assert answer.startswith(b"HTTP/1.1 408 ") and 2.5 < time.monotonic() - started < 5
    assert service.request("GET", "/_ping")[0] == 200


def test_connections_past_the_cap_get_503(serve):
    service = serve("--max-connections", "3")
    held = []
    try:
        for _ in range(3):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(service.socket_path)
            held.append(conn)
        time.sleep(0.3)
        answer = raw(service.socket_path, b"GET /_ping HTTP/1.1\r\nHost: husk\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert json.loads(body) == {"message": "too many connections: the service serves at most 3 at once; "
                                               "try again later"}
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 60
    while service.request("GET", "/_ping")[0] != 200:  # freed: served again
        assert time.monotonic() < deadline
        time.sleep(0.1)


# -- uploads --------------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_a_stalled_upload_does_not_block_stop(serve, runtime):
    """`PUT /containers/{id}/archive` from a client that stops after 100 bytes:
    the upload is spooled before the container's lock is taken, so `stop` goes through."""
    service = serve(runtime=runtime)
    ctr = service.env("run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(service.socket_path)
    try:
        conn.sendall(f"PUT /v1.41/containers/{ctr}/archive?path=/tmp HTTP/1.1\r\nHost: husk\r\n"
                     "Content-Type: application/x-tar\r\nContent-Length: 10240\r\n\r\n".encode() + b"\0" * 100)
        time.sleep(0.5)  # the handler is reading the body (if not yet, the stop proves less, but still passes)
        # a stop waiting on the lock would wait for the body until the service's 60 s body timeout:
        # this subprocess timeout fails it first, and is generous for a stop on a loaded machine
        stopped = service.env("stop", "-t", "0", ctr, timeout=45)
        assert stopped.returncode == 0, stopped.stderr
    finally:
        conn.close()
