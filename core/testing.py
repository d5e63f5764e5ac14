"""`husk.testing`: a pytest plugin for husk's own tests and for plugin authors.

Installed with husk (entry point `pytest11`), it gives each test its own
storage root and run root (so pytest-xdist workers never share state), the
default busybox image imported there, and a `husk` fixture that runs the real
CLI against them.  Teardown removes every container the test left behind and
unmounts what it mounted, so a failing test does not leak into the next one.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

import pytest

HUSK = os.path.join(os.path.dirname(sys.executable), "husk")
BUILDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib",
                       "build-busybox-image.py")
IMAGE = "localhost/busybox:latest"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
#: the docker CLI tests need the client binary (contrib/setup-test.sh installs it)
needs_docker_cli = pytest.mark.skipif(not os.path.exists(DOCKER), reason="no docker CLI on this machine")


@dataclass
class HuskEnv:
    """One isolated husk installation: roots, the CLI, and a Python Runtime."""

    root: str
    runroot: str
    runtime_name: str = "crun"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: this installation's own /22 (see :func:`_network_config`): its default
    #: network is the first /24, `subnet(1..3)` are for networks a test makes
    net_block: str = ""
    #: filesystems mounted for this installation alone (its small roots), unmounted last
    mounts: list[str] = field(default_factory=list)
    #: the lock that reserves `net_block` on the host (see :func:`_reserve_block`)
    block_lock: IO[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def global_args(self) -> list[str]:
        return ["--root", self.root, "--runroot", self.runroot, "--runtime", self.runtime_name]

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    def __call__(self, *args: str, input: bytes | str | None = None, check: bool = False,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `husk <global flags> args...`; output captured as text."""
        result = subprocess.run([HUSK, *self.global_args, *args], input=input, capture_output=True,
                                text=not isinstance(input, bytes), timeout=timeout, env=self.env())
        if check and result.returncode != 0:
            raise AssertionError(f"husk {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def events(self, status: str) -> list[dict]:
        """The recorded events (the events log's JSON lines) of one status."""
        path = os.path.join(self.runroot, "events", "events.log")
        if not os.path.exists(path):
            return []
        with open(path) as log:
            return [event for event in map(json.loads, log) if event["status"] == status]

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([HUSK, *self.global_args, *args], env=self.env(), **kwargs)

    @property
    def config_file(self) -> str:
        """This installation's husk.conf (found through XDG_CONFIG_HOME, so a
        test's own HUSK_CONFIG adds to it)."""
        return os.path.join(os.path.dirname(self.root), "config", "husk", "husk.conf")

    def load_plugin(self, directory: str, module: str, **env: str) -> None:
        """Load the plugin `module` from `directory` as a site loads one it has
        not installed: named in a config file, found on PYTHONPATH.  `env` adds
        to the environment of the commands (a probe's log file, say)."""
        config = os.path.join(os.path.dirname(self.root), "plugins.conf")
        with open(config, "w") as handle:
            handle.write(f"[engine]\nplugins = {json.dumps([module])}\n")
        pythonpath = os.pathsep.join(filter(None, [directory, self.env().get("PYTHONPATH")]))
        self.extra_env.update(PYTHONPATH=pythonpath, HUSK_CONFIG=config, **env)

    def subnet(self, index: int) -> str:
        """The `index`th /24 of this installation's block (0 is its default network's)."""
        import ipaddress

        return str(list(ipaddress.ip_network(self.net_block).subnets(new_prefix=24))[index])

    def net_name(self, name: str) -> str:
        """A network name of this installation's own: netavark names firewall
        chains and aardvark-dns files after network names, so installations
        running at once must not share one."""
        return f"{name}-{os.path.basename(os.path.dirname(self.root))[-8:]}"

    @property
    def default_network(self) -> str:
        return self.net_name("podman")

    def bridge(self, index: int) -> str:
        """A bridge name of this installation's own (0 is its default network's)."""
        return f"hk{os.path.basename(os.path.dirname(self.root))[-8:]}{index}"[-15:]

    def network_args(self, index: int) -> list[str]:
        """`network create` flags for a network of this installation's own."""
        return ["--subnet", self.subnet(index), "--interface-name", self.bridge(index)]

    def runtime(self):
        from husk.engine.config import load
        from husk.engine.runtime import Runtime

        return Runtime(self.root, self.runroot, self.runtime_name, config=load([self.config_file]))

    def cleanup(self) -> str:
        """Remove every container and unmount everything under the roots; what
        `rm -af` said on stderr (a leak's explanation, when one is found)."""
        removal = subprocess.run([HUSK, *self.global_args, "rm", "-af", "-t", "0"], capture_output=True,
                                 text=True, timeout=120, env=self.env())
        _kill_monitors(self.runroot)
        _kill_shims(self.runroot)
        _unmount_under(self.root)
        _unmount_under(self.runroot)
        for point in reversed(self.mounts):
            subprocess.run(["umount", "-l", point], capture_output=True)
        return removal.stderr

    def network_leaks(self) -> list[str]:
        """What networking left behind once every container is gone: network
        namespaces, this installation's bridges, firewall rules for its
        subnets, networks other than the default.  Only asked when a network
        backend ran here (it has a directory in the run root)."""
        if not os.path.isdir(os.path.join(self.runroot, "network")):
            return []
        _wait_for_processes_of(self.runroot)  # an exit command may still be tearing a network down
        leaks = [f"netns {name}" for name in _listdir(os.path.join(self.runroot, "netns"))]
        leaks += [f"bridge {name}" for name in _listdir("/sys/class/net") if name.startswith(self.bridge(0)[:-1])]
        networks = self("network", "ls", "-q").stdout.split()
        leaks += [f"network {name}" for name in networks if name != self.default_network]
        if leaks[-1:] and leaks[-1].startswith("network "):
            self("network", "prune", "-f")
        leaks += [f"rule {line}" for line in _rules_naming(self.net_block)]
        return leaks


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def _rules_naming(block: str) -> list[str]:
    """The host's firewall rules that name an address of `block` (a /22)."""
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    prefix = block.rsplit(".", 2)[0] + "."  # 10.x.
    third = {str(int(block.split(".")[2]) + i) for i in range(4)}
    return [line for line in rules.splitlines() if any(f"{prefix}{octet}." in line for octet in third)]


def _network_config(base: str) -> tuple[str, str, IO[bytes]]:
    """(a /22 of 10.128.0.0/10 that no host route touches, husk.conf text that
    makes its first /24 the default network, on a bridge and under a name of
    its own, the block's reservation): parallel installations must not share
    podman0 and 10.88.0.0/16 with separate IPAM, nor netavark's chains named
    after the network."""
    import ipaddress
    import random

    with open("/proc/net/route") as handle:
        routes = [ipaddress.ip_network((ipaddress.IPv4Address(int(f[1], 16).to_bytes(4, "little")),
                                        bin(int(f[7], 16)).count("1")), strict=False)
                  for f in (line.split() for line in list(handle)[1:]) if int(f[7], 16)]
    blocks = list(ipaddress.ip_network("10.128.0.0/10").subnets(new_prefix=22))
    while True:
        block = random.choice(blocks)
        if any(block.overlaps(route) for route in routes) or (lock := _reserve_block(str(block))) is None:
            continue
        # rules an earlier run left (a killed suite) must not pass for this installation's leak
        if not _rules_naming(str(block)):
            break
        lock.close()
    bridge = f"hk{os.path.basename(base)[-8:]}0"[-15:]
    first = next(block.subnets(new_prefix=24))
    return str(block), (f'[network]\ndefault_network = "podman-{os.path.basename(base)[-8:]}"\n'
                        f'default_subnet = "{first}"\ndefault_interface = "{bridge}"\n'), lock


#: where installations reserve their /22s: one empty lock file per block ever drawn (4,096 at most;
#: never removed, as removing a flock file races with its next locker)
BLOCK_LOCKS = os.path.join(tempfile.gettempdir(), ".husk-test-net-blocks")


def _reserve_block(block: str) -> IO[bytes] | None:
    """The block's lock, held (flock) for the installation's life, or None when
    another installation holds it.  No route or rule tells a block in use by an
    installation that has no container running yet: two made at once (xdist
    workers, other suites on the host) drew the same block (1 in 4096 for each
    pair), and each saw the other's firewall rules as its own leak (and its
    teardown removed the rules they shared).  A killed process's locks go with it."""
    import fcntl

    os.makedirs(BLOCK_LOCKS, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(BLOCK_LOCKS, block.replace("/", "-")),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def processes(what: str = "cmdline"):
    """(pid, the bytes of /proc/PID/`what`) of every other process, skipping
    those gone between the listing and the read."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/{what}", "rb") as handle:
                    yield int(entry), handle.read()
            except OSError:
                continue


def find_monitors(runroot: str) -> list[int]:
    """Pids of the monitors running for this run root (their argv names it: as text,
    or inside the hex of the marshalled configuration that monitors are started with)."""
    marker = runroot.encode()
    hex_marker = marker.hex().encode()
    return [pid for pid, cmdline in processes()
            if b"monitor" in cmdline and (marker in cmdline or hex_marker in cmdline)
            and b"container\0cleanup" not in cmdline]


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (generous: tests run
    on loaded machines); returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def runs(pid: int, program: str) -> bool:
    """Whether process `pid` runs `program` yet (its argv[0]): an OCI runtime's
    start returns once the container's init is released, a moment before that
    init execs the command (until then top shows `runc init`, for long on a
    loaded machine); tests that read the process wait for this first."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")[0] == program.encode()
    except FileNotFoundError:
        return False


def _kill_monitors(runroot: str) -> None:
    """SIGKILL the monitors still running for this run root."""
    for pid in find_monitors(runroot):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _wait_for_processes_of(runroot: str, timeout: float = 60.0) -> None:
    """Until no other process names `runroot` on its command line (a
    container's exit command, and the netavark it runs, finishing a teardown)."""
    needle = runroot.encode()
    wait_until(lambda: not any(needle in cmdline for _, cmdline in processes()), timeout, interval=0.05)


def _kill_shims(runroot: str) -> None:
    """SIGKILL shim daemons (containerd-shim-*) still serving a bundle under this run root."""
    for pid, _ in processes():
        try:
            if (os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("containerd-shim")
                    and os.readlink(f"/proc/{pid}/cwd").startswith(runroot + "/")):
                os.kill(pid, 9)
        except OSError:
            pass


def _unmount_under(path: str) -> None:
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory) -> str:
    """The default image's rootfs tar, built once per test process."""
    path = str(tmp_path_factory.mktemp("image") / "busybox.tar")
    subprocess.run([sys.executable, BUILDER, "--tar-only", path], check=True, capture_output=True)
    return path


def make_env(busybox_tar: str, runtime_name: str = "crun", sizes: tuple[str, str] | None = None,
             filesystem: str = "tmpfs") -> HuskEnv:
    """A fresh husk installation with the busybox image imported.  Run roots are
    short paths under /tmp: AF_UNIX socket paths are limited to 108 bytes.
    `sizes` (storage root's, run root's: "16m") puts each root on a file
    system of that size, for tests of full disks: a tmpfs, or (`filesystem`
    "ext4") an ext4 image loop-mounted, a disk's own behaviour (reserved
    blocks, a journal, inodes)."""
    base = tempfile.mkdtemp(prefix="husk-")
    block, config, block_lock = _network_config(base)
    os.makedirs(os.path.join(base, "config", "husk"))
    with open(os.path.join(base, "config", "husk", "husk.conf"), "w") as handle:
        handle.write(config)
    env = HuskEnv(root=os.path.join(base, "root"), runroot=os.path.join(base, "run"), runtime_name=runtime_name,
                  extra_env={"XDG_CONFIG_HOME": os.path.join(base, "config")}, net_block=block,
                  block_lock=block_lock)
    for path, size in zip((env.root, env.runroot), sizes or ()):
        os.makedirs(path, mode=0o700)
        if filesystem == "ext4":
            image = path + ".img"
            subprocess.run(["truncate", "-s", size, image], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, capture_output=True)
            subprocess.run(["mount", "-o", "loop", image, path], check=True)  # the loop device goes with it
            os.chmod(path, 0o700)
        else:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path], check=True)
        env.mounts.append(path)
    env("import", "--change", 'CMD=["sh"]', busybox_tar, IMAGE, check=True)
    return env


@pytest.fixture
def husk_envs(busybox_tar):
    """A factory of HuskEnvs: `husk_envs("runc")` makes one more installation
    (another "host"); each is cleaned up after the test."""
    made: list[HuskEnv] = []

    def make(runtime_name: str = "crun", sizes: tuple[str, str] | None = None, filesystem: str = "tmpfs") -> HuskEnv:
        made.append(make_env(busybox_tar, runtime_name, sizes, filesystem))
        return made[-1]

    yield make
    leaks = []
    for env in made:
        said = env.cleanup()
        if found := env.network_leaks():
            leaks += [*found, f"(rm -af said: {said.strip() or 'nothing'})"]
        env.block_lock.close()  # the block is free once checked
        shutil.rmtree(os.path.dirname(env.root), ignore_errors=True)
    assert not leaks, f"the test left networking behind: {leaks}"


@pytest.fixture
def husk(husk_envs):
    """A HuskEnv with its own roots (runtime crun), cleaned up after the test."""
    return husk_envs()


#: the runtime backends husk ships, by the binary each needs
RUNTIME_BINARIES = {"runc": "runc", "crun": "crun", "io.containerd.runc.v2": "containerd-shim-runc-v2",
                    "runsc": "runsc"}
#: what `husk_rt` runs each test on; HUSK_TEST_RUNTIMES (comma-separated names)
#: chooses others, as `HUSK_TEST_RUNTIMES=io.containerd.runc.v2` runs a suite on the shim
RT_RUNTIMES = os.environ.get("HUSK_TEST_RUNTIMES", "runc,crun").split(",")


def needs_runtime(name: str) -> None:
    """Skip the test, saying why, when the runtime `name` is not installed."""
    binary = RUNTIME_BINARIES.get(name, name)
    if shutil.which(binary) is None:
        pytest.skip(f"runtime {name} is not installed ({binary} not found)")


@pytest.fixture(params=RT_RUNTIMES)
def husk_rt(request, husk_envs):
    """Like `husk`, once with runc and once with crun (or HUSK_TEST_RUNTIMES's)."""
    needs_runtime(request.param)
    return husk_envs(request.param)


@pytest.fixture(params=list(RUNTIME_BINARIES))
def husk_any_rt(request, husk_envs):
    """Like `husk`, once on every runtime backend husk ships (containerd's runc
    shim and gVisor's runsc included), each skipped with the reason where it is not installed."""
    needs_runtime(request.param)
    return husk_envs(request.param)



def http_body(host: str, port: int, path: str = "/i", timeout: float = 10) -> bytes:
    """The body of `GET path` (HTTP/1.0), retried while the server (a container
    behind a published port, say) starts; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
            if data:
                return data.split(b"\r\n\r\n", 1)[-1]
        except OSError:
            pass
        assert time.monotonic() < deadline, f"nothing served on {host}:{port}"
        time.sleep(0.1)


def build_tar(*members) -> bytes:
    """A PAX tar of (tarfile.TarInfo, data) pairs (data None for what is no
    regular file): the crafted and hostile archives tests feed husk."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


class PtyTerminal:
    """A command (`argv`) on a pty of its own, the pty's slave its stdio and
    controlling terminal; the test types into the master and reads it, as a
    terminal emulator would."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        import fcntl
        import termios

        self.master, self.slave = os.openpty()
        _set_window(self.slave, rows, cols)
        self.initial_modes = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave, env=env,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.output = b""
        self.position = 0  # where the next expect() starts looking

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, pattern: bytes, timeout: float = 20):
        """Wait for `pattern` in the output after the previous match; the match."""
        import re
        import select

        deadline = time.monotonic() + timeout
        while not (match := re.compile(pattern).search(self.output, self.position)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not seen; output so far: {self.output!r}")
            if select.select([self.master], [], [], remaining)[0]:
                self.output += os.read(self.master, 65536)
        self.position = match.end()
        return match

    def resize(self, rows: int, cols: int) -> None:
        """A new window size, and SIGWINCH to the command."""
        _set_window(self.master, rows, cols)
        self.proc.send_signal(signal.SIGWINCH)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def _set_window(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

# -- the API service --------------------------------------------------------------------------
class UnixHTTP(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket (the service's)."""

    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class ApiService:
    """`husk system service` for one HuskEnv on its own socket, stderr kept for
    the teardown's traceback check.  `argv_prefix` runs it through a wrapper (a
    socket-activation shim); `uri` overrides the listening address; `options`
    are more flags of `system service`."""

    def __init__(self, env: HuskEnv, socket_path: str, idle: int = 0, argv_prefix=(), pass_fds=(),
                 env_extra=None, uri: str = "", wait: bool = True, options=()) -> None:
        self.env = env
        self.socket_path = socket_path
        self.uri = uri
        self.process = subprocess.Popen([*argv_prefix, HUSK, *env.global_args, "system", "service", "--time",
                                         str(idle), *options, uri or f"unix://{socket_path}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=pass_fds,
                                        env={**env.env(), **(env_extra or {})})
        if wait:
            self.wait_listening(socket_path)

    def wait_listening(self, path: str) -> None:
        """Until `path` accepts (the file exists a moment before the socket listens)."""
        deadline = time.monotonic() + 15
        while True:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
                return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                assert time.monotonic() < deadline, "the service did not start listening"
                time.sleep(0.05)
            finally:
                probe.close()

    def request(self, method: str, path: str, body=None, headers=None):
        """(status, response, parsed JSON or raw bytes)."""
        conn = UnixHTTP(self.socket_path)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            kind = response.getheader("Content-Type", "")
            return response.status, response, json.loads(data) if "json" in kind and data else data
        finally:
            conn.close()

    def hijack(self, path: str, body: dict | None = None) -> tuple[socket.socket, bytes]:
        """POST `path` asking for the upgrade (`Upgrade: tcp`), as docker clients
        do; the socket after the 101 and what came after its headers."""
        if self.uri.startswith("tcp://"):
            host, _, port = self.uri[len("tcp://"):].rpartition(":")
            sock = socket.create_connection((host, int(port)), timeout=15)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(15)
            sock.connect(self.socket_path)
        payload = json.dumps(body).encode() if body is not None else b""
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n{kind}"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock, rest

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """The real docker CLI pointed at this service."""
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=timeout,
                              env={**os.environ, "DOCKER_HOST": f"unix://{self.socket_path}",
                                   "DOCKER_CONFIG": os.path.dirname(self.socket_path)})

    def stop(self) -> str:
        """SIGTERM (the service drains and exits 0); returns its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err.decode(errors="replace")


def _serve(env: HuskEnv):
    base = tempfile.mkdtemp(prefix="hapi-")  # short: AF_UNIX paths are limited to 108 bytes
    service = ApiService(env, os.path.join(base, "s.sock"))
    yield service
    err = service.stop()
    shutil.rmtree(base, ignore_errors=True)
    assert "Traceback" not in err, err
    assert service.process.returncode == 0, err


@pytest.fixture(params=["crun", "runc"])
def api(request, husk_envs):
    """An ApiService over a fresh HuskEnv with the default image, once per runtime."""
    yield from _serve(husk_envs(request.param))


@pytest.fixture
def api_crun(husk_envs):
    """Like `api`, on crun only."""
    yield from _serve(husk_envs("crun"))


@pytest.fixture
def api_runc(husk_envs):
    """Like `api`, on runc only (the runtime that checkpoints with CRIU here)."""
    yield from _serve(husk_envs("runc"))


# -- a local registry (Debian's docker-registry, distribution 2.8) ------------------------------
REGISTRY_BINARY = "/usr/bin/docker-registry"
needs_registry = pytest.mark.skipif(not os.path.exists(REGISTRY_BINARY),
                                    reason="no docker-registry (contrib/test-packages.txt)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_certificate(directory: str, name: str, key_type: str = "ec") -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost (its own CA), made by openssl."""
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    algorithm = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if key_type == "ec" else \
        ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", *algorithm, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def serve_https(handler, cert: str, key: str):
    """A threading HTTPS server on 127.0.0.1 (a free port) serving `handler` in a
    daemon thread; the caller calls `shutdown()` and `server_close()`."""
    import http.server
    import ssl
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class TokenServer:
    """The bearer flow's token server, in a thread: Basic credentials in, a JWT
    (RS256, signed by openssl, its certificate in `x5c`) granting the asked
    scopes out; wrong or missing credentials get 401."""

    SERVICE, ISSUER = "husk-test-registry", "husk-test-issuer"

    def __init__(self, directory: str, user: str, password: str, tls: tuple[str, str]) -> None:
        import http.server

        self.user, self.password, self.requests = user, password, []
        self.cert, self.key = self_signed_certificate(directory, "token-signer", "rsa")
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.answer(self.path, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = serve_https(Handler, *tls)
        self.realm = f"https://127.0.0.1:{self.httpd.server_address[1]}/token"

    def answer(self, path: str, authorization: str) -> tuple[int, bytes]:
        import base64
        import urllib.parse

        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if authorization != expected:
            return 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return 200, json.dumps({"token": self.sign(access)}).encode()

    def sign(self, access: list[dict]) -> str:
        import base64
        import time

        with open(self.cert) as stream:
            der = base64.b64decode("".join(l for l in stream.read().splitlines() if "-----" not in l))
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": self.ISSUER, "sub": self.user, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 10,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
                                   capture_output=True, check=True).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class LocalRegistry:
    """A docker-registry on 127.0.0.1 with a self-signed certificate.

    `host` is `127.0.0.1:PORT`; `cert_dir` holds its CA as `ca.crt` (for
    `--cert-dir`); `auth` is "none", "basic" (htpasswd) or "token" (the bearer
    flow through a :class:`TokenServer`), with `user`/`password`."""

    host: str
    cert_dir: str
    auth: str
    directory: str
    process: subprocess.Popen
    user: str = "husk"
    password: str = "s3cret-pw"
    token_server: TokenServer | None = None

    def trust(self, env: "HuskEnv") -> "HuskEnv":
        """Make `env` trust this registry as podman would: its CA under the
        user's certs.d (HOME is the env's own) and a registries.conf of its own."""
        home = os.path.join(os.path.dirname(env.root), "home")
        certs = os.path.join(home, ".config", "containers", "certs.d", self.host)
        os.makedirs(certs, exist_ok=True)
        shutil.copy(os.path.join(self.cert_dir, "ca.crt"), certs)
        conf = os.path.join(home, "registries.conf")
        if not os.path.exists(conf):
            with open(conf, "w") as stream:
                stream.write(f'unqualified-search-registries = ["{self.host}"]\n')
        env.extra_env.update(HOME=home, CONTAINERS_REGISTRIES_CONF=conf,
                             REGISTRY_AUTH_FILE=os.path.join(home, "auth.json"))
        return env

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.token_server:
            self.token_server.stop()


def start_registry(directory: str, auth: str = "none") -> LocalRegistry:
    """Start docker-registry in `directory` (storage, certificates, config) and
    wait until it answers; the caller stops it."""
    import ssl
    import urllib.request

    os.makedirs(directory, exist_ok=True)
    cert, key = self_signed_certificate(directory, "server")
    cert_dir = os.path.join(directory, "certs")
    os.makedirs(cert_dir, exist_ok=True)
    shutil.copy(cert, os.path.join(cert_dir, "ca.crt"))
    port = _free_port()
    registry = LocalRegistry(f"127.0.0.1:{port}", cert_dir, auth, directory, None)  # type: ignore[arg-type]
    auth_section = ""
    if auth == "basic":
        import warnings

        with warnings.catch_warnings():  # crypt goes in Python 3.13; bcrypt is what distribution reads
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

            hashed = crypt.crypt(registry.password, crypt.mksalt(crypt.METHOD_BLOWFISH))
        htpasswd = os.path.join(directory, "htpasswd")
        with open(htpasswd, "w") as stream:
            stream.write(f"{registry.user}:{hashed}\n")
        auth_section = f"auth:\n  htpasswd:\n    realm: husk-test\n    path: {htpasswd}\n"
    elif auth == "token":
        registry.token_server = TokenServer(directory, registry.user, registry.password, (cert, key))
        auth_section = (f"auth:\n  token:\n    realm: {registry.token_server.realm}\n"
                        f"    service: {TokenServer.SERVICE}\n    issuer: {TokenServer.ISSUER}\n"
                        f"    rootcertbundle: {registry.token_server.cert}\n")
    config = os.path.join(directory, "config.yml")
    with open(config, "w") as stream:
        stream.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                     f"storage:\n  filesystem:\n    rootdirectory: {directory}/data\n  delete:\n    enabled: true\n"
                     f"http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {cert}\n    key: {key}\n"
                     f"{auth_section}")
    log = open(os.path.join(directory, "registry.log"), "wb")
    registry.process = subprocess.Popen([REGISTRY_BINARY, "serve", config], stdout=log, stderr=log,
                                        start_new_session=True)
    log.close()
    context = ssl.create_default_context(cafile=cert)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"https://{registry.host}/v2/", context=context, timeout=2)
            break
        except urllib.error.HTTPError:
            break  # 401: up, and asking for credentials
        except OSError:
            if registry.process.poll() is not None or time.monotonic() > deadline:
                registry.stop()
                with open(os.path.join(directory, "registry.log"), errors="replace") as stream:
                    raise RuntimeError(f"docker-registry did not start: {stream.read()[-2000:]}") from None
            time.sleep(0.05)
    return registry


@pytest.fixture(params=["none", "basic", "token"])
def registry_any_auth(request, tmp_path):
    """A local registry, once without auth, once with htpasswd, once behind a token server."""
    registry = start_registry(str(tmp_path / "registry"), request.param)
    yield registry
    registry.stop()


@pytest.fixture
def registry(tmp_path):
    """A local registry without auth, stopped after the test."""
    registry = start_registry(str(tmp_path / "registry"))
    yield registry
    registry.stop()
