"""A running container's resource usage, read from its cgroups and its network namespace.

There is no daemon keeping counters: each call reads the kernel's own, so a
percentage needs two samples (the CLI and the API keep the previous one).
The container's cgroup directories are found from /proc/PID/cgroup of its
first process, which names them in every hierarchy however the runtime
nested them: on cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` exists) one
directory in the unified tree; on v1 and hybrid hosts one per controller
(cpuacct, memory, blkio, pids).  Network counters come from the container's
own /proc/PID/net/dev (its network namespace), loopback left out; a
container on the host's network reports none, as podman does.

The readers of each cgroup version take a directory (or a controller ->
directory map) and only parse files, so they are tested on recorded files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING

from ..define import State

if TYPE_CHECKING:
    from .container import Container

CGROUP_ROOT = "/sys/fs/cgroup"
USER_HZ = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Sample:
    """The counters at one moment (`read_ns`, wall clock).  CPU times in
    nanoseconds; `system_cpu_ns` is the host's total CPU time (/proc/stat),
    which Docker's API reports for its clients' CPU percentage."""

    read_ns: int = 0
    cpu_ns: int = 0
    cpu_kernel_ns: int = 0
    cpu_user_ns: int = 0
    per_cpu_ns: list[int] = dataclasses.field(default_factory=list)
    system_cpu_ns: int = 0
    online_cpus: int = 0
    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int = 0
    memory_stat: dict[str, int] = dataclasses.field(default_factory=dict)
    #: (major, minor, "read"/"write", bytes) per device
    block: list[tuple[int, int, str, int]] = dataclasses.field(default_factory=list)
    pids: int = 0
    pids_limit: int = 0
    #: interface -> rx_bytes, rx_packets, rx_errors, rx_dropped, tx_bytes, tx_packets, tx_errors, tx_dropped
    networks: dict[str, dict[str, int]] | None = None

    @property
    def memory_working_set(self) -> int:
        """Usage without the page cache the kernel can drop at once (inactive files), as podman and docker show it."""
        inactive = self.memory_stat.get("total_inactive_file", self.memory_stat.get("inactive_file", 0))
        return max(self.memory_usage - inactive, 0)

    def block_bytes(self, op: str) -> int:
        return sum(value for _, _, kind, value in self.block if kind == op)

    @property
    def net_rx(self) -> int:
        return sum(counters["rx_bytes"] for counters in (self.networks or {}).values())

    @property
    def net_tx(self) -> int:
        return sum(counters["tx_bytes"] for counters in (self.networks or {}).values())


def sample(container: "Container") -> Sample | None:
    """The container's counters now, or None when it is not running or paused
    (or its process went away while being read)."""
    container.sync_if_unlocked()
    state = container.state
    if state.state not in (State.RUNNING, State.PAUSED) or not state.pid:
        return None
    pid = state.pid
    try:
        with open(f"/proc/{pid}/cgroup") as handle:
            entries = handle.read()
        result = read_v2(v2_dir(entries)) if unified() else read_v1(v1_dirs(entries))
        result.networks = None if _host_network(pid) else read_net_dev(f"/proc/{pid}/net/dev")
    except (FileNotFoundError, ProcessLookupError):
        return None
    result.read_ns = time.time_ns()
    result.system_cpu_ns, result.online_cpus = host_cpu()
    host_memory = host_memory_total()
    if not result.memory_limit or result.memory_limit > host_memory:  # v1's "none" is a huge number, v2's "max"
        result.memory_limit = host_memory
    return result


def unified() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def v2_dir(proc_cgroup: str, root: str = CGROUP_ROOT) -> str:
    """The unified-hierarchy directory named by a /proc/PID/cgroup text."""
    for line in proc_cgroup.splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            return os.path.join(root, path.lstrip("/"))
    raise FileNotFoundError("no cgroup v2 entry in /proc/PID/cgroup")


def v1_dirs(proc_cgroup: str, root: str = CGROUP_ROOT) -> dict[str, str]:
    """controller -> directory, for the v1 controllers a /proc/PID/cgroup text
    names (a co-mounted `cpu,cpuacct` hierarchy is found under either name)."""
    dirs = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in filter(None, controllers.split(",")):
            for mount in (controllers, controller):
                directory = os.path.join(root, mount, path.lstrip("/"))
                if os.path.isdir(directory):
                    dirs[controller] = directory
                    break
    return dirs


def _read(directory: str | None, name: str) -> str:
    if directory is None:
        return ""
    try:
        with open(os.path.join(directory, name)) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _number(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _keyed(text: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat)."""
    pairs = (line.split() for line in text.splitlines())
    return {fields[0]: int(fields[1]) for fields in pairs if len(fields) == 2 and fields[1].isdigit()}


def read_v1(dirs: dict[str, str]) -> Sample:
    """A Sample from cgroup v1 controllers' directories (controller -> path)."""
    cpuacct, memory, blkio, pids = (dirs.get(name) for name in ("cpuacct", "memory", "blkio", "pids"))
    result = Sample(cpu_ns=_number(_read(cpuacct, "cpuacct.usage")),
                    per_cpu_ns=[int(value) for value in _read(cpuacct, "cpuacct.usage_percpu").split()])
    ticks = _keyed(_read(cpuacct, "cpuacct.stat"))
    kernel = _read(cpuacct, "cpuacct.usage_sys")
    result.cpu_kernel_ns = _number(kernel) if kernel else ticks.get("system", 0) * 1_000_000_000 // USER_HZ
    user = _read(cpuacct, "cpuacct.usage_user")
    result.cpu_user_ns = _number(user) if user else ticks.get("user", 0) * 1_000_000_000 // USER_HZ
    result.memory_usage = _number(_read(memory, "memory.usage_in_bytes"))
    result.memory_max_usage = _number(_read(memory, "memory.max_usage_in_bytes"))
    result.memory_limit = _number(_read(memory, "memory.limit_in_bytes"))
    result.memory_stat = _keyed(_read(memory, "memory.stat"))
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive",
                 "blkio.throttle.io_service_bytes"):
        lines = [line.split() for line in _read(blkio, name).splitlines()]
        entries = [(fields[0], fields[1].lower(), int(fields[2])) for fields in lines
                   if len(fields) == 3 and ":" in fields[0] and fields[1] in ("Read", "Write")]
        if entries:
            result.block = [(*_device(device), op, value) for device, op, value in entries]
            break
    result.pids = _number(_read(pids, "pids.current"))
    result.pids_limit = _number(_read(pids, "pids.max"))
    return result


def read_v2(directory: str) -> Sample:
    """A Sample from one cgroup v2 directory."""
    cpu = _keyed(_read(directory, "cpu.stat"))
    result = Sample(cpu_ns=cpu.get("usage_usec", 0) * 1000, cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
                    cpu_user_ns=cpu.get("user_usec", 0) * 1000)
    result.memory_usage = _number(_read(directory, "memory.current"))
    result.memory_max_usage = _number(_read(directory, "memory.peak"))
    result.memory_limit = _number(_read(directory, "memory.max"))  # "max": 0, i.e. none
    result.memory_stat = _keyed(_read(directory, "memory.stat"))
    for line in _read(directory, "io.stat").splitlines():
        device, *fields = line.split()
        counters = dict(field.split("=", 1) for field in fields if "=" in field)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if counters.get(key, "").isdigit():
                result.block.append((*_device(device), op, int(counters[key])))
    result.pids = _number(_read(directory, "pids.current"))
    result.pids_limit = _number(_read(directory, "pids.max"))
    return result


def _device(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(":")
    return int(major), int(minor)


NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", None, None, None, None,
              "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def read_net_dev(path: str) -> dict[str, dict[str, int]]:
    """interface -> counters from a /proc/net/dev file, loopback left out."""
    with open(path) as handle:
        lines = handle.read().splitlines()[2:]
    networks = {}
    for line in lines:
        name, _, rest = line.partition(":")
        name, values = name.strip(), rest.split()
        if name == "lo" or len(values) < len(NET_FIELDS):
            continue
        networks[name] = {key: int(value) for key, value in zip(NET_FIELDS, values) if key}
    return networks


def _host_network(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def host_cpu() -> tuple[int, int]:
    """(the host's CPU time in nanoseconds since boot, the CPUs online)."""
    with open("/proc/stat") as handle:
        first = handle.readline().split()
    ticks = sum(int(value) for value in first[1:8])  # user nice system idle iowait irq softirq
    return ticks * 1_000_000_000 // USER_HZ, os.cpu_count() or 1


def host_memory_total() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0
