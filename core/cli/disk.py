"""`system df` and `system prune`, as podman 4.3 prints them (sizes from husk.engine.disk_usage)."""

from __future__ import annotations

import sys

import click

from ..define import InvalidArgument
from .common import CONTEXT

@click.command(context_settings=CONTEXT)
@click.option("--format", "format_", default="", help="Go template ({{.Type}} {{.Total}} {{.Active}} {{.Size}} "
              "{{.Reclaimable}}), or json.")
@click.option("-v", "--verbose", is_flag=True, help="Each image, container and volume.")
@click.pass_obj
def df(session, format_, verbose):
    """Show the disk space images, containers, volumes and the build cache use."""
    from ..build.usage import build_cache_usage
    from ..presentation.disk import df_report

    print_df(df_report(session.runtime, build_cache_usage(session.runtime)), format_, verbose)


def print_df(report: dict, format_: str, verbose: bool) -> None:
    """`system df` of a SystemDfReport (husk.presentation.disk), local or the service's."""
    from ..presentation.disk import df_text, verbose_text

    if format_ and verbose:
        raise InvalidArgument("cannot combine --format and --verbose flags")
    sys.stdout.write(verbose_text(report) if verbose else df_text(report, format_))


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
