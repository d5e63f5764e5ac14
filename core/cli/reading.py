"""The read verbs `ps` and `inspect` (and `container inspect`), in a module of
their own: `husk ps` and `husk inspect` import this and not husk.cli.container,
whose other verbs' options (start, stop, rm, wait, ...) cost them ~7M
instructions at start-up, 3% of a `ps -a` of 200 containers (issue 20).  What
they print comes from :mod:`husk.cli.listing`."""

from __future__ import annotations

import click

from ..define import InvalidArgument
from .common import CONTEXT, Command
from .targets import selectors, targets

pass_session = click.pass_obj


@click.command(cls=Command, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default: running only).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate ids and commands.")
@click.option("--noheading", "no_heading", is_flag=True, help="Omit the table header.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter: name=, status=, exited=, label=, id=, ancestor=.")
@click.option("--format", "format_", default="", help="Go template, `table ...` or json.")
@click.option("--sort", default="created", help="Sort by created, id, image, names, status, runningfor.")
@click.option("-l", "--latest", is_flag=True, help="Only the most recently created container.")
@click.option("-n", "--last", type=int, default=-1, help="The N containers created last (all states).")
@click.option("--ns", is_flag=True, help="Show each container's namespaces (inode numbers).")
@click.option("-p", "--pod", is_flag=True, help="Show each container's pod (its id and name).")
@click.option("--sync", is_flag=True, help="Ask the OCI runtime for each container's state first (taking its lock).")
@click.option("--external", is_flag=True,
              help="Also containers other tools made in husk's storage (there are none: husk's store is its own).")
@click.option("-w", "--watch", type=int, default=0, help="Print the list again every N seconds.")
@click.option("-s", "--size", is_flag=True, help="Each container's size (writable layer, and whole root filesystem).")
@pass_session
def ps(session, all_, quiet, no_trunc, no_heading, filters, format_, sort, latest, last, ns, pod, sync, external,
       watch, size):
    """List containers."""
    from .listing import NS_TABLE, PS_TABLE, list_containers

    if watch < 0:
        raise InvalidArgument("--watch must be a positive number of seconds")
    if ns and not format_:
        format_ = NS_TABLE
    if pod and not format_:
        format_ = PS_TABLE + "\t{{.Pod}}\t{{.PodName}}"
    while True:
        if sync:
            for container in session.runtime.containers():
                container.sync()
        errors: list = []
        listing = list_containers(session.runtime, all_=all_ or bool(filters) or last >= 0, quiet=quiet,
                                  no_trunc=no_trunc, no_heading=no_heading, filters=filters, format_=format_,
                                  sort=sort, latest=latest, last=last, namespaces=ns, size=size, errors=errors)
        if not watch:
            break
        click.echo("\033[H\033[2J" + listing, nl=False, color=True)  # clear the screen, print again, as podman
        import time

        time.sleep(watch)
    click.echo(listing, nl=False)
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    if errors:
        raise SystemExit(errors[0].exit_code)


@click.command(cls=Command, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template applied to each result.")
@click.option("-t", "--type", "type_", default="all",
              help="container, image, volume, network, pod, or all (the first that has the name).")
@click.option("-s", "--size", is_flag=True, help="Containers' SizeRw and SizeRootFs too.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def inspect(session, format_, type_, size, latest, names):
    """Show containers', images', volumes', networks' or pods' details as JSON."""
    from .listing import inspect_objects, print_report

    if type_ not in ("image", "container", "pod", "network", "volume", "all"):
        raise InvalidArgument(f'invalid type "{type_}": must be "image", "container", "pod", "network", '
                              '"volume", or "all"')
    names = targets(session, names, latest=True) if latest else names
    print_report(*inspect_objects(session.runtime, names, type_, format_, size))


@click.command("inspect", cls=Command, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template applied to each container.")
@click.option("-s", "--size", is_flag=True, help="SizeRw and SizeRootFs too.")
@selectors()
@click.argument("names", nargs=-1)
@click.pass_context
def container_inspect(ctx, format_, size, latest, names):
    """Show containers' configuration and state as JSON (containers only, as podman's)."""
    ctx.invoke(inspect, format_=format_, type_="container", size=size, latest=latest, names=names)


def register(group: click.Group) -> None:
    container_group = group.commands["container"]
    container_group.add_command(ps)
    container_group.add_command(ps, "list")
    container_group.add_command(ps, "ls")
    container_group.add_command(container_inspect)
    group.add_command(ps)
    group.add_command(inspect)
