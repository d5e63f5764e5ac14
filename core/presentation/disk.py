"""`system df` and `system prune`, local and remote alike: podman's SystemDfReport (libpod's `GET /system/df`,
made here from husk.engine.disk_usage and husk.build.usage's report) and the text `system df` prints
from it, so that a remote `system df` prints what the service's host would; likewise podman's
SystemPruneReport (libpod's `POST /system/prune`) and what `system prune` prints of it.

The report carries husk's build cache as well, under keys of its own that podman's clients
ignore: `BuildCache` (Docker's records, as in Docker's /system/df), `BuilderSize` (du of the
cache, each inode once) and `ImagesReclaimable` (the bytes of the layers no container's
image holds).  A report without them (podman's service) shows an empty Build Cache row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

DF_TABLE = "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
IMAGES_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ImageID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}"
                "\t{{.UniqueSize}}\t{{.Containers}}")
CONTAINERS_TABLE = ("table {{.ContainerID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}"
                    "\t{{.Status}}\t{{.Names}}")
VOLUMES_TABLE = "table {{.VolumeName}}\t{{.Links}}\t{{.Size}}"
CACHE_TABLE = "table {{.CacheID}}\t{{.CacheType}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}"
HEADERS = {"ImageID": "IMAGE ID", "ContainerID": "CONTAINER ID", "LocalVolumes": "LOCAL VOLUMES",
           "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VolumeName": "VOLUME NAME",
           "CacheID": "CACHE ID", "CacheType": "CACHE TYPE", "LastUsed": "LAST USED"}


def cache_documents(cache) -> list[dict]:
    """Docker's BuildCache records of husk.build.usage's entries (none in use between builds)."""
    from ..formats.timestamps import rfc3339

    return [{"ID": r.id, "Parent": "", "Parents": None, "Type": r.kind, "Description": r.description,
             "InUse": False, "Shared": False, "Size": r.size, "CreatedAt": rfc3339(r.created),
             "LastUsedAt": rfc3339(r.created), "UsageCount": 1} for r in cache.records]


def df_report(runtime: "Runtime", cache) -> dict:
    """podman's SystemDfReport of this installation, with husk's build cache keys (`cache`:
    husk.build.usage's, which the front ends ask for: build is not below this room)."""
    from ..engine.disk_usage import disk_usage
    from ..formats.timestamps import rfc3339
    from .ps import command_args

    usage = disk_usage(runtime)
    images = []
    for entry in usage.images:
        for name in entry.image.names or ["<none>:<none>"]:
            repository, tag = (name.partition("@")[0], "<none>") if "@" in name else name.rpartition(":")[::2]
            images.append({"Repository": repository, "Tag": tag, "ImageID": entry.image.id,
                           "Created": rfc3339(entry.image.created), "Size": entry.size,
                           "SharedSize": entry.shared, "UniqueSize": entry.unique, "Containers": entry.containers})
    containers = [{"ContainerID": e.container.id, "Image": e.container.config.image_id,
                   "Command": command_args(e.container, None),
                   "LocalVolumes": sum(1 for m in e.container.config.mounts if m.type == "volume"),
                   "Size": e.size_rootfs, "RWSize": e.size_rw, "Created": rfc3339(e.container.config.created),
                   "Status": e.container.state.state.value, "Names": e.container.name}
                  for e in usage.containers]
    volumes = [{"VolumeName": e.volume.name, "Links": e.links, "Size": e.size,
                "ReclaimableSize": 0 if e.links else e.size} for e in usage.volumes]
    return {"ImagesSize": usage.layers_size, "Images": images, "Containers": containers, "Volumes": volumes,
            "ImagesReclaimable": usage.layers_reclaimable, "BuildCache": cache_documents(cache),
            "BuilderSize": cache.size}


def _reclaimable(reclaimable: int, size: int) -> str:
    from ..formats.units import human_size

    return f"{human_size(reclaimable)} ({int(reclaimable * 100 / size) if size else 0}%)"


def summary(report: dict) -> list[dict]:
    """podman's three rows, Images, Containers, Local Volumes, and Docker's fourth, Build Cache
    (nothing in it is active between builds: all of it is reclaimable); raw numbers too, for JSON."""
    from ..formats.units import human_size

    images = {row["ImageID"]: row for row in report.get("Images") or []}
    unused = sum(i["UniqueSize"] for i in images.values() if not i["Containers"])
    containers, volumes = report.get("Containers") or [], report.get("Volumes") or []
    cache, cache_size = report.get("BuildCache") or [], report.get("BuilderSize") or 0
    rows = []
    for kind, total, active, size, reclaimable in (
            ("Images", len(images), sum(1 for i in images.values() if i["Containers"]), report.get("ImagesSize", 0),
             report.get("ImagesReclaimable", unused)),
            ("Containers", len(containers), sum(1 for c in containers if c["Status"] in ("running", "paused")),
             sum(c["RWSize"] for c in containers),
             sum(c["RWSize"] for c in containers if c["Status"] not in ("running", "paused"))),
            ("Local Volumes", len(volumes), sum(1 for v in volumes if v["Links"]), sum(v["Size"] for v in volumes),
             sum(v["ReclaimableSize"] for v in volumes)),
            ("Build Cache", len(cache), 0, cache_size, cache_size)):
        rows.append({"Type": kind, "Total": total, "Active": active, "Size": human_size(size),
                     "Reclaimable": _reclaimable(reclaimable, size), "RawSize": size, "RawReclaimable": reclaimable})
    return rows


def df_text(report: dict, format_: str = "") -> str:
    """The summary `system df` prints: the table, a template's lines, or JSON."""
    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows

    rows = summary(report)
    if format_ == "json":
        return json.dumps(rows, indent=4) + "\n"
    return format_rows(format_ or DF_TABLE, [GoStruct(row, "system.dfSummary") for row in rows], HEADERS)


def verbose_text(report: dict) -> str:
    """`system df -v`: podman's tables of the images, containers and volumes, newest first, and
    Docker's of the build cache."""
    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows
    from ..formats.timestamps import human_duration, parse_rfc3339_ns
    from ..formats.units import human_size

    now = time.time()

    def age(when: str) -> str:
        return human_duration(now - parse_rfc3339_ns(when) / 1e9)

    def newest_first(rows: list[dict], key: str) -> list[dict]:
        return sorted(rows, key=lambda row: -parse_rfc3339_ns(row[key]))

    images = [GoStruct({"Repository": i["Repository"], "Tag": i["Tag"], "ImageID": i["ImageID"][:12],
                        "Created": age(i["Created"]), "Size": human_size(i["Size"]),
                        "SharedSize": human_size(i["SharedSize"]), "UniqueSize": human_size(i["UniqueSize"]),
                        "Containers": i["Containers"]}, "system.dfImage")
              for i in newest_first(report.get("Images") or [], "Created")]
    containers = []
    for c in newest_first(report.get("Containers") or [], "Created"):
        command = " ".join(c["Command"] or [])
        containers.append(GoStruct({
            "ContainerID": c["ContainerID"][:12], "Image": c["Image"][:12],
            "Command": command if len(command) <= 20 else command[:17] + "...", "LocalVolumes": c["LocalVolumes"],
            "Size": human_size(c["RWSize"]), "Created": age(c["Created"]), "Status": c["Status"],
            "Names": c["Names"]}, "system.dfContainer"))
    volumes = [GoStruct({"VolumeName": v["VolumeName"], "Links": v["Links"], "Size": human_size(v["Size"])},
                        "system.dfVolume") for v in sorted(report.get("Volumes") or [], key=lambda v: v["VolumeName"])]
    cache = [GoStruct({"CacheID": r["ID"][:12], "CacheType": r["Type"], "Size": human_size(r["Size"]),
                       "Created": age(r["CreatedAt"]) + " ago", "LastUsed": age(r["LastUsedAt"]) + " ago",
                       "Usage": r["UsageCount"], "Shared": str(r["Shared"]).lower()}, "system.dfBuildCache")
             for r in newest_first(report.get("BuildCache") or [], "CreatedAt")]
    return ("Images space usage:\n\n" + format_rows(IMAGES_TABLE, images, HEADERS)
            + "\nContainers space usage:\n\n" + format_rows(CONTAINERS_TABLE, containers, HEADERS)
            + "\nLocal Volumes space usage:\n\n" + format_rows(VOLUMES_TABLE, volumes, HEADERS)
            + "\nBuild Cache space usage:\n\n" + format_rows(CACHE_TABLE, cache, HEADERS))


#: the filters `system prune` takes (podman's)
PRUNE_FILTERS = ("until", "label", "label!")


def check_prune_filters(filters: dict[str, list[str]]) -> None:
    from ..define import InvalidArgument

    for key in filters:
        if key not in PRUNE_FILTERS:
            raise InvalidArgument(f"invalid filter {key!r}: prune filters are until, label, label!")


def prune_report(runtime: "Runtime", all_: bool, filters: dict[str, list[str]], volumes: bool,
                 prune_cache: Callable) -> dict:
    """`system prune`: stopped containers, unused networks, with `volumes` unused volumes,
    dangling (`all_`: unused) images, then `prune_cache(runtime, all_, filters)` (husk.build.usage's,
    which the front ends pass: build is not below this room); podman's SystemPruneReport, with
    husk's `BuildCachePruneReports` (podman's clients ignore it).  ReclaimedSpace: what
    disk_usage no longer counts, and the cache's bytes."""
    from ..engine.disk_usage import disk_usage
    from ..engine.networking import prune_networks
    from ..engine.prune import prune_containers
    from ..storage.image_prune import prune_images
    from .volumes import PRUNE_KEYS, volume_filter

    check_prune_filters(filters)
    before = _total(disk_usage(runtime))
    containers = [{"Id": r.id, "Size": r.size, "Err": r.error or None} for r in prune_containers(runtime, filters)]
    networks = [{"Name": name, "Error": None} for name in prune_networks(runtime, filters)]
    pruned_volumes = []
    if volumes:
        keep = volume_filter(runtime, filters, PRUNE_KEYS)
        pruned_volumes = [{"Id": v.name, "Size": 0} for v in runtime.volumes.prune(lambda v: not keep(v))]
    images = [{"Id": ident, "Size": 0} for ident in prune_images(runtime, all_, filters)]
    cache_ids, cache_freed = prune_cache(runtime, all_, filters)
    return {"PodPruneReport": [], "ContainerPruneReports": containers, "NetworkPruneReports": networks,
            "VolumePruneReports": pruned_volumes, "ImagePruneReports": images,
            "BuildCachePruneReports": [{"Id": ident, "Size": 0} for ident in cache_ids],
            "ReclaimedSpace": max(before - _total(disk_usage(runtime)), 0) + cache_freed}


def _total(usage) -> int:
    return usage.layers_size + sum(c.size_rw for c in usage.containers) + sum(v.size for v in usage.volumes)


def prune_text(report: dict) -> tuple[str, list[str]]:
    """What `system prune` prints of a SystemPruneReport (local or the service's): podman's
    sections, then the total; and the errors, for stderr."""
    from ..formats.units import human_size

    errors = [r["Err"] for r in report.get("ContainerPruneReports") or [] if r.get("Err")]
    lines = []
    for title, key, name in (("Deleted Containers", "ContainerPruneReports", "Id"),
                             ("Deleted Networks", "NetworkPruneReports", "Name"),
                             ("Deleted Volumes", "VolumePruneReports", "Id"),
                             ("Deleted Images", "ImagePruneReports", "Id"),
                             ("Deleted Build Cache", "BuildCachePruneReports", "Id")):
        names = [r[name] for r in report.get(key) or [] if not r.get("Err") and not r.get("Error")]
        if names:
            lines += [title, *names]
    lines.append(f"Total reclaimed space: {human_size(report.get('ReclaimedSpace') or 0)}")
    return "".join(line + "\n" for line in lines), errors
