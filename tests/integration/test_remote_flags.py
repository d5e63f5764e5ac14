"""The remote `run` and `create` take the local verbs' flags (husk.cli.remote_create sends them
as podman's SpecGenerator): for each group of flags, one container made locally and one made
through the service, and their inspect documents compared (issue 17)."""

from __future__ import annotations

import json
import re
import socket
import subprocess

from husk.testing import HUSK, IMAGE

#: what differs between any two containers, whatever their flags (their identity, their paths)
_VOLATILE = {"Id", "Name", "Created", "State", "ResolvConfPath", "HostnamePath", "HostsPath", "StaticDir",
             "OCIConfigPath", "ConmonPidFile", "PidFile", "LogPath", "Rootfs", "RestartCount", "SizeRw",
             "SizeRootFs", "Dependencies", "ExecIDs", "GraphDriver", "NetworkSettings", "IsInfra", "IsService",
             "Namespace", "Pod", "MountLabel", "ProcessLabel", "EffectiveCaps", "BoundingCaps", "ExitCommand",
             "Driver", "CreateCommand", "ContainerIDFile"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client(service, *args: str, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([HUSK, "--url", f"unix://{service.socket_path}", *args], input=input,
                          capture_output=True, text=True, timeout=120, env=service.env.env())


def _inspect(service, name: str) -> dict:
    document = json.loads(service.env("inspect", name, check=True).stdout)[0]
    config = document["Config"]
    if config.get("Hostname") == document["Id"][:12]:  # the default: the container's own id
        del config["Hostname"]
    config.pop("CreateCommand", None)
    for key in _VOLATILE:
        document.pop(key, None)
    # ids (of anonymous volumes, in paths) are random; the order of binds and volumes is not kept
    # across the SpecGenerator's two lists (as with podman: it sorts mounts by their destination)
    document = json.loads(re.sub(r"[0-9a-f]{64}|(?<=HOSTNAME=)[0-9a-f]{12}\b", "<id>", json.dumps(document)))
    document["Mounts"].sort(key=lambda mount: mount["Destination"])
    document["HostConfig"]["Binds"].sort(key=lambda bind: bind.split(":")[1])
    return document


def _same(service, flags: list[str], local: str, remote: str, command=("true",)) -> dict:
    """Create `local` with the local CLI and `remote` through the service, with `flags`; their
    documents (identity and paths left out) and records must be equal.  The remote one's record."""
    service.env("create", "--name", local, *flags, IMAGE, *command, check=True)
    done = client(service, "create", "--name", remote, *flags, IMAGE, *command)
    assert done.returncode == 0, done.stderr
    mine, theirs = _inspect(service, local), _inspect(service, remote)
    assert theirs == mine, _diff(mine, theirs)
    # and the records (inspect leaves out the run options: ulimits, devices, DNS...)
    mine, theirs = _record(service, local), _record(service, remote)
    assert theirs == mine, _diff(mine, theirs)
    return theirs


def _record(service, name: str) -> dict:
    record = _fields(service.env.runtime().container(name).config)
    for key in ("id", "name", "created", "dependencies"):
        record.pop(key, None)
    record["mounts"].sort(key=lambda mount: mount["destination"])
    record["secrets"].sort(key=lambda use: (use["type"], use["target"]))  # files and variables: two lists
    return json.loads(re.sub(r"[0-9a-f]{64}", "<id>", json.dumps(record)))


def test_remote_storage_env_and_process_flags(api_crun, tmp_path):
    host = tmp_path / "data"
    host.mkdir()
    (tmp_path / "env").write_text("FROM_FILE=1\n")
    flags = ["-v", f"{host}:/data:ro", "-v", "rfvol:/vol", "-v", "/anon",
             "--mount", f"type=bind,source={host},destination=/m", "--tmpfs", "/t1:size=1m",
             "--mount", "type=tmpfs,destination=/t2", "-e", "A=1", "--env-file", str(tmp_path / "env"),
             "-l", "k=v", "--annotation", "a=b", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "/bin/sh",
             "-h", "myhost", "--stop-signal", "SIGINT", "--stop-timeout", "3", "--restart", "on-failure:2",
             "--read-only", "--volumes-from", "rf-src"]
    api_crun.env("create", "--name", "rf-src", "-v", "/from", IMAGE, "true", check=True)
    document = _same(api_crun, flags, "rf-l1", "rf-r1", command=("-c", "true"))
    assert [m["destination"] for m in document["mounts"]] == ["/anon", "/data", "/from", "/m", "/t1", "/t2", "/vol"]
    assert document["restart_policy"] == {"name": "on-failure", "max_retries": 2}
    assert (document["stop_signal"], document["labels"], document["read_only"]) == ("SIGINT", {"k": "v"}, True)
    ran = client(api_crun, "run", "--rm", "-v", f"{host}:/data", "-e", "B=2", "-w", "/data", IMAGE,
                 "sh", "-c", "echo $B > out; pwd")
    assert (ran.returncode, ran.stdout) == (0, "/data\n"), ran.stderr
    assert (host / "out").read_text() == "2\n"


def _pod(service, name: str) -> dict:
    """A pod's record and its infra container's (their identities and names left out)."""
    from husk.engine.pods import get_pod

    pod = get_pod(service.env.runtime(), name)
    record = _fields(pod.record)
    for key in ("id", "name", "created", "infra_id"):
        record.pop(key, None)
    if pod.record.infra_id:
        infra = _record(service, pod.record.infra_id)
        for key in ("pod", "hostname"):  # (the pod's id; its name, the default hostname)
            infra.pop(key)
        record["infra"] = infra
    return record


def _fields(value):
    """A record as plain data, every field there (defaults included)."""
    if hasattr(value, "__struct_fields__"):
        return {field: _fields(getattr(value, field)) for field in value.__struct_fields__}
    if isinstance(value, (list, tuple)):
        return [_fields(item) for item in value]
    if isinstance(value, dict):
        return {key: _fields(item) for key, item in value.items()}
    return value


def _diff(a, b, where=""):
    """The fields that differ, for the failure message."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b)) for d in _diff(a.get(key), b.get(key), f"{where}.{key}")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def test_remote_limits_security_and_run_option_flags(api_crun):
    flags = ["--memory", "64m", "--cpus", "0.5", "--cpu-shares", "512", "--pids-limit", "100",
             "--cap-add", "NET_ADMIN,SYS_TIME", "--cap-drop", "CHOWN", "--security-opt", "no-new-privileges",
             "--security-opt", "seccomp=unconfined", "--security-opt", "mask=/proc/x", "--ulimit", "nofile=1024:2048",
             "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "32m", "--init", "--tz", "UTC", "--group-add", "10",
             "--umask", "0077", "--oom-score-adj", "100", "--device", "/dev/null:/dev/mynull:rw",
             "--health-cmd", "true", "--health-interval", "5s", "--health-retries", "2", "--health-on-failure", "kill",
             "-i", "-t", "--rm",
             "--cpuset-cpus", "0", "--memory-reservation", "32m", "--memory-swap", "128m", "--memory-swappiness", "10",
             "--oom-kill-disable", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "tag=t"]
    document = _same(api_crun, flags, "rf-l2", "rf-r2")
    assert document["resources"]["memory"] == 64 * 1024 * 1024
    assert document["run_options"]["ulimits"] == {"RLIMIT_NOFILE": [1024, 2048]}
    assert document["run_options"]["devices"][0]["container"] == "/dev/mynull"
    assert document["run_options"]["resources"]["cpu"] == {"cpus": "0"}
    assert document["run_options"]["resources"]["memory"]["disableOOMKiller"] is True
    assert (document["log_driver"], document["run_options"]["log_max_size"]) == ("json-file", 1024 * 1024)
    # and the service's container runs with them
    ran = client(api_crun, "run", "--rm", "--memory", "64m", "--ulimit", "nofile=1024:2048", "--device",
                 "/dev/null:/dev/mynull", "--sysctl", "net.ipv4.ip_forward=1", IMAGE, "sh", "-c",
                 "ulimit -n; test -c /dev/mynull && echo dev; cat /proc/sys/net/ipv4/ip_forward")
    assert (ran.returncode, ran.stdout) == (0, "1024\ndev\n1\n"), ran.stderr


def test_remote_network_flags(api_crun):
    network, port = "rfnet", _free_port()
    api_crun.env("network", "create", "--subnet", "10.231.7.0/24", network, check=True)
    try:
        flags = ["--network", network, "--ip", "10.231.7.9", "--network-alias", "web", "-p", f"127.0.0.1:{port}:80",
                 "--expose", "9000", "--dns", "10.231.7.1", "--dns-search", "example.com", "--dns-option", "ndots:2",
                 "--add-host", "h:10.0.0.1"]
        document = _same(api_crun, ["--mac-address", "92:d0:c6:0a:29:33", *flags], "rf-l3", "rf-r3")
        assert (document["network"], list(document["networks"])) == ("bridge", [network])
        assert document["ports"] == [{"container_port": 80, "host_port": port, "host_ip": "127.0.0.1",
                                      "protocol": "tcp", "range": 1}]
        assert document["host_files"]["dns_servers"] == ["10.231.7.1"]
        _same(api_crun, ["--network", "none"], "rf-l4", "rf-r4")
        _same(api_crun, ["--network", "container:rf-l4"], "rf-l5", "rf-r5")
        ran = client(api_crun, "run", "--rm", *flags, IMAGE, "sh", "-c",
                     "ip -4 -o addr show eth0 | grep -o '10.231.7.9/24'; grep -c 'h$' /etc/hosts; "
                     "grep nameserver /etc/resolv.conf")
        assert (ran.returncode, ran.stdout) == (0, "10.231.7.9/24\n1\nnameserver 10.231.7.1\n"), ran.stderr
    finally:
        api_crun.env("rm", "-f", "-a")
        api_crun.env("network", "rm", "-f", network)


def test_a_flag_the_remote_verbs_cannot_send_is_one_line(api_crun):
    for flags, message in (
            (["--device-read-bps", "/dev/null:1mb"], "Error: --device-read-bps is not supported remotely yet (run it "
                                                     "on the service's host)\n"),
            (["-v", "./x:/x"], "Error: invalid volume './x:/x': a relative host path is not supported remotely "
                               "(give an absolute path on the service's host)\n")):
        done = client(api_crun, "run", *flags, IMAGE, "true")
        assert (done.returncode, done.stdout, done.stderr) == (125, "", message)
    assert client(api_crun, "ps", "-aq").stdout == ""


def test_a_bad_remote_idmap_is_the_local_message(api_crun):
    """--uidmap/--gidmap are checked by the local parser before anything is sent: a zero size or a
    missing field is podman's one line, as locally, and nothing is created."""
    for flags in (["--uidmap", "0:100000:0"], ["--gidmap", "0:100000"]):
        mine = api_crun.env("create", *flags, IMAGE, "true")
        theirs = client(api_crun, "create", *flags, IMAGE, "true")
        assert mine.returncode == 125 and "malformed" in mine.stderr, mine.stderr
        assert (theirs.returncode, theirs.stderr) == (125, mine.stderr)
    assert client(api_crun, "ps", "-aq").stdout == ""


def test_remote_namespace_environment_secret_and_process_flags(api_crun, tmp_path):
    api_crun.env("secret", "create", "rfsecret", "-", input="hush", check=True)
    api_crun.env("create", "--name", "rf-dep", IMAGE, "sleep", "600", check=True)
    flags = ["--requires", "rf-dep", "--pid", "host", "--ipc", "private", "--uts", "host", "--cgroupns", "host",
             "--cgroup-parent", "rfparent.slice", "--unsetenv", "TERM", "--env-merge", "X=${PATH}:/x",
             "--chrootdirs", "/srv", "--timeout", "30", "--systemd", "false", "--sdnotify", "ignore",
             "--hostuser", "root", "--passwd-entry", "$USERNAME:x:$UID:$GID::$HOME:/bin/sh",
             "--personality", "LINUX32", "--image-volume", "tmpfs", "--uidmap", "0:100000:5000",
             "--gidmap", "0:200000:5000", "--secret", "rfsecret", "--secret", "rfsecret,type=env,target=S",
             "--secret", "rfsecret,target=/etc/s,uid=1,gid=2,mode=0400"]
    document = _same(api_crun, flags, "rf-l6", "rf-r6")
    assert document["run_options"]["namespaces"] == {"pid": "host", "ipc": "private", "uts": "host",
                                                     "cgroupns": "host"}
    assert document["run_options"]["uid_mappings"] == [[0, 100000, 5000]]
    assert len(document["secrets"]) == 3


def test_podman_as_the_client_sends_the_same_flags(api_crun, tmp_path):
    """podman 4.3's client (`podman --remote`) against husk's service: the same containers as
    husk's local verbs make, for a set of flags from each group."""
    import shutil

    import pytest

    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")
    host = tmp_path / "data"
    host.mkdir()
    flags = ["-v", f"{host}:/data:ro", "-v", "rfvol:/vol", "--tmpfs", "/t1:size=1m", "-e", "A=1", "-l", "k=v",
             "-w", "/tmp", "-u", "1000:1000", "-h", "myhost", "--restart", "on-failure:2", "--memory", "64m",
             "--cpus", "0.5", "--pids-limit", "100", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN",
             "--ulimit", "nofile=1024:2048", "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "32m",
             "--dns", "10.231.8.1", "--add-host", "h:10.0.0.1", "-p", f"127.0.0.1:{_free_port()}:80",
             "--health-cmd", "true", "--health-on-failure", "restart"]
    api_crun.env("create", "--name", "rf-l7", *flags, IMAGE, "true", check=True)
    done = subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", "create", "--name",
                           "rf-p7", *flags, IMAGE, "true"], capture_output=True, text=True, timeout=120,
                          env=api_crun.env.env())
    assert done.returncode == 0, done.stderr
    mine, theirs = _record(api_crun, "rf-l7"), _record(api_crun, "rf-p7")
    # podman's client sends its own defaults: an annotation, swap twice the memory, --sdnotify container
    # and umask 0022 (husk's default too)
    assert theirs["annotations"].pop("io.kubernetes.cri-o.TTY") == "false"
    assert theirs["run_options"]["resources"].pop("memory") == {"swap": 2 * 64 * 1024 * 1024}
    assert (theirs["run_options"]["sdnotify"], theirs["run_options"]["umask"]) == ("container", 0o022)
    theirs["run_options"].update(sdnotify="conmon", umask=-1)
    assert theirs == mine, _diff(mine, theirs)


def test_remote_pod_create_and_network_create_flags(api_crun, tmp_path):
    """`pod create` and `network create` remotely take the local verbs' flags: the same records."""

    flags = ["--subnet", "10.231.9.0/24", "--gateway", "10.231.9.254", "--ip-range", "10.231.9.128/25",
             "--internal", "--disable-dns", "--label", "k=v", "-o", "mtu=1400", "--interface-name", "rfbr0", "rfn"]
    runtime = api_crun.env.runtime()
    from husk.engine import networking

    def network():
        record = _fields(networking.lookup(runtime, "rfn"))
        for key in ("id", "created"):
            record.pop(key)
        return record
    api_crun.env("network", "create", *flags, check=True)
    mine = network()
    api_crun.env("network", "rm", "rfn", check=True)  # (a subnet is one network's)
    done = client(api_crun, "network", "create", *flags)
    assert (done.returncode, done.stdout) == (0, "rfn\n"), done.stderr
    assert network() == mine
    assert mine["subnets"][0]["lease_range"] == {"start_ip": "10.231.9.129", "end_ip": "10.231.9.254"}
    pod_flags = ["--infra-name", "{}-infra", "--share", "net,ipc", "-p", f"127.0.0.1:{_free_port()}:80",
                 "--network", "rfn", "--hostname", "podhost", "--add-host", "h:10.0.0.1", "--dns", "10.231.9.1",
                 "--dns-search", "example.com", "--dns-option", "ndots:2", "-l", "k=v", "--memory", "64m",
                 "--cpus", "0.5", "--exit-policy", "stop"]
    try:
        for pod, run in (("rfpod-l", api_crun.env), ("rfpod-r", lambda *args: client(api_crun, *args))):
            flags = [flag.format(pod) for flag in pod_flags]
            done = run("pod", "create", "--name", pod, "--pod-id-file", str(tmp_path / pod), *flags)
            assert done.returncode == 0, done.stderr
            assert (tmp_path / pod).read_text() == done.stdout.strip()
        replaced = client(api_crun, "pod", "create", "--replace", "--name", "rfpod-r", *[f.format("rfpod-r")
                                                                                          for f in pod_flags])
        assert replaced.returncode == 0, replaced.stderr
        assert replaced.stdout.strip() != (tmp_path / "rfpod-r").read_text()
        mine, theirs = _pod(api_crun, "rfpod-l"), _pod(api_crun, "rfpod-r")
        assert theirs == mine, _diff(mine, theirs)
        _same(api_crun, ["--pod", "rfpod-l"], "rf-l8", "rf-r8")
        refused = client(api_crun, "pod", "create", "--userns", "auto", "--name", "rfpod-x")
        assert (refused.returncode, refused.stderr) == (125, "Error: --userns is not supported remotely yet (run it "
                                                             "on the service's host)\n")
    finally:
        api_crun.env("pod", "rm", "-f", "-a")
        api_crun.env("network", "rm", "-f", "rfn")


def test_podman_as_the_client_creates_the_same_networks_and_pods(api_crun):
    import shutil

    import pytest

    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")

    def remote(*args):
        return subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", *args],
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())
    from husk.engine import networking

    runtime = api_crun.env.runtime()
    flags = ["--subnet", "10.231.11.0/24", "--gateway", "10.231.11.254", "--ip-range", "10.231.11.128/25",
             "--internal", "--label", "k=v", "-o", "mtu=1400", "rfpn"]
    api_crun.env("network", "create", *flags, check=True)
    mine = _fields(networking.lookup(runtime, "rfpn"))
    api_crun.env("network", "rm", "rfpn", check=True)
    done = remote("network", "create", *flags)
    assert done.returncode == 0, done.stderr
    theirs = _fields(networking.lookup(runtime, "rfpn"))
    for record in (mine, theirs):
        record.pop("id"), record.pop("created")
    assert theirs == mine, _diff(mine, theirs)
    pod_flags = ["--share", "net,ipc", "-p", f"127.0.0.1:{_free_port()}:80", "--network", "rfpn", "--hostname",
                 "podhost", "--add-host", "h:10.0.0.1", "--dns", "10.231.11.1", "-l", "k=v", "--exit-policy", "stop"]
    try:
        api_crun.env("pod", "create", "--name", "rfpp-l", *pod_flags, check=True)
        done = remote("pod", "create", "--name", "rfpp-r", *pod_flags)
        assert done.returncode == 0, done.stderr

        mine, theirs = _pod(api_crun, "rfpp-l"), _pod(api_crun, "rfpp-r")
        assert theirs == mine, _diff(mine, theirs)
    finally:
        api_crun.env("pod", "rm", "-f", "-a")
        api_crun.env("network", "rm", "-f", "rfpn")


def test_remote_run_proxies_signals_to_the_container(api_crun):
    """--sig-proxy (the default, as locally): a SIGTERM to the remote `run` reaches the container."""
    import signal

    script = 'trap "echo got; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
    process = subprocess.Popen([HUSK, "--url", f"unix://{api_crun.socket_path}", "run", "--rm", IMAGE, "sh", "-c",
                                script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=api_crun.env.env())
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        api_crun.env("rm", "-f", "-a")
    assert (process.returncode, out) == (7, "got\n"), err


def test_remote_run_attaches_the_streams_asked_for(api_crun):
    """-a/--attach remotely: only the streams named, as the local verb does."""
    both, reading = "echo out; echo err >&2", "echo out; echo err >&2; read line; echo \"in:$line\""
    for flags, script in ((["-a", "stdout"], both), (["-a", "stderr"], both), (["-a", "stdout", "-a", "stderr"], both),
                          (["-i", "-a", "stdin", "-a", "stdout"], reading)):
        mine = api_crun.env("run", "--rm", *flags, IMAGE, "sh", "-c", script, input="typed\n")
        theirs = client(api_crun, "run", "--rm", *flags, IMAGE, "sh", "-c", script, input="typed\n")
        assert (theirs.returncode, theirs.stdout, theirs.stderr) == (mine.returncode, mine.stdout, mine.stderr), flags


def test_bad_spec_generator_fields_are_400s(api_crun):
    """The fields the service reads now, given bad values by another client: a 4xx naming the
    problem (never a 500), and nothing created."""
    bodies = [{"devices": [{"path": "/nonexistent/dev"}]}, {"r_limits": [{"type": "RLIMIT_BOGUS", "soft": 1}]},
              {"sysctl": {"": "1"}}, {"shm_size": -1}, {"umask": "999"}, {"oom_score_adj": 5000},
              {"personality": {"domain": "X"}}, {"pidns": {"nsmode": "container", "value": "nope"}},
              {"utsns": {"nsmode": "bogus"}}, {"systemd": "maybe"}, {"timeout": -1}, {"chroot_directories": ["rel"]},
              {"hostusers": ["no-such-user-rf"]}, {"envmerge": ["=x"]}, {"log_configuration": {"driver": "bogus"}},
              {"log_configuration": {"driver": "k8s-file", "path": "relative.log"}},
              {"health_check_on_failure_action": 9}, {"resource_limits": {"memory": {"limit": "x"}}},
              {"image_volume_mode": "bogus"}, {"timezone": "../etc"}]
    for body in bodies:
        status, _, answer = api_crun.request("POST", "/v4.0.0/libpod/containers/create", {"image": IMAGE, **body})
        assert 400 <= status < 500 and answer.get("message"), (body, status, answer)
    subnet = {"subnet": "10.231.12.0/24", "lease_range": {"start_ip": "10.231.12.3", "end_ip": "10.231.12.9"}}
    status, _, answer = api_crun.request("POST", "/v4.0.0/libpod/networks/create", {"name": "rfbad",
                                                                                    "subnets": [subnet]})
    assert status == 400 and "lease range" in answer["message"], answer
    assert client(api_crun, "ps", "-aq").stdout == ""


def test_remote_run_with_a_new_pod(api_crun):
    """--pod new:NAME remotely: the pod made from the container's network flags, as locally."""
    from husk.engine.pods import get_pod

    flags = ["-p", f"127.0.0.1:{_free_port()}:80", "--dns", "10.231.13.1", "--add-host", "h:10.0.0.1", "-e", "A=1"]
    try:
        api_crun.env("create", "--name", "rf-l9", "--pod", "new:rfnp-l", *flags, IMAGE, "true", check=True)
        done = client(api_crun, "create", "--name", "rf-r9", "--pod", "new:rfnp-r", *flags, IMAGE, "true")
        assert done.returncode == 0, done.stderr
        runtime = api_crun.env.runtime()
        mine, theirs = _record(api_crun, "rf-l9"), _record(api_crun, "rf-r9")
        assert runtime.container("rf-r9").config.pod == get_pod(runtime, "rfnp-r").id
        assert (mine.pop("hostname"), theirs.pop("hostname")) == ("rfnp-l", "rfnp-r")  # the pod's name
        assert theirs == mine, _diff(mine, theirs)

        mine, theirs = _pod(api_crun, "rfnp-l"), _pod(api_crun, "rfnp-r")
        assert theirs == mine, _diff(mine, theirs)
        assert _pod(api_crun, "rfnp-r")["infra"]["ports"]
    finally:
        api_crun.env("pod", "rm", "-f", "-a")
