"""Pods on real runtimes (issue 17 item 1): an infra container (catatonit -P)
holding the shared namespaces, members joining them, the pod verbs with
podman's output and exit codes, and the repair of a pod whose infra container
was killed.  Traffic goes only to loopback and to namespaces the test made;
the `husk_envs` fixture fails a test that leaves a namespace, bridge, rule or
network behind."""

from __future__ import annotations

import json
import os
import signal
import time

from husk.testing import http_body, wait_until

IMAGE = "busybox"
HTTPD = "echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp"


def _inspect(husk, name: str, template: str) -> str:
    return husk("inspect", "-f", template, name, check=True).stdout.strip()


def _pod_inspect(husk, name: str) -> dict:
    return json.loads(husk("pod", "inspect", name, check=True).stdout)


def _pod_status(husk, name: str) -> str:
    return husk("pod", "ps", "--filter", f"name=^{name}$", "--format", "{{.Status}}", check=True).stdout.strip()


def _fetch_from_member(husk, pod: str, url: str, timeout: float = 60) -> str:
    """wget from a fresh member of `pod`, retried while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        result = husk("run", "--rm", "--pod", pod, IMAGE, "wget", "-qO-", url)
        if result.returncode == 0:
            return result.stdout
        assert time.monotonic() < deadline, f"nothing served at {url} in pod {pod}: {result.stderr}"
        time.sleep(0.2)


def _namespace(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_members_share_the_infra_containers_namespaces_and_reach_each_other_on_localhost(husk_rt):
    pod_id = husk_rt("pod", "create", "--name", "web", "--network", "none", "--label", "tier=front",
                     check=True).stdout.strip()
    assert len(pod_id) == 64
    document = _pod_inspect(husk_rt, "web")
    assert document["Id"] == pod_id and document["State"] == "Created"
    assert sorted(document["SharedNamespaces"]) == ["ipc", "net", "uts"]
    infra = document["InfraContainerID"]
    assert _inspect(husk_rt, infra, "{{.IsInfra}} {{.Pod}}") == f"true {pod_id}"
    assert _inspect(husk_rt, infra, "{{.ImageName}}").startswith("localhost/husk-pause:")

    husk_rt("run", "-d", "--pod", "web", "--name", "server", IMAGE, "sh", "-c", HTTPD, check=True)
    assert _fetch_from_member(husk_rt, "web", "http://localhost:8080/i") == "served\n"
    assert _pod_status(husk_rt, "web") == "Running"

    infra_pid = int(_inspect(husk_rt, infra, "{{.State.Pid}}"))
    server_pid = int(_inspect(husk_rt, "server", "{{.State.Pid}}"))
    for kind in ("net", "ipc", "uts"):
        assert _namespace(server_pid, kind) == _namespace(infra_pid, kind)
    assert _namespace(server_pid, "pid") != _namespace(infra_pid, "pid")
    assert _inspect(husk_rt, "server", "{{.IsInfra}} {{.Pod}}") == f"false {pod_id}"
    assert husk_rt("exec", "server", "hostname", check=True).stdout.strip() == "web"

    ps = husk_rt("ps", "-a", "--pod", "--format", "{{.Names}} {{.Pod}} {{.PodName}}", check=True).stdout
    assert sorted(ps.splitlines()) == sorted([f"server {pod_id[:12]} web", f"{pod_id[:12]}-infra {pod_id[:12]} web"])
    names = husk_rt("pod", "ps", "--ctr-names", "--format", "{{.Name}} {{.ContainerNames}} {{.NumberOfContainers}}",
                    "--filter", "label=tier=front", check=True).stdout
    assert names == f"web {pod_id[:12]}-infra,server 2\n"

    assert husk_rt("pod", "stop", "-t", "0", "web", check=True).stdout == pod_id + "\n"
    assert _pod_status(husk_rt, "web") == "Exited"
    assert husk_rt("pod", "start", "web", check=True).stdout == pod_id + "\n"
    assert _fetch_from_member(husk_rt, "web", "http://127.0.0.1:8080/i") == "served\n"

    assert husk_rt("pod", "rm", "-f", "-t", "0", "web", check=True).stdout == pod_id + "\n"
    assert husk_rt("ps", "-aq", check=True).stdout == ""
    assert husk_rt("pod", "exists", "web").returncode == 1


def test_share_pid_puts_members_in_the_infra_containers_pid_namespace(husk_rt):
    husk_rt("pod", "create", "--name", "pids", "--network", "none", "--share", "+pid", check=True)
    assert sorted(_pod_inspect(husk_rt, "pids")["SharedNamespaces"]) == ["ipc", "net", "pid", "uts"]
    out = husk_rt("run", "--rm", "--pod", "pids", IMAGE, "ps", "-o", "pid,args", check=True).stdout
    assert "/catatonit -P" in out  # the pause process is pid 1 of the shared namespace
    husk_rt("pod", "rm", "-f", "-t", "0", "pids", check=True)


def test_a_pods_published_port_and_bridge_network_are_the_infra_containers(husk):
    port = _free_port()
    husk("pod", "create", "--name", "pub", "-p", f"127.0.0.1:{port}:8080", "--add-host", "db.test:10.1.2.3",
         check=True)
    husk("run", "-d", "--pod", "pub", "--name", "srv", IMAGE, "sh", "-c", HTTPD, check=True)
    assert http_body("127.0.0.1", port, timeout=60) == b"served\n"
    hosts = husk("exec", "srv", "cat", "/etc/hosts", check=True).stdout
    assert "10.1.2.3\tdb.test" in hosts
    bindings = _pod_inspect(husk, "pub")["InfraConfig"]["PortBindings"]
    assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    refused = husk("create", "--pod", "pub", "-p", "9090:80", IMAGE, "true")
    assert refused.returncode == 125
    assert "published or exposed ports must be defined when the pod is created" in refused.stderr
    husk("pod", "rm", "-f", "-t", "0", "pub", check=True)


def test_an_infra_container_killed_with_sigkill_is_repaired(husk_rt):
    husk_rt("pod", "create", "--name", "hurt", "--network", "none", check=True)
    husk_rt("run", "-d", "--pod", "hurt", "--name", "srv", "--stop-timeout", "0", IMAGE, "sh", "-c", HTTPD,
            check=True)
    infra = _pod_inspect(husk_rt, "hurt")["InfraContainerID"]
    os.kill(int(_inspect(husk_rt, infra, "{{.State.Pid}}")), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while _pod_status(husk_rt, "hurt") != "Degraded":  # the next command sees the infra container gone
        assert time.monotonic() < deadline, husk_rt("ps", "-a").stdout
        time.sleep(0.2)
    assert _inspect(husk_rt, infra, "{{.State.Status}}") in ("stopped", "exited")
    husk_rt("pod", "restart", "hurt", check=True)
    assert _pod_status(husk_rt, "hurt") == "Running"
    assert _fetch_from_member(husk_rt, "hurt", "http://localhost:8080/i") == "served\n"
    husk_rt("pod", "rm", "-f", "-t", "0", "hurt", check=True)
    assert husk_rt("ps", "-aq", check=True).stdout == ""


def test_pod_new_and_pod_id_files(husk, tmp_path):
    id_file = tmp_path / "pod-id"
    husk("create", "--pod", "new:fresh", "--network", "none", "--name", "first", IMAGE, "true", check=True)
    document = _pod_inspect(husk, "fresh")
    assert [c["Name"] for c in document["Containers"]] == [f"{document['Id'][:12]}-infra", "first"]
    husk("pod", "create", "--name", "byfile", "--network", "none", "--pod-id-file", str(id_file), check=True)
    pod_id = id_file.read_text()
    husk("create", "--pod-id-file", str(id_file), "--name", "second", IMAGE, "true", check=True)
    assert _inspect(husk, "second", "{{.Pod}}") == pod_id
    replaced = husk("pod", "create", "--name", "byfile", "--replace", "--network", "none", check=True).stdout.strip()
    assert replaced != pod_id and husk("container", "exists", "second").returncode == 1
    assert husk("pod", "rm", "--pod-id-file", str(id_file)).returncode == 1  # that pod is gone
    husk("pod", "rm", "-a", check=True)
    assert husk("pod", "ps", "-q", check=True).stdout == ""


def test_pod_errors_are_podmans(husk):
    husk("pod", "create", "--name", "dup", "--network", "none", check=True)
    taken = husk("pod", "create", "--name", "dup")
    assert taken.returncode == 125
    assert taken.stderr == 'Error: adding pod to state: name "dup" is in use: pod already exists\n'
    missing = husk("pod", "rm", "nope")
    assert (missing.returncode, missing.stderr) == (1, "Error: no pod with name or ID nope found: no such pod\n")
    missing = husk("pod", "inspect", "nope")
    assert (missing.returncode, missing.stdout) == (125, "[]\n")  # podman 4.3: the empty array, then the error
    assert missing.stderr == "Error: inspecting object: no such pod nope\n"
    missing = husk("pod", "inspect", "nope", "dup", "nope2")  # several: the first last; one pod bare
    assert missing.returncode == 125 and json.loads(missing.stdout)["Name"] == "dup"
    assert missing.stderr.splitlines() == ["error inspecting object: no such pod nope2",
                                           "Error: inspecting object: no such pod nope"]
    assert husk("pod", "exists", "nope").returncode == 1
    assert husk("pod", "exists", "dup").returncode == 0
    assert husk("run", "--pod", "nope", IMAGE, "true").returncode == 125
    assert husk("pod", "create", "--share", "mnt").returncode == 125
    assert husk("pod", "create", "--exit-policy", "sometimes").returncode == 125
    husk("run", "-d", "--pod", "dup", "--name", "busy", IMAGE, "sleep", "600", check=True)
    busy = husk("pod", "rm", "dup")
    assert busy.returncode == 125 and "cannot be removed without force" in busy.stderr
    assert husk("container", "exists", "busy").returncode == 0  # nothing was removed
    husk("pod", "rm", "-f", "-t", "0", "dup", check=True)


def test_pod_without_infra_groups_containers_only(husk):
    husk("pod", "create", "--name", "loose", "--infra=false", check=True)
    document = _pod_inspect(husk, "loose")
    assert document["InfraContainerID"] == "" and document["NumContainers"] == 0
    assert husk("pod", "create", "--infra=false", "-p", "80").returncode == 125
    husk("create", "--pod", "loose", "--network", "none", "--name", "alone", IMAGE, "true", check=True)
    assert husk("pod", "ps", "--format", "{{.Status}} {{.NumberOfContainers}}", check=True).stdout == "Created 1\n"
    husk("pod", "start", "loose", check=True)
    deadline = time.monotonic() + 60
    while _pod_status(husk, "loose") != "Exited":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert husk("pod", "prune", "-f", check=True).stdout.strip() == document["Id"]
    assert husk("ps", "-aq", check=True).stdout == ""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_exit_policy_stop_stops_the_pod_when_its_last_container_exits(husk_rt):
    husk_rt("pod", "create", "--name", "once", "--network", "none", "--exit-policy", "stop", check=True)
    assert _pod_inspect(husk_rt, "once")["ExitPolicy"] == "stop"
    husk_rt("run", "--pod", "once", "--name", "job", IMAGE, "true", check=True)
    deadline = time.monotonic() + 60
    while _pod_status(husk_rt, "once") != "Exited":  # the infra container went with the last member
        assert time.monotonic() < deadline, husk_rt("ps", "-a").stdout
        time.sleep(0.2)
    husk_rt("pod", "create", "--name", "stays", "--network", "none", check=True)
    husk_rt("run", "--pod", "stays", IMAGE, "true", check=True)
    assert _pod_status(husk_rt, "stays") == "Degraded"  # continue (the default): the infra container runs on
    husk_rt("pod", "rm", "-a", "-f", "-t", "0", check=True)


def test_exit_policy_stop_applies_when_the_last_container_is_removed(husk):
    """podman's removal cleans up, and its cleanup applies the exit policy: an
    attached `run --rm` (which removes the member itself, so the monitor's exit
    command has nothing left) and `rm -f` of the last running member stop the pod."""
    for pod, remove in (("rmrun", None), ("rmf", ("rm", "-f", "-t", "0", "job"))):
        husk("pod", "create", "--name", pod, "--network", "none", "--exit-policy", "stop", check=True)
        if remove is None:
            husk("run", "--rm", "--pod", pod, IMAGE, "true", check=True)
        else:
            husk("run", "-d", "--pod", pod, "--name", "job", IMAGE, "sleep", "1000", check=True)
            husk(*remove, check=True)
        assert wait_until(lambda: _pod_status(husk, pod) == "Exited"), husk("ps", "-a").stdout
    husk("pod", "rm", "-a", "-f", "-t", "0", check=True)


def test_pod_events_and_the_infra_container_refuses_rm(husk):
    pod_id = husk("pod", "create", "--name", "ev", "--network", "none", check=True).stdout.strip()
    infra = _pod_inspect(husk, "ev")["InfraContainerID"]
    refused = husk("rm", infra)
    assert refused.returncode == 125
    assert f"is the infra container of pod {pod_id} and cannot be removed without removing the pod" in refused.stderr
    husk("pod", "start", "ev", check=True)
    husk("pod", "stop", "-t", "0", "ev", check=True)
    husk("pod", "rm", "ev", check=True)
    statuses = [e["status"] for e in husk.events("create") + husk.events("start") + husk.events("stop")
                + husk.events("remove") if e.get("type") == "pod" and e.get("id") == pod_id]
    assert sorted(statuses) == ["create", "remove", "start", "stop"]


def test_pod_stats_and_ps_filter_pod(husk):
    pod_id = husk("pod", "create", "--name", "measured", "--network", "none", check=True).stdout.strip()
    husk("run", "-d", "--pod", "measured", "--name", "busy", IMAGE, "sleep", "600", check=True)
    husk("create", "--name", "outsider", "--network", "none", IMAGE, "true", check=True)
    rows = husk("pod", "stats", "--no-stream", "--format", "{{.Pod}} {{.Name}} {{.PIDS}}", "measured",
                check=True).stdout.splitlines()
    assert sorted(rows) == sorted([f"{pod_id[:12]} {pod_id[:12]}-infra 1", f"{pod_id[:12]} busy 1"])
    assert husk("pod", "stats", "--no-stream", "nope").returncode == 125
    names = husk("ps", "-a", "--filter", "pod=measured", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(names) == sorted(["busy", f"{pod_id[:12]}-infra"])
    assert husk("ps", "-a", "--filter", f"pod={pod_id[:8]}", "-q", check=True).stdout.count("\n") == 2
    husk("pod", "rm", "-f", "-t", "0", "measured", check=True)


def _cgroup_roots() -> list[str]:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return ["/sys/fs/cgroup"]
    return [os.path.join("/sys/fs/cgroup", name) for name in os.listdir("/sys/fs/cgroup")]


def test_a_pods_own_cgroup_holds_its_containers_and_their_limits(husk_rt):
    parent = f"husk-test-{os.getpid()}-{husk_rt.runtime_name}"
    try:
        pod_id = husk_rt("pod", "create", "--name", "limited", "--network", "none", "--cgroup-parent", parent,
                         "--memory", "64m", "--cpus", "0.5", check=True).stdout.strip()
        document = _pod_inspect(husk_rt, "limited")
        assert (document["CreateCgroup"], document["CgroupParent"], document["CgroupPath"]) == (
            True, f"/{parent}", f"/{parent}/{pod_id}")
        assert (document["MemoryLimit"], document["CPUQuota"], document["CPUPeriod"]) == (64 << 20, 50000, 100000)
        husk_rt("run", "-d", "--pod", "limited", "--name", "inside", IMAGE, "sleep", "600", check=True)
        pid = int(_inspect(husk_rt, "inside", "{{.State.Pid}}"))
        with open(f"/proc/{pid}/cgroup") as handle:
            paths = {line.split(":")[1]: line.strip().split(":", 2)[2] for line in handle}
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            assert paths[""].startswith(f"/{parent}/{pod_id}/")
            with open(f"/sys/fs/cgroup/{parent}/{pod_id}/memory.max") as handle:
                assert handle.read().strip() == str(64 << 20)
        else:
            assert paths["memory"].startswith(f"/{parent}/{pod_id}/")
            with open(f"/sys/fs/cgroup/memory/{parent}/{pod_id}/memory.limit_in_bytes") as handle:
                assert handle.read().strip() == str(64 << 20)
            with open(f"/sys/fs/cgroup/cpu/{parent}/{pod_id}/cpu.cfs_quota_us") as handle:
                assert handle.read().strip() == "50000"
        husk_rt("pod", "rm", "-f", "-t", "0", "limited", check=True)
        assert not any(os.path.exists(os.path.join(root, parent, pod_id)) for root in _cgroup_roots())
    finally:
        husk_rt("pod", "rm", "-a", "-f", "-t", "0")
        for root in _cgroup_roots():
            try:
                os.rmdir(os.path.join(root, parent))
            except OSError:
                pass
