"""Rootless husk (issue 18 item 4): a user the fixture creates (subordinate ids
from `contrib/setup.sh --rootless USER`) runs husk without root: its own
storage and run root, a user namespace through newuidmap/newgidmap, native
overlay inside it, no cgroups on this hybrid host, `--network none` (these
machines deny users /dev/net/tun, so slirp4netns and pasta can only fail here,
naming the cause), and podman's refusals of what needs root."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

from husk.testing import HUSK, IMAGE, RT_RUNTIMES, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class User:
    """An unprivileged user of this test module, and husk run as that user."""

    def __init__(self, name: str, home: str) -> None:
        entry = pwd.getpwnam(name)
        self.name, self.home, self.uid, self.gid = name, home, entry.pw_uid, entry.pw_gid
        self.runtime_dir = os.path.join(home, "run")
        self.runroots = {os.path.join(self.runtime_dir, "husk")}

    def env(self, runtime_dir: bool = True) -> dict[str, str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.home, "USER": self.name, "LOGNAME": self.name,
               "LANG": "C.UTF-8"}
        if runtime_dir:
            env["XDG_RUNTIME_DIR"] = self.runtime_dir
        return env

    def argv(self, *args: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", *args]

    def husk(self, *args: str, runtime: str = "crun", check: bool = False, timeout: float = 120,
             runtime_dir: bool = True, input: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(HUSK, "--runtime", runtime, *args), capture_output=True, text=True,
                                timeout=timeout, env={**self.env(runtime_dir), **(env or {})}, cwd=self.home,
                                input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"husk {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def processes(self) -> list[int]:
        """Every process running as this user (its pause process, monitors, containers' roots)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        pids.append(int(entry))
                except FileNotFoundError:
                    pass
        return pids


@contextlib.contextmanager
def new_user(name: str):
    """A new user without subordinate ids, its home and $XDG_RUNTIME_DIR under /tmp; removed afterwards
    with every process it left."""
    home = tempfile.mkdtemp(prefix=f"husk-{name}-", dir="/tmp")
    os.chmod(home, 0o755)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh",
                    "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name], check=True, capture_output=True)
    try:
        made = User(name, home)
        os.chown(home, made.uid, made.gid)
        os.makedirs(made.runtime_dir, mode=0o700)
        os.chown(made.runtime_dir, made.uid, made.gid)
        yield made
    finally:
        _remove_user(name, home)


@pytest.fixture(scope="module")
def user():
    """A new user given subordinate ids by setup.sh, with the busybox image loaded."""
    with new_user(f"huskrl{os.getpid()}") as made:
        setup = subprocess.run(["bash", os.path.join(REPO, "contrib", "setup.sh"), "--rootless", made.name],
                               capture_output=True, text=True, timeout=300)
        assert setup.returncode == 0, setup.stderr
        tar = os.path.join(made.home, "busybox.tar")
        subprocess.run([HUSK, "save", "-o", tar, IMAGE], check=True, capture_output=True)
        os.chown(tar, made.uid, made.gid)
        made.husk("load", "-i", tar, check=True)
        yield made


def _remove_user(name: str, home: str) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    leftover = User(name, home)
    leftover.husk("rm", "-af", "-t", "0", timeout=120)
    leftover.husk("rm", "-af", "-t", "0", runtime_dir=False, timeout=120)
    for pid in leftover.processes():  # the pause processes (their namespaces and mounts go with them)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert wait_until(lambda: not leftover.processes(), timeout=60)
    subprocess.run(["userdel", name], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(f"/tmp/husk-run-{uid}", ignore_errors=True)


@pytest.fixture(params=RT_RUNTIMES)
def runtime(request):
    return request.param


def test_setup_gives_subordinate_ids(user):
    """setup.sh --rootless gave the user a range in both files, and a second run changes nothing."""
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = [line for line in open(path).read().splitlines() if line.startswith(f"{user.name}:")]
        assert len(lines) == 1 and lines[0].endswith(":65536"), lines
    before = open("/etc/subuid").read()
    again = subprocess.run(["bash", os.path.join(REPO, "contrib", "setup.sh"), "--rootless", user.name],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and open("/etc/subuid").read() == before


def test_run_rm(user, runtime):
    """`run --rm` prints and leaves nothing; root inside is the user on the host; the user's ranges follow."""
    result = user.husk("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo hi; id -u; cat /proc/self/uid_map",
                       runtime=runtime)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["hi", "0"]
    start = next(line for line in open("/etc/subuid").read().splitlines() if line.startswith(f"{user.name}:"))
    assert lines[2].split() == ["0", str(user.uid), "1"]
    assert lines[3].split() == ["1", start.split(":")[1], "65536"]
    assert user.husk("ps", "-aq").stdout == ""


def test_places(user):
    """Storage in ~/.local/share/husk and the run root in $XDG_RUNTIME_DIR/husk, both the user's and 0700;
    without XDG_RUNTIME_DIR, a private /tmp/husk-run-UID."""
    info = user.husk("info", "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}} {{.Host.Security.Rootless}}",
                     check=True).stdout.split()
    assert info == [os.path.join(user.home, ".local", "share", "husk"), os.path.join(user.runtime_dir, "husk"), "true"]
    for path in info[:2]:
        status = os.stat(path)
        assert (status.st_uid, status.st_mode & 0o777) == (user.uid, 0o700)
    mappings = user.husk("info", "--format", "{{json .Host.IDMappings.UIDMap}} {{.Host.RemoteSocket.Path}}",
                         check=True).stdout.split()
    assert mappings[0].startswith(f'[{{"container_id":0,"host_id":{user.uid},"size":1}},{{"container_id":1,')
    assert mappings[1] == os.path.join(user.runtime_dir, "husk", "husk.sock")
    result = user.husk("run", "--rm", "--network", "none", IMAGE, "true", runtime_dir=False)
    assert result.returncode == 0, result.stderr
    status = os.stat(f"/tmp/husk-run-{user.uid}")
    assert (status.st_uid, status.st_mode & 0o777) == (user.uid, 0o700)


def test_lifecycle(user, runtime):
    """run -d, exec, ps, logs, stop, rm as the user; the container's root is the user's uid on the host."""
    name = f"life-{runtime}"
    run = user.husk("run", "-d", "--name", name, "--network", "none", IMAGE, "sh", "-c", "echo started; sleep 600",
                    runtime=runtime)
    assert run.returncode == 0, run.stderr
    try:
        assert wait_until(lambda: "started" in user.husk("logs", name).stdout)
        executed = user.husk("exec", name, "sh", "-c", "echo in-exec; id -u")
        assert executed.stdout.split() == ["in-exec", "0"], executed.stderr
        assert user.husk("ps", "--format", "{{.Names}} {{.State}}").stdout.split() == [name, "running"]
        pid = int(user.husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)
        with open(f"/proc/{pid}/status") as handle:
            uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(user.uid)}
        stop = user.husk("stop", "-t", "1", name)
        assert stop.returncode == 0, stop.stderr
        assert user.husk("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split() == [name, "exited"]
    finally:
        removed = user.husk("rm", "-f", "-t", "0", name)
    assert removed.returncode == 0, removed.stderr
    assert user.husk("ps", "-aq").stdout == ""


def test_volumes(user):
    """A named volume and a bind mount of the user's own directory; files root writes belong to the user."""
    shared = os.path.join(user.home, "shared")
    os.makedirs(shared, exist_ok=True)
    os.chown(shared, user.uid, user.gid)
    wrote = user.husk("run", "--rm", "--network", "none", "-v", "rlvol:/data", "-v", f"{shared}:/shared", IMAGE,
                      "sh", "-c", "echo kept > /data/f; echo bound > /shared/g")
    assert wrote.returncode == 0, wrote.stderr
    read = user.husk("run", "--rm", "--network", "none", "-v", "rlvol:/data", IMAGE, "cat", "/data/f")
    assert read.stdout == "kept\n", read.stderr
    status = os.stat(os.path.join(shared, "g"))
    assert status.st_uid == user.uid and open(os.path.join(shared, "g")).read() == "bound\n"
    assert "rlvol" in user.husk("volume", "ls", "-q").stdout.split()
    assert user.husk("volume", "rm", "rlvol").returncode == 0


def test_userns_keep_id_and_nomap(user, runtime):
    """keep-id: the user's own uid and gid inside, and what it writes to a bind is the user's; nomap: the
    user's own id is not mapped at all, only its subordinate ids."""
    shared = os.path.join(user.home, f"keep-{runtime}")
    os.makedirs(shared, exist_ok=True)
    os.chown(shared, user.uid, user.gid)
    keep = user.husk("run", "--rm", "--network", "none", "--userns", "keep-id", "-v", f"{shared}:/shared", IMAGE,
                     "sh", "-c", "id -u; id -g; touch /shared/mine", runtime=runtime)
    assert keep.returncode == 0, keep.stderr
    assert keep.stdout.split() == [str(user.uid), str(user.gid)]
    assert os.stat(os.path.join(shared, "mine")).st_uid == user.uid
    nomap = user.husk("run", "--rm", "--network", "none", "--userns", "nomap", IMAGE, "sh", "-c",
                      "id -u; cat /proc/self/uid_map", runtime=runtime)
    assert nomap.returncode == 0, nomap.stderr
    lines = nomap.stdout.splitlines()
    assert lines[0] == "0"
    assert [line.split()[:2] for line in lines[1:]] == [["0", "1"]]  # container 0 is the first subordinate id


def test_userns_auto(user):
    """--userns=auto takes free ranges of the user's own namespace (never its own id), cut where its
    subordinate ranges meet."""
    starts = []
    for name, size in (("auto-a", "auto"), ("auto-b", "auto:size=2048")):
        run = user.husk("run", "-d", "--name", name, "--network", "none", "--userns", size, IMAGE, "sleep", "600")
        assert run.returncode == 0, run.stderr
    try:
        for name in ("auto-a", "auto-b"):
            lines = [line.split() for line in user.husk("exec", name, "cat", "/proc/self/uid_map").stdout.splitlines()]
            assert lines[0][0] == "0" and int(lines[0][1]) >= 1, lines
            starts.append(int(lines[0][1]))
        assert abs(starts[0] - starts[1]) >= 1024
    finally:
        assert user.husk("rm", "-f", "-t", "0", "auto-a", "auto-b").returncode == 0


def test_network_needs_tun(user):
    """The default network (slirp4netns, podman's) and pasta fail on /dev/net/tun, and the error says so;
    nothing is left behind."""
    if os.stat("/dev/net/tun").st_mode & 0o006:
        pytest.skip("this host lets users open /dev/net/tun")
    for args in ([], ["--network", "slirp4netns"], ["--network", "pasta"]):
        result = user.husk("run", "--rm", *args, IMAGE, "true")
        assert result.returncode == 125
        assert "/dev/net/tun" in result.stderr and "use --network none" in result.stderr, result.stderr
    assert user.husk("ps", "-aq").stdout == ""
    assert os.listdir(os.path.join(user.runtime_dir, "husk", "netns")) == []


def test_refusals(user):
    """What cannot work rootless is refused as podman refuses it (or warned and ignored, as podman does)."""
    bridge = user.husk("run", "--rm", "--network", "bridge", IMAGE, "true")
    assert bridge.returncode == 125 and "rootless containers cannot join bridge networks" in bridge.stderr
    limited = user.husk("run", "--rm", "--network", "none", "--memory", "64m", IMAGE, "echo", "ran")
    assert limited.returncode == 0 and limited.stdout == "ran\n"
    assert "Resource limits are not supported and ignored on cgroups V1 rootless systems" in limited.stderr
    created = user.husk("run", "-d", "--name", "cp", "--network", "none", IMAGE, "sleep", "600", runtime="runc")
    assert created.returncode == 0, created.stderr
    try:
        refused = user.husk("container", "checkpoint", "cp", runtime="runc")
        assert refused.returncode == 125 and "checkpointing a container requires root" in refused.stderr
    finally:
        assert user.husk("rm", "-f", "-t", "0", "cp").returncode == 0


def test_api_service_on_the_users_socket(user):
    """`system service` as the user listens on $XDG_RUNTIME_DIR/husk/husk.sock, owned by the user."""
    import http.client
    import socket

    service = subprocess.Popen(user.argv(HUSK, "system", "service", "--time", "0"), env=user.env(), cwd=user.home,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    path = os.path.join(user.runtime_dir, "husk", "husk.sock")
    try:
        assert wait_until(lambda: os.path.exists(path) or service.poll() is not None, timeout=60)
        assert os.stat(path).st_uid == user.uid

        class Connection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)

        connection = Connection("localhost", timeout=30)
        connection.request("GET", "/_ping")
        assert connection.getresponse().read() == b"OK"
        remote = user.husk("--remote", "ps", "-a", "--format", "{{.Names}}")  # the user's socket by default
        assert remote.returncode == 0, remote.stderr
    finally:
        service.terminate()
        service.wait(timeout=60)


def test_root_is_unaffected():
    """husk run as root keeps its own places: nothing rootless leaks into the rootful defaults."""
    from husk.engine.config import Config, is_rootless

    assert not is_rootless()
    config = Config()
    assert (config.root, config.runroot, config.netns) == ("/var/lib/husk", "/run/husk", "bridge")


def test_slirp4netns_wiring(husk_rt):
    """Where /dev/net/tun may be opened (root here), --network slirp4netns connects the container:
    tap0 configured by slirp4netns (its address and route), a published port forwarded through its
    API socket; the program is gone with the container."""
    import socket

    from husk.testing import http_body

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = "slirp"
    run = husk_rt("run", "-d", "--name", name, "--network", "slirp4netns", "-p", f"127.0.0.1:{port}:80", IMAGE,
                  "sh", "-c", "echo through-slirp > /tmp/i; exec httpd -f -p 80 -h /tmp")
    assert run.returncode == 0, run.stderr
    assert http_body("127.0.0.1", port, timeout=60) == b"through-slirp\n"
    pid_file = os.path.join(husk_rt.runroot, "containers", run.stdout.strip(), "usermode-net.pid")
    slirp = int(open(pid_file).read())
    assert open(f"/proc/{slirp}/comm").read().strip() == "slirp4netns"
    address = husk_rt("exec", name, "ip", "-4", "-o", "addr", "show", "tap0")
    assert "inet 10.0.2.100/24" in address.stdout, address.stderr
    assert "default via 10.0.2.2 dev tap0" in husk_rt("exec", name, "ip", "route").stdout
    assert husk_rt("rm", "-f", "-t", "0", name).returncode == 0
    assert wait_until(lambda: not os.path.exists(f"/proc/{slirp}"), timeout=30)


def test_pull_from_the_local_registry(user, husk, registry):
    """The user pulls (over the host's loopback: the user's namespace keeps the host's network) an image
    root pushed, and runs it."""
    reference = f"{registry.host}/rootless/busybox:pulled"
    pushed = husk("push", "--tls-verify=false", IMAGE, reference)
    assert pushed.returncode == 0, pushed.stderr
    pulled = user.husk("pull", "--tls-verify=false", reference)
    assert pulled.returncode == 0, pulled.stderr
    ran = user.husk("run", "--rm", "--network", "none", reference, "echo", "from-registry")
    assert ran.stdout == "from-registry\n", ran.stderr
    assert user.husk("rmi", reference).returncode == 0


def test_unshare_and_mount(user):
    """`husk mount` is refused outside `husk unshare` (its mount is in the user's namespace only), as
    podman refuses it; inside, the user is root and sees the mounted rootfs; root may not unshare."""
    assert user.husk("run", "-d", "--name", "mnt", "--network", "none", IMAGE, "sleep", "600").returncode == 0
    try:
        outside = user.husk("mount", "mnt")
        assert outside.returncode == 125
        assert 'cannot run command "husk mount" in rootless mode, must execute `husk unshare` first' in outside.stderr
        inside = user.husk("unshare", "sh", "-c", f'id -u; ls "$({HUSK} mount mnt)/bin/busybox"; {HUSK} umount mnt')
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.split()[0] == "0" and inside.stdout.split()[1].endswith("/merged/bin/busybox")
        missing = user.husk("unshare", "husk-no-such-command")
        assert missing.returncode == 127 and "executable file not found" in missing.stderr
    finally:
        assert user.husk("rm", "-f", "-t", "0", "mnt").returncode == 0
    as_root = subprocess.run([HUSK, "unshare", "true"], capture_output=True, text=True)
    assert as_root.returncode == 125 and "please use unshare with rootless" in as_root.stderr


def test_a_killed_pause_process_is_replaced(user):
    """With no container running, a pause process that died is replaced by the next command."""
    pid_file = os.path.join(user.runtime_dir, "husk", "pause.pid")
    assert user.husk("ps", "-aq").returncode == 0
    old = int(open(pid_file).read())
    os.kill(old, signal.SIGKILL)
    assert wait_until(lambda: _dead(old), timeout=30)
    result = user.husk("run", "--rm", "--network", "none", IMAGE, "echo", "again")
    assert result.stdout == "again\n", result.stderr
    assert int(open(pid_file).read()) != old


def test_a_pause_process_killed_while_a_container_runs_is_replaced_in_its_namespace(user, runtime):
    """The pause process dies while a container runs: the next command's new pause process joins the
    namespaces of the container's monitor (as podman joins a conmon's), so the container's mount is in
    sight; ps, exec and stop work, and a new container starts."""
    name = f"orphan-{runtime}"
    pid_file = os.path.join(user.runtime_dir, "husk", "pause.pid")
    run = user.husk("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "600", runtime=runtime)
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    try:
        monitor = int(user.husk("inspect", "--format", "{{.State.ConmonPid}}", name, check=True).stdout)
        old = int(open(pid_file).read())
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: _dead(old), timeout=30)
        assert user.husk("ps", "--format", "{{.Names}} {{.State}}").stdout.split() == [name, "running"]
        new = int(open(pid_file).read())
        assert new != old
        for kind in ("user", "mnt"):
            assert os.readlink(f"/proc/{new}/ns/{kind}") == os.readlink(f"/proc/{monitor}/ns/{kind}")
        mounts = user.husk("unshare", "cat", "/proc/self/mountinfo", check=True).stdout
        assert cid in mounts  # the container's rootfs, mounted by the old pause process's namespace
        executed = user.husk("exec", name, "echo", "in-exec", runtime=runtime)
        assert executed.stdout == "in-exec\n", executed.stderr
        again = user.husk("run", "--rm", "--network", "none", IMAGE, "echo", "again", runtime=runtime)
        assert again.stdout == "again\n", again.stderr
        stop = user.husk("stop", "-t", "1", name, runtime=runtime)
        assert stop.returncode == 0, stop.stderr
        assert user.husk("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split() == [name, "exited"]
        assert cid not in user.husk("unshare", "cat", "/proc/self/mountinfo", check=True).stdout
    finally:
        removed = user.husk("rm", "-f", "-t", "0", name)
    assert removed.returncode == 0, removed.stderr


def _dead(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_user_without_subordinate_ids_gets_a_single_mapping():
    """Without /etc/subuid ranges, the namespace maps only the user's own id, with podman's warning."""
    with new_user(f"huskrs{os.getpid()}") as single:
        mapped = single.husk("unshare", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
        assert mapped.returncode == 0, mapped.stderr
        assert "Using rootless single mapping into the namespace" in mapped.stderr
        assert [line.split() for line in mapped.stdout.splitlines()] == [["0", str(single.uid), "1"],
                                                                          ["0", str(single.gid), "1"]]


def test_pod_userns_keep_id(user):
    """A rootless pod made with --userns=keep-id: its members share the infra container's namespace and
    run as the user's own ids."""
    created = user.husk("pod", "create", "--name", "kpod", "--network", "none", "--userns", "keep-id")
    assert created.returncode == 0, created.stderr
    try:
        for name in ("k1", "k2"):
            run = user.husk("run", "-d", "--pod", "kpod", "--name", name, IMAGE, "sleep", "600")
            assert run.returncode == 0, run.stderr
        ids = [user.husk("exec", name, "sh", "-c", "id -u; id -g").stdout.split() for name in ("k1", "k2")]
        assert ids == [[str(user.uid), str(user.gid)]] * 2
        pids = [int(user.husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout) for name in ("k1", "k2")]
        assert os.readlink(f"/proc/{pids[0]}/ns/user") == os.readlink(f"/proc/{pids[1]}/ns/user")
    finally:
        removed = user.husk("pod", "rm", "-f", "-t", "0", "kpod")
    assert removed.returncode == 0, removed.stderr


def test_mount_program_needs_dev_fuse(user):
    """A configured mount program (fuse-overlayfs) needs /dev/fuse, which these machines give only to
    root: the run fails with one line naming the program's own reason, and leaves nothing."""
    program = shutil.which("fuse-overlayfs")
    if program is None:
        pytest.skip("fuse-overlayfs is not installed")
    if os.stat("/dev/fuse").st_mode & 0o006:
        pytest.skip("this host lets users open /dev/fuse")
    config = os.path.join(user.home, "fuse.conf")
    with open(config, "w") as handle:
        handle.write(f'[storage]\nmount_program = "{program}"\n')
    result = user.husk("run", "--rm", "--network", "none", IMAGE, "true", env={"HUSK_CONFIG": config})
    assert result.returncode == 125, result.stderr
    assert f"with {program}:" in result.stderr and "/dev/fuse" in result.stderr, result.stderr
    assert user.husk("ps", "-aq").stdout == ""


def _unified_hierarchy() -> str | None:
    """This hybrid host's cgroup v2 hierarchy (/sys/fs/cgroup/unified), if it has one."""
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] == "/sys/fs/cgroup/unified" and fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


@pytest.mark.parametrize("runtime", RT_RUNTIMES)
def test_a_delegated_cgroup_v2_subtree(runtime):
    """As on a pure cgroup v2 host: a user's commands see the unified hierarchy at /sys/fs/cgroup (mounted
    there in a private mount namespace, so the runtimes take the host for v2) and own a subtree of it (as
    systemd's Delegate=yes makes it).  Without --cgroup-parent the container gets no cgroup (podman's
    cgroupfs rule for rootless) and its limits are dropped with a warning; with the delegated subtree as
    --cgroup-parent the container's processes are in a cgroup of their own there, stop kills them all,
    and rm removes the cgroup.  Not testable here: limits (this host binds every controller to v1, so
    the v2 hierarchy has none: --pids-limit -1 drops the default pids limit) and systemd's delegation."""
    unified = _unified_hierarchy()
    if unified is None:
        pytest.skip("no hybrid cgroup v2 hierarchy at /sys/fs/cgroup/unified")
    with new_user(f"huskcg{os.getpid()}{runtime[0]}") as user:
        setup = subprocess.run(["bash", os.path.join(REPO, "contrib", "setup.sh"), "--rootless", user.name],
                               capture_output=True, text=True, timeout=300)
        assert setup.returncode == 0, setup.stderr
        delegated = os.path.join(unified, f"husk-delegated-{user.name}")
        os.makedirs(os.path.join(delegated, "cli"))
        try:
            for directory in (delegated, os.path.join(delegated, "cli")):  # what systemd gives a delegate
                for name in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
                    os.chown(os.path.join(directory, name), user.uid, user.gid)
            parent = "/" + os.path.basename(delegated)  # its path in the hierarchy

            def husk(*args: str) -> subprocess.CompletedProcess:
                """husk as the user, in the delegated cgroup, with the v2 hierarchy at /sys/fs/cgroup."""
                script = ('mount -t cgroup2 none /sys/fs/cgroup && echo $$ > "/sys/fs/cgroup$0/cli/cgroup.procs" '
                          '&& exec "$@"')
                argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, parent,
                        *user.argv(HUSK, "--runtime", runtime, *args)]
                return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=user.env(),
                                      cwd=user.home)

            tar = os.path.join(user.home, "busybox.tar")
            subprocess.run([HUSK, "save", "-o", tar, IMAGE], check=True, capture_output=True)
            os.chown(tar, user.uid, user.gid)
            loaded = husk("load", "-i", "busybox.tar")  # a relative path: the namespace keeps the directory
            assert loaded.returncode == 0, loaded.stderr
            plain = husk("run", "--rm", "--network", "none", "--memory", "64m", IMAGE, "echo", "no-cgroup")
            assert plain.stdout == "no-cgroup\n", plain.stderr
            assert "Resource limits are ignored for rootless containers without a --cgroup-parent" in plain.stderr
            run = husk("run", "-d", "--name", "deleg", "--network", "none", "--cgroup-parent", parent,
                       "--pids-limit", "-1", IMAGE, "sh", "-c", "sleep 600 & exec sleep 600")
            assert run.returncode == 0, run.stderr
            cgroup = os.path.join(delegated, run.stdout.strip())
            procs = open(os.path.join(cgroup, "cgroup.procs")).read().split()
            pid = husk("inspect", "--format", "{{.State.Pid}}", "deleg").stdout.strip()
            assert pid in procs and len(procs) == 2, (pid, procs)
            stop = husk("stop", "-t", "0", "deleg")
            assert stop.returncode == 0, stop.stderr
            assert all(wait_until(lambda p=p: _dead(int(p)), timeout=30) for p in procs)
            assert husk("rm", "deleg").returncode == 0
            assert not os.path.exists(cgroup)
        finally:
            _remove_user(user.name, user.home)
            for directory, _, _ in sorted(os.walk(delegated), key=lambda entry: -len(entry[0])):
                os.rmdir(directory)


def test_relative_paths_are_the_users(user):
    """Joining the namespace's mount namespace moves a process to its root; husk goes back to the
    user's directory, so relative paths name the user's files (save -o, load -i)."""
    saved = user.husk("save", "-o", "relative.tar", IMAGE)
    assert saved.returncode == 0, saved.stderr
    assert os.path.getsize(os.path.join(user.home, "relative.tar")) > 0
    loaded = user.husk("load", "-i", "relative.tar")
    assert loaded.returncode == 0, loaded.stderr
    os.unlink(os.path.join(user.home, "relative.tar"))
