"""The kernel's OOM killer under the plain OCI runtimes (runc, crun): the
container's monitor reads its memory cgroup's kill count at the exit (v1's
memory.oom_control here, v2's memory.events), so inspect says OOMKilled and an
`oom` event comes before `died`, on the CLI and through the Docker API.

No timing: `tail /dev/zero` grows until the 16 MiB limit kills it, however
loaded the machine is.
"""

from __future__ import annotations

import json
import os

import pytest

from husk.testing import needs_docker_cli


def _events_of(env, name: str) -> list[str]:
    """The statuses the events log holds for container `name`, in order."""
    path = os.path.join(env.runroot, "events", "events.log")
    with open(path) as log:
        return [event["status"] for event in map(json.loads, log) if event.get("name") == name]


def test_an_oom_kill_is_oomkilled_with_an_oom_event_before_died(husk_rt):
    result = husk_rt("run", "--name", "hog", "--memory", "16m", "busybox", "tail", "/dev/zero", timeout=120)
    assert result.returncode == 137, result.stderr
    assert husk_rt("inspect", "--format", "{{.State.OOMKilled}}", "hog").stdout == "true\n"
    statuses = _events_of(husk_rt, "hog")
    assert statuses.count("oom") == 1, statuses
    assert statuses.index("oom") == statuses.index("died") - 1, statuses
    # the next run of the same container, ending by itself, is not OOMKilled (the marker was taken)
    husk_rt("run", "--name", "fine", "--memory", "16m", "busybox", "true", check=True)
    assert husk_rt("inspect", "--format", "{{.State.OOMKilled}}", "fine").stdout == "false\n"
    assert "oom" not in _events_of(husk_rt, "fine")
    husk_rt("rm", "hog", "fine", check=True)


def test_a_killed_process_in_the_container_is_an_oom_kill_too(husk_rt):
    """As podman: any process the OOM killer takes in the container's cgroup,
    not only its init (which here exits by itself afterwards)."""
    husk_rt("run", "--name", "parent", "--memory", "16m", "busybox", "sh", "-c", "tail /dev/zero; exit 0",
            check=True, timeout=120)
    assert husk_rt("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "parent").stdout == "true 0\n"
    husk_rt("rm", "parent", check=True)


@needs_docker_cli
def test_docker_clients_see_oomkilled(api):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    result = api.docker("run", "--name", "hog", "--memory", "16m", "busybox", "tail", "/dev/zero", timeout=120)
    assert result.returncode == 137, result.stderr
    assert api.docker("inspect", "--format", "{{.State.OOMKilled}}", "hog").stdout == b"true\n"
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    try:
        assert client.containers.get("hog").attrs["State"]["OOMKilled"] is True
        fine = client.containers.run("busybox", ["true"], name="fine", detach=True, mem_limit="16m")
        assert fine.wait(timeout=60)["StatusCode"] == 0
        fine.reload()
        assert fine.attrs["State"]["OOMKilled"] is False
        status, _, document = api.request("GET", "/v4.0.0/libpod/containers/hog/json")
        assert status == 200 and document["State"]["OOMKilled"] is True
        fine.remove()
        client.containers.get("hog").remove()
    finally:
        client.close()
