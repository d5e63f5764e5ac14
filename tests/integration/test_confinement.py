"""Confinement by default (issue 18): a husk container and a podman container from
the same image, in the same run, on the same runtime, see and may do the same.

podman 4.3 is the reference: its private store (vfs, a short run root) imports
the busybox rootfs tar that husk's image is made from.  A small static program,
compiled here, makes the system calls that podman's default seccomp profile
refuses."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

from husk.testing import IMAGE

PODMAN = shutil.which("podman")
GCC = shutil.which("gcc")
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root"),
              pytest.mark.skipif(PODMAN is None, reason="podman (the reference) is not installed here")]

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    static const struct { const char *name; long nr; } calls[] = {
        {"add_key", SYS_add_key}, {"perf_event_open", SYS_perf_event_open},
        {"io_uring_setup", SYS_io_uring_setup},
    };
    for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        errno = 0;
        long result = syscall(calls[i].nr, 0, 0, 0, 0, 0);
        printf("%s %ld %d\n", calls[i].name, result, result < 0 ? errno : 0);
    }
    return 0;
}
"""

#: what the container reports about itself: status lines, masked paths, writable
#: /proc/sys and /sys, devices, and each mount's point, type and per-mount flags
#: (the root's is left out: podman's vfs root is a bind, husk's an overlay)
REPORT = r"""
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status
for path in /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/timer_stats \
        /proc/sched_debug /proc/scsi /sys/firmware /sys/fs/selinux /sys/dev/block /sys/devices/virtual/powercap \
        /proc/asound /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
    if [ -d "$path" ]; then echo "$path dir $(ls -A "$path" 2>&1 | wc -l)"
    elif [ -e "$path" ]; then echo "$path file $(head -c 64 "$path" 2>/dev/null | wc -c)"
    else echo "$path absent"; fi
done
(echo husk > /proc/sys/kernel/domainname) 2>/dev/null && echo "proc/sys writable" || echo "proc/sys read-only"
(mkdir /sys/fs/cgroup/husk-probe) 2>/dev/null && echo "sys writable" || echo "sys read-only"
(touch /proc/sysrq-trigger) 2>/dev/null && echo "sysrq writable" || echo "sysrq read-only"
ls -A /dev | sort | tr '\n' ' '; echo
for device in /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/fuse; do
    [ -e "$device" ] && { (: < "$device") 2>/dev/null && echo "$device opens" || echo "$device refused"; }
done
while read -r _ _ _ _ point options rest; do
    [ "$point" = / ] && continue
    echo "mount $point $options ${rest#*- }" | cut -d' ' -f1-4
done < /proc/self/mountinfo | sort
"""

#: the lines (by prefix) that may differ, on each side; docs/security.md lists and justifies them
ALLOWED = {
    # with --network none podman leaves the image's /etc/resolv.conf; husk binds
    # its own there (the host's nameservers), as with every other network mode
    # podman 4.3 --read-only leaves /run/.containerenv out (its /run tmpfs is
    # mounted instead); husk keeps it, so programs still know they run in a container
    "husk": ("mount /etc/resolv.conf ", "mount /run/.containerenv "),
    "podman": (),
}


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A directory holding the static `probe` program (mounted read-only at /t)."""
    if GCC is None:
        pytest.skip("gcc is not installed (contrib/test-packages.txt)")
    directory = tmp_path_factory.mktemp("probe")
    directory.chmod(0o755)
    (directory / "probe.c").write_text(PROBE_C)
    built = subprocess.run([GCC, "-static", "-O", "-o", str(directory / "probe"), str(directory / "probe.c")],
                           capture_output=True, text=True, timeout=120)
    if built.returncode != 0:
        pytest.skip(f"no static C toolchain (libc6-dev): {built.stderr.strip()[-200:]}")
    return str(directory)


@pytest.fixture(scope="module")
def podman(busybox_tar, tmp_path_factory):
    """podman(runtime, *run_args) -> (exit code, output) of `podman run --rm` in a
    private podman store holding the busybox rootfs as pbox:1."""
    root = tmp_path_factory.mktemp("podman")
    runroot = tempfile.mkdtemp(prefix="hpr-")  # podman refuses a long run root
    base = [PODMAN, "--root", str(root), "--runroot", runroot, "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    imported = subprocess.run([*base, "import", busybox_tar, "pbox:1"], capture_output=True, text=True,
                              timeout=120)
    assert imported.returncode == 0, imported.stderr

    def run(runtime: str, *args: str) -> tuple[int, str]:
        # podman's default rlimits (1048576 files) exceed this host's hard limits
        proc = subprocess.run([*base, "--runtime", runtime, "run", "--rm", "--network", "none",
                               "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", *args],
                              capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout + "".join(
            line + "\n" for line in proc.stderr.splitlines() if "level=warn" not in line)
    yield run
    subprocess.run([*base, "rm", "-af"], capture_output=True, timeout=120)
    shutil.rmtree(runroot, ignore_errors=True)


def _husk(husk, *args: str) -> tuple[int, str]:
    result = husk("run", "--rm", "--network", "none", *args)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("options", [[], ["--security-opt", "seccomp=unconfined"], ["--privileged"]],
                         ids=["default", "unconfined", "privileged"])
def test_refused_system_calls_fail_as_in_podman(husk_rt, podman, probe, options):
    """add_key and io_uring_setup get ENOSYS (the profile's default), perf_event_open
    EPERM; unconfined and privileged, each returns what the kernel says."""
    script = "grep '^Seccomp:' /proc/self/status; /t/probe"
    husk_code, husk_output = _husk(husk_rt, *options, "-v", f"{probe}:/t:ro", IMAGE, "sh", "-c", script)
    podman_code, podman_output = podman(husk_rt.runtime_name, *options, "-v", f"{probe}:/t:ro", "pbox:1",
                                        "sh", "-c", script)
    assert (husk_code, husk_output) == (podman_code, podman_output)
    if not options:
        assert husk_output == "Seccomp:\t2\nadd_key -1 38\nperf_event_open -1 1\nio_uring_setup -1 38\n"
    else:
        assert husk_output.startswith("Seccomp:\t0\n") and "perf_event_open -1 1\n" not in husk_output


def _config(husk, name: str) -> dict:
    container_id = husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    with open(os.path.join(husk.root, "containers", container_id, "userdata", "config.json")) as file:
        return json.load(file)


@pytest.mark.parametrize("options", [[], ["--cap-add", "sys_admin,CAP_SYS_PTRACE", "--cap-drop", "SYS_CHROOT"],
                                     ["--cap-drop", "ALL"]], ids=["default", "caps", "no-caps"])
def test_the_filter_is_podmans_for_the_capabilities(husk, busybox_tar, tmp_path, options):
    """The spec's linux.seccomp is the one podman writes for the same capabilities."""
    husk("create", "--name", "c", *options, IMAGE, "true", check=True)
    husk("init", "c", check=True)
    mine = _config(husk, "c")
    runroot = tempfile.mkdtemp(prefix="hpr-")
    base = [PODMAN, "--root", str(tmp_path / "p"), "--runroot", runroot, "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    try:
        subprocess.run([*base, "import", busybox_tar, "pbox:1"], check=True, capture_output=True, timeout=120)
        subprocess.run([*base, "create", "--name", "c", *options, "pbox:1", "true"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*base, "init", "c"], capture_output=True, timeout=120)  # fails at rlimits; spec written
        podman_id = subprocess.run([*base, "inspect", "--format", "{{.Id}}", "c"], check=True, capture_output=True,
                                   text=True, timeout=60).stdout.strip()
        with open(tmp_path / "p" / "vfs-containers" / podman_id / "userdata" / "config.json") as file:
            theirs = json.load(file)
    finally:
        subprocess.run([*base, "rm", "-af"], capture_output=True, timeout=120)
        shutil.rmtree(runroot, ignore_errors=True)
    assert mine["process"]["capabilities"]["bounding"] == theirs["process"]["capabilities"].get("bounding", [])
    assert mine["linux"]["seccomp"] == theirs["linux"]["seccomp"]
    assert mine["linux"]["maskedPaths"] == theirs["linux"]["maskedPaths"]
    assert mine["linux"]["readonlyPaths"] == theirs["linux"]["readonlyPaths"]


@pytest.mark.parametrize("options", [
    [], ["--privileged"], ["--read-only"], ["--cap-drop", "ALL"], ["--cap-add", "ALL", "--cap-drop", "CAP_KILL"],
    ["--security-opt", "no-new-privileges"], ["--security-opt", "unmask=ALL"],
    ["--security-opt", "unmask=/proc/keys:/sys/*", "--security-opt", "mask=/proc/cpuinfo"],
    ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
     "--security-opt", "label=disable"],
    ["--security-opt", "proc-opts=hidepid=2,nosuid"],
    ["--device", "/dev/fuse"],
], ids=["default", "privileged", "read-only", "no-caps", "all-caps", "nnp", "unmask-all", "mask", "unconfined",
        "proc-opts", "device"])
def test_husk_confines_as_podman_does(husk_rt, podman, options):
    """Capabilities, no_new_privs, seccomp, masked and read-only paths, writable
    /proc/sys and /sys, devices (which exist, which open: --device keeps the
    default rules) and mount flags: the same as podman's."""
    husk_code, husk_report = _husk(husk_rt, *options, IMAGE, "sh", "-c", REPORT)
    podman_code, podman_report = podman(husk_rt.runtime_name, *options, "pbox:1", "sh", "-c", REPORT)
    assert husk_code == podman_code == 0, (husk_report, podman_report)
    husk_lines, podman_lines = set(husk_report.splitlines()), set(podman_report.splitlines())
    assert [line for line in sorted(husk_lines - podman_lines) if not line.startswith(ALLOWED["husk"])] == []
    assert [line for line in sorted(podman_lines - husk_lines) if not line.startswith(ALLOWED["podman"])] == []


@pytest.mark.parametrize("options, message", [
    (["--security-opt", "seccomp=/nonexistent.json"],
     "Error: opening seccomp profile failed: open /nonexistent.json: no such file or directory"),
    (["--seccomp-policy", "foo"], 'Error: invalid seccomp policy "foo": valid policies are ["default" "image"]'),
    (["--security-opt", "bogus"], 'Error: invalid --security-opt 1: "bogus"'),
    (["--security-opt", "foo=bar"], 'Error: invalid --security-opt 2: "foo=bar"'),
    (["--cap-add", "FOO"], 'Error: "CAP_FOO": unknown capability'),
])
def test_bad_security_options_create_nothing(husk, options, message):
    result = husk("create", *options, IMAGE, "true")
    assert (result.returncode, result.stderr) == (125, message + "\n")
    assert husk("ps", "-aq", check=True).stdout == ""


def test_a_bad_profile_file_is_one_line(husk, tmp_path):
    (tmp_path / "bad.json").write_text("{bad")
    result = husk("create", "--security-opt", f"seccomp={tmp_path}/bad.json", IMAGE, "true")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: loading seccomp profile ({tmp_path}/bad.json) failed: "
                                    "decoding seccomp profile failed: ")


def test_a_profile_file_of_ones_own(husk_rt, tmp_path):
    """seccomp=PATH: a profile that allows all but one call (mkdir, EPERM)."""
    (tmp_path / "p.json").write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    code, output = _husk(husk_rt, "--security-opt", f"seccomp={tmp_path}/p.json", IMAGE, "sh", "-c",
                         "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x")
    assert code == 1 and output.startswith("Seccomp:\t2\n") and "Operation not permitted" in output


def test_a_named_apparmor_profile_is_refused_where_the_kernel_has_none(husk):
    from husk.engine.security import apparmor_enabled

    if apparmor_enabled():
        pytest.skip("this kernel has AppArmor")
    result = husk("create", "--security-opt", "apparmor=foo", IMAGE, "true")
    assert (result.returncode, result.stderr) == (
        125, 'Error: apparmor profile "foo" specified, but Apparmor is not enabled on this system\n')


def test_info_says_what_confinement_the_host_gives(husk):
    from husk.engine.security import apparmor_enabled

    shown = json.loads(husk("info", "--format", "json", check=True).stdout)["Host"]["Security"]
    assert shown == {"AppArmorEnabled": apparmor_enabled(), "Rootless": False, "SeccompEnabled": True,
                     "SeccompProfilePath": "/usr/share/containers/seccomp.json", "SELinuxEnabled": False,
                     "Capabilities": "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_NET_BIND_SERVICE,"
                                     "CAP_SETFCAP,CAP_SETGID,CAP_SETPCAP,CAP_SETUID,CAP_SYS_CHROOT"}


# -- the APIs ------------------------------------------------------------------------------

def test_docker_security_opt_through_the_api(api_crun):
    """HostConfig.SecurityOpt (the docker CLI's --security-opt) and inspect's
    HostConfig.SecurityOpt; a bad option is a 400 naming it."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    result = api_crun.docker("run", "--rm", "--security-opt", "seccomp=unconfined",
                             "--security-opt", "no-new-privileges", "busybox",
                             "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status")
    assert (result.returncode, result.stdout) == (0, b"NoNewPrivs:\t1\nSeccomp:\t0\n"), result.stderr
    assert api_crun.docker("create", "--name", "c", "--security-opt", "unmask=/proc/keys", "busybox").returncode == 0
    shown = api_crun.docker("inspect", "--format", "{{json .HostConfig.SecurityOpt}}", "c").stdout
    assert json.loads(shown) == ["unmask=/proc/keys"]
    status, _, body = api_crun.request("POST", "/containers/create",
                                       {"Image": "busybox", "HostConfig": {"SecurityOpt": ["bogus"]}})
    assert (status, body["message"]) == (400, 'invalid --security-opt 1: "bogus"')


def test_libpod_security_fields(api_crun):
    """podman's spec generator fields: seccomp_profile_path, no_new_privileges, mask, unmask, procfs_opts."""
    status, _, body = api_crun.request("POST", "/v4.3.0/libpod/containers/create", {
        "image": "busybox", "command": ["true"], "seccomp_profile_path": "unconfined", "no_new_privileges": True,
        "mask": "/proc/cpuinfo", "unmask": "/proc/keys", "procfs_opts": ["hidepid=2"], "selinux_opts": ["disable"]})
    assert status == 201, body
    status, _, shown = api_crun.request("GET", f"/v4.3.0/libpod/containers/{body['Id']}/json")
    assert shown["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined", "label=disable", "no-new-privileges",
                                                  "mask=/proc/cpuinfo", "unmask=/proc/keys", "proc-opts=hidepid=2"]
    status, _, body = api_crun.request("POST", "/v4.3.0/libpod/containers/create",
                                       {"image": "busybox", "seccomp_policy": "nope"})
    assert (status, body["message"]) == (400, 'invalid seccomp policy "nope": valid policies are ["default" "image"]')


def test_crun_is_handed_the_filter_it_compiled_for_the_same_profile(husk, probe):
    """crun's filter for a profile is cached (husk_crun, issue 20): a later create
    of the same profile gets it in run.oci.seccomp_bpf_data instead of compiling,
    and it refuses the same calls, in the container and in an exec; another
    profile (other capabilities) is compiled, not handed the first one's."""
    script = "grep '^Seccomp:' /proc/self/status; /t/probe"
    compiled = _husk(husk, "-v", f"{probe}:/t:ro", IMAGE, "sh", "-c", script)
    assert compiled == (0, "Seccomp:\t2\nadd_key -1 38\nperf_event_open -1 1\nio_uring_setup -1 38\n")
    assert len(os.listdir(os.path.join(husk.runroot, "runtime", "crun", "seccomp-cache"))) == 1
    husk("run", "-d", "--name", "cached", "--network", "none", "-v", f"{probe}:/t:ro", IMAGE, "sleep", "1000",
         check=True)
    husk("run", "-d", "--name", "other", "--network", "none", "--cap-add", "SYS_ADMIN", IMAGE, "sleep", "1000",
         check=True)
    try:
        assert "run.oci.seccomp_bpf_data" in _config(husk, "cached").get("annotations", {})
        assert "run.oci.seccomp_bpf_data" not in _config(husk, "other").get("annotations", {})
        execed = husk("exec", "cached", "sh", "-c", script)
        assert (execed.returncode, execed.stdout) == compiled
        assert _husk(husk, "-v", f"{probe}:/t:ro", IMAGE, "sh", "-c", script) == compiled
    finally:
        husk("rm", "-f", "-t", "0", "cached", "other")


def test_a_filter_given_in_the_annotation_is_not_cached_for_the_profile(husk, probe):
    """A container given its own filter in run.oci.seccomp_bpf_data (here one that
    allows every call) is crun's to apply, but that filter was not compiled from
    the container's profile: caching it would hand it to every later container of
    the default profile, which must still refuse what the profile refuses."""
    allow_all = base64.b64encode(struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)).decode()  # BPF_RET|BPF_K ALLOW
    husk("run", "--rm", "--network", "none", "--annotation", f"run.oci.seccomp_bpf_data={allow_all}", IMAGE, "true",
         check=True)
    assert _husk(husk, "-v", f"{probe}:/t:ro", IMAGE, "/t/probe") == (
        0, "add_key -1 38\nperf_event_open -1 1\nio_uring_setup -1 38\n")


def test_crun_s_seccomp_annotations_are_honoured_beside_the_cache(husk, tmp_path):
    """run.oci.seccomp_fail_unknown_syscall makes crun refuse a profile naming a
    call it does not know, and still does once the same profile's filter is
    cached (compiled by a container without the annotation)."""
    profile = json.loads(open("/usr/share/containers/seccomp.json").read())
    profile["syscalls"].append({"names": ["husk_no_such_call"], "action": "SCMP_ACT_ERRNO"})
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    options = ["--network", "none", "--security-opt", f"seccomp={path}"]
    husk("run", "--rm", *options, IMAGE, "true", check=True)  # unknown names ignored: compiled, cached
    strict = husk("run", "--rm", "--annotation", "run.oci.seccomp_fail_unknown_syscall=1", *options, IMAGE, "true")
    assert (strict.returncode, strict.stderr) == (125, "Error: invalid seccomp syscall `husk_no_such_call`\n")
