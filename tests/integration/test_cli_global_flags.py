"""podman's global flags (issue 12 item 1): accepted anywhere before the
container's command, each honoured or refused with one line saying why."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from husk.testing import HUSK


def bare(husk, *args, **kwargs):
    """husk without the fixture's global flags in front: the test places them."""
    return subprocess.run([HUSK, *args], capture_output=True, text=True, timeout=60, env=husk.env(), **kwargs)


def roots(husk):
    return ["--root", husk.root, "--runroot", husk.runroot]


def test_global_flags_after_the_verb(husk):
    """`husk ps --root X`, `husk create --runtime runc ...`, `husk container ps --runroot R`."""
    created = bare(husk, "create", "--runtime", "runc", *roots(husk), "--name", "g", "busybox", "true")
    assert created.returncode == 0, created.stderr
    listed = bare(husk, "ps", "-a", "--root", husk.root, "--format", "{{.Names}}", "--runroot", husk.runroot)
    assert listed.stdout.split() == ["g"], listed.stderr
    listed = bare(husk, "container", "--root", husk.root, "ps", "-aq", "--runroot", husk.runroot)
    assert len(listed.stdout.split()) == 1
    runtime = husk("inspect", "--format", "{{.OCIRuntime}}", "g", check=True).stdout.strip()
    assert runtime == "runc"
    # after the image, --root is the container's argument
    out = bare(husk, "run", "--rm", *roots(husk), "busybox", "echo", "--root", "x")
    assert out.stdout == "--root x\n", out.stderr


@pytest.mark.parametrize("flags, words", [
    (["--cgroup-manager", "systemd"], "cgroupfs"),
    (["--cgroup-manager", "bogus"], '"bogus" is not a valid cgroup manager'),
    (["--events-backend", "journald"], "use file or none"),
    (["--events-backend", "bogus"], '"bogus" is not a valid events backend'),
    (["--storage-driver", "vfs"], "overlay"),
    (["--storage-opt", "overlay.mountopt=nodev"], "takes no options"),
    (["--tmpdir", "/tmp/x"], "--runroot"),
    (["--namespace", "ns1"], "libpod namespaces"),
    (["--conmon", "/usr/bin/conmon"], "own monitor"),
])
def test_refused_with_a_reason(husk, flags, words):
    for line in (flags + ["ps"], ["ps"] + flags):
        result = husk(*line)
        assert result.returncode == 125, result
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert words in result.stderr


def test_what_husk_does_anyway_is_accepted(husk):
    ok = husk("ps", "--cgroup-manager", "cgroupfs", "--storage-driver", "overlay", "--storage-opt", "",
              "--events-backend", "file", "--namespace", "")
    assert ok.returncode == 0, ok.stderr


def test_log_level_podmans_values(husk):
    assert husk("--log-level", "warning", "ps").returncode == 0
    assert husk("ps", "--log-level=trace").returncode == 0
    bad = husk("--log-level", "telepathic", "ps")
    assert bad.returncode == 1
    assert 'Log Level "telepathic" is not supported, choose from: trace, debug, info, warn, warning, error, ' \
           'fatal, panic' in bad.stderr


def test_noout(husk):
    result = husk("create", "--noout", "--name", "quiet", "busybox")
    assert result.returncode == 0 and result.stdout == ""
    assert husk("container", "exists", "quiet").returncode == 0
    assert husk("--noout", "run", "--rm", "busybox", "echo", "hi").stdout == ""


def test_events_backend_none_writes_no_events(husk):
    husk("create", "--events-backend", "none", "--name", "silent", "busybox", check=True)
    husk("create", "--name", "loud", "busybox", check=True)
    names = [event.get("name") or event.get("attributes", {}).get("name") for event in husk.events("create")]
    assert "loud" in json.dumps(husk.events("create")) and "silent" not in json.dumps(husk.events("create")), names


def test_runtime_flag_reaches_the_runtime(husk_rt):
    """--runtime-flag X is the runtime's --X on this command's runtime calls, create included:
    runc's --debug fills the create's log; crun's --cgroup-manager=disabled makes no cgroup."""
    if husk_rt.runtime_name == "runc":
        container_id = husk_rt("run", "-d", "--runtime-flag", "debug", "busybox", "sleep", "100",
                               check=True).stdout.strip()
        with open(os.path.join(husk_rt.root, "containers", container_id, "userdata", "oci-log")) as log:
            assert '"level":"debug"' in log.read()
    else:
        cgroups = husk_rt("run", "--rm", "--runtime-flag", "cgroup-manager=disabled", "busybox", "cat",
                          "/proc/self/cgroup", check=True).stdout
        assert cgroups and "husk/" not in cgroups
        assert "husk/" in husk_rt("run", "--rm", "busybox", "cat", "/proc/self/cgroup", check=True).stdout


def test_syslog(husk, tmp_path):
    """Error lines go to syslog too; a host without /dev/log refuses the flag, saying so."""
    if not os.path.exists("/dev/log"):
        refused = husk("--syslog", "ps")
        assert refused.returncode == 125 and "/dev/log" in refused.stderr
    sock_path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(sock_path)
    server.settimeout(10)
    script = (f"mount -t tmpfs husk-test /dev && mknod -m 666 /dev/null c 1 3 && ln -s {sock_path} /dev/log && "
              f"exec {HUSK} {' '.join(husk.global_args)} --syslog inspect no-such-container")
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 125, result.stderr
    message = server.recv(4096).decode()
    assert "no such object" in message and "no-such-container" in message and "husk" in message
    server.close()


def test_hooks_dir_runs_oci_hooks(husk_rt, tmp_path):
    """--hooks-dir: podman's hook definitions that apply are run by the runtime, with the state on stdin."""
    hooks = tmp_path / "hooks.d"
    hooks.mkdir()
    ran, skipped = tmp_path / "ran", tmp_path / "skipped"
    (hooks / "01-always.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {ran}"]},
        "when": {"always": True}, "stages": ["prestart"]}))
    (hooks / "02-other-command.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", f"touch {skipped}"]},
        "when": {"commands": ["^/bin/nothing$"]}, "stages": ["prestart"]}))
    container_id = husk_rt("run", "-d", "--hooks-dir", str(hooks), "busybox", "sleep", "100", check=True).stdout.strip()
    assert json.loads(ran.read_text())["id"] == container_id
    assert not skipped.exists()
    (hooks / "03-bad.json").write_text('{"version": "2"}')
    bad = husk_rt("--hooks-dir", str(hooks), "run", "--rm", "busybox", "true")
    assert bad.returncode == 125 and "03-bad.json" in bad.stderr
