"""gVisor's runsc backend (plugins/runsc): the lifecycle in a gVisor sandbox,
what it refuses, and the platform probe.  Few and cheap on purpose: the
lifecycle suite runs over runsc with HUSK_TEST_RUNTIMES=runsc."""

import json
import os
import signal
import stat
import tarfile

import pytest

from husk.testing import needs_runtime, wait_until


def test_info_describes_every_runtime(husk_any_rt):
    """Every installed backend, gVisor's included, is selectable and says
    what it is (its exit codes and output are test_lifecycle.py's, over the same runtimes)."""
    result = husk_any_rt("info", "--format", "json", check=True)
    described = json.loads(result.stdout)["Runtimes"][husk_any_rt.runtime_name]
    assert described["Name"] == husk_any_rt.runtime_name and described["Version"], described
    if husk_any_rt.runtime_name == "runsc":
        assert described["Platform"] in ("kvm", "ptrace"), described
        # no OCI `features`: probed from `runsc help` and `--version`
        features = described["Features"]
        assert features["Source"] == "help" and "checkpoint" in features["Subcommands"], features
        assert features["Update"] is ("update" in features["Subcommands"]) and features["OCIVersion"], features


@pytest.fixture
def runsc_env(husk_envs):
    """A husk installation on runsc.  A failed test can leave a sandbox behind
    (gofer and sandbox reparent to init, out of the monitor's reach): killed here."""
    needs_runtime("runsc")
    env = husk_envs("runsc")
    yield env
    env("rm", "-f", "-a", "-t", "0", timeout=120)
    marker = f"--root={env.runroot}/runtime/runsc".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker in handle.read():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def test_lifecycle_in_the_sandbox(runsc_env):
    """run -d, exec, pause/unpause, attach, kill: inside gVisor's kernel
    (its /proc/version is gVisor's, not the host's), on husk's bridge."""
    env = runsc_env
    env("run", "-d", "--name", "g1", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do echo tick; sleep 0.2; done",
        check=True)
    with open("/proc/version") as host:
        assert env("exec", "g1", "cat", "/proc/version", check=True).stdout != host.read()
    assert "inet 10." in env("exec", "g1", "ip", "-4", "addr", check=True).stdout
    assert env("exec", "g1", "sh", "-c", "exit 5").returncode == 5
    refused = env("checkpoint", "g1")  # on a network: gVisor cannot checkpoint the host's network stack
    assert (refused.returncode, refused.stderr.count("\n")) == (125, 1) and "--network none" in refused.stderr
    env("pause", "g1", check=True)
    assert env("inspect", "-f", "{{.State.Status}}", "g1", check=True).stdout == "paused\n"
    env("unpause", "g1", check=True)
    attach = env.popen("attach", "g1", stdout=-1, stderr=-1)
    try:
        assert attach.stdout.readline() == b"tick\n"  # attached: the output flows
        env("kill", "--signal", "TERM", "g1", check=True)
        assert attach.wait(timeout=60) == 7
    finally:
        if attach.poll() is None:
            attach.kill()
            attach.wait()
    assert env("wait", "g1", timeout=60).stdout == "7\n"
    env("rm", "g1", check=True)


def test_refusals(runsc_env):
    """What gVisor cannot do here: one line, exit 125, the container unharmed."""
    env = runsc_env
    env("run", "-d", "--name", "g2", "--network", "none", "busybox", "sleep", "300", check=True)
    for args in (("update", "--memory", "64m", "g2"), ("checkpoint", "--leave-running", "g2"),
                 ("exec", "--preserve-fds", "1", "g2", "true")):
        result = env(*args)
        assert result.returncode == 125, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: "), result.stderr
    assert env("inspect", "-f", "{{.State.Status}}", "g2", check=True).stdout == "running\n"
    env("rm", "-f", "-t", "0", "g2", check=True)


def test_checkpoint_restore(runsc_env):
    """gVisor's own checkpoint behind husk's verbs: the restored sandbox is
    the same process (a value it holds only in memory survives)."""
    env = runsc_env
    env("run", "-d", "--name", "g4", "--network", "none", "busybox", "sh", "-c",
        "born=$(date +%s%N); while :; do echo $born > /tmp/born; sleep 0.1; done", check=True)
    assert wait_until(lambda: env("exec", "g4", "cat", "/tmp/born").returncode == 0)
    born = env("exec", "g4", "cat", "/tmp/born", check=True).stdout
    env("checkpoint", "g4", check=True, timeout=120)
    assert env("inspect", "-f", "{{.State.Status}}", "g4", check=True).stdout == "exited\n"
    env("restore", "g4", check=True, timeout=120)
    assert env("inspect", "-f", "{{.State.Status}}", "g4", check=True).stdout == "running\n"
    env("exec", "g4", "rm", "/tmp/born", check=True)
    assert wait_until(lambda: env("exec", "g4", "cat", "/tmp/born").returncode == 0)
    assert env("exec", "g4", "cat", "/tmp/born", check=True).stdout == born
    env("rm", "-f", "-t", "0", "g4", check=True)


def test_checkpoint_export_and_import(runsc_env, tmp_path):
    """A runsc checkpoint exported to an archive (gVisor's checkpoint.img inside)
    is imported (under its own id: the image keeps it) and restored: the same
    sandbox state.  An archive without its runtime's images is refused."""
    env = runsc_env
    env("run", "-d", "--name", "g5", "--network", "none", "busybox", "sh", "-c",
        "born=$(date +%s%N); while :; do echo $born > /tmp/born; sleep 0.1; done", check=True)
    assert wait_until(lambda: env("exec", "g5", "cat", "/tmp/born").returncode == 0)
    born = env("exec", "g5", "cat", "/tmp/born", check=True).stdout
    archive = tmp_path / "g5.tar"
    env("checkpoint", "--export", str(archive), "g5", check=True, timeout=120)
    with tarfile.open(archive) as tar:
        assert "checkpoint/checkpoint.img" in tar.getnames()
    # gVisor's image keeps the container's id: a copy under another (--name) is refused
    result = env("restore", "--import", str(archive), "--name", "g6")
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot restore a checkpoint under another container id (--name)" in result.stderr
    # nor is --name NEW the way out when the archive's id or name is taken: make room
    result = env("restore", "--import", str(archive))
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.endswith("only under the id it was taken with: remove that container first\n")
    env("rm", "g5", check=True)
    env("create", "--name", "g5", "--network", "none", "busybox", "true", check=True)  # another id
    result = env("restore", "--import", str(archive))
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == ("Error: a container named 'g5' already exists in this storage, and runtime runsc "
                             "cannot restore a checkpoint under another name (--name): remove or rename that "
                             "container first\n")
    env("rename", "g5", "g5-other", check=True)
    env("restore", "--import", str(archive), check=True, timeout=120)
    assert env("inspect", "-f", "{{.State.Status}} {{.OCIRuntime}}", "g5", check=True).stdout == \
        "running runsc\n"
    env("exec", "g5", "rm", "/tmp/born", check=True)
    assert wait_until(lambda: env("exec", "g5", "cat", "/tmp/born").stdout == born)  # not born again
    env("rm", "-f", "-t", "0", "g5", "g5-other", check=True, timeout=120)
    stripped = tmp_path / "stripped.tar"  # the same archive without gVisor's image
    with tarfile.open(archive) as source, tarfile.open(stripped, "w") as target:
        for member in source:
            if member.name != "checkpoint/checkpoint.img":
                target.addfile(member, source.extractfile(member) if member.isreg() else None)
    result = env("restore", "--import", str(stripped), "--name", "g7")
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr
    assert "no checkpoint/checkpoint.img (what runtime runsc checkpoints)" in result.stderr
    assert env("container", "exists", "g7").returncode == 1


def test_remove_a_created_container(runsc_env):
    """runsc will not signal a container created and never started: rm -f
    destroys its sandbox instead of failing ("cannot signal ... in state created")."""
    env = runsc_env
    env("create", "--name", "g3", "--network", "none", "busybox", "sleep", "300", check=True)
    env("init", "g3", check=True)
    env("rm", "-f", "g3", check=True, timeout=120)
    assert env("ps", "-aq").stdout == ""


def test_platform_probe(tmp_path, monkeypatch):
    """kvm only when a KVM sandbox really exits 0 in time (a hang is killed
    whole), cached per binary: a changed binary is probed again."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm: the probe answers ptrace without a trial")
    from husk_runsc import probe

    monkeypatch.setattr(probe, "CACHE", str(tmp_path / "cache.json"))
    monkeypatch.setattr(probe, "TRIAL_SECONDS", 2)
    fake = tmp_path / "runsc"

    def answer(script: str) -> str:
        fake.write_text(f"#!/bin/sh\n{script}\n")
        fake.chmod(stat.S_IRWXU)
        os.utime(fake, ns=(0, os.stat(fake).st_mtime_ns + 10**9))
        probe.platform.cache_clear()
        return probe.platform(str(fake))

    assert answer("exit 0") == "kvm"
    assert answer("sleep 600 & wait") == "ptrace"
    assert answer("exit 1") == "ptrace"
