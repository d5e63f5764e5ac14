"""libpod's /pods routes through podman-py's pods API and raw HTTP, on runc
and crun: create (with a container joining through the libpod create body),
list, inspect, exists, start, stop, restart, kill, pause, unpause, top, remove
and prune."""

from __future__ import annotations

import podman

from husk.testing import wait_until

PREFIX = "/v4.3.1/libpod"
#: podman-py's requests wait for ever by default: a generous limit makes a hang a failure
_WAIT = 120


def _runs_sleep(pod) -> bool:
    """Whether the member's `sleep 600` is in the pod's top: the OCI runtime's
    start returns once the container's init is released, a moment before it
    execs the command (until then top shows `runc init`, longer on a loaded machine)."""
    return any("sleep 600" in " ".join(row) for row in pod.top()["Processes"])


def test_podman_py_pods(api):
    client = podman.PodmanClient(base_url=f"http+unix://{api.socket_path}", timeout=_WAIT)
    pod = client.pods.create("pp", labels={"k": "v"}, netns={"nsmode": "none"})
    assert pod.name == "pp" and len(pod.id) == 64
    assert client.pods.exists("pp") and not client.pods.exists("nope")
    assert [p.name for p in client.pods.list(filters={"label": "k=v"})] == ["pp"]
    assert client.pods.list(filters={"name": "other"}) == []
    status, _, body = api.request("POST", f"{PREFIX}/containers/create", {
        "image": "busybox", "command": ["sleep", "600"], "name": "member", "pod": "pp", "stop_timeout": 0})
    assert status == 201, body
    pod.start()
    document = client.pods.get("pp").attrs
    assert document["State"] == "Running" and document["NumContainers"] == 2
    assert {c["Name"] for c in document["Containers"]} == {f"{pod.id[:12]}-infra", "member"}
    listed = client.pods.list()[0].attrs
    assert listed["Status"] == "Running" and listed["InfraId"] == document["InfraContainerID"]
    assert wait_until(lambda: _runs_sleep(pod), timeout=_WAIT) and "PID" in pod.top()["Titles"]
    pod.pause()
    assert client.pods.get("pp").attrs["State"] == "Paused"
    pod.unpause()
    pod.restart()
    assert client.pods.get("pp").attrs["State"] == "Running"
    assert api.request("POST", f"{PREFIX}/pods/pp/start")[0] == 304
    pod.kill()
    status, _, report = api.request("POST", f"{PREFIX}/pods/pp/stop?t=0")
    assert status in (200, 304), report
    assert client.pods.get("pp").attrs["State"] in ("Exited", "Stopped")
    assert client.pods.prune()["PodsDeleted"] == [pod.id]
    assert not client.pods.exists("pp")
    assert api.request("GET", f"{PREFIX}/containers/member/exists")[0] == 404


def test_a_pod_netns_path_is_the_flag_ns_path(api):
    """PodSpecGenerator's netns {nsmode: path, value} is `--network ns:PATH` (husk.formats.namespaces),
    checked as the flag is: the path named, not a network called "path"."""
    status, _, body = api.request("POST", f"{PREFIX}/pods/create", {
        "name": "rpns", "netns": {"nsmode": "path", "value": "/nonexistent/rpns"}})
    assert status == 400 and "namespace path '/nonexistent/rpns'" in body["message"], body


def test_pod_routes_refuse_and_report_like_podman(api):
    status, _, body = api.request("POST", f"{PREFIX}/pods/create", {"name": "rp", "netns": {"nsmode": "none"}})
    assert status == 201 and len(body["Id"]) == 64
    assert api.request("POST", f"{PREFIX}/pods/create", {"name": "rp"})[0] == 409
    assert api.request("POST", f"{PREFIX}/pods/create", {"name": "bad", "shared_namespaces": ["mnt"]})[0] == 400
    assert api.request("GET", f"{PREFIX}/pods/nope/json")[0] == 404
    assert api.request("POST", f"{PREFIX}/pods/nope/start")[0] == 404
    assert api.request("GET", f"{PREFIX}/pods/nope/exists")[0] == 404
    status, _, body = api.request("POST", f"{PREFIX}/containers/create", {
        "image": "busybox", "command": ["sleep", "600"], "name": "busy", "pod": "rp"})
    assert status == 201, body
    status, _, report = api.request("POST", f"{PREFIX}/pods/rp/start")
    assert status == 200 and report == {"Errs": [], "Id": body_id(api, "rp")}
    assert api.request("DELETE", f"{PREFIX}/pods/rp")[0] == 409  # running: force needed
    status, _, report = api.request("DELETE", f"{PREFIX}/pods/rp?force=true&timeout=0")
    assert status == 200 and report["Err"] is None
    assert api.request("GET", f"{PREFIX}/containers/json?all=true")[2] == []


def body_id(api, name: str) -> str:
    return api.request("GET", f"{PREFIX}/pods/{name}/json")[2]["Id"]


def test_pod_create_with_limits_over_the_api(api):
    import os

    parent = f"husk-api-test-{os.getpid()}"
    status, _, body = api.request("POST", f"{PREFIX}/pods/create", {
        "name": "lim", "netns": {"nsmode": "none"}, "cgroup_parent": parent,
        "resource_limits": {"memory": {"limit": 64 << 20}, "cpu": {"quota": 25000, "period": 100000}}})
    assert status == 201, body
    document = api.request("GET", f"{PREFIX}/pods/lim/json")[2]
    assert (document["CgroupPath"], document["MemoryLimit"], document["CPUQuota"]) == (
        f"/{parent}/{body['Id']}", 64 << 20, 25000)
    assert api.request("DELETE", f"{PREFIX}/pods/lim?force=true")[0] == 200
    roots = (["/sys/fs/cgroup"] if os.path.exists("/sys/fs/cgroup/cgroup.controllers")
             else [os.path.join("/sys/fs/cgroup", name) for name in os.listdir("/sys/fs/cgroup")])
    for root in roots:  # the pod never ran: nothing was made, but a parent left by a failure goes too
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            pass
