"""The fields of podman's `info` document that husk's own lacks, under podman's
Go field names, so that podman users' templates (`{{.Host.Distribution.Distribution}}`,
`{{.Store.GraphRoot}}`, `{{.Host.MemTotal}}`, `{{.Plugins.Network}}`) work on
husk's output.  Host facts come from /proc, /etc/os-release and statvfs: cheap
reads, no subprocess.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

#: cgroup v1 controllers podman reports when their hierarchy is mounted
_V1_CONTROLLERS = ("cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "hugetlb", "pids")
#: podman's names of the backing filesystems it knows
_FILESYSTEMS = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}
#: the Go time.ANSIC layout podman prints build times in
_ANSIC = "%a %b %e %H:%M:%S %Y"


def podman_info_fields(runtime: "Runtime", document: dict[str, Any]) -> None:
    """Add podman's fields to `document` (husk's info document) in place; husk's own stay."""
    from ..engine.config import is_rootless

    host, store = document["Host"], document["Store"]
    meminfo = _meminfo()
    # `system service`'s default socket (a rootless user's is in its run root)
    socket_path = os.path.join(runtime.paths.runroot, "husk.sock") if is_rootless() else "/run/husk/husk.sock"
    host.update({
        "BuildahVersion": "", "CgroupManager": "cgroupfs", "CgroupsVersion": host["CgroupVersion"],
        "CgroupControllers": _cgroup_controllers(), "CPUs": os.cpu_count() or 1,
        "CPUUtilization": _cpu_utilization(), "Distribution": _distribution(),
        "IDMappings": _id_mappings(),
        "MemFree": meminfo.get("MemFree", 0), "MemTotal": meminfo.get("MemTotal", 0),
        "SwapFree": meminfo.get("SwapFree", 0), "SwapTotal": meminfo.get("SwapTotal", 0),
        "NetworkBackend": runtime.config.network_backend or next(iter(runtime.plugins.network_backends), ""),
        "Conmon": {"Package": "", "Path": "husk.monitor", "Version": "husk's own monitor (no conmon)"},
        "RemoteSocket": {"Path": socket_path, "Exists": os.path.exists(socket_path)},
        "ServiceIsRemote": False, "Slirp4NetNS": {"Executable": shutil.which("slirp4netns") or "",
                                                  "Package": "slirp4netns", "Version": ""},
        "Uptime": _uptime(), "Linkmode": "dynamic",
    })
    root = runtime.paths.root
    usage = os.statvfs(root)
    store.update({
        "ConfigFile": "", "GraphOptions": {}, "GraphRootAllocated": usage.f_blocks * usage.f_frsize,
        "GraphRootUsed": (usage.f_blocks - usage.f_bfree) * usage.f_frsize,
        "GraphStatus": {"Backing Filesystem": _filesystem(root), "Native Overlay Diff": "true",
                        "Supports d_type": "true", "Using metacopy": "false"},
        "ImageCopyTmpDir": "/var/tmp", "VolumePath": runtime.paths.volume_driver_dir("local"),
    })
    document["Plugins"].update({"Volume": sorted(runtime.plugins.volume_drivers),
                                "Network": ["bridge", "macvlan"] if host["NetworkBackend"] else [],
                                "Log": ["k8s-file", "json-file", "none"], "Authorization": None})
    document.setdefault("Registries", {})


def _id_mappings() -> dict[str, Any]:
    """podman's host.idMappings: the user namespace husk runs in (a rootless user's), null for the host's."""
    mappings = {}
    for kind in ("GID", "UID"):
        with open(f"/proc/self/{kind.lower()}_map") as handle:
            lines = [[int(field) for field in line.split()] for line in handle if line.strip()]
        mappings[f"{kind}Map"] = None if lines == [[0, 0, 2 ** 32 - 1]] else [
            {"container_id": inside, "host_id": outside, "size": size} for inside, outside, size in lines]
    return mappings


def with_go_names(document: dict[str, Any]) -> dict[str, Any]:
    """A copy for templates, where husk's spelling of a field differs from podman's
    Go name: both names (Security.SECCOMPEnabled, ContainerStore.Number, ...)."""
    import copy

    view = copy.deepcopy(document)
    security = view["Host"]["Security"]
    security.update({"DefaultCapabilities": security["Capabilities"], "SECCOMPEnabled": security["SeccompEnabled"],
                     "SECCOMPProfilePath": security["SeccompProfilePath"]})
    for key in ("ContainerStore", "ImageStore"):
        counts = view["Store"][key]
        counts.update({name.capitalize(): value for name, value in list(counts.items())})
    return view


def build_time() -> tuple[int, str]:
    """(Unix time, time.ANSIC text) of husk's installed code: podman's Built and BuiltTime."""
    from .. import __file__ as package

    built = int(os.stat(package).st_mtime)
    return built, time.strftime(_ANSIC, time.localtime(built))


def _read(path: str) -> str:
    """A small /proc or /etc file's text; "" where there is none."""
    with contextlib.suppress(OSError), open(path) as handle:
        return handle.read()
    return ""


def _distribution() -> dict[str, str]:
    fields = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    value = lambda key: fields.get(key, "").strip().strip('"')  # noqa: E731
    return {"Distribution": value("ID"), "Variant": value("VARIANT_ID"), "Version": value("VERSION_ID"),
            "Codename": value("VERSION_CODENAME")}


def _cgroup_controllers() -> list[str]:
    unified = _read("/sys/fs/cgroup/cgroup.controllers")
    if unified:
        return unified.split()
    return [name for name in _V1_CONTROLLERS if os.path.isdir(f"/sys/fs/cgroup/{name}")]


def _meminfo() -> dict[str, int]:
    values = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def _cpu_utilization() -> dict[str, float]:
    """Since boot, as podman computes it from /proc/stat's cpu line."""
    fields = (_read("/proc/stat").splitlines() or ["cpu"])[0].split()[1:]
    numbers = [int(n) for n in fields if n.isdigit()]
    total = sum(numbers[:8]) or 1
    percent = lambda n: round(100 * n / total, 2)  # noqa: E731
    user, nice, system, idle = (numbers + [0, 0, 0, 0])[:4]
    return {"UserPercent": percent(user + nice), "SystemPercent": percent(system), "IdlePercent": percent(idle)}


def _uptime() -> str:
    """podman's: `3h 34m 24.00s (Approximately 0.12 days)`."""
    seconds = float((_read("/proc/uptime").split() or ["0"])[0])
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    exact = seconds - hours * 3600 - minutes * 60
    return f"{hours}h {minutes}m {exact:.2f}s (Approximately {seconds / 86400:.2f} days)"


def _filesystem(path: str) -> str:
    """The type of the filesystem `path` is on (the longest mount point above it)."""
    path = os.path.realpath(path)
    best, kind = "", ""
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        mount_point = fields[4] if len(fields) > 4 else ""
        if " - " not in line or not (path == mount_point or path.startswith(mount_point.rstrip("/") + "/")):
            continue
        if len(mount_point) >= len(best):
            best, kind = mount_point, line.split(" - ", 1)[1].split()[0]
    return _FILESYSTEMS.get(kind, kind)
