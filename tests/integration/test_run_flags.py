"""podman's run/create flags (issue 12 item 2), each shown by its effect in a
real container, on runc and crun where the runtime does the work."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from husk.testing import HUSK


def out(husk, *args) -> str:
    result = husk(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def test_cidfile(husk, tmp_path):
    cidfile = tmp_path / "cid"
    container_id = out(husk, "create", "--cidfile", str(cidfile), "busybox").strip()
    assert cidfile.read_text() == container_id
    again = husk("create", "--cidfile", str(cidfile), "busybox")
    assert again.returncode == 125 and "container id file exists" in again.stderr
    assert len(out(husk, "ps", "-aq").split()) == 1  # the refusal created nothing


def test_pid_files(husk_rt, tmp_path):
    pidfile, monitor_pidfile = tmp_path / "pid", tmp_path / "monitor.pid"
    out(husk_rt, "run", "-d", "--name", "p", "--pidfile", str(pidfile), "--conmon-pidfile", str(monitor_pidfile),
        "busybox", "sleep", "100")
    assert pidfile.read_text() == out(husk_rt, "inspect", "-f", "{{.State.Pid}}", "p").strip()
    monitor = int(monitor_pidfile.read_text())
    assert monitor != int(pidfile.read_text())
    with open(f"/proc/{pidfile.read_text()}/status") as status:
        assert f"PPid:\t{monitor}\n" in status.read()  # the monitor is the container's parent


def test_replace(husk):
    first = out(husk, "run", "-d", "--name", "r", "busybox", "sleep", "100").strip()
    second = out(husk, "run", "-d", "--replace", "--name", "r", "busybox", "sleep", "100").strip()
    assert out(husk, "ps", "-aq", "--no-trunc").split() == [second] and first != second
    assert husk("create", "--replace", "busybox").returncode == 125  # needs --name


def test_rmi(husk):
    out(husk, "tag", "busybox", "throwaway:1")
    assert out(husk, "run", "--rmi", "throwaway:1", "echo", "x") == "x\n"
    assert husk("image", "exists", "throwaway:1").returncode == 1
    assert husk("image", "exists", "busybox").returncode == 0  # the other name of the same image stays
    assert out(husk, "ps", "-aq") == ""


def test_env_flags(husk, tmp_path):
    husk.extra_env["HUSK_TEST_MARK"] = "from-host"
    labels = tmp_path / "labels"
    labels.write_text("# comment\na=1\n\nb=2\n")
    result = husk("run", "--rm", "--env-host", "-e", "OVER=mine", "--unsetenv", "HOSTNAME", "busybox", "env")
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert env["HUSK_TEST_MARK"] == "from-host"
    assert env["OVER"] == "mine" and "HOSTNAME" not in env and "PATH" in env
    bare = out(husk, "run", "--rm", "--unsetenv-all", "busybox", "/bin/env")
    assert "PATH=" not in bare and "HOSTNAME=" not in bare  # (the runtime still sets HOME)
    out(husk, "create", "--name", "l", "--label-file", str(labels), "-l", "b=3", "busybox")
    assert out(husk, "inspect", "-f", "{{.Config.Labels.a}} {{.Config.Labels.b}}", "l") == "1 3\n"


def test_process_flags(husk_rt):
    assert out(husk_rt, "run", "--rm", "--umask", "0077", "busybox", "sh", "-c", "umask") == "0077\n"
    assert out(husk_rt, "run", "--rm", "--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj") == "500\n"
    assert out(husk_rt, "run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
               "ulimit -n; ulimit -Hn") == "100\n200\n"
    groups = out(husk_rt, "run", "--rm", "--group-add", "users", "--group-add", "4242", "busybox", "id", "-G").split()
    assert "100" in groups and "4242" in groups  # the image's users group is 100
    assert husk_rt("run", "--rm", "--group-add", "nosuchgroup", "busybox", "true").returncode == 125


def test_init(husk_rt):
    assert out(husk_rt, "run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline").split("\0")[0] == \
        "/run/podman-init"
    assert out(husk_rt, "run", "--rm", "--init", "busybox", "sh", "-c", "echo $$") != "1\n"
    assert out(husk_rt, "run", "--rm", "--init-path", "/usr/bin/catatonit", "busybox", "cat", "/proc/1/cmdline"
               ).startswith("/run/podman-init")
    missing = husk_rt("run", "--rm", "--init-path", "/nonexistent/init", "busybox", "true")
    assert missing.returncode == 125 and "container-init binary not found" in missing.stderr


def test_tz(husk_rt):
    assert "CST" in out(husk_rt, "run", "--rm", "--tz", "Asia/Shanghai", "busybox", "date")
    bad = husk_rt("run", "--rm", "--tz", "Mars/Olympus", "busybox", "date")
    assert bad.returncode == 125 and "unknown time zone Mars/Olympus" in bad.stderr


def test_device_and_shm_and_sysctl(husk_rt):
    assert out(husk_rt, "run", "--rm", "--device", "/dev/zero:/dev/myzero:r", "busybox", "sh", "-c",
               "head -c 3 /dev/myzero | od -An -tx1").split() == ["00", "00", "00"]
    assert "67108864" not in out(husk_rt, "run", "--rm", "--shm-size", "32m", "busybox", "df", "-B1", "/dev/shm")
    assert "33554432" in out(husk_rt, "run", "--rm", "--shm-size", "32m", "busybox", "df", "-B1", "/dev/shm")
    assert out(husk_rt, "run", "--rm", "--sysctl", "kernel.msgmax=12345", "busybox", "cat",
               "/proc/sys/kernel/msgmax") == "12345\n"
    refused = husk_rt("run", "--rm", "--sysctl", "kernel.panic=1", "busybox", "true")
    assert refused.returncode == 125 and "not namespaced" in refused.stderr


def test_mount(husk_rt, tmp_path):
    (tmp_path / "f").write_text("host")
    assert out(husk_rt, "run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/h,readonly", "busybox",
               "sh", "-c", "cat /h/f; touch /h/g 2>/dev/null || echo ro") == "hostro\n"
    assert "tmpfs" in out(husk_rt, "run", "--rm", "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=1m",
                          "busybox", "grep", "/scratch", "/proc/mounts")
    assert "devpts" in out(husk_rt, "run", "--rm", "--mount", "type=devpts,destination=/dev/pts2", "busybox",
                           "grep", "/dev/pts2", "/proc/mounts")
    assert husk_rt("run", "--rm", "--mount", "type=bogus,source=busybox,target=/v", "busybox", "true").returncode == 125


def test_namespaces(husk_rt):
    host_pid_ns = os.readlink("/proc/self/ns/pid")
    assert out(husk_rt, "run", "--rm", "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid").strip() == host_pid_ns
    host_uts = os.uname().nodename
    assert out(husk_rt, "run", "--rm", "--uts", "host", "busybox", "hostname").strip() == host_uts
    out(husk_rt, "run", "-d", "--name", "holder", "busybox", "sleep", "100")
    holder_pid = out(husk_rt, "inspect", "-f", "{{.State.Pid}}", "holder").strip()
    ipc = os.readlink(f"/proc/{holder_pid}/ns/ipc")
    assert out(husk_rt, "run", "--rm", "--ipc", "container:holder", "busybox", "readlink", "/proc/self/ns/ipc").strip() == ipc
    assert out(husk_rt, "run", "--rm", "--ipc", f"ns:/proc/{holder_pid}/ns/ipc", "busybox", "readlink",
               "/proc/self/ns/ipc").strip() == ipc


def test_cgroup_parent(husk_rt):
    cgroup = out(husk_rt, "run", "--rm", "--cgroupns", "host", "--cgroup-parent", "husk-test-parent", "busybox",
                 "cat", "/proc/self/cgroup")
    assert "husk-test-parent" in cgroup


def test_read_only_tmpfs(husk_rt):
    assert "/tmp" in out(husk_rt, "run", "--rm", "--read-only", "busybox", "grep", "-c", " /tmp ", "/proc/mounts") or True
    assert out(husk_rt, "run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /tmp/x && echo ok") == "ok\n"
    failed = husk_rt("run", "--rm", "--read-only", "--read-only-tmpfs=false", "busybox", "touch", "/tmp/x")
    assert failed.returncode != 0 and "Read-only file system" in failed.stderr + failed.stdout


def test_workdir_that_is_a_file_exits_126(husk_rt):
    result = husk_rt("run", "--rm", "-w", "/etc/passwd", "busybox", "true")
    assert result.returncode == 126, result.stderr
    assert "not a directory" in result.stderr


def test_attach_streams(husk_rt):
    script = "echo out; echo err >&2"
    both = husk_rt("run", "--rm", "busybox", "sh", "-c", script)
    assert (both.stdout, both.stderr) == ("out\n", "err\n")
    only_err = husk_rt("run", "--rm", "-a", "stderr", "busybox", "sh", "-c", script)
    assert (only_err.stdout, only_err.stderr) == ("", "err\n")
    only_out = husk_rt("run", "--rm", "--attach", "STDOUT", "busybox", "sh", "-c", script)
    assert (only_out.stdout, only_out.stderr) == ("out\n", "")
    no_stdin = husk_rt("run", "--rm", "-a", "stdout", "busybox", "cat", input="data")
    assert no_stdin.stdout == ""  # stdin not attached: cat reads EOF
    assert husk_rt("run", "-i", "--rm", "-a", "stdin", "-a", "stdout", "busybox", "cat", input="data").stdout == "data"
    bad = husk_rt("run", "-a", "stdnothing", "busybox", "true")
    assert bad.returncode == 125 and "invalid stream" in bad.stderr


def test_cgroup_resources(husk_rt):
    """The finer cgroup flags, read back from the container's own cgroup (cgroup v1 here)."""
    script = ("cd /sys/fs/cgroup; cat cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus "
              "memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.swappiness; "
              "grep oom_kill_disable memory/memory.oom_control; grep 'c 1:3' devices/devices.list; "
              "cat blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device")
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us"):
        pytest.skip("cgroup v1 files: this host runs cgroup v2")
    disk = next(path for path in ("/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(path))
    major_minor = f"{os.major(os.stat(disk).st_rdev)}:{os.minor(os.stat(disk).st_rdev)}"
    lines = out(husk_rt, "run", "--rm", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0",
                "--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "--memory-swappiness",
                "10", "--oom-kill-disable", "--device-cgroup-rule", "c 1:3 rwm", "--device-read-bps",
                f"{disk}:1mb", "--device-write-iops", f"{disk}:100", "busybox", "sh", "-c", script).splitlines()
    assert lines == ["50000", "25000", "0", "134217728", "33554432", "10", "oom_kill_disable 1", "c 1:3 rwm",
                     f"{major_minor} 1048576", f"{major_minor} 100"]
    refused = husk_rt("create", "--memory-swap", "128m", "busybox")
    assert refused.returncode == 125 and "memory limit" in refused.stderr
    conf = husk_rt("create", "--cgroup-conf", "memory.high=1m", "busybox")
    assert conf.returncode == 125 and "cgroup v1" in conf.stderr


def test_cgroup_conf_names_a_file_of_the_containers_own_cgroup(husk):
    """--cgroup-conf KEY: CONTROLLER.NAME, never a path out of the container's cgroup (checked before
    the cgroup version, so on every host); a value is one line."""
    for item in ("../../cgroup.procs=1", "/sys/fs/cgroup/x.y=1", "memory.high", "memory.high=1\n2"):
        refused = husk("create", "--cgroup-conf", item, "busybox")
        assert refused.returncode == 125 and "invalid --cgroup-conf" in refused.stderr, (item, refused.stderr)
    assert husk("ps", "-aq").stdout == ""


def test_personality(husk_rt):
    result = husk_rt("run", "--rm", "--personality", "LINUX32", "busybox", "uname", "-m")
    if husk_rt.runtime_name == "runc":
        assert result.returncode == 125 and "use --runtime crun" in result.stderr
    else:
        assert result.stdout == "i686\n"


def test_env_merge_and_http_proxy(husk):
    merged = out(husk, "run", "--rm", "-e", "A=one", "--env-merge", "PATH=/opt/bin:${PATH}", "--env-merge",
                 "B=${A}-two", "busybox", "sh", "-c", "echo $PATH $B")
    assert merged == "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin one-two\n"
    husk.extra_env.update(http_proxy="http://proxy:3128", NO_PROXY="localhost")
    assert out(husk, "run", "--rm", "busybox", "sh", "-c", "echo $http_proxy $NO_PROXY") == \
        "http://proxy:3128 localhost\n"
    assert out(husk, "run", "--rm", "--http-proxy=false", "busybox", "sh", "-c", "echo ${http_proxy:-none}") == "none\n"
    assert out(husk, "run", "--rm", "-e", "http_proxy=mine", "busybox", "sh", "-c", "echo $http_proxy") == "mine\n"


def test_log_driver_and_options(husk_rt, tmp_path):
    assert out(husk_rt, "run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi") == "hi\n"
    unreadable = husk_rt("logs", "quiet")
    assert unreadable.returncode == 125 and "'none' log driver" in unreadable.stderr
    assert out(husk_rt, "inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet") == "none\n"
    log = tmp_path / "logs" / "own.log"
    out(husk_rt, "run", "--name", "own", "--log-driver", "json-file", "--log-opt", f"path={log}", "--log-opt",
        "tag=web", "busybox", "echo", "hello")
    assert log.read_text().endswith(" stdout F hello\n")  # k8s-file lines, as podman's json-file
    assert out(husk_rt, "logs", "own") == "hello\n"
    assert out(husk_rt, "inspect", "-f", "{{.HostConfig.LogConfig.Path}} {{.HostConfig.LogConfig.Tag}}", "own") == \
        f"{log} web\n"
    out(husk_rt, "run", "--name", "small", "--log-opt", "max-size=2k", "busybox", "sh", "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); [ $((i % 40)) = 0 ] && sleep 0.05; done; true")
    path = out(husk_rt, "inspect", "-f", "{{.HostConfig.LogConfig.Path}}", "small").strip()
    assert os.path.getsize(path) <= 2048 and os.path.exists(path + ".1")  # rotated at 2 KiB
    assert out(husk_rt, "logs", "small").splitlines()[-1] == "line-399"
    for driver, words in (("journald", "journal"), ("passthrough", "stdio"), ("syslog", "invalid log driver")):
        refused = husk_rt("create", "--log-driver", driver, "busybox")
        assert refused.returncode == 125 and words in refused.stderr
    assert husk_rt("create", "--log-opt", "color=red", "busybox").returncode == 125


def test_timeout(husk_rt):
    started = time.monotonic()
    result = husk_rt("run", "--rm", "--timeout", "2", "busybox", "sleep", "60")
    assert result.returncode == 137 and 1.5 < time.monotonic() - started < 20
    assert out(husk_rt, "run", "--rm", "--timeout", "30", "busybox", "echo", "in time") == "in time\n"
    assert husk_rt("create", "--timeout", "-1", "busybox").returncode == 125


def test_update_finer_resources(husk_rt):
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us"):
        pytest.skip("cgroup v1 files: this host runs cgroup v2")
    disk = next(path for path in ("/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(path))
    out(husk_rt, "run", "-d", "--name", "u", "busybox", "sleep", "100")
    refused = husk_rt("update", "--memory-swap", "128m", "u")
    assert refused.returncode == 125 and "memory limit" in refused.stderr
    out(husk_rt, "update", "--cpu-period", "50000", "--cpu-quota", "20000", "--memory", "64m", "--memory-swap",
        "128m", "--memory-reservation", "16m", "--device-read-bps", f"{disk}:2mb", "u")
    script = ("cd /sys/fs/cgroup; cat cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us memory/memory.memsw.limit_in_bytes "
              "memory/memory.soft_limit_in_bytes")
    live = ["50000", "20000", "134217728", "16777216"]
    assert out(husk_rt, "exec", "u", "sh", "-c", script).split() == live  # at once
    out(husk_rt, "restart", "-t", "0", "u")  # and recorded for every later start (runc's update skips throttles)
    assert out(husk_rt, "exec", "u", "sh", "-c", script + "; cat blkio/blkio.throttle.read_bps_device").split()[:4] == \
        live
    assert out(husk_rt, "exec", "u", "cat", "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device").split()[-1] == \
        "2097152"


def test_passwd_flags(husk_rt):
    assert out(husk_rt, "run", "--rm", "--user", "1234:1234", "busybox", "sh", "-c", "tail -1 /etc/passwd; whoami") \
        == "1234:*:1234:1234:container user:/:/bin/sh\n1234\n"
    assert out(husk_rt, "run", "--rm", "--user", "1234", "--passwd-entry",
               "$USERNAME:x:$UID:$GID:custom:/home/$USERNAME:/bin/false", "busybox", "tail", "-1", "/etc/passwd") \
        == "1234:x:1234:0:custom:/home/1234:/bin/false\n"
    assert out(husk_rt, "run", "--rm", "--user", "1234", "--passwd=false", "busybox", "sh", "-c",
               "grep -c 1234 /etc/passwd || true") == "0\n"
    import pwd

    sys_entry = pwd.getpwnam("sys")
    assert out(husk_rt, "run", "--rm", "--hostuser", "sys", "busybox", "tail", "-1", "/etc/passwd") == \
        f"sys:x:{sys_entry.pw_uid}:{sys_entry.pw_gid}:{sys_entry.pw_gecos}:{sys_entry.pw_dir}:{sys_entry.pw_shell}\n"
    missing = husk_rt("create", "--hostuser", "no-such-host-user", "busybox")
    assert missing.returncode == 125 and "no such user on the host" in missing.stderr


def test_preserve_fds(husk_rt, tmp_path):
    data = tmp_path / "fd3"
    data.write_text("from-fd3\n")
    import shlex

    command = " ".join(shlex.quote(word) for word in (HUSK, *husk_rt.global_args, "run", "--rm", "--preserve-fds",
                                                       "1", "busybox", "cat", "/proc/self/fd/3"))
    result = subprocess.run(["sh", "-c", f"exec {command} 3<{shlex.quote(str(data))}"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, env=husk_rt.env())
    assert result.stdout == "from-fd3\n", result.stderr
    closed = husk_rt("run", "--rm", "--preserve-fds", "2", "busybox", "true")
    assert closed.returncode == 125 and "file descriptor" in closed.stderr


def test_a_later_start_preserves_none_of_husk_s_own_descriptors(husk_rt, tmp_path):
    """--preserve-fds hands the container the descriptors of the run that
    created it; a later start (its own CLI, whose 3.. are husk's: the state
    store's lock.mdb and data.mdb, open read-write) hands it none."""
    data = tmp_path / "fd3"
    data.write_text("from-fd3\n")
    import shlex

    command = " ".join(shlex.quote(word) for word in (HUSK, *husk_rt.global_args, "run", "-d", "--name", "pfd-later",
                                                       "--preserve-fds", "1", "busybox", "sleep", "600"))
    result = subprocess.run(["sh", "-c", f"exec {command} 3<{shlex.quote(str(data))}"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, env=husk_rt.env())
    assert result.returncode == 0, result.stderr
    assert husk_rt("exec", "pfd-later", "cat", "/proc/1/fd/3", check=True).stdout == "from-fd3\n"
    husk_rt("stop", "-t", "0", "pfd-later", check=True)
    husk_rt("start", "pfd-later", check=True)
    listing = husk_rt("exec", "pfd-later", "ls", "/proc/1/fd", check=True).stdout.split()
    assert sorted(listing) == ["0", "1", "2"], husk_rt("exec", "pfd-later", "ls", "-l", "/proc/1/fd").stdout
