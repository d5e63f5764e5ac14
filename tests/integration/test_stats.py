"""`husk stats`: real containers on runc and crun, read from their cgroups (v1
on this hybrid host) and network namespaces.  No timing assertions: loads are
made and waited for by condition, and the numbers checked with room."""

from __future__ import annotations

import json
import re
import subprocess
import time

from husk.testing import HUSK, PtyTerminal

GO_DURATION = r"(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|µs|ns)"
FIELDS = "{{.ID}}|{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDS}}|{{.UpTime}}" \
         "|{{.AVGCPU}}|{{.MemUsageBytes}}|{{.PIDs}}|{{.ContainerID}}|{{.MemLimit}}"


def wait_for(husk, name: str, path: str, timeout: float = 120) -> None:
    """Until the file `path` exists in the container (what its command makes when its load is in place)."""
    deadline = time.monotonic() + timeout
    while husk("exec", name, "test", "-e", path).returncode != 0:
        assert time.monotonic() < deadline, f"{path} never appeared in {name}"
        time.sleep(0.2)


def mib(text: str) -> float:
    """`50.33MiB` (podman's BytesSize) in MiB."""
    number, unit = re.fullmatch(r"([\d.]+)(B|KiB|MiB|GiB)", text).groups()
    return float(number) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def test_stats_reads_a_known_memory_load(husk_rt):
    """48 MiB written to the container's /dev/shm (tmpfs, charged to its memory cgroup) show as about 48 MiB."""
    husk_rt("run", "-d", "--name", "load", "--network", "none", "--memory", "128m", "busybox", "sh", "-c",
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 2>/dev/null && touch /ready && exec sleep 600",
            check=True)
    wait_for(husk_rt, "load", "/ready")
    out = husk_rt("stats", "--no-stream", "--format", "{{.MemUsageBytes}}", "load", check=True).stdout
    usage, limit = out.strip().split(" / ")
    assert 47 <= mib(usage) <= 48 + 16, out
    assert limit == "128MiB"  # the container's own limit (without one: the host's memory)
    # the same container with no load: well under it
    husk_rt("run", "-d", "--name", "idle", "--network", "none", "busybox", "sleep", "600", check=True)
    out = husk_rt("stats", "--no-stream", "--format", "{{.MemUsageBytes}}", "idle", check=True).stdout
    assert mib(out.split(" / ")[0]) < 16 and mib(out.strip().split(" / ")[1]) > 128, out


def test_stats_table_fields_and_json(husk_rt):
    husk_rt("run", "-d", "--name", "s1", "--network", "none", "busybox", "sleep", "600", check=True)
    full_id = husk_rt("inspect", "--format", "{{.Id}}", "s1", check=True).stdout.strip()
    lines = husk_rt("stats", "--no-stream", check=True).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%", "NET", "IO",
                                "BLOCK", "IO", "PIDS", "CPU", "TIME", "AVG", "CPU", "%"]
    assert len(lines) == 2 and lines[1].split()[:2] == [full_id[:12], "s1"]
    fields = husk_rt("stats", "--no-stream", "--format", FIELDS, "s1", check=True).stdout.strip().split("|")
    (short, name, cpu, mem, mem_perc, net, block, pids, uptime, avg, mem_bytes, pids_raw, container_id,
     limit) = fields
    assert (short, name, container_id) == (full_id[:12], "s1", full_id)
    assert re.fullmatch(r"\d+\.\d\d%", cpu) and re.fullmatch(r"\d+\.\d\d%", avg) and re.fullmatch(r"\d+\.\d\d%", mem_perc)
    assert re.fullmatch(r"[\d.]+[kMG]?B / [\d.]+[kMGT]B", mem), mem
    assert net == "0B / 0B"  # --network none: only loopback, which is not counted
    assert re.fullmatch(r"[\d.]+[kMG]?B / [\d.]+[kMG]?B", block), block
    assert pids == pids_raw == "1"
    assert re.fullmatch(GO_DURATION, uptime), uptime
    assert re.fullmatch(r"[\d.]+[KMG]?i?B / [\d.]+[KMGT]iB", mem_bytes) and int(limit) > 0
    # a second process (an exec session) is counted
    husk_rt("exec", "-d", "s1", "sleep", "600", check=True)
    assert husk_rt("stats", "--no-stream", "--format", "{{.PIDS}}", "s1", check=True).stdout == "2\n"
    documents = json.loads(husk_rt("stats", "--no-stream", "--format", "json", check=True).stdout)
    assert [d["name"] for d in documents] == ["s1"]
    assert set(documents[0]) == {"id", "name", "cpu_time", "cpu_percent", "avg_cpu", "mem_usage", "mem_percent",
                                 "net_io", "block_io", "pids"}
    assert documents[0]["id"] == full_id[:12] and documents[0]["pids"] == "2"
    table = husk_rt("stats", "--no-stream", "--no-trunc", "--format", "table {{.ID}} {{.MemUsageBytes}} {{.UpTime}}",
                    check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "MEM", "USAGE", "/", "LIMIT", "CPU", "TIME"] and table[1].startswith(full_id)


def test_stats_cpu_of_a_busy_container(husk_rt):
    """A container spinning one CPU: its CPU time grows and its CPU % is well above zero."""
    husk_rt("run", "-d", "--name", "busy", "--network", "none", "busybox", "sh", "-c",
            "while :; do :; done", check=True)
    deadline = time.monotonic() + 120
    while True:
        nanos = int(husk_rt("stats", "--no-stream", "--format", "{{.CPUNano}}", "busy", check=True).stdout)
        if nanos > 200_000_000:
            break
        assert time.monotonic() < deadline, nanos
        time.sleep(0.2)
    cpu = float(husk_rt("stats", "--no-stream", "--format", "{{.CPU}}", "busy", check=True).stdout)
    assert cpu > 0.1  # since its start (the first report's window); a loaded host still gives it some


def test_stats_selection_and_refusals(husk):
    husk("create", "--name", "made", "busybox", "true", check=True)
    # a named container that is not running reports zeros, as podman's
    out = husk("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDS}}", "made",
               check=True).stdout
    assert out == "made 0.00% 0B / 0B 0\n"
    # without names: running containers only; --all: every one
    assert husk("stats", "--no-stream", "--format", "{{.Name}}", check=True).stdout == ""
    assert husk("stats", "--no-stream", "-a", "--format", "{{.Name}}", check=True).stdout == "made\n"
    assert husk("stats", "--no-stream", "--latest", "--format", "{{.Name}}", check=True).stdout == "made\n"
    result = husk("stats", "--no-stream", "nosuch")
    assert result.returncode == 125 and result.stderr.startswith(
        "Error: unable to get list of containers: unable to look up container nosuch:")
    for args, message in ((["-a", "made"], "--all, --latest and containers cannot be used together"),
                          (["--interval", "0"], "invalid interval, must be a positive number greater zero")):
        result = husk("stats", "--no-stream", *args)
        assert (result.returncode, result.stderr) == (125, f"Error: {message}\n")
    result = husk("stats", "--no-stream", "-a", "--format", "{{.Nope}}")
    assert result.returncode == 125 and "Nope" in result.stderr and "Traceback" not in result.stderr


def test_stats_streams_reports_and_redraws_on_a_terminal(husk):
    husk("run", "-d", "--name", "live", "--network", "none", "busybox", "sleep", "600", check=True)
    # not a terminal: one table after another
    proc = husk.popen("stats", "--interval", "1", "live", stdout=subprocess.PIPE, text=True)
    try:
        headers = 0
        while headers < 2:
            line = proc.stdout.readline()
            assert line, "stats ended early"
            headers += line.startswith("ID ")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    # a named container removed meanwhile ends the stream with its error
    proc = husk.popen("stats", "--interval", "1", "live", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("ID ")
        husk("rm", "-f", "-t", "0", "live", check=True)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 125 and 'no container with name or ID "live" found' in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    husk("run", "-d", "--name", "live", "--network", "none", "busybox", "sleep", "600", check=True)
    # a terminal: each report clears the screen and starts at the top
    terminal = PtyTerminal([HUSK, *husk.global_args, "stats", "--interval", "1", "live"], husk.env())
    try:
        for _ in range(2):
            terminal.expect(rb"\x1b\[2J\x1b\[1;1HID +NAME +CPU %.*\r?\n.*live", timeout=60)
    finally:
        terminal.close()
    terminal = PtyTerminal([HUSK, *husk.global_args, "stats", "--no-reset", "--interval", "1", "live"], husk.env())
    try:
        for _ in range(2):
            terminal.expect(rb"ID +NAME +CPU %", timeout=60)
        assert b"\x1b[2J" not in terminal.output
    finally:
        terminal.close()
