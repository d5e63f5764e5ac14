"""The effect of flags whose other tests only showed that they parse (issue 12:
"every flag husk accepts has a test that shows its effect"): the finer cgroup
flags on create/run/update (read back from the OCI spec husk wrote and the
cgroup files the runtime wrote), checkpoint/restore's --keep, --file-locks and
--ignore-static-ip, history --human, import --message and system connection
add --default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from test_changes import cgroup_file  # the same directory (rootdir imports)

V1 = os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
needs_v1 = pytest.mark.skipif(not V1, reason="cgroup v1 files: this host runs cgroup v2")


def _disk() -> tuple[str, str]:
    disk = next(path for path in ("/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(path))
    rdev = os.stat(disk).st_rdev
    return disk, f"{os.major(rdev)}:{os.minor(rdev)}"


def _spec(husk, name: str) -> dict:
    """The OCI spec husk wrote for the runtime (the bundle's config.json)."""
    container_id = husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    with open(os.path.join(husk.root, "containers", container_id, "userdata", "config.json")) as handle:
        return json.load(handle)


def _pid(husk, name: str) -> int:
    return int(husk("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)


def _host_has_block_weights() -> bool:
    return any(os.path.exists(os.path.join("/sys/fs/cgroup", path)) for path in (
        "blkio/blkio.weight", "blkio/blkio.bfq.weight", "io.weight", "io.bfq.weight"))


def test_blkio_weights_are_refused_where_the_host_has_none(husk_rt):
    if _host_has_block_weights():
        pytest.skip("this host's block IO controller has weights")
    disk, _ = _disk()
    husk_rt("run", "-d", "--name", "w", "busybox", "sleep", "600", check=True)
    for verb, flag, value in (("create", "--blkio-weight", "300"), ("run", "--blkio-weight-device", f"{disk}:300"),
                              ("update", "--blkio-weight", "300"), ("update", "--blkio-weight-device", f"{disk}:300")):
        args = [verb, flag, value, *(["w"] if verb == "update" else ["--rm", "busybox", "true"] if verb == "run"
                                     else ["busybox"])]
        result = husk_rt(*args)
        assert (result.returncode, result.stderr) == (
            125, f"Error: {flag}: this host's block IO controller has no weights (no BFQ or CFQ scheduler)\n"), args
    assert husk_rt("ps", "-a", "--format", "{{.Names}}", check=True).stdout == "w\n"  # nothing was created
    bad = husk_rt("create", "--blkio-weight", "5", "busybox")
    assert (bad.returncode, bad.stderr) == (125, "Error: invalid value 5 for --blkio-weight: must be 10 to 1000\n")


@needs_v1
def test_realtime_cpuset_mems_and_throttles_reach_spec_and_cgroup(husk_rt):
    """--cpu-rt-period/--cpu-rt-runtime, --cpuset-mems, --device-read-iops and
    --device-write-bps: in the spec husk wrote, in the cgroup files the runtime
    wrote, and again through update on a running container."""
    disk, numbers = _disk()
    husk_rt("run", "-d", "--name", "rt", "--cpu-rt-period", "100000", "--cpu-rt-runtime", "0", "--cpuset-mems", "0",
            "--device-read-iops", f"{disk}:50", "--device-write-bps", f"{disk}:1mb", "busybox", "sleep", "600",
            check=True)
    resources = _spec(husk_rt, "rt")["linux"]["resources"]
    major, minor = map(int, numbers.split(":"))
    assert resources["cpu"]["realtimePeriod"] == 100000 and resources["cpu"]["realtimeRuntime"] == 0
    assert resources["cpu"]["mems"] == "0"
    assert resources["blockIO"]["throttleReadIOPSDevice"] == [{"major": major, "minor": minor, "rate": 50}]
    assert resources["blockIO"]["throttleWriteBpsDevice"] == [{"major": major, "minor": minor, "rate": 1048576}]
    pid = _pid(husk_rt, "rt")
    assert cgroup_file(pid, "cpu", "cpu.rt_period_us") == "100000"
    assert cgroup_file(pid, "cpu", "cpu.rt_runtime_us") == "0"
    assert cgroup_file(pid, "cpuset", "cpuset.mems") == "0"
    assert cgroup_file(pid, "blkio", "blkio.throttle.read_iops_device") == f"{numbers} 50"
    assert cgroup_file(pid, "blkio", "blkio.throttle.write_bps_device") == f"{numbers} 1048576"
    husk_rt("update", "--cpu-rt-period", "50000", "--device-read-iops", f"{disk}:70", "--device-write-bps",
            f"{disk}:2mb", "rt", check=True)
    pid = _pid(husk_rt, "rt")
    assert cgroup_file(pid, "cpu", "cpu.rt_period_us") == "50000"  # at once
    husk_rt("restart", "-t", "0", "rt", check=True)  # and recorded for every later start
    resources = _spec(husk_rt, "rt")["linux"]["resources"]
    assert resources["cpu"]["realtimePeriod"] == 50000
    assert resources["blockIO"]["throttleReadIOPSDevice"] == [{"major": major, "minor": minor, "rate": 70}]
    pid = _pid(husk_rt, "rt")
    assert cgroup_file(pid, "cpu", "cpu.rt_period_us") == "50000"
    assert cgroup_file(pid, "blkio", "blkio.throttle.read_iops_device") == f"{numbers} 70"
    assert cgroup_file(pid, "blkio", "blkio.throttle.write_bps_device") == f"{numbers} 2097152"
    # a realtime budget the parent cgroup does not have: the runtime refuses it, in one line
    refused = husk_rt("run", "--rm", "--cpu-rt-runtime", "1000", "--cpu-rt-period", "100000", "busybox", "true")
    assert refused.returncode == 125 and "cpu.rt_runtime_us" in refused.stderr, refused.stderr
    bad = husk_rt("create", "--cpuset-mems", "zero", "busybox")
    assert (bad.returncode, bad.stderr) == (125, "Error: invalid value 'zero' for --cpuset-mems: a list like 0-2,4\n")


def test_history_human_and_import_message(husk, tmp_path):
    archive = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-cf", str(archive), "-C", str(tmp_path), "."], check=True)
    husk("import", "--message", "from a tarball", str(archive), "localhost/imported:1", check=True)
    assert husk("history", "--format", "{{.Comment}}", "localhost/imported:1", check=True).stdout == \
        "from a tarball\n"
    human = husk("history", "localhost/imported:1", check=True).stdout.splitlines()[1]
    assert " ago " in human
    for flag in ("--human=false", "-H=false"):
        created = husk("history", flag, "--format", "{{.Created}}", "localhost/imported:1", check=True).stdout
        raw = husk("image", "inspect", "--format", "{{.Created}}", "localhost/imported:1", check=True).stdout
        assert created.strip().endswith("Z") and created[:19] == raw[:10] + "T" + raw[11:19], (created, raw)
    assert " ago " in husk("history", "-H", "localhost/imported:1", check=True).stdout


def test_connection_add_default(husk):
    for args in (("one", "unix:///tmp/one.sock"), ("--default", "two", "unix:///tmp/two.sock"),
                 ("three", "unix:///tmp/three.sock"), ("-d", "-p", "2201", "four", "me@example.org")):
        husk("system", "connection", "add", *args, check=True)
    listed = husk("system", "connection", "ls", "--format", "{{.Name}} {{.URI}} {{.Default}}", check=True)
    assert listed.stdout.splitlines() == ["four ssh://me@example.org:2201/run/husk/husk.sock true",
                                          "one unix:///tmp/one.sock false", "three unix:///tmp/three.sock false",
                                          "two unix:///tmp/two.sock false"]


# -- checkpoint and restore (runc: Debian's crun has no CRIU) --------------------------------------
@pytest.fixture
def runc(husk_envs):
    return husk_envs("runc")


def _userdata(env, name: str) -> str:
    container_id = env("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    return os.path.join(env.root, "containers", container_id, "userdata")


def test_checkpoint_and_restore_keep(runc):
    runc("run", "-d", "--name", "k", "--network", "none", "busybox", "sleep", "600", check=True)
    userdata = _userdata(runc, "k")
    runc("container", "checkpoint", "k", check=True)
    assert not os.path.exists(os.path.join(userdata, "dump.log"))  # without --keep: no logs left
    runc("container", "restore", "k", check=True)
    assert not os.path.exists(os.path.join(userdata, "restore.log"))
    runc("container", "checkpoint", "--keep", "k", check=True)
    assert {"dump.log", "stats-dump"} <= set(os.listdir(userdata))
    runc("container", "restore", "-k", "k", check=True)
    assert {"dump.log", "restore.log", "stats-restore"} <= set(os.listdir(userdata))
    assert os.listdir(os.path.join(userdata, "checkpoint"))  # the CRIU images stay too


def test_file_locks_need_the_flag_and_come_back(runc, tmp_path):
    """A process holding an flock: CRIU refuses to dump it without --file-locks; with it
    (on checkpoint and restore) the restored process holds the lock again."""
    runc("create", "--name", "locker", "--network", "none", "busybox", "sh", "-c",
         "touch /tmp/lock; exec flock /tmp/lock sleep 600", check=True)
    tools = tmp_path / "tools"  # util-linux's flock and the C library it needs (busybox has no flock)
    for source in ("/usr/bin/flock", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"):
        if not os.path.exists(source):
            pytest.skip(f"{source} is missing on this host")
        target = tools / source.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(source), target)
    runc("cp", f"{tools}/.", "locker:/", check=True)
    runc("start", "locker", check=True)

    def locked() -> bool:
        pid = _pid(runc, "locker")
        inode = os.stat(f"/proc/{pid}/root/tmp/lock").st_ino
        with open("/proc/locks") as handle:
            return any(f":{inode} " in line and "FLOCK" in line for line in handle)

    deadline = 60
    import time

    end = time.monotonic() + deadline
    while not locked():
        assert time.monotonic() < end, "the container never took its lock"
        time.sleep(0.2)
    refused = runc("container", "checkpoint", "locker")
    assert refused.returncode == 125 and "criu failed" in refused.stderr, refused.stderr
    assert runc("inspect", "--format", "{{.State.Status}}", "locker", check=True).stdout == "running\n"
    runc("container", "checkpoint", "--file-locks", "locker", check=True)
    runc("container", "restore", "--file-locks", "locker", check=True)
    assert locked()


def test_restore_ignore_static_ip(runc):
    network, subnet = runc.net_name("fx"), runc.subnet(3)
    static = subnet.replace(".0/24", ".50")
    runc("network", "create", "--subnet", subnet, network, check=True)
    runc("run", "-d", "--name", "sip", "--network", network, "--ip", static, "busybox", "sleep", "600", check=True)

    def address() -> str:
        return runc("inspect", "--format", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", "sip",
                    check=True).stdout.strip()

    assert address() == static
    runc("container", "checkpoint", "sip", check=True)
    runc("container", "restore", "sip", check=True)
    assert address() == static  # kept without the flag
    runc("container", "checkpoint", "sip", check=True)
    runc("container", "restore", "--ignore-static-ip", "sip", check=True)
    new = address()
    assert new not in ("", static) and new.startswith(subnet.rsplit(".", 1)[0] + ".")
    shown = runc("exec", "sip", "ip", "-4", "-o", "addr", "show", "eth0", check=True).stdout
    assert f" {new}/24 " in shown
    runc("rm", "-f", "-t", "0", "sip", check=True)
    runc("network", "rm", network, check=True)
