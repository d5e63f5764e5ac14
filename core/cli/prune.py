"""`container prune` and `image prune`: the CLI over husk.engine.prune.prune_containers
and husk.storage.image_prune.prune_images (podman's verbs, flags, prompts and
output: the removed ids, one a line)."""

from __future__ import annotations

import click

from ..define import InvalidArgument
from .common import CONTEXT

WARNING = "WARNING! This will remove all non running containers."


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Only containers matching: until=TIME, label=KEY[=VALUE], "
              "label!=KEY[=VALUE].")
@click.pass_obj
def prune(session, force, filters):
    """Remove every container that is not running."""
    from ..engine.prune import prune_containers

    wanted = _filters(filters)
    if not _confirmed(force, WARNING):
        return
    code = 0
    for report in prune_containers(session.runtime, wanted):
        if report.error:
            click.echo(f"Error: {report.error}", err=True)
            code = 125
        else:
            click.echo(report.id)
    if code:
        raise SystemExit(code)


def _filters(filters) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")  # `label!=k=v` gives the key `label!`
        if not sep or not key:
            raise InvalidArgument(f"invalid filter {item!r}: use until=, label= or label!=")
        wanted.setdefault(key, []).append(value)
    return wanted


def _confirmed(force: bool, warning: str) -> bool:
    if force:
        return True
    click.echo(warning)
    return click.confirm("Are you sure you want to continue? [y/N]", default=False, show_default=False,
                         prompt_suffix=" ")


@click.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every image no container uses, not only dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Only images matching: until=TIME, label=KEY[=VALUE], "
              "label!=KEY[=VALUE], dangling=true|false.")
@click.pass_obj
def image_prune(session, all_, force, filters):
    """Remove images no container uses: dangling ones (no name), or every one with -a."""
    from ..storage.image_prune import prune_images

    warning = ("WARNING! This command removes all images without at least one container associated with them."
               if all_ else "WARNING! This command removes all dangling images.")
    wanted = _filters(filters)
    if not _confirmed(force, warning):
        return
    for image_id in prune_images(session.runtime, all_, wanted):
        click.echo(image_id)


def register(group: click.Group) -> None:
    group.commands["container"].add_command(prune)
    group.commands["image"].add_command(image_prune)
