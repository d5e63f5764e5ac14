"""The monitor's reading of a container's OOM kill count (husk.monitor):
where the count is (from /proc/PID/cgroup) and how it is read, on recorded
files of both cgroup versions."""

from __future__ import annotations

import io

from husk import monitor


def test_the_count_of_v1_and_v2(tmp_path):
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    v2 = tmp_path / "memory.events"
    v2.write_text("low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert (monitor.oom_kills(str(v1)), monitor.oom_kills(str(v2))) == (2, 1)
    assert monitor.oom_kills(str(tmp_path / "gone")) == 0  # a cgroup removed already: no kill seen
    assert monitor.oom_kills("") == 0


def test_the_file_of_a_process(monkeypatch):
    """A hybrid host's memory controller is v1's; a v2 host has one line."""
    entries = {1: "4:memory:/husk/abc\n1:name=systemd:/x\n0::/x\n", 2: "0::/husk/abc\n", 3: "1:name=systemd:/x\n"}
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path.startswith("/proc/") and path.endswith("/cgroup"):
            pid = int(path.split("/")[2])
            if pid in entries:
                return io.StringIO(entries[pid])
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert monitor.oom_counter(1) == "/sys/fs/cgroup/memory/husk/abc/memory.oom_control"
    assert monitor.oom_counter(2) == "/sys/fs/cgroup/husk/abc/memory.events"
    assert monitor.oom_counter(3) == ""
    assert monitor.oom_counter(4) == ""  # the process is gone
