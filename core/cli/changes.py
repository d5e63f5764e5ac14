"""Container verbs that change a container's record or show its processes:
rename, top, update."""

from __future__ import annotations

import click

from .common import CONTEXT

pass_session = click.pass_obj


def resource_options(function):
    """`--memory`, `--cpus`, `--cpu-shares`, `--pids-limit`: create, run and update share them.
    Values stay strings here; :func:`husk.engine.resources.limits` checks them."""
    options = [
        click.option("-m", "--memory", default=None,
                     help="Memory limit: a number with an optional unit b, k, m, g (e.g. 64m); 0: none."),
        click.option("--cpus", default=None, help="Number of CPUs (e.g. 1.5); 0: no limit."),
        click.option("-c", "--cpu-shares", default=None, help="CPU shares (relative weight, 2 to 262144)."),
        click.option("--pids-limit", default=None, help="Most processes at once; -1 or 0: unlimited (default 2048)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def resource_limits(opts: dict):
    """The Resources record for create's resource flags (None: the defaults)."""
    from ..engine.resources import limits

    given = {key: opts[key] for key in ("memory", "cpus", "cpu_shares", "pids_limit") if opts.get(key) is not None}
    return limits(**given) if given else None


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("new_name")
@pass_session
def rename(session, container, new_name):
    """Rename CONTAINER to NEW_NAME."""
    session.runtime.container(container).rename(new_name)


@click.command(context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-l", "--latest", is_flag=True, help="The container created last (every argument is a descriptor).")
@click.argument("container", required=False)
@click.argument("descriptors", nargs=-1, type=click.UNPROCESSED)
@pass_session
def top(session, latest, container, descriptors):
    """Show the processes of a running CONTAINER.  DESCRIPTORS: podman's format
    descriptors (pid, ppid, user, group, args, comm, etime, time, stime, tty,
    pcpu, vsz, rss, nice, state, pgid, hpid, huser, hgroup, ruser, rgroup), or
    ps arguments -ef, aux, -o LIST."""
    from .targets import latest_container, targets

    if latest:  # CONTAINER was the first descriptor
        container, descriptors = latest_container(session), (*([container] if container else []), *descriptors)
    container = targets(session, [container] if container else [])[0]
    titles, rows = session.runtime.container(container).top(list(descriptors))
    click.echo(format_table(titles, rows), nl=False)


def format_table(titles: list[str], rows: list[list[str]]) -> str:
    """podman top's layout: columns padded to at least 12 characters, two spaces apart."""
    table = [titles, *rows]
    widths = [max(12, *(len(row[i]) + 2 for row in table)) for i in range(len(titles))]
    return "".join("".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + row[-1] + "\n"
                   for row in table)


def _update_flags(function):
    from .run_flags import update_flags

    return update_flags(function)


@click.command(context_settings=CONTEXT)
@resource_options
@_update_flags
@click.option("--restart", default=None, help="Restart policy: no, on-failure[:N], always, unless-stopped.")
@click.argument("container")
@pass_session
def update(session, memory, cpus, cpu_shares, pids_limit, restart, container, **finer):
    """Change CONTAINER's resource limits (applied at once when it runs) or
    its restart policy; prints its id."""
    from ..define import InvalidArgument
    from ..engine.run_options import check_swap
    from .run_flags import resource_fragment

    fragment = resource_fragment(finer)
    if all(value is None for value in (memory, cpus, cpu_shares, pids_limit, restart)) and not fragment:
        raise InvalidArgument("nothing to update: give --memory, --cpus, --cpu-shares, --pids-limit, --restart "
                              "or another resource flag")
    ctr = session.runtime.container(container)
    check_swap(fragment, bool(memory or ctr.config.resources.memory))
    ctr.update(memory=memory, cpus=cpus, cpu_shares=cpu_shares, pids_limit=pids_limit, restart_policy=restart,
               finer=fragment)
    click.echo(ctr.id)


def register(group: click.Group) -> None:
    container_group = group.commands["container"]
    for command in (rename, top, update):
        container_group.add_command(command)
        group.add_command(command)
