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

    print_df(lambda: df_report(session.runtime, build_cache_usage(session.runtime)), format_, verbose)


def print_df(report_of, format_: str, verbose: bool) -> None:
    """`system df` of the SystemDfReport (husk.presentation.disk) `report_of()` gives, local or
    the service's: asked for once the flags are known to go together (it walks the disk)."""
    from ..presentation.disk import df_text, verbose_text

    if format_ and verbose:
        raise InvalidArgument("cannot combine --format and --verbose flags")
    report = report_of()
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


def prune_options(function):
    """`system prune`'s flags, local and remote."""
    for option in reversed([
            click.option("-a", "--all", "all_", is_flag=True, help="Every unused image, not only dangling ones."),
            click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation."),
            click.option("--filter", "filters", multiple=True, help="Only what matches: until=TIME, "
                         "label=KEY[=VALUE], label!=KEY[=VALUE]."),
            click.option("--volumes", is_flag=True, help="Remove volumes no container uses, too.")]):
        function = option(function)
    return function


@click.command("prune", context_settings=CONTEXT)
@prune_options
@click.pass_obj
def prune(session, all_, force, filters, volumes):
    """Remove stopped containers, unused networks, dangling (or, with -a, unused) images, the dangling
    (with -a, all) build cache and, with --volumes, unused volumes."""
    from ..build.usage import prune_build_cache
    from ..presentation.disk import check_prune_filters, prune_report
    from .prune import _confirmed, _filters

    wanted = _filters(filters)
    check_prune_filters(wanted)
    if _confirmed(force, prune_warning(all_, volumes)):
        print_prune(prune_report(session.runtime, all_, wanted, volumes, prune_build_cache))


def print_prune(report: dict) -> None:
    """`system prune`'s sections of a SystemPruneReport (husk.presentation.disk), local or the
    service's; a container that could not be removed is an Error line and exit 125."""
    from ..presentation.disk import prune_text

    text, errors = prune_text(report)
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    click.echo(text, nl=False)
    if errors:
        raise SystemExit(125)


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
