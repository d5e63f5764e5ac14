"""podman's flags on ps, logs, rmi and events (issue 12 item 3), each shown by its effect."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from husk.testing import HUSK


def test_ps_last_ns_sync_external(husk):
    for name in ("a", "b", "c"):
        husk("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
    husk("stop", "-t", "0", "c", check=True)
    assert husk("ps", "-n", "2", "--format", "{{.Names}}").stdout.split() == ["c", "b"]  # all states
    assert husk("ps", "--last=0", "-q").stdout == ""
    assert husk("ps", "--noheading", "--format", "table {{.Names}}").stdout.split() == ["b", "a"]
    table = husk("ps", "--ns").stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAMES", "PID", "CGROUPNS", "IPC", "MNT", "NET", "PIDNS",
                                "USERNS", "UTS"]
    pid = husk("inspect", "-f", "{{.State.Pid}}", "a").stdout.strip()
    ipc = os.readlink(f"/proc/{pid}/ns/ipc").partition("[")[2].rstrip("]")
    row = next(line.split() for line in table[1:] if line.split()[1] == "a")
    assert row[2] == pid and row[4] == ipc
    os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.5)
    assert husk("ps", "--sync", "--format", "{{.Names}}").stdout.split() == ["b"]
    assert husk("ps", "-a", "--external", "-q").stdout.split() == husk("ps", "-a", "-q").stdout.split()


def test_ps_watch_prints_again(husk):
    proc = subprocess.Popen([HUSK, *husk.global_args, "ps", "--watch", "1", "--format", "{{.Names}}"],
                            stdout=subprocess.PIPE, env=husk.env())
    husk("run", "-d", "--network", "none", "--name", "w", "busybox", "sleep", "100", check=True)
    time.sleep(2.5)
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    assert output.count(b"\033[H\033[2J") >= 2 and b"w\n" in output


def test_logs_names_and_color(husk):
    """podman 4.3's marks (checked against it): with several containers each line starts with
    the container's short ID (its name with -n), before the time; with one, none even with -n;
    --color puts each container's whole lines in a colour of its own (37, 31, ... in turn)."""
    one = husk("run", "--network", "none", "--name", "one", "busybox", "echo", "first", check=True).stdout
    husk("run", "--network", "none", "--name", "two", "busybox", "echo", "second", check=True)
    ident = husk("inspect", "--format", "{{.Id}}", "one", check=True).stdout.strip()
    assert one == "first\n"
    assert husk("logs", "--names", "one").stdout == "first\n"
    assert husk("logs", "-n", "one", "two").stdout == "one first\ntwo second\n"
    assert husk("logs", "one", "two").stdout.splitlines()[0] == f"{ident[:12]} first"
    colored = husk("logs", "--color", "-n", "one", "two").stdout
    assert colored == "\033[37mone first\033[0m\n\033[31mtwo second\033[0m\n"
    assert husk("logs", "--color", "one").stdout == "\033[37mfirst\033[0m\n"
    name, stamp, text = husk("logs", "-t", "-n", "one", "two").stdout.splitlines()[0].split()
    assert (name, stamp[:2], text) == ("one", "20", "first")


def test_pod_logs_names_and_color(husk):
    husk("pod", "create", "--network", "none", "--name", "plc", check=True)
    try:
        for name, word in (("plc-a", "first"), ("plc-b", "second")):
            husk("run", "--pod", "plc", "--name", name, "busybox", "echo", word, check=True)
        ids = {name: husk("inspect", "--format", "{{.Id}}", name, check=True).stdout[:12]
               for name in ("plc-a", "plc-b")}
        assert sorted(husk("pod", "logs", "plc").stdout.splitlines()) \
            == sorted([f"{ids['plc-a']} first", f"{ids['plc-b']} second"])
        assert sorted(husk("pod", "logs", "-n", "plc").stdout.splitlines()) == ["plc-a first", "plc-b second"]
        assert husk("pod", "logs", "--names", "-c", "plc-b", "plc").stdout == "second\n"
        colored = husk("pod", "logs", "--color", "--names", "plc").stdout.splitlines()
        assert sorted(colored) == sorted(["\033[37mplc-a first\033[0m", "\033[31mplc-b second\033[0m"]) \
            or sorted(colored) == sorted(["\033[31mplc-a first\033[0m", "\033[37mplc-b second\033[0m"])
    finally:
        husk("pod", "rm", "-f", "plc")


def test_rmi_ignore_and_no_prune(husk):
    missing = husk("rmi", "nosuchimage")
    assert missing.returncode == 1
    ignored = husk("rmi", "--ignore", "nosuchimage")
    assert ignored.returncode == 0 and ignored.stderr == ""
    husk("tag", "busybox", "other:1", check=True)
    removed = husk("rmi", "--no-prune", "other:1")
    assert removed.returncode == 0 and "Untagged: localhost/other:1" in removed.stdout
    assert husk("image", "exists", "busybox").returncode == 0


def test_events_no_trunc(husk):
    container_id = husk("create", "--network", "none", "busybox", check=True).stdout.strip()
    full = husk("events", "--stream=false", "--filter", "event=create").stdout
    short = husk("events", "--stream=false", "--no-trunc=false", "--filter", "event=create").stdout
    assert container_id in full
    assert container_id not in short and f" {container_id[:12]} " in short
