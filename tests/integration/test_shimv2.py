"""containerd-shim-runc-v2 driven by husk without containerd (plugins/shimv2):
the ttrpc client on its own, then husk's lifecycle, exec, stdio, terminals,
pause, update, and a shim killed with -9, through `--runtime io.containerd.runc.v2`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from husk.testing import HUSK, PtyTerminal

SHIM_RUNTIME = "io.containerd.runc.v2"
SHIM_BINARY = "/usr/bin/containerd-shim-runc-v2"

pytestmark = pytest.mark.skipif(not os.access(SHIM_BINARY, os.X_OK),
                                reason="containerd-shim-runc-v2 is not installed (Debian's containerd)")


@pytest.fixture
def husk_shim(husk_envs):
    return husk_envs(SHIM_RUNTIME)


def _until(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def _shim_pids(marker: str) -> list[int]:
    """Shim daemons whose bundle (their working directory) is under `marker`."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if (entry.isdigit() and os.readlink(f"/proc/{entry}/exe").endswith("containerd-shim-runc-v2")
                    and os.readlink(f"/proc/{entry}/cwd").startswith(marker)):
                pids.append(int(entry))
        except OSError:
            pass
    return pids


# -- the client alone ---------------------------------------------------------------------
DRIVER = textwrap.dedent('''
    """Create, start, wait for and delete a container through the shim; print what came back.
    A subreaper of its own, so that it reaps the shim daemon it starts."""
    import ctypes, json, os, select, sys
    from husk_shimv2 import shim

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
    bundle, address, cid = sys.argv[1:4]
    for name in ("log", "out", "err"):
        os.mkfifo(os.path.join(bundle, name))
    fds = {name: os.open(os.path.join(bundle, name), os.O_RDONLY | os.O_NONBLOCK) for name in ("log", "out", "err")}
    socket_address, service = shim.start_shim(shim_binary := sys.argv[4], "husk-test", address, cid, bundle)
    result = {"service": service}
    with shim.Task(socket_address, service, cid) as task:
        result["pid"] = task.create(bundle, ("", bundle + "/out", bundle + "/err"), False,
                                    shim.runc_options(os.path.join(os.path.dirname(bundle), "runc")))
        result["created"] = task.state()["status"]
        shim_pid = task.connect()["shim_pid"]
        stream = task.send_wait()
        with shim.Task(socket_address, service, cid) as other:
            result["started"] = other.start() == result["pid"]
        result["exit"] = task.wait_reply(stream)
        result["stopped"] = task.state()["status"]
        output = {}
        for name in ("out", "err"):
            data = b""
            while select.select([fds[name]], [], [], 10)[0]:
                chunk = os.read(fds[name], 4096)
                if not chunk:
                    break
                data += chunk
            output[name] = data.decode()
        result.update(output)
        result["deleted"] = task.delete()
        task.shutdown()
    os.waitpid(shim_pid, 0)  # the shim daemon is our child: we are its subreaper
    result["socket_left"] = os.path.exists(shim.ttrpc.socket_path(socket_address))
    print(json.dumps(result))
''')


def test_the_ttrpc_client_runs_a_container_through_the_shim(tmp_path, busybox_tar):
    cid = f"shimtest{os.getpid()}x{time.monotonic_ns()}"
    bundle = tmp_path / cid  # the shim wants the bundle named after the container
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    subprocess.run(["tar", "-xf", busybox_tar, "-C", str(rootfs)], check=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=["sh", "-c", "echo out; echo err >&2; exit 7"])
    spec["root"] = {"path": str(rootfs)}
    spec["linux"]["cgroupsPath"] = f"/husk-test-{cid}"
    (bundle / "config.json").write_text(json.dumps(spec))
    (tmp_path / "driver.py").write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(bundle), str(tmp_path / "ctd.sock"), cid,
                           SHIM_BINARY], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["service"] == "containerd.task.v2.Task"  # Debian 12's shim is built on containerd 1.6
    assert result["pid"] > 0 and result["created"] == "created" and result["started"]
    assert (result["exit"], result["stopped"], result["deleted"]) == (7, "stopped", 7)
    assert (result["out"], result["err"]) == ("out\n", "err\n")
    assert not result["socket_left"]
    assert not _shim_pids(str(tmp_path))


# -- husk through the shim -------------------------------------------------------------------
def test_run_output_exit_code_and_stdin(husk_shim):
    result = husk_shim("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    result = husk_shim("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", input="hi\nthere\n")
    assert (result.returncode, result.stdout) == (0, "hi\nthere\ndone\n")
    # output before input, more of each than the pipes and fifos hold: no deadlock, nothing lost
    result = husk_shim("run", "-i", "--rm", "busybox", "sh", "-c", "head -c 300000 /dev/zero; wc -c",
                       input=b"x" * 1_000_000, timeout=120)
    assert (result.returncode, len(result.stdout), result.stdout[-8:]) == (0, 300008, b"1000000\n")
    assert husk_shim("run", "--rm", "busybox", "nosuchcommand").returncode == 127
    assert husk_shim("ps", "-aq").stdout == ""
    _until(lambda: not _shim_pids(husk_shim.runroot), what="the shims to go")


def test_lifecycle_exec_pause_update_stop(husk_shim):
    husk_shim("run", "-d", "--name", "box", "busybox", "sleep", "1000", check=True)
    pid = int(husk_shim("inspect", "--format", "{{.State.Pid}}", "box", check=True).stdout)
    # the container's init, not the waiter (runc's start returns before its init has exec'd: wait for it)
    _until(lambda: os.readlink(f"/proc/{pid}/exe").endswith("busybox"), what="the init to exec busybox")
    assert len(_shim_pids(husk_shim.runroot)) == 1

    result = husk_shim("exec", "box", "sh", "-c", "echo in; echo err >&2; exit 5")
    assert (result.returncode, result.stdout, result.stderr) == (5, "in\n", "err\n")
    result = husk_shim("exec", "box", "nosuchcommand")
    assert result.returncode == 127 and "not found" in result.stderr
    assert husk_shim("exec", "-i", "box", "cat", input="typed\n").stdout == "typed\n"
    cli = subprocess.run(["sh", "-c", 'exec "$@" 3</dev/null', "sh", HUSK, *husk_shim.global_args, "exec",
                          "--preserve-fds", "1", "box", "true"], capture_output=True, text=True, env=husk_shim.env(),
                         timeout=60)
    stderr = cli.stderr
    assert cli.returncode == 125 and "cannot pass descriptors" in stderr and "--preserve-fds" in stderr

    assert husk_shim("stats", "--no-stream", "--format", "{{.PIDs}}", "box", check=True).stdout == "1\n"
    husk_shim("pause", "box", check=True)
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "box").stdout == "paused\n"
    husk_shim("unpause", "box", check=True)
    husk_shim("update", "--pids-limit", "77", "box", check=True)
    assert husk_shim("exec", "box", "cat", "/sys/fs/cgroup/pids/pids.max").stdout.strip() in ("77", "")

    husk_shim("stop", "-t", "1", "box", check=True)
    assert husk_shim("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "box").stdout == "exited 137\n"
    _until(lambda: not _shim_pids(husk_shim.runroot), what="the stopped container's shim to go")
    husk_shim("start", "box", check=True)  # a new shim for the new run
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "box").stdout == "running\n"
    husk_shim("rm", "-f", "box", check=True)
    _until(lambda: not _shim_pids(husk_shim.runroot), what="the shim to go")


def test_a_terminal_through_the_shim(husk_shim):
    terminal = PtyTerminal([HUSK, *husk_shim.global_args, "run", "--rm", "-it", "busybox", "sh"], husk_shim.env(),
                           rows=30, cols=100)
    try:
        terminal.expect(rb"# ")
        terminal.send(b"stty size; tty\r")
        terminal.expect(rb"30 100")
        terminal.expect(rb"/dev/pts/0")
        terminal.resize(40, 120)
        terminal.send(b"stty size\r")
        terminal.expect(rb"40 120")
        terminal.send(b"exit 6\r")
        assert terminal.wait() == 6
    finally:
        terminal.close()


def test_a_shim_killed_with_sigkill_is_cleaned_up(husk_shim):
    husk_shim("run", "-d", "--name", "box", "busybox", "sleep", "1000", check=True)
    pid = int(husk_shim("inspect", "--format", "{{.State.Pid}}", "box", check=True).stdout)
    [shim_pid] = _shim_pids(husk_shim.runroot)
    os.kill(shim_pid, signal.SIGKILL)
    # the shim's own `delete` action kills what it left; the container is then exited
    _until(lambda: husk_shim("inspect", "--format", "{{.State.Status}}", "box").stdout == "exited\n",
           what="the container to be recorded as exited")
    _until(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
           what="the container's init to die")
    assert husk_shim("start", "box").returncode == 0
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "box").stdout == "running\n"
    husk_shim("rm", "-f", "box", check=True)


# -- kata: refused with what is missing; its options through the same code ------------------
@pytest.mark.skipif(os.path.exists("/dev/vhost-vsock") and shutil.which("containerd-shim-kata-v2") is not None,
                    reason="kata is installed here")
def test_kata_is_refused_with_what_is_missing(husk):
    result = husk("--runtime", "kata", "run", "--name", "vm", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: runtime kata cannot run here: missing ")
    assert "containerd-shim-kata-v2" in result.stderr and "/dev/vhost-vsock" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
    # nothing was created in a runtime: the container can be removed, or run on runc
    assert husk("inspect", "--format", "{{.State.Status}}", "vm").stdout == "created\n"
    husk("rm", "vm", check=True)
    info = json.loads(husk("info", "--format", "json", check=True).stdout)
    for name in ("kata", "io.containerd.kata.v2"):
        assert any("containerd-shim-kata-v2" in item for item in info["Runtimes"][name]["Missing"])


KATA_ON_RUNC = textwrap.dedent('''
    """kata's backend with the runc shim standing in for containerd-shim-kata-v2."""
    from husk.hooks import hookimpl
    from husk_shimv2.backend import KataShim

    class KataOnRunc(KataShim):
        name = "kata-on-runc"
        binary = "/usr/bin/containerd-shim-runc-v2"
        config_path = __import__("os").environ["KATA_TEST_CONFIG"]

        def missing(self):
            return []

    @hookimpl
    def husk_register_runtimes(register):
        register(KataOnRunc.name, KataOnRunc)
''')


def test_kata_options_reach_the_shim(husk, tmp_path):
    """kata's Create carries runtimeoptions.v1.Options{config_path}: the runc
    shim, which does not know that type, names it in its refusal."""
    (tmp_path / "kata_on_runc.py").write_text(KATA_ON_RUNC)
    (tmp_path / "configuration.toml").write_text("[hypervisor.qemu]\npath = \"/usr/bin/true\"\n")
    husk.load_plugin(str(tmp_path), "kata_on_runc", KATA_TEST_CONFIG=str(tmp_path / "configuration.toml"))
    result = husk("--runtime", "kata-on-runc", "run", "--rm", "busybox", "true")
    assert result.returncode != 0  # (127: husk reads the shim's "not found" as a missing command)
    assert "type with url runtimeoptions.v1.Options: not found" in result.stderr
    _until(lambda: not _shim_pids(husk.runroot), what="the shim to go")  # the waiter shut it down


def test_a_killed_monitor_and_shim_are_repaired_by_the_next_command(husk_shim):
    husk_shim("run", "-d", "--name", "box", "busybox", "sleep", "1000", check=True)
    monitor, pid = map(int, husk_shim("inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", "box",
                                      check=True).stdout.split())
    [shim_pid] = _shim_pids(husk_shim.runroot)
    os.kill(monitor, signal.SIGKILL)
    os.kill(shim_pid, signal.SIGKILL)
    # nobody records the exit now; the next command finds the shim dead and runs its delete action
    _until(lambda: husk_shim("ps", "-a", "--format", "{{.Status}}").stdout.startswith("Exited"),
           what="ps to show the container exited")
    _until(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
           what="the container's init to die")
    husk_shim("start", "box", check=True)
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "box").stdout == "running\n"
    husk_shim("rm", "-f", "-t", "0", "box", check=True)
    _until(lambda: not _shim_pids(husk_shim.runroot), what="the shim to go")


@pytest.mark.skipif(shutil.which("criu") is None, reason="criu is not installed")
def test_checkpoint_and_restore_through_the_shim(husk_shim):
    """Checkpoint is the shim's Checkpoint; restore a Create naming the images, restored at Start."""
    husk_shim("run", "-d", "--name", "count", "busybox", "sh", "-c",
              "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done", check=True)

    def last() -> int:
        lines = husk_shim("logs", "count", check=True).stdout.split()
        return int(lines[-1]) if lines else 0

    _until(lambda: last() > 5, what="the counter")
    assert husk_shim("container", "checkpoint", "count").returncode == 0
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "count").stdout == "exited\n"
    was = last()
    _until(lambda: not _shim_pids(husk_shim.runroot), what="the checkpointed container's shim to go")
    result = husk_shim("container", "restore", "--tcp-established", "count")
    assert result.returncode == 125 and "cannot restore with --tcp-established" in result.stderr
    assert husk_shim("container", "restore", "count").returncode == 0
    assert husk_shim("inspect", "--format", "{{.State.Status}}", "count").stdout == "running\n"
    _until(lambda: last() > was + 3, what="the restored counter")
    values = [int(x) for x in husk_shim("logs", "count", check=True).stdout.split()]
    assert values.count(1) == 1, "the counter restarted instead of continuing"
    husk_shim("rm", "-f", "-t", "0", "count", check=True)


# -- a shim named in husk.conf ----------------------------------------------------------------
def test_a_shim_named_in_husk_conf_is_a_runtime(husk, tmp_path):
    """[plugins.shimv2.runtimes.NAME] makes any shim binary a runtime: here the
    runc shim under another name, with runc's options (its state under husk's run root)."""
    shim = tmp_path / "containerd-shim-mine-v2"
    shim.symlink_to(SHIM_BINARY)
    with open(husk.config_file, "a") as handle:
        handle.write(f'\n[plugins.shimv2.runtimes.mine]\nshim = "{shim}"\noptions = "runc"\n'
                     f'[plugins.shimv2.runtimes.absent]\nshim = "{tmp_path}/containerd-shim-absent-v2"\n')
    result = husk("--runtime", "mine", "run", "--rm", "busybox", "sh", "-c", "echo hello; exit 3")
    assert (result.returncode, result.stdout) == (3, "hello\n")
    husk("--runtime", "mine", "run", "-d", "--name", "box", "busybox", "sleep", "1000", check=True)
    assert husk("exec", "box", "echo", "in").stdout == "in\n"
    assert os.path.isdir(os.path.join(husk.runroot, "runtime", "mine", "runc"))  # runc's options reached it
    husk("rm", "-f", "-t", "0", "box", check=True)
    _until(lambda: not _shim_pids(husk.runroot), what="the shim to go")
    info = json.loads(husk("info", "--format", "json", check=True).stdout)
    assert "mine" in info["Runtimes"]
    result = husk("--runtime", "absent", "run", "--rm", "busybox", "true")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "containerd-shim-absent-v2 is not installed" in result.stderr


def test_a_bad_shim_table_in_husk_conf_is_one_line(husk):
    with open(husk.config_file, "a") as handle:
        handle.write('\n[plugins.shimv2.runtimes."../up"]\nshim = "x"\n')
    result = husk("info")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "[plugins.shimv2.runtimes.../up]" in result.stderr


# -- the shim's events: served at $TTRPC_ADDRESS --------------------------------------------
def test_an_oom_kill_under_the_shim_is_husks_oom(husk_shim):
    """The shim's /tasks/oom event reaches the container's waiter (which serves
    the events address): inspect says OOMKilled, and husk records an oom event."""
    result = husk_shim("run", "--name", "hog", "--memory", "16m", "busybox", "tail", "/dev/zero", timeout=120)
    assert result.returncode == 137, result.stderr
    assert husk_shim("inspect", "--format", "{{.State.OOMKilled}}", "hog").stdout == "true\n"
    assert [event["name"] for event in husk_shim.events("oom")] == ["hog"]
    assert not os.path.exists(os.path.join(husk_shim.runroot, "runtime", SHIM_RUNTIME, _id(husk_shim, "hog"),
                                           "events")), "the events socket outlived its waiter"
    # a run that ends without the OOM killer is not OOMKilled
    husk_shim("run", "--name", "fine", "busybox", "true", check=True)
    assert husk_shim("inspect", "--format", "{{.State.OOMKilled}}", "fine").stdout == "false\n"
    husk_shim("rm", "-f", "-t", "0", "hog", "fine", check=True)


def _id(husk_env, name: str) -> str:
    return husk_env("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
