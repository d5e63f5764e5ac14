"""`container prune`: the CLI over husk.engine.prune.prune_containers (podman's verb,
flags, prompt and output: the removed ids, one a line)."""

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

    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")  # `label!=k=v` gives the key `label!`
        if not sep or not key:
            raise InvalidArgument(f"invalid filter {item!r}: use until=, label= or label!=")
        wanted.setdefault(key, []).append(value)
    if not force:
        click.echo(WARNING)
        if not click.confirm("Are you sure you want to continue? [y/N]", default=False, show_default=False,
                             prompt_suffix=" "):
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


def register(group: click.Group) -> None:
    group.commands["container"].add_command(prune)
