"""What `stats` shows, for the CLI and both APIs alike, from two samples of
:mod:`husk.engine.stats`.

* podman's report (define.ContainerStats): CPU % is the CPU time used since
  the previous sample over the wall-clock time since it (two busy CPUs make
  200%); the first report of a container measures from its start, so it
  equals the average (AVG CPU %), as podman 4.3 shows it.
* podman's row (the fields `--format` templates see, with podman's strings:
  `1.22%`, `52.77MB / 25.28GB`, `24.975145ms`) and its JSON lines.
* Docker's stats document, with `precpu_stats` from the previous sample, so
  that docker's clients compute CPU % themselves.

A container that is not running reports zeros, as podman does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..formats.gofmt import GoStruct, go_duration
from ..formats.timestamps import ZERO_TIME, format_rfc3339_nano
from ..formats.units import bytes_size, human_size

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.stats import Sample

#: `stats`' default table and the headings podman gives its fields
TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}"
         "\t{{.UpTime}}\t{{.AVGCPU}}")
HEADERS = {"ID": "ID", "UpTime": "CPU TIME", "CPUPerc": "CPU %", "AVGCPU": "AVG CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemUsageBytes": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
           "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS", "PIDs": "PIDS"}


def _percent(used: int, over: int) -> float:
    return used / over * 100 if used > 0 and over > 0 else 0.0


def podman_report(container: "Container", current: "Sample | None", previous: "Sample | None") -> dict:
    """podman's define.ContainerStats (the libpod API's and the CLI's numbers)."""
    report = {"AvgCPU": 0.0, "ContainerID": container.id, "Name": container.name, "PerCPU": None, "CPU": 0.0,
              "CPUNano": 0, "CPUSystemNano": 0, "SystemNano": 0, "MemUsage": 0, "MemLimit": 0, "MemPerc": 0.0,
              "NetInput": 0, "NetOutput": 0, "BlockInput": 0, "BlockOutput": 0, "PIDs": 0, "UpTime": 0,
              "Duration": 0}
    if current is None:
        return report
    started_ns = int(container.state.started_at * 1e9)
    if previous is None or previous.cpu_ns > current.cpu_ns:  # none yet, or restarted in a new cgroup
        before_cpu, before_ns = 0, started_ns
    else:
        before_cpu, before_ns = previous.cpu_ns, previous.read_ns
    memory = current.memory_working_set
    report.update(
        AvgCPU=_percent(current.cpu_ns, current.read_ns - started_ns),
        PerCPU=current.per_cpu_ns or None, CPU=_percent(current.cpu_ns - before_cpu, current.read_ns - before_ns),
        CPUNano=current.cpu_ns, CPUSystemNano=current.cpu_kernel_ns, SystemNano=current.read_ns,
        MemUsage=memory, MemLimit=current.memory_limit, MemPerc=_percent(memory, current.memory_limit),
        NetInput=current.net_rx, NetOutput=current.net_tx,
        BlockInput=current.block_bytes("read"), BlockOutput=current.block_bytes("write"),
        PIDs=current.pids, UpTime=current.cpu_ns, Duration=current.cpu_ns)
    return report


def _pair(first: int, second: int, unit=human_size) -> str:
    return f"{unit(first)} / {unit(second)}"


def podman_row(report: dict) -> GoStruct:
    """The fields podman's `stats --format` templates see (its containerStats:
    the report's fields, some shadowed by podman's strings)."""
    return GoStruct({
        **report,
        "ID": report["ContainerID"][:12],
        "CPUPerc": f"{report['CPU']:.2f}%", "AVGCPU": f"{report['AvgCPU']:.2f}%",
        "MemUsage": _pair(report["MemUsage"], report["MemLimit"]),
        "MemUsageBytes": _pair(report["MemUsage"], report["MemLimit"], bytes_size),
        "MemPerc": f"{report['MemPerc']:.2f}%",
        "NetIO": _pair(report["NetInput"], report["NetOutput"]),
        "BlockIO": _pair(report["BlockInput"], report["BlockOutput"]),
        "PIDS": str(report["PIDs"]), "UpTime": go_duration(report["UpTime"]),
    }, "containers.containerStats")


def podman_json(row: GoStruct) -> dict:
    """One entry of `stats --format json` (podman's names and strings)."""
    return {"id": row["ID"], "name": row["Name"], "cpu_time": row["UpTime"], "cpu_percent": row["CPUPerc"],
            "avg_cpu": row["AVGCPU"], "mem_usage": row["MemUsage"], "mem_percent": row["MemPerc"],
            "net_io": row["NetIO"], "block_io": row["BlockIO"], "pids": row["PIDS"]}


def _docker_cpu(sample: "Sample | None") -> dict:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {"cpu_usage": {"total_usage": sample.cpu_ns, "percpu_usage": sample.per_cpu_ns or None,
                          "usage_in_kernelmode": sample.cpu_kernel_ns, "usage_in_usermode": sample.cpu_user_ns},
            "system_cpu_usage": sample.system_cpu_ns, "online_cpus": sample.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def docker_stats(container: "Container", current: "Sample | None", previous: "Sample | None") -> dict:
    """Docker's stats document (GET /containers/{id}/stats)."""
    blkio = {key: None for key in ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                                   "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                                   "io_time_recursive", "sectors_recursive")}
    document = {
        "name": f"/{container.name}", "id": container.id,
        "read": format_rfc3339_nano(current.read_ns) if current else ZERO_TIME,
        "preread": format_rfc3339_nano(previous.read_ns) if previous else ZERO_TIME,
        "pids_stats": {}, "blkio_stats": blkio, "num_procs": 0, "storage_stats": {},
        "cpu_stats": _docker_cpu(current), "precpu_stats": _docker_cpu(previous), "memory_stats": {},
    }
    if current is None:
        return document
    document["pids_stats"] = {"current": current.pids, **({"limit": current.pids_limit} if current.pids_limit else {})}
    blkio["io_service_bytes_recursive"] = [{"major": major, "minor": minor, "op": op, "value": value}
                                           for major, minor, op, value in current.block]
    document["memory_stats"] = {"usage": current.memory_usage, "max_usage": current.memory_max_usage,
                                "stats": current.memory_stat, "limit": current.memory_limit}
    if current.networks is not None:
        document["networks"] = current.networks
    return document
