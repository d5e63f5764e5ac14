"""rename, top and update through the API service, with the real docker CLI,
the docker SDK and podman-py, and raw HTTP for the refusals; limits are
checked in the container's cgroup."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import docker
import podman
import pytest

from husk.testing import needs_docker_cli, runs, wait_until

from test_changes import cgroup_file  # the same directory is on sys.path (rootdir-relative imports)


def _create(api, name, **host_config):
    status, _, body = api.request("POST", f"/containers/create?name={name}",
                                  {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": host_config})
    assert status == 201, body
    return body["Id"]


def _start(api, name, **host_config):
    container_id = _create(api, name, **host_config)
    assert api.request("POST", f"/containers/{name}/start")[0] == 204
    return container_id


def _pid(api, name):
    return api.request("GET", f"/containers/{name}/json")[2]["State"]["Pid"]


def _docker(api, *args):
    """The docker CLI, its output as text."""
    result = api.docker(*args)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


# -- the docker CLI -------------------------------------------------------------------------
@needs_docker_cli
def test_docker_cli_run_with_limits_update_rename_top(api):
    run = _docker(api, "run", "-d", "--name", "web", "-m", "64m", "--cpus", "0.5", "--pids-limit", "100",
                     "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    pid = _pid(api, "web")
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(pid, "pids", "pids.max") == "100"
    shown = _docker(api, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} "
                       "{{.HostConfig.PidsLimit}}", "web").stdout.split()
    assert shown == [str(64 << 20), "500000000", "100"]

    update = _docker(api, "update", "--memory", "128m", "--restart", "always", "web")
    assert update.returncode == 0, update.stderr
    assert update.stdout.strip() == "web"
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(128 << 20)
    assert _docker(api, "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", "web").stdout.strip() == "always"

    assert _docker(api, "rename", "web", "site").returncode == 0
    assert _docker(api, "ps", "--format", "{{.Names}}").stdout.split() == ["site"]
    assert wait_until(lambda: runs(pid, "sleep"))
    top = _docker(api, "top", "site")
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[1].split()[1] == str(pid) and lines[1].endswith("sleep 60")
    top = _docker(api, "top", "site", "-o", "pid,comm")
    assert [line.split() for line in top.stdout.splitlines()] == [["PID", "COMMAND"], [str(pid), "sleep"]]


@needs_docker_cli
def test_docker_cli_refusals(api_crun):
    api = api_crun
    _start(api, "one")
    _create(api, "two")
    rename = _docker(api, "rename", "one", "two")
    assert rename.returncode == 1 and 'the container name "two" is already in use' in rename.stderr
    top = _docker(api, "top", "two")
    assert top.returncode == 1 and "can only top running containers" in top.stderr
    update = _docker(api, "update", "--memory", "1k", "one")
    assert update.returncode == 1 and "minimum memory limit allowed is 6MB" in update.stderr
    update = _docker(api, "update", "--cpu-quota", "5000", "one")
    assert update.returncode == 1 and "CpuQuota is not supported by husk" in update.stderr
    assert _docker(api, "rename", "nosuch", "three").returncode == 1


# -- the docker SDK -------------------------------------------------------------------------
def test_docker_sdk_rename_top_update(api):
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    try:
        ctr = client.containers.run("busybox", ["sleep", "60"], detach=True, mem_limit="32m", nano_cpus=250_000_000,
                                    cpu_shares=512)
        ctr.rename("renamed")
        ctr.reload()
        assert ctr.name == "renamed"
        host = ctr.attrs["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["CpuShares"]) == (32 << 20, 250_000_000, 512)
        assert wait_until(lambda: runs(ctr.attrs["State"]["Pid"], "sleep"))
        top = ctr.top()
        assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert [row[-1] for row in top["Processes"]] == ["sleep 60"]
        assert ctr.update(mem_limit="48m", cpu_shares=256) == {"Warnings": []}
        pid = ctr.attrs["State"]["Pid"]
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(48 << 20)
        assert cgroup_file(pid, "cpu", "cpu.shares") == "256"
        ctr.reload()
        assert (ctr.attrs["HostConfig"]["Memory"], ctr.attrs["HostConfig"]["CpuShares"]) == (48 << 20, 256)
        with pytest.raises(docker.errors.APIError) as refused:
            ctr.update(mem_limit="1k")
        assert refused.value.status_code == 400
        with pytest.raises(docker.errors.NotFound):
            client.containers.get("nosuch").rename("x")
    finally:
        client.close()


# -- podman-py ------------------------------------------------------------------------------
def test_podman_py_rename_top_update(api):
    client = podman.PodmanClient(base_url=f"http+unix://{api.socket_path}", timeout=120)
    try:
        ctr = client.containers.create("busybox", ["sleep", "60"], name="pp")
        ctr.start()
        ctr.rename("pp2")
        ctr.reload()
        assert ctr.name == "pp2"
        assert wait_until(lambda: runs(ctr.attrs["State"]["Pid"], "sleep"))
        top = ctr.top()
        assert top["Titles"] == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
        assert top["Processes"][0][:3] == ["root", "1", "0"]
        assert ctr.top(ps_args="pid,args") == {"Titles": ["PID", "COMMAND"], "Processes": [["1", "sleep 60"]]}
        ctr.update(memory={"limit": 64 << 20}, pids={"limit": 77}, restart_policy="on-failure", restart_retries=3)
        ctr.reload()
        host = ctr.attrs["HostConfig"]
        assert (host["Memory"], host["PidsLimit"]) == (64 << 20, 77)
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        pid = ctr.attrs["State"]["Pid"]
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_file(pid, "pids", "pids.max") == "77"
        with pytest.raises(podman.errors.APIError) as refused:
            ctr.update(blockio={"weight": 5})
        assert refused.value.status_code == 400 and "blockIO" in str(refused.value)
        limited = client.containers.create("busybox", ["sleep", "60"], mem_limit="48m", pids_limit=33,
                                           cpu_quota=20000, cpu_period=100000, cpu_shares=700)
        limited.start()
        limited.reload()
        host = limited.attrs["HostConfig"]
        assert (host["Memory"], host["PidsLimit"], host["NanoCpus"], host["CpuShares"]) == \
            (48 << 20, 33, 200_000_000, 700)
        pid = limited.attrs["State"]["Pid"]
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(48 << 20)
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "20000"
        with pytest.raises(podman.errors.APIError) as refused:
            client.containers.create("busybox", mem_limit="1k")
        assert refused.value.status_code == 400
    finally:
        client.close()


# -- raw HTTP: statuses, bodies, concurrency ------------------------------------------------
def test_rename_top_update_statuses(api_crun):
    api = api_crun
    _start(api, "a")
    _create(api, "b")
    cases = [
        ("POST", "/containers/nosuch/rename?name=x", None, 404),
        ("POST", "/containers/a/rename?name=b", None, 409),
        ("POST", "/containers/a/rename", None, 400),
        ("POST", "/containers/a/rename?name=bad%20name", None, 400),
        ("GET", "/containers/nosuch/top", None, 404),
        ("GET", "/containers/b/top", None, 409),
        ("GET", "/containers/a/top?ps_args=--bogus", None, 400),
        ("POST", "/containers/nosuch/update", {"Memory": 64 << 20}, 404),
        ("POST", "/containers/a/update", {"Memory": 1024}, 400),
        ("POST", "/containers/a/update", {"Memory": "lots"}, 400),
        ("POST", "/containers/a/update", {"NanoCpus": -5}, 400),
        ("POST", "/containers/a/update", {"RestartPolicy": {"Name": "sometimes"}}, 400),
        ("POST", "/containers/a/update", b"{not json", 400),
        ("POST", "/v4.3.1/libpod/containers/a/update", {"memory": {"limit": "x"}}, 400),
        ("POST", "/v4.3.1/libpod/containers/a/update?restartPolicy=bogus", None, 400),
        ("GET", "/v4.3.1/libpod/containers/b/top", None, 409),
        ("POST", "/v4.3.1/libpod/containers/a/rename?name=b", None, 409),
    ]
    for method, path, body, expected in cases:
        status, _, answer = api.request(method, path, body)
        assert status == expected, (method, path, status, answer)
        assert isinstance(answer, dict) and answer["message"], (path, answer)
    status, _, created = api.request("POST", "/containers/create?name=c",
                                     {"Image": "busybox", "HostConfig": {"Memory": 1000}})
    assert status == 400 and "minimum memory limit allowed is 6MB" in created["message"]
    # nothing changed by the refusals
    names = sorted(c["Names"][0] for c in api.request("GET", "/containers/json?all=1")[2])
    assert names == ["/a", "/b"]
    host = api.request("GET", "/containers/a/json")[2]["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"], host["RestartPolicy"]["Name"]) == (0, 0, 2048, "no")


def test_update_body_zero_means_unchanged_and_a_policy_name_is_enough(api_crun):
    api = api_crun
    _start(api, "z", Memory=64 << 20, PidsLimit=50)
    # what the docker CLI sends for `docker update --restart always`: every field, zero
    body = {"Memory": 0, "NanoCpus": 0, "CpuShares": 0, "MemorySwap": 0, "CpuQuota": 0,
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}
    assert api.request("POST", "/v1.41/containers/z/update", body)[2] == {"Warnings": []}
    host = api.request("GET", "/containers/z/json")[2]["HostConfig"]
    assert (host["Memory"], host["PidsLimit"], host["RestartPolicy"]["Name"]) == (64 << 20, 50, "always")
    assert api.request("POST", "/containers/z/update", {"PidsLimit": -1})[0] == 200
    pids = cgroup_file(_pid(api, "z"), "pids", "pids.max")
    assert pids in ("max", str(4 * 1024 * 1024))
    status, _, answer = api.request("POST", "/v4.3.1/libpod/containers/z/update", {"cpu": {"quota": 25000}})
    assert (status, answer) == (201, api.request("GET", "/containers/z/json")[2]["Id"])
    assert cgroup_file(_pid(api, "z"), "cpu", "cpu.cfs_quota_us") == "25000"


def test_two_renames_to_one_name_at_once_exactly_one_wins(api_crun):
    api = api_crun
    for round_number in range(5):
        first, second, wanted = f"p{round_number}", f"q{round_number}", f"r{round_number}"
        _create(api, first)
        _create(api, second)
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda name: api.request("POST", f"/containers/{name}/rename?name={wanted}")[0],
                                     (first, second)))
        assert sorted(statuses) == [204, 409], statuses
        names = [c["Names"][0] for c in api.request("GET", "/containers/json?all=1")[2]]
        assert names.count("/" + wanted) == 1
        loser = (first, second)[statuses.index(409)]
        assert "/" + loser in names
        assert api.request("GET", f"/containers/{loser}/json")[0] == 200


def test_rename_event_is_streamed(api_crun):
    api = api_crun
    _create(api, "ev1")
    assert api.request("POST", "/containers/ev1/rename?name=/ev2")[0] == 204
    query = urllib.parse.urlencode({"since": "0", "until": str(int(time.time()) + 1),
                                    "filters": json.dumps({"event": ["rename"]})})
    status, _, body = api.request("GET", "/events?" + query)
    events = [json.loads(line) for line in body.splitlines()] if isinstance(body, bytes) else [body]
    assert status == 200
    assert [(e["Action"], e["Actor"]["Attributes"]["name"], e["Actor"]["Attributes"]["oldName"]) for e in events] == \
        [("rename", "ev2", "ev1")]


@needs_docker_cli
def test_docker_cli_diff(api_crun):
    """`docker diff` reads GET /containers/NAME/changes: the same changes as `husk diff`."""
    _start(api_crun, "changed")
    api_crun.env("exec", "changed", "touch", "/tmp/new", check=True)
    shown = _docker(api_crun, "diff", "changed")
    assert shown.returncode == 0, shown.stderr
    assert "A /tmp/new" in shown.stdout.splitlines()
    assert sorted(shown.stdout.splitlines()) == sorted(api_crun.env("diff", "changed", check=True).stdout.splitlines())
    missing = _docker(api_crun, "diff", "nope")
    assert missing.returncode != 0 and "nope" in missing.stderr
    api_crun.request("DELETE", "/containers/changed?force=true")
