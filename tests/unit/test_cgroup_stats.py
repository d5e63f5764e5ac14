"""The cgroup readers of husk.engine.stats on recorded files (this host's
controllers are all on v1, so v2 is tested here), and the report's arithmetic."""

from __future__ import annotations

import os

from husk.engine.stats import Sample, read_net_dev, read_v1, read_v2, v1_dirs, v2_dir
from husk.presentation.stats import podman_report, podman_row

#: files of a cgroup v2 container directory, as a 6.1 kernel writes them
V2_FILES = {
    "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\n"
                "throttled_usec 0\n",
    "memory.current": "52768768\n",
    "memory.max": "max\n",
    "memory.peak": "60000000\n",
    "memory.stat": "anon 1048576\nfile 51380224\nshmem 50331648\ninactive_file 1048576\nactive_file 0\n",
    "io.stat": "8:0 rbytes=4096 wbytes=1048576 rios=1 wios=8 dbytes=0 dios=0\n"
               "253:1 rbytes=8192 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n",
    "pids.current": "3\n",
    "pids.max": "2048\n",
}

V1_FILES = {
    "cpuacct/cpuacct.usage": "3635793\n",
    "cpuacct/cpuacct.usage_percpu": "1635793 2000000 \n",
    "cpuacct/cpuacct.usage_sys": "1000000\n",
    "cpuacct/cpuacct.usage_user": "2635793\n",
    "memory/memory.usage_in_bytes": "221184\n",
    "memory/memory.max_usage_in_bytes": "300000\n",
    "memory/memory.limit_in_bytes": "9223372036854771712\n",
    "memory/memory.stat": "cache 0\nrss 53248\ntotal_inactive_file 4096\ntotal_rss 53248\n",
    "blkio/blkio.throttle.io_service_bytes_recursive": "8:0 Read 8192\n8:0 Write 4096\n8:0 Sync 0\n"
                                                       "8:0 Total 12288\nTotal 12288\n",
    "pids/pids.current": "1\n",
    "pids/pids.max": "max\n",
}


def _write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)


def test_v2_reader(tmp_path):
    _write(tmp_path, V2_FILES)
    sample = read_v2(str(tmp_path))
    assert (sample.cpu_ns, sample.cpu_user_ns, sample.cpu_kernel_ns) == (2_500_000_000, 2_000_000_000, 500_000_000)
    assert sample.memory_usage == 52768768 and sample.memory_limit == 0 and sample.memory_max_usage == 60000000
    assert sample.memory_working_set == 52768768 - 1048576
    assert sample.block_bytes("read") == 4096 + 8192 and sample.block_bytes("write") == 1048576
    assert (8, 0, "write", 1048576) in sample.block
    assert (sample.pids, sample.pids_limit) == (3, 2048)


def test_v1_reader(tmp_path):
    _write(tmp_path, V1_FILES)
    proc_cgroup = "".join(f"{n}:{c}:/husk/abc\n" for n, c in
                          enumerate(("cpu", "cpuacct", "memory", "blkio", "pids", "name=systemd")))
    for controller in ("cpuacct", "memory", "blkio", "pids"):
        os.makedirs(tmp_path / controller / "husk" / "abc")
        for name, text in V1_FILES.items():
            if name.startswith(controller + "/"):
                (tmp_path / controller / "husk" / "abc" / name.split("/", 1)[1]).write_text(text)
    dirs = v1_dirs(proc_cgroup + "0::/husk/abc\n", str(tmp_path))
    assert sorted(dirs) == ["blkio", "cpuacct", "memory", "pids"]
    sample = read_v1(dirs)
    assert sample.cpu_ns == 3635793 and sample.per_cpu_ns == [1635793, 2000000]
    assert (sample.cpu_kernel_ns, sample.cpu_user_ns) == (1000000, 2635793)
    assert sample.memory_working_set == 221184 - 4096 and sample.memory_max_usage == 300000
    assert (sample.block_bytes("read"), sample.block_bytes("write")) == (8192, 4096)
    assert (sample.pids, sample.pids_limit) == (1, 0)  # "max": no limit


def test_v2_dir_and_net_dev(tmp_path):
    assert v2_dir("0::/husk/abc\n", "/sys/fs/cgroup") == "/sys/fs/cgroup/husk/abc"
    net_dev = tmp_path / "dev"
    net_dev.write_text(
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
        "carrier compressed\n"
        "    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0 "
        "      0          0\n"
        "  eth0:    1500      10    1    2    0     0          0         0      700       5    0    3    0     0 "
        "      0          0\n")
    assert read_net_dev(str(net_dev)) == {"eth0": {"rx_bytes": 1500, "rx_packets": 10, "rx_errors": 1,
                                                   "rx_dropped": 2, "tx_bytes": 700, "tx_packets": 5,
                                                   "tx_errors": 0, "tx_dropped": 3}}


class _Container:
    id, name = "f" * 64, "c"

    class state:
        started_at = 100.0


def test_report_cpu_percentages():
    """The first report measures from the container's start; later ones from the previous sample."""
    first = Sample(read_ns=102 * 10**9, cpu_ns=10**9, memory_usage=2 * 10**6, memory_limit=8 * 10**6, pids=2)
    report = podman_report(_Container, first, None)
    assert report["CPU"] == report["AvgCPU"] == 50.0 and report["MemPerc"] == 25.0
    second = Sample(read_ns=103 * 10**9, cpu_ns=3 * 10**9, memory_limit=1)
    assert podman_report(_Container, second, first)["CPU"] == 200.0  # two busy CPUs
    row = podman_row(report)
    assert (row["CPUPerc"], row["MemUsage"], row["MemUsageBytes"], row["UpTime"], row["PIDS"]) == \
        ("50.00%", "2MB / 8MB", "1.907MiB / 7.629MiB", "1s", "2")
