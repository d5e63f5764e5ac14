"""What `pod ps` and `pod inspect` show, and the libpod API's pod documents:
podman's pod list report (rows and JSON), its filters, and its pod inspect
document, from a pod and its containers (husk.engine.pods)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from ..define import InvalidArgument
from ..engine.resources import CPU_PERIOD
from ..formats.timestamps import go_time, human_duration, rfc3339

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.pods import Pod

PS_HEADERS = {"ID": "POD ID", "Id": "POD ID", "InfraID": "INFRA ID", "InfraId": "INFRA ID",
              "NumberOfContainers": "# OF CONTAINERS", "ContainerNames": "NAMES", "ContainerIds": "IDS",
              "ContainerStatuses": "STATUS"}
FILTER_KEYS = ("id", "name", "label", "status", "ctr-names", "ctr-ids", "ctr-status", "ctr-number", "network", "until")
SORT_KEYS = ("created", "id", "name", "number", "status")


def ps_table(ctr_names: bool = False, ctr_ids: bool = False, ctr_status: bool = False) -> str:
    """podman's default `pod ps` table: the containers' names, ids or states replace their count."""
    last = ("{{.ContainerNames}}" if ctr_names else "{{.ContainerIds}}" if ctr_ids
            else "{{.ContainerStatuses}}" if ctr_status else "{{.NumberOfContainers}}")
    return "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t" + last


def ps_row(document: dict[str, Any], no_trunc: bool, now: float) -> dict[str, Any]:
    """One `pod ps` row of a ListPodsReport (:func:`ps_document`, this host's or a service's), a
    struct to templates (podman's ListPodReporter)."""
    from ..formats.gofmt import GoStruct
    from ..formats.timestamps import parse_rfc3339_ns

    def short(value: str) -> str:
        return value if no_trunc else value[:12]

    containers = document.get("Containers") or []
    infra = document.get("InfraId") or ""
    return GoStruct({
        "Id": document["Id"], "ID": short(document["Id"]), "Name": document["Name"], "Status": document["Status"],
        "Created": f"{human_duration(now - parse_rfc3339_ns(document['Created']) / 1e9)} ago",
        "CreatedAt": document["Created"], "InfraId": infra, "InfraID": short(infra),
        "NumberOfContainers": len(containers),
        "ContainerNames": ",".join(c["Names"] for c in containers),
        "ContainerIds": ",".join(short(c["Id"]) for c in containers),
        "ContainerStatuses": ",".join(c["Status"] for c in containers),
        "Labels": document.get("Labels") or {}, "Networks": document.get("Networks") or [], "Cgroup": "",
        "Namespace": "",
    }, "ListPodReporter")


def ps_document(pod: "Pod", containers: list["Container"]) -> dict[str, Any]:
    """podman's ListPodsReport (`pod ps --format json`, the libpod pod list)."""
    record = pod.record
    return {"Cgroup": "", "Containers": [{"Id": c.id, "Names": c.name, "Status": str(c.state.state),
                                         "RestartCount": c.state.restart_count} for c in containers],
            "Created": rfc3339(record.created), "Id": record.id, "InfraId": record.infra_id,
            "Name": record.name, "Namespace": "", "Networks": _networks(pod), "Status": pod.status(containers),
            "Labels": dict(record.labels)}


def _networks(pod: "Pod") -> list[str]:
    from ..engine.networking import network_names, uses_networks

    infra = pod.infra()
    return network_names(infra) if infra is not None and uses_networks(infra) else []


def pod_filter(filters: dict[str, list[str]]) -> Callable[["Pod", list["Container"]], bool]:
    """podman's `pod ps --filter`: every key must match, any value of a key may."""
    from ..formats.timestamps import parse_until

    for key in filters:
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"{key} is an invalid filter")

    def matches(key: str, value: str, pod: "Pod", containers: list["Container"]) -> bool:
        record = pod.record
        if key == "id":
            return record.id.startswith(value)
        if key == "name":
            return re.search(value, record.name) is not None
        if key == "label":
            name, sep, wanted = value.partition("=")
            return name in record.labels and (not sep or record.labels[name] == wanted)
        if key == "status":
            return pod.status(containers).lower() == value.lower()
        if key == "ctr-names":
            return any(c.name == value for c in containers)
        if key == "ctr-ids":
            return any(c.id.startswith(value) for c in containers)
        if key == "ctr-status":
            return any(str(c.state.state) == value for c in containers)
        if key == "ctr-number":
            return str(len(containers)) == value
        if key == "network":
            return value in _networks(pod)
        return record.created < parse_until(value)  # until

    def keep(pod: "Pod", containers: list["Container"]) -> bool:
        return all(any(matches(key, value, pod, containers) for value in values) for key, values in filters.items())
    return keep


def select_pods(runtime, filters: dict[str, list[str]], sort: str = "created",
                latest: bool = False) -> list[tuple["Pod", list["Container"]]]:
    """The pods a listing shows, each with its containers (newest first, as podman sorts by created)."""
    from ..engine.pods import all_pods

    if sort not in SORT_KEYS:
        raise InvalidArgument(f"invalid option for --sort, options are: {', '.join(SORT_KEYS)}")
    keep = pod_filter(filters)
    entries = []
    for pod in all_pods(runtime):
        containers = pod.containers()
        if keep(pod, containers):
            entries.append((pod, containers))
    if latest:
        entries = sorted(entries, key=lambda e: e[0].record.created)[-1:]
    order = {"created": lambda e: -e[0].record.created, "id": lambda e: e[0].id, "name": lambda e: e[0].name,
             "number": lambda e: len(e[1]), "status": lambda e: e[0].status(e[1])}[sort]
    return sorted(entries, key=order)


def inspect_document(pod: "Pod") -> dict[str, Any]:
    """podman 4.3's pod inspect document."""
    record = pod.record
    containers = pod.containers()
    infra = pod.infra()
    document: dict[str, Any] = {
        "Id": record.id, "Name": record.name, "Created": go_time(record.created), "CreateCommand": None,
        "ExitPolicy": record.exit_policy, "State": pod.status(containers), "Hostname": record.hostname,
    }
    if record.labels:
        document["Labels"] = dict(record.labels)
    from ..engine import pod_cgroup

    own = pod_cgroup.wanted(record)
    document.update({"CreateCgroup": own,
                     "CgroupParent": "/" + (record.cgroup_parent or pod_cgroup.DEFAULT_PARENT).strip("/") if own else "",
                     "CgroupPath": pod_cgroup.path(record) if own else ""})
    if record.nano_cpus:
        document.update({"CPUPeriod": CPU_PERIOD, "CPUQuota": record.nano_cpus * CPU_PERIOD // 1_000_000_000})
    if record.memory:
        document["MemoryLimit"] = record.memory
    document.update({"CreateInfra": bool(record.infra_id), "InfraContainerID": record.infra_id})
    if infra is not None:
        config = infra.config
        bindings: dict[str, list[dict[str, str]]] = {}
        for mapping in config.ports:
            for offset in range(mapping.range):
                bindings.setdefault(f"{mapping.container_port + offset}/{mapping.protocol}", []).append(
                    {"HostIp": mapping.host_ip, "HostPort": str(mapping.host_port + offset)})
        files = config.host_files
        document["InfraConfig"] = {
            "PortBindings": bindings, "HostNetwork": config.network == "host", "StaticIP": "", "StaticMAC": "",
            "NoManageResolvConf": False, "DNSServer": files.dns_servers or None, "DNSSearch": files.dns_search or None,
            "DNSOption": files.dns_options or None, "NoManageHosts": files.no_hosts, "HostAdd": files.add_hosts or None,
            "Networks": list(config.networks) or None, "NetworkOptions": None,
            "pid_ns": "private", "userns": "host", "uts_ns": "private"}
    document.update({"SharedNamespaces": list(record.share) or None, "NumContainers": len(containers),
                     "Containers": [{"Id": c.id, "Name": c.name, "State": str(c.state.state)} for c in containers]})
    return document


STATS_TABLE = ("table {{.Pod}}\t{{.CID}}\t{{.Name}}\t{{.CPU}}\t{{.MemUsage}}\t{{.Mem}}\t{{.NetIO}}\t{{.BlockIO}}"
               "\t{{.PIDS}}")
STATS_HEADERS = {"Pod": "POD", "CID": "CID", "Name": "NAME", "CPU": "CPU %", "MemUsage": "MEM USAGE/ LIMIT",
                 "Mem": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS"}


def stats_row(pod_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """podman's PodStatsReport for one container's `stats` row (husk.presentation.stats.podman_row)."""
    from ..formats.gofmt import GoStruct

    return GoStruct({"CPU": row["CPUPerc"], "MemUsage": row["MemUsage"], "MemUsageBytes": row["MemUsageBytes"],
                     "Mem": row["MemPerc"], "NetIO": row["NetIO"], "BlockIO": row["BlockIO"], "PIDS": row["PIDS"],
                     "Pod": pod_id[:12], "CID": row["ID"], "Name": row["Name"]}, "entities.PodStatsReport")
