"""The monitor with real runc and crun: create, log, attach, exit file, exit command."""

from __future__ import annotations

import json
import marshal
import os
import re
import shutil
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest

from husk.engine.attach_protocol import MSG_SYNC, STREAM_STDERR, STREAM_STDOUT, SYNC_REPLY, AttachClient
from husk.define import CommandCannotInvoke, CommandNotFound
from husk.engine.monitor_client import MONITOR_SCRIPT, encode_config, spawn_monitor

RUNTIMES = [pytest.param(name, marks=pytest.mark.skipif(not shutil.which(name), reason=f"{name} not installed"))
            for name in ("runc", "crun")]
APPLETS = ("sh", "cat", "echo", "sleep", "tty", "stty", "printf", "seq")
LOG_RECORD = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] "


class Container:
    """One container under a monitor, with every path under the test's tmp dir."""

    def __init__(self, runtime: str, base, name: str, args: list[str], *, tty=False, stdin=False,
                 exit_command=(), log_path=None, log_max_size=0) -> None:
        self.runtime, self.id = runtime, name
        self.runtime_root = str(base / "runtime")
        self.bundle = base / f"bundle-{name}"
        run = base / "run" / name
        run.mkdir(parents=True)
        self.log_path = str(log_path or run / "ctr.log")
        self.exit_file = str(run / "exit")
        self.attach_socket = str(run / "attach")
        make_bundle(self.bundle, args, tty)
        self.config = {
            "id": name,
            "create_argv": [shutil.which(runtime), "--root", self.runtime_root, "--log", str(run / "oci-log"),
                            "--log-format", "json", "create", "--bundle", str(self.bundle),
                            "--pid-file", str(run / "pidfile"), name],
            "pid_file": str(run / "pidfile"), "exit_file": self.exit_file, "log_path": self.log_path,
            "log_max_size": log_max_size, "attach_socket": self.attach_socket, "stdin": stdin, "tty": tty,
            "exit_command": list(exit_command),
        }
        self.report: dict = {}

    def runtime_cmd(self, *args: str, check=True) -> subprocess.CompletedProcess:
        return subprocess.run([self.runtime, "--root", self.runtime_root, *args],
                              capture_output=True, text=True, check=check, timeout=30)

    def create(self) -> dict:
        self.report = spawn_monitor(self.config)
        return self.report

    def start(self) -> None:
        self.runtime_cmd("start", self.id)

    def attach(self) -> AttachClient:
        return AttachClient.connect(self.attach_socket, timeout=20)

    def wait_exit(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.exit_file):
            assert time.monotonic() < deadline, "no exit file"
            time.sleep(0.02)
        return open(self.exit_file).read()

    def log_lines(self) -> list[str]:
        with open(self.log_path) as log:
            return log.read().splitlines()

    def cleanup(self) -> None:
        self.runtime_cmd("delete", "-f", self.id, check=False)
        monitor_pid = self.report.get("monitor_pid")
        if monitor_pid and process_alive(monitor_pid):
            os.kill(monitor_pid, signal.SIGKILL)


def make_bundle(bundle, args: list[str], tty: bool) -> None:
    bin_dir = bundle / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy("/bin/busybox", bin_dir / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", bin_dir / applet)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = args
    spec["process"]["terminal"] = tty
    (bundle / "config.json").write_text(json.dumps(spec))


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_all(client: AttachClient) -> dict[int, bytes]:
    received = {STREAM_STDOUT: b"", STREAM_STDERR: b""}
    for stream, data in client:
        received[stream] += data
    return received


@pytest.fixture
def containers(tmp_path, request):
    made: list[Container] = []
    runtime = request.param if hasattr(request, "param") else "runc"

    def make(args, name="ctr", base=None, **options) -> Container:
        # ids name the runtime's cgroups too, so they must differ across parallel workers
        unique_id = f"{name}-{runtime}-{os.urandom(4).hex()}"
        container = Container(runtime, base or tmp_path, unique_id, args, **options)
        made.append(container)
        return container

    yield make
    for container in made:
        container.cleanup()


pytestmark = pytest.mark.parametrize("containers", RUNTIMES, indirect=True)


def test_log_exit_file_and_exit_command(containers, tmp_path):
    marker = tmp_path / "exit-command-ran"
    ctr = containers(["sh", "-c", "echo hello; echo oops >&2; printf partial; sleep 0.2; echo; exit 3"],
                     exit_command=["/bin/touch", str(marker)])
    report = ctr.create()
    assert report["pid"] > 0 and report["monitor_pid"] > 0
    # the launcher reaped the monitor's first process: nothing is left to wait for
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    assert oct(os.stat(ctr.attach_socket).st_mode & 0o777) == "0o600"
    ctr.start()
    assert ctr.wait_exit() == "3\n"
    lines = ctr.log_lines()
    for line in lines:
        assert re.match(LOG_RECORD, line), line
    assert [line.split(" ", 1)[1] for line in lines if "stdout" in line] == [
        "stdout F hello", "stdout P partial", "stdout F "]
    assert [line.split(" ", 1)[1] for line in lines if "stderr" in line] == ["stderr F oops"]
    deadline = time.monotonic() + 10
    while not (marker.exists() and not process_alive(report["monitor_pid"])):
        assert time.monotonic() < deadline, "exit command did not run or monitor did not exit"
        time.sleep(0.02)
    assert not os.path.exists(ctr.attach_socket)


def test_exit_zero(containers):
    ctr = containers(["sh", "-c", "exit 0"])
    ctr.create()
    ctr.start()
    assert ctr.wait_exit() == "0\n"


def test_killed_container_exits_137_and_monitor_ignores_signals(containers):
    ctr = containers(["sleep", "100"])
    report = ctr.create()
    ctr.start()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.kill(report["monitor_pid"], signum)
    time.sleep(0.2)
    assert process_alive(report["monitor_pid"]) and process_alive(report["pid"])
    ctr.runtime_cmd("kill", ctr.id, "KILL")
    assert ctr.wait_exit() == "137\n"


def test_container_default_signals_are_not_ignored(containers):
    """The monitor's own signal handling must not leak into the container."""
    ctr = containers(["sleep", "100"])
    report = ctr.create()
    ctr.start()
    with open(f"/proc/{report['pid']}/status") as status:
        ignored = int(dict(line.split(":\t", 1) for line in status.read().splitlines())["SigIgn"], 16)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        assert not ignored & (1 << (signum - 1)), signum


def test_stdin_through_attach(containers):
    ctr = containers(["cat"], stdin=True)
    ctr.create()
    with ctr.attach() as client:
        ctr.start()
        client.send_stdin(b"hello\n")
        stream, data = client.recv()
        assert (stream, data) == (STREAM_STDOUT, b"hello\n")
        big = b"".join(b"%07d\n" % i for i in range(40000))  # larger than a pipe and a packet
        client.send_stdin(big)
        client.close_stdin()
        rest = read_all(client)
    assert rest[STREAM_STDOUT] == big
    assert ctr.wait_exit() == "0\n"
    logged = [line.split(" ", 3)[3] for line in ctr.log_lines()]
    assert logged[0] == "hello" and len(logged) >= 40001


def test_early_output_reaches_client_attached_before_start(containers):
    ctr = containers(["sh", "-c", "echo early; echo late >&2"])
    ctr.create()
    quitter = ctr.attach()
    with ctr.attach() as client:
        quitter.close()  # a client that disappears must not hurt the monitor
        ctr.start()
        received = read_all(client)
    assert received == {STREAM_STDOUT: b"early\n", STREAM_STDERR: b"late\n"}
    assert ctr.wait_exit() == "0\n"


def test_output_reaches_every_client_that_connected_while_the_monitor_slept(containers):
    # the monitor stopped while clients connect and the container writes and exits: it then
    # sees the connections, the output and the exit in one round of events, and must accept
    # every waiting client before it forwards the output (it once accepted one per round)
    ctr = containers(["sh", "-c", "echo early; echo late >&2"])
    report = ctr.create()
    os.kill(report["monitor_pid"], signal.SIGSTOP)
    try:
        quitter = ctr.attach()
        clients = [ctr.attach() for _ in range(3)]
        quitter.close()
        ctr.start()
        deadline = time.monotonic() + 20
        while process_alive(report["pid"]):  # a zombie once it exited: its reaper sleeps
            assert time.monotonic() < deadline, "the container did not exit"
            time.sleep(0.02)
    finally:
        os.kill(report["monitor_pid"], signal.SIGCONT)
    for client in clients:
        with client:
            assert read_all(client) == {STREAM_STDOUT: b"early\n", STREAM_STDERR: b"late\n"}
    assert ctr.wait_exit() == "0\n"


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_out_of_descriptors_the_monitor_waits_without_spinning_and_serves_again(containers):
    # accept fails with EMFILE while the client stays queued, so the listener stays readable:
    # the monitor once polled and failed again at once, at 100% CPU, for as long as the limit held
    ctr = containers(["sleep", "1000"])
    report = ctr.create()
    ctr.start()
    monitor_pid = report["monitor_pid"]
    old_limits = resource.prlimit(monitor_pid, resource.RLIMIT_NOFILE)
    open_fds = {int(fd) for fd in os.listdir(f"/proc/{monitor_pid}/fd")}
    lowest_free = min(set(range(len(open_fds) + 1)) - open_fds)  # what the next descriptor would be
    resource.prlimit(monitor_pid, resource.RLIMIT_NOFILE, (lowest_free, old_limits[1]))
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
        try:
            client.connect(ctr.attach_socket)
            client.send(bytes([MSG_SYNC]))
            before = cpu_ticks(monitor_pid)
            time.sleep(3)  # the window the CPU time is measured over: a busy loop takes most of it
            assert cpu_ticks(monitor_pid) - before < 50 * os.sysconf("SC_CLK_TCK") // 100
            client.settimeout(0)
            with pytest.raises(BlockingIOError):  # not served: the limit was indeed hit
                client.recv(16)
        finally:
            resource.prlimit(monitor_pid, resource.RLIMIT_NOFILE, old_limits)
        client.settimeout(20)
        assert client.recv(16) == SYNC_REPLY
    assert process_alive(monitor_pid)


def test_client_connecting_after_exit_gets_nothing(containers):
    ctr = containers(["sh", "-c", "echo gone"])
    ctr.create()
    ctr.start()
    ctr.wait_exit()
    try:
        client = ctr.attach()
    except (FileNotFoundError, ConnectionRefusedError):
        return
    with client:
        assert client.recv() is None


def test_log_write_failure_keeps_forwarding(containers):
    ctr = containers(["sh", "-c", "echo still here"], log_path="/dev/full")
    ctr.create()
    with ctr.attach() as client:
        ctr.start()
        assert read_all(client)[STREAM_STDOUT] == b"still here\n"
    assert ctr.wait_exit() == "0\n"


def test_log_rotation(containers):
    ctr = containers(["seq", "1", "30000"], log_max_size=4096)  # 169 kB, several reads
    ctr.create()
    ctr.start()
    ctr.wait_exit()
    assert os.path.exists(ctr.log_path + ".1")
    # the limit is checked before each write of one read's records, so a file may pass it by one write
    assert os.path.getsize(ctr.log_path) + os.path.getsize(ctr.log_path + ".1") < 30000 * 36
    assert ctr.log_lines()[-1].endswith(" 30000")


def test_tty_with_long_socket_path(containers, tmp_path):
    # past the 107-byte AF_UNIX limit: attach and console sockets go through /proc/<pid>/fd
    base = tmp_path / ("d" * 60) / ("e" * 60)
    base.mkdir(parents=True)
    ctr = containers(["sh", "-c", "sleep 0.5; tty; stty size"], base=base, tty=True, stdin=True)
    assert len(ctr.attach_socket) > 107
    ctr.create()
    with ctr.attach() as client:
        client.resize(40, 100)
        ctr.start()
        received = read_all(client)
    assert received[STREAM_STDOUT] == b"/dev/pts/0\r\n40 100\r\n"
    assert ctr.wait_exit() == "0\n"
    with open(ctr.log_path, "rb") as log:
        assert log.readline().endswith(b" stdout F /dev/pts/0\r\n")  # the pty's CR is kept


def test_tty_stdin_close_sends_eof(containers):
    ctr = containers(["cat"], tty=True, stdin=True)
    ctr.create()
    with ctr.attach() as client:
        ctr.start()
        client.send_stdin(b"typed\n")
        client.close_stdin()
        received = read_all(client)
    assert b"typed\r\n" in received[STREAM_STDOUT]
    assert ctr.wait_exit() == "0\n"


def test_monitor_outlives_its_launcher(containers):
    ctr = containers(["sh", "-c", "read line; echo got $line"], stdin=True)
    launcher = subprocess.run(
        [sys.executable, "-c", "import json, sys; from husk.engine.monitor_client import MONITOR_SCRIPT, spawn_monitor; "
         "print(json.dumps(spawn_monitor(json.loads(sys.argv[1]))))", json.dumps(ctr.config)],
        capture_output=True, text=True, timeout=60, check=True, env=os.environ)
    ctr.report = json.loads(launcher.stdout)
    assert process_alive(ctr.report["monitor_pid"])
    with ctr.attach() as client:
        ctr.start()
        client.send_stdin(b"it\n")
        assert read_all(client)[STREAM_STDOUT] == b"got it\n"
    assert ctr.wait_exit() == "0\n"


def test_runs_as_a_plain_script(containers):
    ctr = containers(["sh", "-c", "echo scripted"])
    read_end, write_end = os.pipe()
    subprocess.run([sys.executable, "-I", "-S", MONITOR_SCRIPT, encode_config({**ctr.config, "sync_fd": write_end})],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   pass_fds=[write_end], start_new_session=True, check=True, timeout=30)
    os.close(write_end)
    with os.fdopen(read_end) as sync:
        ctr.report = marshal.loads(bytes.fromhex(sync.readline()))
    ctr.start()
    assert ctr.wait_exit() == "0\n"
    assert ctr.log_lines()[0].endswith(" stdout F scripted")


def test_missing_command_fails_at_create(containers):
    ctr = containers(["/nope"])
    with pytest.raises(CommandNotFound) as failure:
        ctr.create()
    assert "/nope" in str(failure.value)
    assert not os.path.exists(ctr.exit_file)
    assert not os.path.exists(ctr.attach_socket)


def test_non_executable_command_fails_at_create(containers):
    ctr = containers(["/etc/motd"])
    (ctr.bundle / "rootfs" / "etc").mkdir()
    (ctr.bundle / "rootfs" / "etc" / "motd").write_text("not a program\n")
    with pytest.raises(CommandCannotInvoke):
        ctr.create()


def test_monitor_memory(containers, capsys):
    """Proportional set size per monitor, several running (they share the interpreter's text)."""
    ctrs = [containers(["sleep", "100"], name=f"mem{i}") for i in range(4)]
    for ctr in ctrs:
        ctr.create()
        ctr.start()
    time.sleep(0.3)
    sizes = {}
    for ctr in ctrs:
        with open(f"/proc/{ctr.report['monitor_pid']}/smaps_rollup") as rollup:
            fields = dict(line.split(":", 1) for line in rollup.read().splitlines()[1:])
        sizes[ctr.id] = {key: int(fields[key].split()[0]) for key in ("Pss", "Private_Dirty", "Rss")}
    with capsys.disabled():
        print("\nmonitor memory (kB):", json.dumps(sizes))
    for size in sizes.values():
        assert size["Pss"] <= 8 * 1024
