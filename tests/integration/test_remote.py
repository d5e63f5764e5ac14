"""The CLI as a client (`--url`, `--connection`, `--remote`) of husk's own
API service: over its unix socket, and over ssh through a real sshd started on
a free loopback port with its own host key, authorized key and known_hosts
(never the host's sshd)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from husk.testing import HUSK, IMAGE

SSHD = "/usr/sbin/sshd"


def client(service, *args: str, env_extra=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """husk as a client: no --root or --runroot, the service's installation's config dir."""
    return subprocess.run([HUSK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**service.env.env(), **(env_extra or {})})


def test_remote_verbs_over_the_unix_socket(api):
    url = ["--url", f"unix://{api.socket_path}"]
    ran = client(api, *url, "run", "--name", "rr1", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    started = client(api, *url, "run", "-d", "--name", "rr2", IMAGE, "sleep", "600")
    assert started.returncode == 0, started.stderr
    ident = started.stdout.strip()
    assert len(ident) == 64
    listed = client(api, *url, "ps")
    assert listed.stdout.splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                                    "PORTS", "NAMES"]
    assert [line.split()[-1] for line in listed.stdout.splitlines()[1:]] == ["rr2"]
    every = client(api, *url, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert sorted(every.stdout.splitlines()) == ["rr1 exited", "rr2 running"]
    # what the service's own installation sees
    assert api.env("inspect", "--format", "{{.State.Status}}", "rr2").stdout == "running\n"
    inspected = client(api, *url, "inspect", "--format", "{{.Id}} {{.State.ExitCode}}", "rr1")
    assert inspected.stdout.split()[1] == "3"
    assert client(api, *url, "logs", "rr1").stdout == "out\n"
    stopped = client(api, *url, "stop", "-t", "0", "rr2")
    assert (stopped.returncode, stopped.stdout) == (0, "rr2\n"), stopped.stderr
    removed = client(api, *url, "rm", "rr1", "rr2", "nope")
    assert removed.returncode == 125
    assert removed.stdout == "rr1\nrr2\n"
    assert removed.stderr.strip().splitlines() == ['Error: no container with name or ID "nope" found: '
                                                   'no such container']
    assert client(api, *url, "ps", "-aq").stdout == ""
    images = client(api, *url, "images")
    assert images.stdout.splitlines()[1].split()[:2] == ["localhost/busybox", "latest"]
    missing = client(api, *url, "inspect", "nope")
    assert (missing.returncode, missing.stdout) == (125, "[]\n")
    assert missing.stderr == 'Error: inspecting object: no such object: "nope"\n'
    missing = client(api, *url, "image", "inspect", "nope")
    assert (missing.returncode, missing.stderr) == (125, "Error: inspecting object: nope: image not known\n")


def test_remote_start_pause_kill_wait_and_rmi(api_crun):
    url = ["--url", f"unix://{api_crun.socket_path}"]
    assert client(api_crun, *url, "run", "-d", "--name", "rk", IMAGE, "sleep", "600").returncode == 0
    for verb, state in (("pause", "paused"), ("unpause", "running")):
        done = client(api_crun, *url, verb, "rk")
        assert (done.returncode, done.stdout) == (0, "rk\n"), done.stderr
        assert api_crun.env("inspect", "--format", "{{.State.Status}}", "rk").stdout == state + "\n"
    killed = client(api_crun, *url, "kill", "-s", "KILL", "rk")
    assert (killed.returncode, killed.stdout) == (0, "rk\n"), killed.stderr
    waited = client(api_crun, *url, "wait", "rk", "nope")
    assert (waited.returncode, waited.stdout) == (125, "137\n"), waited.stderr
    started = client(api_crun, *url, "start", "rk")
    assert (started.returncode, started.stdout) == (0, "rk\n"), started.stderr
    assert api_crun.env("inspect", "--format", "{{.State.Status}}", "rk").stdout == "running\n"
    assert client(api_crun, *url, "rm", "-f", "rk").returncode == 0
    api_crun.env("tag", IMAGE, "localhost/other:1", check=True)
    removed = client(api_crun, *url, "rmi", "localhost/other:1")
    assert (removed.returncode, removed.stdout) == (0, "Untagged: localhost/other:1\n"), removed.stderr


def test_remote_version_shows_the_client_and_the_service(api_crun):
    done = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "version")
    assert done.returncode == 0, done.stderr
    client_side, server_side = done.stdout.split("\n\n")
    assert client_side.splitlines()[0].split() == ["Client:", "husk"]
    assert server_side.splitlines()[0].split() == ["Server:", "husk"]
    assert [line.split(":")[0] for line in server_side.splitlines()] == [
        "Server", "Version", "API Version", "Go Version", "Built", "OS/Arch"]


def test_remote_info_is_the_services(api_crun):
    url = ["--url", f"unix://{api_crun.socket_path}"]
    done = client(api_crun, *url, "info", "--format", "{{.Store.GraphRoot}} {{.Host.ServiceIsRemote}}")
    assert (done.returncode, done.stdout) == (0, f"{api_crun.env.root} true\n"), done.stderr
    assert client(api_crun, *url, "info").stdout.startswith("Host:\n")


def test_remote_templates_print_times_as_the_local_verbs_do(api_crun):
    """A remote inspect's time.Time fields print as Go's String() in a template, as the
    local verb's and podman 4.3.1's remote client's (`2026-12-05 12:13:45.5 +0000 UTC`);
    husk's remote printed the JSON's RFC 3339 text (and `<no value>` for ps's Created,
    CreatedAt, StartedAt, ExitedAt, RunningFor).  JSON output stays RFC 3339."""
    url = ["--url", f"unix://{api_crun.socket_path}"]
    env = api_crun.env
    env("create", "--name", "rtimes", IMAGE, "true", check=True)
    env("volume", "create", "rtimesvol", check=True)
    env("pod", "create", "--infra=false", "--name", "rtimespod", check=True)
    env("secret", "create", "rtimessec", "-", input="x", check=True)
    env("network", "create", "rtimesnet", check=True)
    cases = [("inspect", "rtimes", "{{.Created}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.State.CheckpointedAt}}"),
             ("inspect", IMAGE, "{{.Created}}"), ("image", "inspect", IMAGE, "{{.Created}}"),
             ("volume", "inspect", "rtimesvol", "{{.CreatedAt}}"), ("pod", "inspect", "rtimespod", "{{.Created}}"),
             ("secret", "inspect", "rtimessec", "{{.CreatedAt}}|{{.UpdatedAt}}"),
             ("network", "inspect", "rtimesnet", "{{.Created}}"),
             ("images", "{{.Created}}|{{.CreatedAt}}"),
             ("image", "history", IMAGE, "{{.Created}}|{{.CreatedAt}}"),
             ("ps", "-a", "{{.Created}}|{{.CreatedAt}}|{{.StartedAt}}|{{.ExitedAt}}|{{.RunningFor}}"),
             ("volume", "ls", "{{.CreatedAt}}")]
    ago = re.compile(r"[^|\n]* ago")  # '3 seconds ago' may be '4 seconds ago' a moment later
    for *command, template in cases:
        local = env(*command, "--format", template, check=True).stdout
        remote = client(api_crun, *url, *command, "--format", template)
        assert (remote.returncode, ago.sub("AGO", remote.stdout)) == (0, ago.sub("AGO", local)), (command, remote.stderr)
        assert " +0000 UTC" in local, (command, local)
    remote = json.loads(client(api_crun, *url, "inspect", "rtimes").stdout)
    assert remote[0]["Created"] == json.loads(env("inspect", "rtimes", check=True).stdout)[0]["Created"]
    assert remote[0]["Created"].endswith("Z")


def test_a_verb_without_a_remote_version_says_so(api_crun):
    done = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "mount", "x")
    assert (done.returncode, done.stdout) == (125, "")
    assert done.stderr == "Error: mount is not supported remotely yet (run it on the service's host)\n"
    serve = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "system", "service", "-t", "0")
    assert (serve.returncode, serve.stderr) == (125, "Error: system service is not supported remotely yet (run it "
                                                     "on the service's host)\n")
    info = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "system", "info", "--format",
                  "{{.Host.ServiceIsRemote}}")
    assert (info.returncode, info.stdout) == (0, "true\n"), info.stderr
    listed = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "system", "connection", "ls")
    assert (listed.returncode, listed.stdout.split()) == (0, ["NAME", "URI", "IDENTITY", "DEFAULT"]), listed.stderr
    flag = client(api_crun, "--url", f"unix://{api_crun.socket_path}", "run", "--preserve-fds", "1", IMAGE, "true")
    assert (flag.returncode, flag.stderr) == (125, "Error: --preserve-fds is not supported remotely yet (run it on "
                                                   "the service's host)\n")


@pytest.mark.parametrize("uri, message", [
    ("unix:///nonexistent/s.sock", "Error: unable to connect to unix:///nonexistent/s.sock: No such file or directory"),
    ("http://x", "Error: invalid connection URI 'http://x': use unix:///PATH, tcp://HOST:PORT or "
                 "ssh://USER@HOST[:PORT]/PATH/TO/SOCKET"),
])
def test_bad_destinations_are_one_line(husk, uri, message):
    done = subprocess.run([HUSK, "--url", uri, "ps"], capture_output=True, text=True, timeout=60, env=husk.env())
    assert (done.returncode, done.stderr.strip()) == (125, message)


def test_system_connection_add_ls_default_rename_rm(husk):
    def connection(*args):
        done = husk("system", "connection", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    connection("add", "one", "unix:///tmp/one.sock")
    connection("add", "--identity", "/k/id", "two", "ssh://root@127.0.0.1:2222/run/husk/husk.sock")
    assert connection("ls").splitlines() == [
        "NAME        URI                                           IDENTITY    DEFAULT",
        "one         unix:///tmp/one.sock                                      true",
        "two         ssh://root@127.0.0.1:2222/run/husk/husk.sock  /k/id       false"]
    connection("default", "two")
    connection("rename", "two", "deux")
    assert connection("ls", "--format", "{{.Name}} {{.Default}}").splitlines() == ["deux true", "one false"]
    connection("rm", "deux")
    assert connection("ls", "--format", "{{.Name}} {{.Default}}").splitlines() == ["one true"]
    bad = husk("system", "connection", "default", "nope")
    assert (bad.returncode, bad.stderr) == (125, 'Error: connection "nope" not found\n')
    connection("add", "-p", "2200", "--socket-path", "/run/s.sock", "three", "me@example.org")
    assert connection("ls", "--format", "{{.URI}}").splitlines()[1] == "ssh://me@example.org:2200/run/s.sock"
    bad = husk("system", "connection", "add", "x", "ftp://h")
    assert bad.returncode == 125 and bad.stderr.startswith("Error: invalid connection URI 'ftp://h'")


class Sshd:
    """sshd on a free loopback port, with its own host key, one authorized key
    (the client's, `identity`) and a known_hosts file holding the host key."""

    def __init__(self, base: str) -> None:
        self.base = base
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", f"{base}/host_key"], check=True, timeout=60)
        subprocess.run([*keygen, "-f", f"{base}/id"], check=True, timeout=60)
        self.identity = f"{base}/id"
        shutil.copy(f"{base}/id.pub", f"{base}/authorized_keys")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.process: subprocess.Popen | None = None
        for _ in range(20):  # the free port may be taken by another test before sshd binds it
            self.port = _free_port()
            with open(f"{base}/sshd_config", "w") as config:
                config.write(f"ListenAddress 127.0.0.1\nHostKey {base}/host_key\nPidFile {base}/sshd.pid\n"
                             f"AuthorizedKeysFile {base}/authorized_keys\nPermitRootLogin prohibit-password\n"
                             "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                             "StrictModes no\nAllowStreamLocalForwarding yes\nLogLevel ERROR\n")
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", f"{base}/sshd_config", "-p", str(self.port)],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE)
            if self._banner():
                break
            self.stop()
        else:
            raise AssertionError("sshd did not start")
        with open(f"{base}/host_key.pub") as key:
            kind, blob = key.read().split()[:2]
        with open(f"{base}/known_hosts", "w") as known:
            known.write(f"[127.0.0.1]:{self.port} {kind} {blob}\n")

    def _banner(self) -> bool:
        """Until sshd answers with its banner (True), or exits (False: the port was taken)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as probe:
                    if probe.recv(4).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def ssh_config(self, directory: str, known_hosts: str) -> None:
        """husk's own ssh config (XDG_CONFIG_HOME/husk/ssh_config): this known_hosts file only."""
        os.makedirs(os.path.join(directory, "husk"), exist_ok=True)
        with open(os.path.join(directory, "husk", "ssh_config"), "w") as config:
            config.write(f"UserKnownHostsFile {known_hosts}\nGlobalKnownHostsFile /dev/null\n")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stderr.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sshd():
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        pytest.skip("openssh-server and openssh-client are in contrib/test-packages.txt")
    base = tempfile.mkdtemp(prefix="hssh-")
    server = Sshd(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_remote_over_ssh_with_an_identity_and_known_hosts(api_crun, sshd):
    config_dir = api_crun.env.env()["XDG_CONFIG_HOME"]
    sshd.ssh_config(config_dir, f"{sshd.base}/known_hosts")
    url = f"ssh://root@127.0.0.1:{sshd.port}{api_crun.socket_path}"
    added = client(api_crun, "system", "connection", "add", "--identity", sshd.identity, "lo", url)
    assert added.returncode == 0, added.stderr
    ran = client(api_crun, "--connection", "lo", "run", "--name", "viassh", IMAGE, "sh", "-c", "echo hi; exit 4")
    assert (ran.returncode, ran.stdout) == (4, "hi\n"), ran.stderr
    listed = client(api_crun, "--remote", "ps", "-a", "--format", "{{.Names}}")  # lo is the default
    assert listed.stdout == "viassh\n", listed.stderr
    direct = client(api_crun, "--url", url, "--identity", sshd.identity, "rm", "viassh")
    assert (direct.returncode, direct.stdout) == (0, "viassh\n"), direct.stderr
    # a host key that known_hosts does not hold is refused, in one line
    empty = f"{sshd.base}/empty_known_hosts"
    open(empty, "w").close()
    sshd.ssh_config(config_dir, empty)
    refused = client(api_crun, "--connection", "lo", "ps")
    assert refused.returncode == 125
    assert refused.stderr.startswith(f"Error: unable to connect to {url}: ssh: "), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    # no key: BatchMode never asks for a password
    sshd.ssh_config(config_dir, f"{sshd.base}/known_hosts")
    no_key = client(api_crun, "--url", url, "--identity", f"{sshd.base}/host_key", "ps")
    assert no_key.returncode == 125 and "Permission denied" in no_key.stderr, no_key.stderr


def test_remote_over_tcp_through_container_host(husk_envs):
    """tcp:// on loopback, the destination from $CONTAINER_HOST (podman's), `run --rm` attached."""
    from husk.testing import ApiService

    port = _free_port()
    base = tempfile.mkdtemp(prefix="hapi-")
    service = ApiService(husk_envs("crun"), os.path.join(base, "unused.sock"), uri=f"tcp://127.0.0.1:{port}",
                         wait=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                assert service.process.poll() is None and time.monotonic() < deadline, "not listening"
                time.sleep(0.05)
        host = {"CONTAINER_HOST": f"tcp://127.0.0.1:{port}"}
        ran = client(service, "run", "--rm", "-e", "WHO=tcp", IMAGE, "sh", "-c", "echo $WHO", env_extra=host)
        assert (ran.returncode, ran.stdout) == (0, "tcp\n"), ran.stderr
        assert client(service, "ps", "-aq", env_extra=host).stdout == ""
        assert service.env("ps", "-aq").stdout == ""
    finally:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert service.process.returncode == 0 and "Traceback" not in err, err


@pytest.fixture
def podman_service(busybox_tar):
    """podman 4.3's `system service` on a socket of its own, over a private store (vfs) holding
    busybox; containers.conf gives its containers no network and rlimits this host allows."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")
    base = tempfile.mkdtemp(prefix="hpod-")  # podman refuses a long run root
    with open(f"{base}/containers.conf", "w") as conf:
        conf.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\nnetns = "none"\n')
    env = {**os.environ, "CONTAINERS_CONF": f"{base}/containers.conf", "XDG_CONFIG_HOME": f"{base}/config"}
    argv = [podman, "--root", f"{base}/root", "--runroot", f"{base}/run", "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    imported = subprocess.run([*argv, "import", "--change", 'CMD=["sh"]', busybox_tar, IMAGE],
                              capture_output=True, text=True, timeout=120, env=env)
    assert imported.returncode == 0, imported.stderr
    sock = f"{base}/p.sock"
    process = subprocess.Popen([*argv, "system", "service", "--time", "0", f"unix://{sock}"], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(sock)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "podman's service did not listen"
                time.sleep(0.05)
        yield sock, env
    finally:
        subprocess.run([*argv, "rm", "-af", "-t", "0"], capture_output=True, timeout=120, env=env)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_husk_drives_podmans_service(podman_service):
    """The two ends were written separately: husk's client against podman 4.3's service."""
    sock, env = podman_service

    def remote(*args, input=None):
        return subprocess.run([HUSK, "--url", f"unix://{sock}", *args], capture_output=True, text=True,
                              timeout=120, env=env, input=input)

    ran = remote("run", "--name", "pa", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    assert remote("run", "-d", "--name", "pb", IMAGE, "sleep", "600").returncode == 0
    listed = remote("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}")
    assert sorted(line.split()[:3] for line in listed.stdout.splitlines()) == [["pa", "exited", "Exited"],
                                                                             ["pb", "running", "Up"]]
    assert remote("inspect", "--format", "{{.State.Status}}", "pb").stdout == "running\n"
    execed = remote("exec", "-i", "pb", "sh", "-c", "cat; exit 2", input="exec in podman\n")
    assert (execed.returncode, execed.stdout) == (2, "exec in podman\n"), execed.stderr
    logs = remote("logs", "pa")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert remote("stop", "-t", "0", "pb").stdout == "pb\n"
    assert remote("rm", "pa", "pb").stdout == "pa\npb\n"
    assert remote("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == IMAGE + "\n"
    piped = remote("run", "-i", "--rm", IMAGE, "sh", "-c", "tr a-z A-Z; exit 6", input="to podman\n")
    assert (piped.returncode, piped.stdout) == (6, "TO PODMAN\n"), piped.stderr


def test_libpod_pull_honours_the_policy(api_crun):
    """podman-remote's run asks `/images/pull?policy=missing` first: a stored image is
    the answer, with no registry asked (localhost has none)."""
    status, _, data = api_crun.request("POST", f"/v4.0.0/libpod/images/pull?reference={IMAGE}&policy=missing")
    answer = _last(data)
    assert status == 200 and answer["id"] == api_crun.env("inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    status, _, data = api_crun.request("POST", "/v4.0.0/libpod/images/pull?reference=localhost/nope&policy=never")
    assert "no such image: localhost/nope" in str(_last(data)).lower(), data
    status, _, data = api_crun.request("POST", f"/v4.0.0/libpod/images/pull?reference={IMAGE}&policy=sometimes")
    assert "invalid pull policy 'sometimes'" in str(_last(data)), data


def _last(data):
    """The last message of a pull's stream (the test client parses a one-message stream itself)."""
    import json

    return data if isinstance(data, dict) else json.loads(data.splitlines()[-1])


def test_remote_run_interactive_pipes_stdin(api_crun):
    url = ["--url", f"unix://{api_crun.socket_path}"]
    done = subprocess.run([HUSK, *url, "run", "-i", "--rm", IMAGE, "sh", "-c", "tr a-z A-Z; echo done >&2; exit 5"],
                          input="through the socket\n", capture_output=True, text=True, timeout=120,
                          env=api_crun.env.env())
    assert (done.returncode, done.stdout, done.stderr) == (5, "THROUGH THE SOCKET\n", "done\n")
    assert api_crun.env("ps", "-aq").stdout == ""


def test_remote_logs_follow_until_the_container_exits(api_crun):
    url = ["--url", f"unix://{api_crun.socket_path}"]
    script = "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second"
    assert client(api_crun, *url, "run", "-d", "--name", "rf", IMAGE, "sh", "-c", script).returncode == 0
    follower = subprocess.Popen([HUSK, *url, "logs", "-f", "rf"], stdout=subprocess.PIPE, text=True,
                                env=api_crun.env.env())
    import threading

    guard = threading.Timer(120, follower.kill)  # a hung follower fails the test instead of blocking it
    guard.start()
    try:
        assert follower.stdout.readline() == "first\n"
        api_crun.env("exec", "rf", "touch", "/tmp/go", check=True)
        rest, _ = follower.communicate(timeout=120)
    finally:
        guard.cancel()
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (follower.returncode, rest) == (0, "second\n")


def test_remote_run_it_gets_a_terminal_of_our_size(api_crun):
    from husk.testing import PtyTerminal

    terminal = PtyTerminal([HUSK, "--url", f"unix://{api_crun.socket_path}", "run", "-it", "--rm", IMAGE, "sh"],
                           api_crun.env.env(), rows=21, cols=77)
    try:
        terminal.send(b"stty size; echo $((6*7))\r")
        terminal.expect(rb"21 77\r\n")
        terminal.expect(rb"42\r\n")
        terminal.send(b"exit 9\r")
        assert terminal.wait(timeout=120) == 9
    finally:
        terminal.close()
    assert api_crun.env("ps", "-aq").stdout == ""


def test_remote_exec_with_stdin_and_with_a_terminal(api_crun):
    from husk.testing import PtyTerminal

    url = ["--url", f"unix://{api_crun.socket_path}"]
    assert client(api_crun, *url, "run", "-d", "--name", "rx", IMAGE, "sleep", "600").returncode == 0
    piped = subprocess.run([HUSK, *url, "exec", "-i", "-e", "X=1", "rx", "sh", "-c", "tr a-z A-Z; echo $X >&2; exit 7"],
                           input="into exec\n", capture_output=True, text=True, timeout=120, env=api_crun.env.env())
    assert (piped.returncode, piped.stdout, piped.stderr) == (7, "INTO EXEC\n", "1\n")
    terminal = PtyTerminal([HUSK, *url, "exec", "-it", "rx", "sh"], api_crun.env.env(), rows=19, cols=66)
    try:
        terminal.send(b"stty size\r")
        terminal.expect(rb"19 66\r\n")
        terminal.send(b"exit 8\r")
        assert terminal.wait(timeout=120) == 8
    finally:
        terminal.close()


def test_podman_remote_drives_husks_service(api_crun):
    """podman 4.3 as the client of husk's service (the other direction of the test above):
    run, ps, logs, inspect (StopSignal a number, as libpod's shape has it), exec, stop, rm, version."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")

    def remote(*args, input=None):
        return subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", *args], input=input,
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())

    ran = remote("run", "--name", "pr1", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    started = remote("run", "-d", "--name", "pr2", IMAGE, "sh", "-c", "echo up; echo e >&2; sleep 600")
    assert started.returncode == 0, started.stderr
    listed = remote("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[:2] for line in listed.stdout.splitlines()) == [["pr1", "Exited"], ["pr2", "Up"]]
    assert "Less than a second ago (" not in listed.stdout  # Status is only the health check's
    created = remote("ps", "-a", "--format", "{{.CreatedAt}}").stdout.splitlines()
    assert all(line.startswith("20") for line in created), created  # an RFC 3339 time, parsed
    logs = remote("logs", "pr1")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out\n", "err\n")
    assert remote("logs", "--tail", "1", "pr1").stderr == "err\n"
    inspected = remote("inspect", "--format", "{{.Config.StopSignal}} {{.State.ExitCode}} {{.Name}}", "pr1")
    assert (inspected.returncode, inspected.stdout) == (0, "15 3 pr1\n"), inspected.stderr
    execed = remote("exec", "pr2", "sh", "-c", "echo x; echo y >&2; exit 4")
    assert (execed.returncode, execed.stdout, execed.stderr) == (4, "x\n", "y\n")
    piped = remote("exec", "-i", "pr2", "tr", "a-z", "A-Z", input="piped\n")
    assert (piped.returncode, piped.stdout) == (0, "PIPED\n"), piped.stderr
    source = tempfile.mkdtemp(prefix="hcp-")
    try:  # cp asks the path's stat (isDir, linkTarget: podman's copy.FileInfo) first
        with open(f"{source}/in.txt", "w") as handle:
            handle.write("copied\n")
        copied = remote("cp", f"{source}/in.txt", "pr2:/tmp/")
        assert copied.returncode == 0, copied.stderr
        assert api_crun.env("exec", "pr2", "cat", "/tmp/in.txt").stdout == "copied\n"
        back = remote("cp", "pr2:/tmp/in.txt", f"{source}/back.txt")
        assert back.returncode == 0, back.stderr
        with open(f"{source}/back.txt") as handle:
            assert handle.read() == "copied\n"
    finally:
        shutil.rmtree(source, ignore_errors=True)
    # events carry podman's statuses and a containerExitCode each (podman-remote crashes on less)
    events = remote("events", "--stream=false", "--filter", "container=pr1", "--format",
                    "{{.Status}} {{.ContainerExitCode}}")
    assert events.returncode == 0, events.stderr
    assert "died 3" in events.stdout.splitlines() and events.stdout.startswith("create 0\n"), events.stdout
    assert remote("stop", "-t", "0", "pr2").stdout == "pr2\n"
    removed = remote("rm", "pr1", "pr2")
    assert removed.returncode == 0 and len(removed.stdout.split()) == 2, removed.stderr
    assert api_crun.env("ps", "-aq").stdout == ""
    server = remote("version", "--format", "{{.Server.APIVersion}}")
    assert (server.returncode, server.stdout) == (0, "4.3.1\n"), server.stderr
    # podman's Info document (libpod's /info): podman --remote info died on Docker's
    info = remote("info", "--format", "{{.Host.ServiceIsRemote}} {{.Store.GraphDriverName}} {{.Version.APIVersion}} "
                  "{{.Host.Security.SECCOMPEnabled}}")
    assert (info.returncode, info.stdout) == (0, "true overlay 4.3.1 true\n"), info.stderr
    assert remote("info").stdout.startswith("host:\n")


def test_remote_cp_and_pods_over_ssh(api_crun, sshd, tmp_path):
    """The newer remote verbs through the ssh tunnel: cp both ways (archives as request and
    response bodies), a pod and its container, the network and volume groups."""
    config_dir = api_crun.env.env()["XDG_CONFIG_HOME"]
    sshd.ssh_config(config_dir, f"{sshd.base}/known_hosts")
    url = ["--url", f"ssh://root@127.0.0.1:{sshd.port}{api_crun.socket_path}", "--identity", sshd.identity]

    def remote(*args):
        done = client(api_crun, *url, *args)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    remote("pod", "create", "--name", "sshpod")
    remote("run", "-d", "--pod", "sshpod", "--name", "sshc", IMAGE, "sleep", "600")
    assert remote("pod", "ps", "--format", "{{.Name}} {{.NumberOfContainers}}") == "sshpod 2\n"
    (tmp_path / "in.txt").write_text("over ssh\n")
    remote("cp", str(tmp_path / "in.txt"), "sshc:/tmp/in.txt")
    remote("cp", "sshc:/tmp/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "over ssh\n"
    assert remote("volume", "create", "sshvol") == "sshvol\n"
    assert remote("volume", "ls", "-q") == "sshvol\n"
    remote("pod", "rm", "-f", "sshpod")
    remote("volume", "rm", "sshvol")
    assert remote("ps", "-aq") == ""


def test_husks_run_flags_reach_podmans_service(podman_service, tmp_path):
    """The SpecGenerator husk's client sends (husk.cli.remote_create) is podman's: its service makes
    the container the flags ask for (its own inspect says so)."""
    sock, env = podman_service
    flags = ["-v", f"{tmp_path}:/data:ro", "--tmpfs", "/t1:size=1m", "-e", "A=1", "-l", "k=v", "-w", "/tmp",
             "-u", "1000:1000", "-h", "myhost", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "100",
             "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--ulimit", "nofile=512:1024", "--restart",
             "on-failure:2", "--dns", "10.231.14.1", "--add-host", "h:10.0.0.1", "--stop-signal", "SIGINT",
             "--health-cmd", "true", "--health-on-failure", "kill", "--sysctl", "net.ipv4.ip_forward=1",
             "--shm-size", "32m", "--read-only", "--security-opt", "no-new-privileges"]
    done = subprocess.run([HUSK, "--url", f"unix://{sock}", "create", "--name", "pflags", *flags, IMAGE, "true"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    inspected = subprocess.run([HUSK, "--url", f"unix://{sock}", "inspect", "pflags"], capture_output=True,
                               text=True, timeout=120, env=env)
    document = json.loads(inspected.stdout)[0]
    host, config = document["HostConfig"], document["Config"]
    assert (host["Binds"][0].split(":")[:2], host["Tmpfs"]["/t1"].split(",")[0]) == ([str(tmp_path), "/data"],
                                                                                    "size=1m")
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"], host["ShmSize"]) == (64 << 20, 5 * 10 ** 8, 100,
                                                                                      32 << 20)
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN"], ["CAP_CHOWN"])
    assert {"Name": "RLIMIT_NOFILE", "Soft": 512, "Hard": 1024} in host["Ulimits"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert (host["Dns"], host["ExtraHosts"], host["ReadonlyRootfs"]) == (["10.231.14.1"], ["h:10.0.0.1"], True)
    assert "no-new-privileges" in host["SecurityOpt"]
    assert ("A=1" in config["Env"], config["Labels"]["k"], config["WorkingDir"], config["User"],
            config["Hostname"]) == (True, "v", "/tmp", "1000:1000", "myhost")
    assert (config["StopSignal"], config["HealthcheckOnFailureAction"]) == (2, "kill")


def test_husks_pod_and_network_create_flags_reach_podmans_service(podman_service):
    """husk's remote `network create` and `pod create` bodies are podman's: its service takes them."""
    sock, env = podman_service

    def remote(*args):
        done = subprocess.run([HUSK, "--url", f"unix://{sock}", *args], capture_output=True, text=True, timeout=120,
                              env=env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout
    name = f"pnet{os.getpid()}"  # podman keeps networks host-wide (/etc/containers/networks)
    try:
        remote("network", "create", "--subnet", "10.231.15.0/24", "--gateway", "10.231.15.254", "--ip-range",
               "10.231.15.128/25", "--internal", "--label", "k=v", "-o", "mtu=1400", name)
        network = json.loads(remote("network", "inspect", name))[0]
        assert network["subnets"] == [{"subnet": "10.231.15.0/24", "gateway": "10.231.15.254",
                                       "lease_range": {"start_ip": "10.231.15.129", "end_ip": "10.231.15.254"}}]
        assert (network["internal"], network["labels"], network["options"]) == (True, {"k": "v"}, {"mtu": "1400"})
        remote("pod", "create", "--name", "ppod", "--share", "net,ipc", "--hostname", "podhost", "--add-host",
               "h:10.0.0.1", "--dns", "10.231.15.1", "-l", "k=v", "--exit-policy", "stop")
        pod = json.loads(remote("pod", "inspect", "ppod"))
        pod = pod[0] if isinstance(pod, list) else pod
        infra = pod["InfraConfig"]
        assert (pod["Hostname"], pod["Labels"], pod["ExitPolicy"], sorted(pod["SharedNamespaces"])) == (
            "podhost", {"k": "v"}, "stop", ["ipc", "net"])
        assert (infra["DNSServer"], infra["HostAdd"]) == (["10.231.15.1"], ["h:10.0.0.1"])
    finally:
        subprocess.run([HUSK, "--url", f"unix://{sock}", "pod", "rm", "-f", "ppod"], capture_output=True,
                       timeout=120, env=env)
        subprocess.run([HUSK, "--url", f"unix://{sock}", "network", "rm", "-f", name], capture_output=True,
                       timeout=120, env=env)
