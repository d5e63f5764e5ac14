"""The libpod API with podman-py (the `podman` package): the client podman's
users script against, through its own request code."""

from __future__ import annotations

import pytest

from husk.testing import wait_until

podman = pytest.importorskip("podman", reason="podman-py is in the test extra")


#: podman-py's requests wait for ever by default: a generous limit makes a hang a failure
_WAIT = 120


def _client(service):
    return podman.PodmanClient(base_url=f"unix://{service.socket_path}", timeout=_WAIT)


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


def _trapping(container, runs: int) -> bool:
    """Whether the shell of the `runs`-th start has set its TERM trap (it says
    "trapped" right after): until then it is a pid 1 without a handler, which
    the kernel spares every signal but SIGKILL, so a TERM sent earlier is lost
    and the container runs on."""
    return b"".join(container.logs(stderr=False)).count(b"trapped\n") >= runs


def test_podman_py_stop_kill_and_list_running(api_crun):
    client = _client(api_crun)
    container = client.containers.create(
        "busybox", ["sh", "-c", "trap 'exit 9' TERM; echo trapped; while true; do sleep 0.1; done"], name="long")
    container.start()
    assert [c.id for c in client.containers.list()] == [container.id]
    assert [c.id for c in client.containers.list(filters={"status": "running"})] == [container.id]
    container.stop(timeout=0)
    assert container.wait() == 137
    container.start()
    assert wait_until(lambda: _trapping(container, 2), timeout=_WAIT)
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


#: resource_limits the flags could not make, or would refuse: each a 400 with one message
_BAD_LIMITS = [
    {"devices": [{"allow": False, "type": "a"}]},  # --device-cgroup-rule only allows
    {"devices": [{"allow": True, "type": "x", "access": "rwm"}]},
    {"devices": [{"allow": True, "type": "c", "major": "1 *:*", "access": "rwm"}]},
    {"devices": [{"allow": True, "type": "c", "access": "rwm rwm"}]},
    {"devices": "a *:* rwm"},
    {"unified": {"../../cgroup.procs": "1"}}, {"unified": {"memory.high": "1\n2"}}, {"unified": {"/x": "1"}},
    {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, {"memory": {"kernel": 1 << 20}},
    {"blockIO": {"throttleReadBpsDevice": [{"major": 4095, "minor": 1048575, "rate": 1}]}},
    {"blockIO": {"throttleReadBpsDevice": [{"major": "../1", "minor": 0, "rate": 1}]}},
    {"cpu": {"cpus": "all"}}, {"memory": {"swappiness": 101}}, {"memory": {"swap": 1 << 30}},
]


@pytest.mark.parametrize("limits", _BAD_LIMITS, ids=range(len(_BAD_LIMITS)))
def test_libpod_create_checks_resource_limits_as_the_flags(api_crun, limits):
    """resource_limits beyond husk's limits go through the flags' parser
    (husk.engine.run_options.resource_flags): the API grants no device or cgroup file the flags
    could not, and refuses what they refuse with a 400 and one line; nothing is created."""
    status, _, body = api_crun.request("POST", "/v4.0.0/libpod/containers/create",
                                       {"image": "busybox", "resource_limits": limits})
    assert status == 400 and body["message"] and "\n" not in body["message"].strip(), (limits, status, body)
    assert api_crun.env("ps", "-aq", check=True).stdout == ""


def test_libpod_create_resource_limits_are_the_flags_record(api_crun):
    """Good device rules, cgroup files and finer limits: the same record as the flags make."""
    import os

    rules = [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}, {"allow": True, "type": "b",
                                                                                     "access": "r"}]
    limits = {"devices": rules, "memory": {"reservation": 32 << 20, "swappiness": 10},
              "cpu": {"cpus": "0", "realtimeRuntime": -1}}
    flags = ["--device-cgroup-rule", "c 1:3 rwm", "--device-cgroup-rule", "b *:* r", "--memory-reservation", "32m",
             "--memory-swappiness", "10", "--cpuset-cpus", "0", "--cpu-rt-runtime", "-1"]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        limits["unified"] = {"pids.max": "42"}
        flags += ["--cgroup-conf", "pids.max=42"]
    status, _, body = api_crun.request("POST", "/v4.0.0/libpod/containers/create",
                                       {"image": "busybox", "name": "rl-api", "resource_limits": limits})
    assert status == 201, body
    api_crun.env("create", "--name", "rl-cli", *flags, "busybox", check=True)
    runtime = api_crun.env.runtime()
    mine, theirs = (runtime.container(name).config.run_options.resources for name in ("rl-cli", "rl-api"))
    assert theirs == mine and theirs["devices"][0] == {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                       "access": "rwm"}
    api_crun.env("rm", "-f", "rl-api", "rl-cli", check=True)
