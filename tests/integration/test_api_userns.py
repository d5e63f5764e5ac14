"""User namespaces through the REST API (issue 18): Docker's HostConfig.UsernsMode and libpod's
userns/idmappings reach the CLI's --userns/--uidmap/--gidmap code; inspect shows podman 4.3's
HostConfig.UsernsMode and HostConfig.IDMappings; bad values are 400s with podman's messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from husk.testing import IMAGE

from test_userns import auto_ids  # noqa: F401 - the fixture: a "containers" range in /etc/subuid

HOST_MAP = "0 0 4294967295"


def _uid_map(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_docker_cli_and_sdk_userns_host(api):
    result = api.docker("run", "--rm", "--network", "none", "--userns=host", "busybox", "cat", "/proc/self/uid_map")
    assert result.returncode == 0, result.stderr
    assert _uid_map(result.stdout.decode()) == [HOST_MAP]
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    container = client.containers.run("busybox", ["cat", "/proc/self/uid_map"], userns_mode="host",
                                      network_mode="none", detach=True)
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert _uid_map(container.logs().decode()) == [HOST_MAP]
        container.reload()
        assert container.attrs["HostConfig"]["UsernsMode"] == ""  # podman 4.3: no namespace of its own
        assert "IDMappings" not in container.attrs["HostConfig"]
    finally:
        container.remove(force=True)
    client.close()


def test_libpod_idmappings_map_the_container(api):
    os.chmod(os.path.dirname(api.env.root), 0o755)  # searchable by others, as /var/lib is
    body = {"image": "busybox", "name": "mapped", "netns": {"nsmode": "none"},
            "command": ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"],
            "idmappings": {"UIDMap": [{"container_id": 0, "host_id": 200000, "size": 65536}],
                           "GIDMap": [{"container_id": 0, "host_id": 300000, "size": 65536}]}}
    status, _, answer = api.request("POST", "/v4.3.0/libpod/containers/create", body)
    assert status == 201, answer
    try:
        status, _, inspect = api.request("GET", "/v4.3.0/libpod/containers/mapped/json")
        assert status == 200
        assert inspect["HostConfig"]["UsernsMode"] == "private"
        assert inspect["HostConfig"]["IDMappings"] == {"UidMap": ["0:200000:65536"], "GidMap": ["0:300000:65536"]}
        status, _, docker_inspect = api.request("GET", "/v1.41/containers/mapped/json")
        assert docker_inspect["HostConfig"]["UsernsMode"] == "private"
        assert "IDMappings" not in docker_inspect["HostConfig"]
        assert api.request("POST", "/v4.3.0/libpod/containers/mapped/start")[0] == 204
        status, _, waited = api.request("POST", "/v4.3.0/libpod/containers/mapped/wait?condition=exited")
        assert (status, waited) == (200, 0)
        logs = api.env("logs", "mapped", check=True).stdout
        assert _uid_map(logs) == ["0 200000 65536", "0 300000 65536", "0"]
        # the same container through the CLI's inspect
        mode = api.env("inspect", "--format", "{{.HostConfig.UsernsMode}} {{.HostConfig.IDMappings.UIDMap}} "
                       "{{.HostConfig.IDMappings.GIDMap}}", "mapped", check=True).stdout
        assert mode.strip() == "private [0:200000:65536] [0:300000:65536]"  # podman's Go field names
    finally:
        api.env("rm", "-f", "-t", "0", "mapped")


def test_docker_usernsmode_podman_values_and_refusals(api):
    """podman's compat API takes its own --userns values in UsernsMode: a mapping refused as the CLI
    refuses it (400, podman's message); `private` without a map and keep-id as root likewise."""
    cases = [
        ({"UsernsMode": "bogus"}, "unrecognized namespace mode bogus passed"),
        ({"UsernsMode": "keep-id"}, "keep-id is only supported in rootless mode"),
        ({"UsernsMode": "private"}, "must provide at least one UID or GID mapping"),
        ({"UsernsMode": "auto:size=x"}, "invalid --userns=auto option"),
        ({"UsernsMode": "ns:/no/such/ns"}, "cannot find specified user namespace path: stat /no/such/ns"),
    ]
    for host_config, message in cases:
        status, _, answer = api.request("POST", "/v1.41/containers/create",
                                        {"Image": "busybox", "HostConfig": host_config})
        assert status == 400, (host_config, answer)
        assert message in answer["message"], answer
    libpod = [
        ({"userns": {"nsmode": "host"}, "idmappings": {"UIDMap": [{"container_id": 0, "host_id": 1, "size": 5}]}},
         "mutually exclusive"),
        ({"idmappings": {"UIDMap": [{"container_id": 0, "host_id": 1, "size": 0}]}}, "UID setting is malformed"),
        ({"userns": {"nsmode": "pod"}}, "unrecognized namespace mode pod passed"),
    ]
    for fields, message in libpod:
        status, _, answer = api.request("POST", "/v4.3.0/libpod/containers/create", {"image": "busybox", **fields})
        assert status == 400, (fields, answer)
        assert message in answer["message"], answer
    assert api.env("ps", "-a", "-q", check=True).stdout == ""


def test_libpod_userns_path_container_and_auto_modes(api, auto_ids):
    """libpod's userns {nsmode: path|container|auto, value} join another container's namespace or
    take an auto range; inspect says ns:PATH, container:ID (with its maps) and "" for auto, as podman."""
    os.chmod(os.path.dirname(api.env.root), 0o755)
    api.env("run", "-d", "--name", "owner", "--network", "none", "--uidmap", "0:220000:65536", "busybox",
            "sleep", "600", check=True)
    try:
        owner = int(api.env("inspect", "--format", "{{.State.Pid}}", "owner", check=True).stdout)
        owner_id = api.env("inspect", "--format", "{{.Id}}", "owner", check=True).stdout.strip()
        path = f"/proc/{owner}/ns/user"
        for name, userns, mode in (("by-path", {"nsmode": "path", "value": path}, f"ns:{path}"),
                                   ("by-name", {"nsmode": "container", "value": "owner"}, f"container:{owner_id}")):
            body = {"image": "busybox", "name": name, "netns": {"nsmode": "none"}, "userns": userns,
                    "command": ["sleep", "600"]}
            status, _, answer = api.request("POST", "/v4.3.0/libpod/containers/create", body)
            assert status == 201, answer
            assert api.request("POST", f"/v4.3.0/libpod/containers/{name}/start")[0] == 204
            pid = int(api.env("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)
            assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(path)
            _, _, inspect = api.request("GET", f"/v4.3.0/libpod/containers/{name}/json")
            assert inspect["HostConfig"]["UsernsMode"] == mode
            assert inspect["HostConfig"]["IDMappings"]["UidMap"] == ["0:220000:65536"]
        body = {"image": "busybox", "name": "auto", "userns": {"nsmode": "auto", "value": "size=2000"}}
        status, _, answer = api.request("POST", "/v4.3.0/libpod/containers/create", body)
        assert status == 201, answer
        _, _, inspect = api.request("GET", "/v4.3.0/libpod/containers/auto/json")
        assert inspect["HostConfig"]["UsernsMode"] == ""  # podman 4.3 says nothing for auto
        [uid_map] = inspect["HostConfig"]["IDMappings"]["UidMap"]
        assert uid_map.startswith("0:") and uid_map.endswith(":2000")
    finally:
        api.env("rm", "-f", "-t", "0", "by-path", "by-name", "auto", "owner")


def test_podman_remote_uidmap(api):
    """podman 4.3 as the client (`podman --url`): its --uidmap body maps the container; its inspect
    reads the fields back."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")
    os.chmod(os.path.dirname(api.env.root), 0o755)
    home = tempfile.mkdtemp(prefix="hpr-")
    env = {**os.environ, "XDG_CONFIG_HOME": f"{home}/config"}

    def remote(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([podman, "--url", f"unix://{api.socket_path}", *args], capture_output=True,
                              text=True, timeout=120, env=env)

    try:
        created = remote("create", "--network", "none", "--name", "pr", "--uidmap", "0:240000:65536", IMAGE,
                         "cat", "/proc/self/uid_map")
        assert created.returncode == 0, created.stderr
        ran = remote("start", "-a", "pr")
        assert ran.returncode == 0, ran.stderr
        assert _uid_map(ran.stdout) == ["0 240000 65536"]
        shown = remote("inspect", "--format", "{{.HostConfig.UsernsMode}} {{.HostConfig.IDMappings.UIDMap}}", "pr")
        assert shown.stdout.strip() == "private [0:240000:65536]", shown.stderr
    finally:
        api.env("rm", "-f", "-t", "0", "pr")
        shutil.rmtree(home, ignore_errors=True)
