"""`system df` and `system prune`, as podman 4.3 prints them (sizes from husk.engine.disk_usage)."""

from __future__ import annotations

import json
import sys
import time

import click

from ..define import InvalidArgument
from .common import CONTEXT

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


def _reclaimable(reclaimable: int, size: int) -> str:
    from ..formats.units import human_size

    return f"{human_size(reclaimable)} ({int(reclaimable * 100 / size) if size else 0}%)"


def summary(usage, cache) -> list[dict]:
    """podman's three rows, Images, Containers, Local Volumes, and Docker's fourth,
    Build Cache (husk.build.usage; nothing in it is active between builds); raw
    numbers too, for JSON."""
    from ..formats.units import human_size

    rows = []
    for kind, entries, active, size, reclaimable in (
            ("Images", usage.images, sum(1 for i in usage.images if i.containers), usage.layers_size,
             usage.layers_reclaimable),
            ("Containers", usage.containers, sum(1 for c in usage.containers if c.active),
             sum(c.size_rw for c in usage.containers), sum(c.size_rw for c in usage.containers if not c.active)),
            ("Local Volumes", usage.volumes, sum(1 for v in usage.volumes if v.links),
             sum(v.size for v in usage.volumes), sum(v.size for v in usage.volumes if not v.links)),
            ("Build Cache", cache.records, 0, cache.size, cache.reclaimable)):
        rows.append({"Type": kind, "Total": len(entries), "Active": active, "Size": human_size(size),
                     "Reclaimable": _reclaimable(reclaimable, size), "RawSize": size,
                     "RawReclaimable": reclaimable})
    return rows


@click.command(context_settings=CONTEXT)
@click.option("--format", "format_", default="", help="Go template ({{.Type}} {{.Total}} {{.Active}} {{.Size}} "
              "{{.Reclaimable}}), or json.")
@click.option("-v", "--verbose", is_flag=True, help="Each image, container and volume.")
@click.pass_obj
def df(session, format_, verbose):
    """Show the disk space images, containers, volumes and the build cache use."""
    from ..build.usage import build_cache_usage
    from ..engine.disk_usage import disk_usage
    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows

    if format_ and verbose:
        raise InvalidArgument("cannot combine --format and --verbose flags")
    usage, cache = disk_usage(session.runtime), build_cache_usage(session.runtime)
    if verbose:
        sys.stdout.write(_verbose(usage, cache))
        return
    rows = summary(usage, cache)
    if format_ == "json":
        sys.stdout.write(json.dumps(rows, indent=4) + "\n")
        return
    sys.stdout.write(format_rows(format_ or DF_TABLE, [GoStruct(row, "system.dfSummary") for row in rows], HEADERS))


def _verbose(usage, cache) -> str:
    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows
    from ..formats.timestamps import human_duration
    from ..formats.units import human_size
    from ..presentation.ps import command_args

    now = time.time()
    images = []
    for entry in sorted(usage.images, key=lambda e: -e.image.created):
        for name in entry.image.names or ["<none>:<none>"]:
            repository, tag = (name.partition("@")[0], "<none>") if "@" in name else name.rpartition(":")[::2]
            images.append(GoStruct({"Repository": repository, "Tag": tag, "ImageID": entry.image.id[:12],
                                    "Created": human_duration(now - entry.image.created),
                                    "Size": human_size(entry.size), "SharedSize": human_size(entry.shared),
                                    "UniqueSize": human_size(entry.unique), "Containers": entry.containers},
                                   "system.dfImage"))
    containers = []
    for entry in sorted(usage.containers, key=lambda e: -e.container.config.created):
        config = entry.container.config
        command = " ".join(command_args(entry.container, None))
        containers.append(GoStruct({
            "ContainerID": config.id[:12], "Image": config.image_name,
            "Command": command if len(command) <= 20 else command[:17] + "...",
            "LocalVolumes": sum(1 for m in config.mounts if m.type == "volume"),
            "Size": human_size(entry.size_rw), "Created": human_duration(now - config.created),
            "Status": entry.container.state.state.value, "Names": config.name}, "system.dfContainer"))
    volumes = [GoStruct({"VolumeName": e.volume.name, "Links": e.links, "Size": human_size(e.size)},
                        "system.dfVolume") for e in sorted(usage.volumes, key=lambda e: e.volume.name)]
    entries = [GoStruct({"CacheID": r.id[:12], "CacheType": r.kind, "Size": human_size(r.size),
                         "Created": human_duration(now - r.created) + " ago",
                         "LastUsed": human_duration(now - r.created) + " ago", "Usage": 1, "Shared": "false"},
                        "system.dfBuildCache") for r in sorted(cache.records, key=lambda r: -r.created)]
    return ("Images space usage:\n\n" + format_rows(IMAGES_TABLE, images, HEADERS)
            + "\nContainers space usage:\n\n" + format_rows(CONTAINERS_TABLE, containers, HEADERS)
            + "\nLocal Volumes space usage:\n\n" + format_rows(VOLUMES_TABLE, volumes, HEADERS)
            + "\nBuild Cache space usage:\n\n" + format_rows(CACHE_TABLE, entries, HEADERS))


def prune_warning(all_: bool, volumes: bool) -> str:
    """podman's prompt text for `system prune`."""
    lines = ["WARNING! This command removes:", "\t- all stopped containers",
             "\t- all networks not used by at least one container"]
    if volumes:
        lines.append("\t- all volumes not used by at least one container")
    lines += (["\t- all images without at least one container associated with them", "\t- all build cache"]
              if all_ else ["\t- all dangling images", "\t- all dangling build cache"])
    return "\n".join(lines) + "\n"


@click.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every unused image, not only dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Only what matches: until=TIME, label=KEY[=VALUE], "
              "label!=KEY[=VALUE].")
@click.option("--volumes", is_flag=True, help="Remove volumes no container uses, too.")
@click.pass_obj
def prune(session, all_, force, filters, volumes):
    """Remove stopped containers, unused networks, dangling (or, with -a, unused) images, the dangling
    (with -a, all) build cache and, with --volumes, unused volumes."""
    from ..build.usage import prune_build_cache
    from ..engine.disk_usage import disk_usage
    from ..engine.networking import prune_networks
    from ..engine.prune import prune_containers
    from ..formats.units import human_size
    from ..storage.image_prune import prune_images
    from .prune import _confirmed, _filters

    wanted = _filters(filters)
    for key in wanted:
        if key not in ("until", "label", "label!"):
            raise InvalidArgument(f"invalid filter {key!r}: prune filters are until, label, label!")
    if not _confirmed(force, prune_warning(all_, volumes)):
        return
    runtime = session.runtime
    before = disk_usage(runtime)
    code = 0
    reports = prune_containers(runtime, wanted)
    removed = [r.id for r in reports if not r.error]
    for report in reports:
        if report.error:
            click.echo(f"Error: {report.error}", err=True)
            code = 125
    _section("Deleted Containers", removed)
    _section("Deleted Networks", prune_networks(runtime, wanted))
    if volumes:
        from ..presentation.volumes import PRUNE_KEYS, volume_filter

        keep = volume_filter(runtime, wanted, PRUNE_KEYS)
        _section("Deleted Volumes", [v.name for v in runtime.volumes.prune(lambda v: not keep(v))])
    _section("Deleted Images", prune_images(runtime, all_, wanted))
    cache_ids, cache_freed = prune_build_cache(runtime, all_, wanted)
    _section("Deleted Build Cache", cache_ids)
    after = disk_usage(runtime)
    click.echo(f"Total reclaimed space: {human_size(max(_total(before) - _total(after), 0) + cache_freed)}")
    if code:
        raise SystemExit(code)


def _total(usage) -> int:
    return usage.layers_size + sum(c.size_rw for c in usage.containers) + sum(v.size for v in usage.volumes)


def _section(title: str, names: list[str]) -> None:
    if names:
        click.echo(title)
        for name in names:
            click.echo(name)


@click.group("builder", context_settings=CONTEXT)
def builder():
    """Manage the build cache."""


@builder.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every build cache entry, not only dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Only entries matching until=TIME.")
@click.option("--external", is_flag=True, help="Data other tools left in husk's storage: there is none (as for "
              "ps --external), so the same.")
@click.pass_obj
def builder_prune(session, all_, force, filters, external):
    """Remove the build cache: dangling entries (their layers held by no image), or all of it with -a
    (Docker's `builder prune`)."""
    from ..build.usage import prune_build_cache
    from ..formats.units import human_size
    from .prune import _confirmed, _filters

    wanted = _filters(filters)
    warning = "WARNING! This will remove all build cache." if all_ else \
        "WARNING! This will remove all dangling build cache."
    if not _confirmed(force, warning):
        return
    removed, freed = prune_build_cache(session.runtime, all_, wanted)
    _section("Deleted build cache objects:", removed)
    click.echo(f"Total reclaimed space: {human_size(freed)}")


def register(group: click.Group) -> None:
    system_group = group.commands["system"]
    system_group.add_command(df)
    system_group.add_command(prune)
    group.add_command(builder)
