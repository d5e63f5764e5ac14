"""Generated specs run by real runc and crun: what the process sees from inside
(ids, environment, capabilities, limits, mounts, masked paths) is what
podman's defaults give."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import uuid

import pytest

from husk.engine import spec
from husk.state.records import ContainerConfig, ImageConfig, Mount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root")

RUNTIMES = [pytest.param(name, marks=pytest.mark.skipif(not shutil.which(name), reason=f"{name} not installed"))
            for name in ("runc", "crun")]
APPLETS = ("sh", "id", "cat", "env", "grep", "touch", "ls", "mount", "hostname", "wc", "readlink", "pwd", "echo")
PODMAN_DEFAULT_CAPEFF = "00000000800405fb"


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    """A busybox rootfs with two users; shared by the module's containers."""
    root = tmp_path_factory.mktemp("rootfs")
    root.chmod(0o755)  # pytest makes it 0700: no way in for the non-root users
    (root / "bin").mkdir()
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000:Bob:/home/bob:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nwheel:x:10:root,bob\naudio:x:29:bob\nbob:x:1000:\nstaff:x:50:\n")
    return str(root)


@pytest.fixture
def run(rootfs, tmp_path):
    """run(runtime, script, image=..., **config fields) -> (exit code, output) of
    `sh -c script` in a container generated from those fields."""
    def run(runtime: str, script: str, image: ImageConfig = ImageConfig(), **fields) -> tuple[int, str]:
        container_id = uuid.uuid4().hex + uuid.uuid4().hex  # cgroup paths are host-wide
        userdata = tmp_path / f"userdata-{container_id[:12]}"
        userdata.mkdir()
        config = ContainerConfig(id=container_id, name="web", created=0.0, image_id="f" * 64,
                                 image_name="localhost/busybox:latest", runtime=runtime,
                                 command=["sh", "-c", script], **fields)
        spec.write_bundle(spec.generate(config, image, rootfs, str(userdata)), str(userdata))
        proc = subprocess.run([runtime, "--root", str(tmp_path / f"{runtime}-root"), "run", "--bundle",
                               str(userdata), container_id],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr
    return run


def status_field(output: str, name: str) -> str:
    return re.search(rf"^{name}:\s+(\S+)$", output, re.M).group(1)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("user, uid, gid, groups, home", [
    ("", 0, 0, {10}, "/root"),
    ("bob", 1000, 1000, {10, 29}, "/home/bob"),
    ("1000", 1000, 1000, {10, 29}, "/home/bob"),
    ("bob:staff", 1000, 50, set(), "/home/bob"),
    ("4242:4343", 4242, 4343, set(), "/"),
])
def test_user_forms(run, runtime, user, uid, gid, groups, home):
    code, output = run(runtime, "id -u; id -g; cat /proc/self/status | grep ^Groups:; echo HOME=$HOME", user=user)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[:2] == [str(uid), str(gid)]
    assert {int(g) for g in lines[2].split()[1:]} == groups
    assert lines[3] == f"HOME={home}"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_environment_and_hostname(run, runtime):
    code, output = run(runtime, "env; echo name=$(cat /etc/hostname) uts=$(hostname); cat /etc/hosts",
                       ImageConfig(env=["FROM_IMAGE=1", "PATH=/bin"]), env=["FROM_CTR=2"], hostname="box")
    assert code == 0, output
    env = dict(line.split("=", 1) for line in output.splitlines() if "=" in line and " " not in line)
    assert env["container"] == "husk" and env["HOME"] == "/root" and env["TERM"] == "xterm"
    assert env["HOSTNAME"] == "box" and env["FROM_IMAGE"] == "1" and env["FROM_CTR"] == "2"
    assert env["PATH"] == "/bin"
    assert "name=box uts=box" in output
    assert re.search(r"^127\.0\.1\.1\s+box web$", output, re.M)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_default_capabilities_are_podmans(run, runtime):
    code, output = run(runtime, "cat /proc/self/status")
    assert code == 0, output
    assert status_field(output, "CapEff") == status_field(output, "CapBnd") == PODMAN_DEFAULT_CAPEFF
    assert status_field(output, "CapInh") == status_field(output, "CapAmb") == "0" * 16


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cap_add_drop_and_non_root(run, runtime):
    code, output = run(runtime, "cat /proc/self/status", cap_add=["net_admin"], cap_drop=["CAP_CHOWN"])
    assert code == 0, output
    assert int(status_field(output, "CapEff"), 16) == 0x800405FB - 1 + (1 << 12)
    code, output = run(runtime, "cat /proc/self/status", user="bob", cap_add=["NET_BIND_SERVICE"])
    assert code == 0, output
    assert int(status_field(output, "CapBnd"), 16) == 0x800405FB
    assert int(status_field(output, "CapEff"), 16) == int(status_field(output, "CapAmb"), 16) == 1 << 10


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_privileged(run, runtime):
    code, output = run(runtime, "cat /proc/self/status; grep -c ' /proc/keys ' /proc/self/mountinfo; "
                                "ls /dev/null; cat /run/.containerenv", privileged=True)
    assert code == 0, output
    assert int(status_field(output, "CapEff"), 16) == sum(
        1 << spec.CAPABILITY_NAMES.index(name[4:]) for name in spec.all_capabilities())
    assert re.search(r"^0$", output, re.M)  # /proc/keys is not masked
    assert 'engine="husk-' in output and "rootless=0" in output


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rlimits_are_clamped_to_the_host(run, runtime):
    code, output = run(runtime, "ulimit -n; ulimit -Hn")
    assert code == 0, output
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    assert output.split() == [str(expected), str(expected)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_read_only_root(run, runtime):
    code, output = run(runtime, "touch /x 2>&1; echo rc=$?; touch /tmp/x /run/x /var/tmp/x && echo tmp-ok; "
                                "echo h >> /etc/hosts; echo hosts-rc=$?", read_only=True)
    assert code == 0, output
    assert "Read-only file system" in output and "rc=1" in output
    assert "tmp-ok" in output and "hosts-rc=1" in output


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bind_and_tmpfs_mounts(run, runtime, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting").write_text("hello from the host\n")
    code, output = run(runtime, "cat /data/greeting; echo x > /data/new; echo write-rc=$?; "
                                "grep ' /scratch ' /proc/mounts",
                       mounts=[Mount("/data", source=str(data), options=["ro"]),
                               Mount("/scratch", type="tmpfs", options=["size=10m"])])
    assert code == 0, output
    assert "hello from the host" in output and "write-rc=1" in output
    scratch = re.search(r"^tmpfs /scratch tmpfs (\S+)", output, re.M).group(1).split(",")
    assert {"rw", "noexec", "nosuid", "nodev", "size=10240k"} <= set(scratch)
    assert not (data / "new").exists()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_masked_and_read_only_paths(run, runtime):
    script = ("cat /proc/keys | wc -c; ls /proc/acpi | wc -l; "
              "grep ' /proc/sys ' /proc/self/mountinfo; test -e /proc/kcore && cat /proc/kcore | wc -c")
    code, output = run(runtime, script)
    lines = output.splitlines()
    assert lines[:2] == ["0", "0"], output
    assert re.search(r" /proc/sys ro[, ]", lines[2]), output
    if os.path.exists("/proc/kcore"):
        assert lines[3] == "0"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_dev_is_noexec_and_cgroup_private(run, runtime):
    """podman's /dev is noexec; /sys/fs/cgroup is rprivate (no shared: peer group)."""
    code, output = run(runtime, "grep -E ' /(dev|sys/fs/cgroup) ' /proc/self/mountinfo")
    assert code == 0, output
    fields = {line.split()[4]: line.split() for line in output.splitlines()}
    assert {"nosuid", "noexec"} <= set(fields["/dev"][5].split(",")), output
    assert not any(field.startswith("shared:") for field in fields["/sys/fs/cgroup"][6:]), output


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_host_network_and_workdir(run, runtime):
    code, output = run(runtime, "readlink /proc/self/ns/net; hostname; pwd", network="host", workdir="/srv/app")
    assert code == 0, output
    assert output.splitlines() == [os.readlink("/proc/self/ns/net"), os.uname().nodename, "/srv/app"]
    code, output = run(runtime, "readlink /proc/self/ns/net")
    assert output.strip() != os.readlink("/proc/self/ns/net")
