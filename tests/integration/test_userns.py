"""User namespaces for rootful containers (issue 18 item 3): --uidmap, --gidmap,
--userns=auto, --subuidname; the rootfs owned by the mapped ids; the storage
root still closed to other host users; podman 4.3's refusals."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess

import pytest

from husk.testing import wait_until

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
#: the /etc/subuid and /etc/subgid entry --userns=auto takes ids from (podman's user "containers")
AUTO_ENTRY = "containers:3000000000:1000000\n"


@pytest.fixture
def mapped(husk_rt):
    """The roots' parent searchable by others, as /var/lib is (the mapped root walks the path)."""
    os.chmod(os.path.dirname(husk_rt.root), 0o755)
    return husk_rt


@pytest.fixture(scope="session")
def auto_ids():
    """A "containers" range in /etc/subuid and /etc/subgid (added once, under a
    lock, if the host has none; left in place: other workers may be using it)."""
    with open("/tmp/husk-test-subid.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for path in ("/etc/subuid", "/etc/subgid"):
            text = open(path).read() if os.path.exists(path) else ""
            if not any(line.startswith("containers:") for line in text.splitlines()):
                with open(path, "a") as handle:
                    handle.write(("" if text.endswith("\n") or not text else "\n") + AUTO_ENTRY)


def _host_ids(pid: int) -> tuple[str, str]:
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return status["Uid"].split()[0], status["Gid"].split()[0]


def _pid(husk, name: str) -> int:
    return int(husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout.strip())


def test_uidmap_root_inside_is_the_mapped_id_outside(mapped):
    husk = mapped
    husk("run", "-d", "--name", "u", "--network", "none", "--uidmap", "0:200000:65536", "--gidmap",
         "0:300000:65536", "busybox", "sh", "-c", "touch /tmp/made; echo ready > /tmp/ready; sleep 600",
         check=True)
    pid = _pid(husk, "u")
    assert _host_ids(pid) == ("200000", "300000")
    inside = husk("exec", "u", "sh", "-c", "id -u; id -g; stat -c %u:%g /bin/busybox", check=True).stdout.split()
    assert inside == ["0", "0", "0:0"]
    cid = husk("inspect", "--format", "{{.Id}}", "u", check=True).stdout.strip()
    container = os.path.join(husk.root, "containers", cid)
    assert wait_until(lambda: os.path.exists(os.path.join(container, "upper/tmp/ready")))
    made = os.stat(os.path.join(container, "upper/tmp/made"))
    assert (made.st_uid, made.st_gid) == (200000, 300000)
    busybox = os.stat(os.path.join(container, "merged/bin/busybox"))
    assert (busybox.st_uid, busybox.st_gid) == (200000, 300000)
    # the shared layer is untouched; other host users still reach nothing
    layers = os.path.join(husk.root, "layers")
    layer = os.path.join(layers, os.listdir(layers)[0], "diff/bin/busybox")
    assert os.stat(layer).st_uid == 0
    assert stat.S_IMODE(os.stat(container).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(layers).st_mode) == 0o700
    # the storage root is search-only now (0711): names can be tried, nothing listed or read
    script = 'for p; do ls "$p" >/dev/null 2>&1 && echo "$p"; done; true'
    state = os.path.join(husk.root, "state")
    targets = [husk.root, os.path.join(husk.root, "containers"), container, os.path.join(container, "merged/bin/sh"),
               os.path.dirname(layer), state, os.path.join(state, os.listdir(state)[0])]
    reached = subprocess.run([*NOBODY, "sh", "-c", script, "sh", *targets], capture_output=True, text=True,
                             check=True).stdout.split()
    assert reached == []
    husk("rm", "-f", "-t", "0", "u", check=True)
    # a store opened again keeps the search-only bits (no listing) the mapped root needs
    husk("ps", check=True)
    assert stat.S_IMODE(os.stat(husk.root).st_mode) == 0o711


def test_restart_and_no_userns_containers_alongside(mapped):
    husk = mapped
    husk("create", "--name", "m", "--network", "none", "--uidmap", "0:200000:65536", "busybox",
         "sh", "-c", "stat -c %u /bin/busybox; id -u", check=True)
    for _ in range(2):  # the second start finds the rootfs chowned already
        husk("start", "m", check=True)
        assert husk("wait", "m", check=True).stdout.strip() == "0"
        assert husk("logs", "m", check=True).stdout.split()[-2:] == ["0", "0"]
    plain = husk("run", "--rm", "--network", "none", "busybox", "id", "-u", check=True)
    assert plain.stdout == "0\n"


def test_userns_auto_picks_free_ranges(mapped, auto_ids):
    husk = mapped
    pids = []
    for name in ("a1", "a2"):
        husk("run", "-d", "--name", name, "--network", "none", "--userns", "auto", "busybox", "sleep", "600",
             check=True)
        pids.append(_pid(husk, name))
    first, second = (int(_host_ids(pid)[0]) for pid in pids)
    assert first >= 3000000000 and second >= 3000000000
    assert abs(first - second) >= 1024
    assert husk("exec", "a1", "id", "-u", check=True).stdout == "0\n"
    husk("rm", "-f", "-t", "0", "a1", "a2", check=True)


@pytest.mark.parametrize("args, message", [
    (["--userns", "keep-id"], "keep-id is only supported in rootless mode"),
    (["--userns", "nomap"], "nomap is only supported in rootless mode"),
    (["--uidmap", "bad"], 'UID setting is malformed expected ["uint32:uint32:uint32"]: ["bad"]'),
    (["--userns", "auto", "--uidmap", "0:1:1"],
     "--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive"),
    (["--subuidname", "husk-no-such-user"], 'no subuid ranges found for user "husk-no-such-user" in /etc/subuid'),
    (["--userns", "bogus"], "unrecognized namespace mode bogus passed"),
    (["--userns", "private"], "must provide at least one UID or GID mapping to configure a user namespace"),
])
def test_refusals(husk, args, message):
    result = husk("create", *args, "busybox", "true")
    assert result.returncode == 125, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert husk("ps", "-aq", check=True).stdout == ""


def test_commit_export_and_diff_are_refused_not_wrong(husk):
    """The chowned rootfs would commit every file, owned by host ids: refused (not done yet)."""
    husk("create", "--name", "c", "--uidmap", "0:200000:65536", "busybox", "true", check=True)
    for args in (["commit", "c", "img"], ["export", "-o", os.devnull, "c"], ["diff", "c"]):
        result = husk(*args)
        assert result.returncode == 125, (args, result.stderr)
        assert "runs in a user namespace" in result.stderr and "Traceback" not in result.stderr
    assert "localhost/img" not in husk("images", check=True).stdout


def test_concurrent_auto_creates_get_distinct_ranges(husk, auto_ids):
    """Regression: creates at the same time each read the others' ranges before any had recorded its
    own, and several picked the same range; the range is now chosen and recorded under one lock."""
    creates = [husk.popen("create", "--name", f"auto{i}", "--userns", "auto", "busybox", "true",
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(6)]
    for create in creates:
        assert create.wait(timeout=120) == 0, create.stderr.read()
    starts = [c.config.run_options.uid_mappings[0][1] for c in husk.runtime().containers()]
    assert len(starts) == 6
    assert all(abs(a - b) >= 1024 for i, a in enumerate(starts) for b in starts[i + 1:]), sorted(starts)


def test_userns_ns_path_and_container(mapped):
    """--userns=ns:PATH and container:NAME join another container's user namespace: the same ids
    outside, the same namespace; a missing path and a container without one are refused."""
    husk = mapped
    husk("run", "-d", "--name", "owner", "--network", "none", "--uidmap", "0:210000:65536", "busybox", "sleep", "600",
         check=True)
    owner = _pid(husk, "owner")
    for name, userns in (("by-path", f"ns:/proc/{owner}/ns/user"), ("by-name", "container:owner")):
        husk("run", "-d", "--name", name, "--network", "none", "--userns", userns, "busybox", "sleep", "600",
             check=True)
        pid = _pid(husk, name)
        assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(f"/proc/{owner}/ns/user")
        assert _host_ids(pid) == ("210000", "210000")
        assert husk("exec", name, "sh", "-c", "touch /made; stat -c %u /made", check=True).stdout == "0\n"
    missing = husk("create", "--userns", "ns:/husk-no-such-ns", "busybox", "true")
    assert missing.returncode == 125
    assert "cannot find specified user namespace path: stat /husk-no-such-ns: no such file" in missing.stderr
    husk("create", "--name", "plain", "busybox", "true", check=True)
    shared = husk("create", "--userns", "container:plain", "busybox", "true")
    assert shared.returncode == 125 and "has no user namespace of its own" in shared.stderr
    husk("rm", "-f", "-t", "0", "owner", "by-path", "by-name", "plain", check=True)


def test_a_pods_containers_share_its_user_namespace(mapped, auto_ids):
    """`pod create --userns=auto` (and --uidmap): the infra container gets the namespace, the pod shares
    `user`, and every member joins it (one mapping, one namespace; podman's inspect `container:INFRA`);
    another pod gets a range of its own; a member may not bring a namespace or maps of its own."""
    husk = mapped
    maps, spaces = {}, {}
    for pod, flags in (("upa", ["--userns=auto"]), ("upb", ["--userns=auto:size=2048"]),
                       ("upc", ["--uidmap", "0:400000:65536"])):
        husk("pod", "create", "--name", pod, "--network", "none", *flags, check=True)
        assert husk("pod", "inspect", "--format", "{{.SharedNamespaces}}", pod, check=True).stdout.split() == [
            "[ipc", "net", "user", "uts]"]
        infra = husk("pod", "inspect", "--format", "{{.InfraContainerID}}", pod, check=True).stdout.strip()
        for member in (f"{pod}-1", f"{pod}-2"):
            husk("run", "-d", "--pod", pod, "--name", member, "busybox", "sleep", "600", check=True)
            mode = husk("inspect", "--format", "{{.HostConfig.UsernsMode}}", member, check=True).stdout.strip()
            assert mode == f"container:{infra}"
        pids = [_pid(husk, name) for name in (infra, f"{pod}-1", f"{pod}-2")]
        assert len({os.readlink(f"/proc/{pid}/ns/user") for pid in pids}) == 1
        assert len({open(f"/proc/{pid}/uid_map").read() for pid in pids}) == 1
        maps[pod] = open(f"/proc/{pids[1]}/uid_map").read().split()
        spaces[pod] = os.readlink(f"/proc/{pids[1]}/ns/user")
        assert husk("exec", f"{pod}-2", "id", "-u", check=True).stdout == "0\n"
    assert maps["upc"] == ["0", "400000", "65536"]
    assert maps["upb"][2] == "2048" and maps["upa"][2] == "1024" and maps["upa"][1] != maps["upb"][1]
    assert len(set(spaces.values())) == 3
    userns = husk("run", "--rm", "--pod", "upa", "--userns", "host", "busybox", "true")
    assert userns.returncode == 125 and "--userns and --pod cannot be set together" in userns.stderr
    uidmap = husk("run", "--rm", "--pod", "upa", "--uidmap", "0:500000:1000", "busybox", "true")
    assert uidmap.returncode == 125
    assert "cannot specify a new uid/gid map when entering a pod with an infra container" in uidmap.stderr
    for pod in ("upa", "upb", "upc"):
        husk("pod", "rm", "-f", "-t", "0", pod, check=True)
    assert husk("ps", "-aq").stdout == ""


def test_a_mapped_container_on_a_bridge_network(mapped, auto_ids):
    """A mapped container's network namespace is made in its user namespace (podman lets the runtime make
    it there): its root sets the default sysctl, mounts sysfs (runc) and serves on port 80 through a
    published port; so does a pod's member in the pod's namespace; nothing is left behind."""
    import socket

    from husk.testing import http_body

    husk = mapped
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    run = husk("run", "-d", "--name", "ubr", "--userns=auto", "-p", f"127.0.0.1:{ports[0]}:80", "busybox", "sh", "-c",
               "echo mapped-web > /tmp/i; exec httpd -f -p 80 -h /tmp")
    assert run.returncode == 0, run.stderr
    assert http_body("127.0.0.1", ports[0], timeout=60) == b"mapped-web\n"
    inside = husk("exec", "ubr", "sh", "-c", "cat /proc/sys/net/ipv4/ping_group_range; id -u", check=True).stdout
    assert inside.split() == ["0", "0", "0"]
    assert _host_ids(_pid(husk, "ubr"))[0] != "0"
    for joined in ("container:ubr", f"ns:/proc/{_pid(husk, 'ubr')}/ns/user"):  # made in the joined namespace
        other = husk("run", "--rm", "--userns", joined, "busybox", "cat", "/proc/sys/net/ipv4/ping_group_range")
        assert other.stdout.split() == ["0", "0"], other.stderr
    husk("pod", "create", "--name", "ubrpod", "--userns=auto", "-p", f"127.0.0.1:{ports[1]}:80", check=True)
    husk("run", "-d", "--pod", "ubrpod", "--name", "ubrmember", "busybox", "sh", "-c",
         "echo pod-web > /tmp/i; exec httpd -f -p 80 -h /tmp", check=True)
    assert http_body("127.0.0.1", ports[1], timeout=60) == b"pod-web\n"
    husk("rm", "-f", "-t", "0", "ubr", check=True)
    husk("pod", "rm", "-f", "-t", "0", "ubrpod", check=True)
    assert os.listdir(os.path.join(husk.runroot, "netns")) == []
