"""The API service with real clients: the docker CLI, the docker SDK for Python,
and raw HTTP for what clients must never be able to do (crash it, leak from it).

Each test gets its own service (own roots, own socket under /tmp) over a real
runtime; the service's stderr is checked for tracebacks at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from husk.testing import DOCKER, HUSK, ApiService, UnixHTTP, make_env, needs_docker_cli, wait_until

# -- version negotiation, socket hygiene ---------------------------------------------------
def test_ping_get_and_head_carry_the_api_version(api_crun):
    for method in ("GET", "HEAD"):
        for path in ("/_ping", "/v1.41/_ping"):
            status, response, body = api_crun.request(method, path)
            assert status == 200
            assert response.getheader("Api-Version") == "1.41"
            assert body == (b"OK" if method == "GET" else b"")
    assert os.stat(api_crun.socket_path).st_mode & 0o777 == 0o660
    assert stat.S_ISSOCK(os.stat(api_crun.socket_path).st_mode)


def test_a_second_service_refuses_a_live_socket(api_crun, busybox_tar):
    second = subprocess.run([HUSK, *api_crun.env.global_args, "system", "service", "--time", "0",
                             f"unix://{api_crun.socket_path}"], capture_output=True, text=True, timeout=30)
    assert second.returncode == 125
    assert second.stderr.strip() == f"Error: {api_crun.socket_path} is in use by another service"
    assert api_crun.request("GET", "/_ping")[0] == 200


def test_idle_time_stops_the_service_and_removes_its_socket(busybox_tar):
    env = make_env(busybox_tar)
    base = tempfile.mkdtemp(prefix="hapi-")
    try:
        service = ApiService(env, os.path.join(base, "s.sock"), idle=3)
        assert service.request("GET", "/_ping")[0] == 200
        assert service.process.wait(timeout=10) == 0
        assert not os.path.exists(service.socket_path)
    finally:
        shutil.rmtree(os.path.dirname(env.root), ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def test_a_killed_service_leaves_containers_running_and_the_next_one_takes_over(husk_envs):
    """kill -9 of the service mid-stream: its containers run on (their monitors
    are their own), the dead socket is replaced by the next service, which
    sees and stops them, and their exit codes are right."""
    env = husk_envs("crun")
    base = tempfile.mkdtemp(prefix="hapi-")
    path = os.path.join(base, "s.sock")
    try:
        first = ApiService(env, path)
        script = "trap 'exit 3' TERM; while true; do echo tick; sleep 0.2; done"
        assert first.docker("run", "-d", "--name", "survivor", "busybox", "sh", "-c", script).returncode == 0
        conn = UnixHTTP(path)
        conn.request("POST", "/containers/survivor/wait")
        assert conn.getresponse().status == 200  # a wait in flight
        first.process.kill()
        first.process.wait()
        assert os.path.exists(path)  # nobody removed the socket
        second = ApiService(env, path)
        assert second.docker("ps", "--format", "{{.Names}} {{.State}}").stdout == b"survivor running\n"
        assert second.docker("stop", "survivor").returncode == 0
        assert second.docker("inspect", "-f", "{{.State.ExitCode}}", "survivor").stdout == b"3\n"
        err = second.stop()
        assert second.process.returncode == 0 and "Traceback" not in err, err
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_sigterm_lets_a_request_in_flight_finish(api_crun):
    created = api_crun.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "1"]})[2]
    assert api_crun.request("POST", f"/containers/{created['Id']}/start")[0] == 204
    conn = UnixHTTP(api_crun.socket_path)
    conn.request("POST", f"/containers/{created['Id']}/wait")
    response = conn.getresponse()  # headers come at once, before the exit
    assert response.status == 200
    api_crun.process.send_signal(signal.SIGTERM)
    assert json.loads(response.read()) == {"StatusCode": 0, "Error": None}
    assert api_crun.process.wait(timeout=15) == 0


# -- the docker CLI -----------------------------------------------------------------------
@needs_docker_cli
def test_docker_run_rm_prints_and_propagates_the_exit_code(api):
    result = api.docker("run", "--rm", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"hi\n", b"")
    result = api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert api.docker("ps", "-aq").stdout == b""  # --rm removed both


@needs_docker_cli
def test_docker_run_interactive_copies_stdin_and_its_end(api):
    result = api.docker("run", "--rm", "-i", "busybox", "cat", input=b"hi\nthere\n")
    assert (result.returncode, result.stdout) == (0, b"hi\nthere\n")


@needs_docker_cli
def test_docker_run_missing_binary_exits_127_and_is_removed(api):
    result = api.docker("run", "--rm", "busybox", "/no/such/binary")
    assert result.returncode == 127, result.stderr
    assert b"executable file not found" in result.stderr
    assert api.docker("ps", "-aq").stdout == b""


@needs_docker_cli
def test_clients_that_are_gone_leave_no_request_behind(husk_envs):
    """A `docker run` whose start fails, and a `docker attach` killed while
    the container is silent, leave nothing in flight: the service goes idle
    and exits by itself (a held request would keep it up)."""
    base = tempfile.mkdtemp(prefix="hapi-")
    try:
        service = ApiService(husk_envs("crun"), os.path.join(base, "s.sock"), idle=2)
        assert service.docker("run", "busybox", "/no/such/binary").returncode == 127
        script = "while [ ! -e /tmp/quiet ]; do echo tick; sleep 0.2; done; exec sleep 300"
        assert service.docker("run", "-d", "--name", "quiet", "busybox", "sh", "-c", script).returncode == 0
        attach = subprocess.Popen([DOCKER, "attach", "--no-stdin", "quiet"], stdout=subprocess.PIPE,
                                  env={**os.environ, "DOCKER_HOST": f"unix://{service.socket_path}",
                                       "DOCKER_CONFIG": base})
        assert attach.stdout.readline() == b"tick\n"  # attached
        assert service.docker("exec", "quiet", "touch", "/tmp/quiet").returncode == 0
        # silent from now on: the loop saw the file and exec'd the sleep (pid 1 is it)
        assert wait_until(lambda: b"sleep" in service.docker("exec", "quiet", "cat", "/proc/1/cmdline").stdout)
        attach.kill()
        attach.wait()
        assert service.process.wait(timeout=30) == 0
        assert "Traceback" not in service.process.stderr.read().decode()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@needs_docker_cli
def test_the_docker_cli_over_tcp_on_loopback(husk_envs):
    """`system service tcp://127.0.0.1:PORT`: the same API over TCP, hijacked
    streams included (stdin's end is a TCP half-close there)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    base = tempfile.mkdtemp(prefix="hapi-")
    service = ApiService(husk_envs("crun"), os.path.join(base, "unused.sock"), uri=f"tcp://127.0.0.1:{port}",
                         wait=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert service.process.poll() is None and time.monotonic() < deadline, "not listening"
                time.sleep(0.05)
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_CONFIG": base}

        def docker(*args, input=None):
            return subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=60, env=env)

        assert docker("run", "--rm", "busybox", "echo", "hi").stdout == b"hi\n"
        piped = docker("run", "--rm", "-i", "busybox", "sh", "-c", "cat; exit 4", input=b"through tcp\n")
        assert (piped.returncode, piped.stdout) == (4, b"through tcp\n")
        assert not os.path.exists(service.socket_path)
    finally:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert service.process.returncode == 0 and "Traceback" not in err, err


@needs_docker_cli
def test_docker_detached_lifecycle(api):
    script = 'trap "echo got-hup" HUP; echo started; while true; do sleep 0.1; done'
    run = api.docker("run", "-d", "--name", "web", "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.decode().strip()
    assert len(container_id) == 64
    ps = api.docker("ps", "--format", "{{.Names}} {{.State}}")
    assert ps.stdout == b"web running\n"
    deadline = time.monotonic() + 60
    while api.docker("logs", "web").stdout != b"started\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.docker("kill", "-s", "HUP", "web").returncode == 0
    while b"got-hup" not in api.docker("logs", "web").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    inspect = json.loads(api.docker("inspect", "web").stdout)[0]
    assert inspect["Name"] == "/web"
    assert inspect["Config"]["Image"] == "busybox"
    assert inspect["HostConfig"]["Runtime"] == api.env.runtime_name
    assert inspect["State"]["Running"] is True
    assert api.docker("stop", "-t", "1", "web").returncode == 0
    assert api.docker("wait", "web").stdout == b"137\n"
    assert api.docker("ps", "-a", "--format", "{{.Status}}").stdout.startswith(b"Exited (137)")
    assert api.docker("rm", "web").returncode == 0
    assert api.docker("ps", "-aq").stdout == b""
    missing = api.docker("rm", "web")
    assert missing.returncode == 1 and b"no container with name or ID" in missing.stderr


@needs_docker_cli
def test_docker_pause_unpause(api_crun):
    assert api_crun.docker("run", "-d", "--name", "p", "busybox", "sleep", "100").returncode == 0
    assert api_crun.docker("pause", "p").returncode == 0
    assert api_crun.docker("ps", "--format", "{{.State}}").stdout == b"paused\n"
    assert api_crun.docker("unpause", "p").returncode == 0
    assert api_crun.docker("ps", "--format", "{{.State}}").stdout == b"running\n"
    assert api_crun.docker("rm", "-f", "p").returncode == 0


# -- the docker SDK -----------------------------------------------------------------------
def test_docker_sdk_runs_waits_and_reads_logs(api):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    assert client.ping() is True
    container = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; exit 4"], detach=True)
    assert container.wait(timeout=30)["StatusCode"] == 4
    assert container.logs(stdout=True, stderr=False) == b"one\n"
    assert container.logs(stdout=False, stderr=True) == b"two\n"
    assert container.logs(timestamps=True, stderr=False).split(b" ", 1)[1] == b"one\n"
    container.reload()
    assert container.status == "exited"
    assert [c.id for c in client.containers.list(all=True, filters={"status": "exited"})] == [container.id]
    assert client.containers.list(filters={"status": "running"}) == []
    container.remove()
    assert client.containers.list(all=True) == []
    assert client.containers.run("busybox", ["echo", "attached"], remove=True) == b"attached\n"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nope")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nope")
    assert [image.tags for image in client.images.list()] == [["localhost/busybox:latest"]]


# -- bad input: a JSON error, never a crash -----------------------------------------------
def test_bad_requests_get_json_errors_and_the_service_lives(api_crun):
    cases = [
        ("POST", "/containers/create", b"{not json", 400),
        ("POST", "/containers/create", {"Image": "busybox", "Cmd": 7}, 400),
        ("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"AutoRemove": "yes"}}, 400),
        ("POST", "/containers/create", {"Image": "no-such-image"}, 404),
        ("POST", "/containers/create", {}, 400),
        ("POST", "/containers/create", [1, 2], 400),
        ("POST", "/containers/create?name=bad/name", {"Image": "busybox"}, 400),
        ("GET", "/containers/nope/json", None, 404),
        ("POST", "/containers/nope/start", None, 404),
        ("GET", "/containers/json?all=maybe", None, 400),
        ("GET", "/containers/json?filters=%7B", None, 400),
        ("GET", "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", None, 400),
        ("POST", "/containers/nope/kill?signal=SIGNOPE", None, 400),
        ("POST", "/containers/nope/wait?condition=sometime", None, 400),
        ("GET", "/no/such/route", None, 404),
        ("GET", "/images/nope/json", None, 404),
        ("DELETE", "/images/nope", None, 404),
    ]
    for method, path, body, status in cases:
        got, _, document = api_crun.request(method, path, body)
        assert got == status, (method, path, document)
        assert isinstance(document, dict) and isinstance(document.get("message"), str) and document["message"], path
    created = api_crun.request("POST", "/containers/create?name=c1", {"Image": "busybox", "Cmd": ["sleep", "30"]})
    assert created[0] == 201
    assert api_crun.request("POST", "/containers/create?name=c1", {"Image": "busybox"})[0] == 409
    assert api_crun.request("POST", "/containers/c1/start")[0] == 204
    assert api_crun.request("POST", "/containers/c1/start")[0] == 304
    assert api_crun.request("DELETE", "/containers/c1")[0] == 409
    assert api_crun.request("DELETE", "/images/busybox")[0] == 409
    assert api_crun.request("DELETE", "/containers/c1?force=1")[0] == 204
    assert api_crun.request("GET", "/_ping")[0] == 200


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_client_leaving_mid_stream_frees_everything(api_crun):
    created = api_crun.request("POST", "/containers/create",
                               {"Image": "busybox", "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]})
    container_id = created[2]["Id"]
    assert api_crun.request("POST", f"/containers/{container_id}/start")[0] == 204
    pid = api_crun.process.pid
    api_crun.request("GET", "/_ping")
    time.sleep(0.3)
    before = _fds(pid)
    for path in (f"/containers/{container_id}/attach?stream=1&stdout=1&stdin=1",
                 f"/containers/{container_id}/logs?follow=1&stdout=1",
                 f"/containers/{container_id}/wait", "/events"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(api_crun.socket_path)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
                     if "attach" in path or "wait" in path else f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        sock.settimeout(10)
        assert sock.recv(4096)  # the stream has begun (headers, and for attach output)
        sock.close()
    deadline = time.monotonic() + 60
    while _fds(pid) > before:
        assert time.monotonic() < deadline, f"{_fds(pid)} descriptors open, {before} before the streams"
        time.sleep(0.1)
    assert api_crun.request("GET", f"/containers/{container_id}/json")[2]["State"]["Running"] is True
    assert api_crun.request("DELETE", f"/containers/{container_id}?force=1")[0] == 204


def test_a_negative_stop_timeout_is_refused_as_the_cli_refuses_it(api_crun):
    api_crun.env("create", "--name", "neg", "busybox", "sleep", "100", check=True)
    api_crun.env("start", "neg", check=True)
    for action in ("stop", "restart"):
        status, _, body = api_crun.request("POST", f"/containers/neg/{action}?t=-1")
        assert status == 400 and body["message"] == "invalid timeout -1: must be 0 or more seconds"
    assert api_crun.env("inspect", "--format", "{{.State.Status}}", "neg").stdout.strip() == "running"
    api_crun.env("rm", "-f", "-t", "0", "neg", check=True)
