"""Container verbs that act on a container in place: pause, unpause, restart,
mount, umount (unmount), export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import sys

import click

from ..define import InvalidArgument
from .common import CONTEXT, names_or_all, run_and_report
from .targets import selectors, targets

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

pass_session = click.pass_obj


def _each_in_state(verb: str, state: str, help: str, all_help: str) -> click.Command:
    """A verb run on the containers named, or with --all on every one in `state`."""
    @click.command(verb, context_settings=CONTEXT, help=help)
    @click.option("-a", "--all", "all_", is_flag=True, help=all_help)
    @selectors(cidfile=True, filter_=True, filter_short="-f")
    @click.argument("names", nargs=-1)
    @pass_session
    def command(session, all_, latest, cidfiles, filters, names):
        run_and_report(session, verb, targets(session, names, all_=all_, latest=latest, cidfiles=cidfiles,
                                              filters=filters, states=(state,)))

    return command


pause = _each_in_state("pause", "running", "Pause containers: freeze all their processes.",
                       "Pause every running container.")
unpause = _each_in_state("unpause", "paused", "Unpause paused containers.", "Unpause every paused container.")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Restart every container.")
@click.option("--running", is_flag=True, help="With --all: only the running containers.")
@click.option("-t", "--time", "timeout", type=int, default=None,
              help="Seconds to wait for the stop before SIGKILL (default: the container's stop timeout).")
@selectors(cidfile=True, filter_=True, filter_short="-f")
@click.argument("names", nargs=-1)
@pass_session
def restart(session, all_, running, timeout, latest, cidfiles, filters, names):
    """Restart containers: stop the running ones, then start them."""
    from ..engine.container import check_timeout

    check_timeout(timeout)  # once, before any container is touched
    if running and not all_:
        raise InvalidArgument("--running only applies with --all")
    states = ("running",) if running else ("configured", "created", "running", "stopped", "exited")
    run_and_report(session, "restart", targets(session, names, all_=all_, latest=latest, cidfiles=cidfiles,
                                               filters=filters, states=states), timeout=timeout)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Mount every container.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate ids in the list.")
@click.option("--format", "format_", default="", help="json: the list as JSON.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def mount(session, all_, no_trunc, format_, latest, names):
    """Mount containers' root filesystems and print where; without names, list
    the mounted containers."""
    from ..engine.config import ROOTLESS_ENV, is_rootless

    if is_rootless() and ROOTLESS_ENV not in os.environ:  # the mount would be in the user's namespace only
        raise InvalidArgument('cannot run command "husk mount" in rootless mode, must execute `husk unshare` first')
    names = targets(session, names, latest=True) if latest else names
    if format_ not in ("", "json"):
        raise InvalidArgument(f"unsupported format {format_!r}: only json")
    if not names and not all_:
        click.echo(_mounted_list(session.runtime, no_trunc, format_ == "json"), nl=False)
        return
    from .parallel import report, run_here

    raise SystemExit(report(run_here(_containers(session, names, all_), lambda container: container.mount())))


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Unmount every container mounted by users.")
@click.option("-f", "--force", is_flag=True, help="Drop all of a container's user mounts at once.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def umount(session, all_, force, latest, names):
    """Unmount containers' root filesystems mounted with `mount`."""
    from .parallel import report, run_here

    names = targets(session, names, latest=True) if latest else names
    containers = _containers(session, names, all_)
    # with --all, skip those with only their own mount (running, say): nothing of a user's to drop
    pairs = [(name, container) for name, container in zip(names or [c.id for c in containers], containers)
             if not (all_ and container.user_mounts() == 0)]

    def unmount(pair) -> str:
        pair[1].unmount(force)
        return pair[0]

    raise SystemExit(report(run_here(pairs, unmount)))


@click.command(context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="Write to this file (default: stdout, which must be redirected).")
@click.argument("name")
@pass_session
def export(session, output, name):
    """Export a container's root filesystem as a tar archive."""
    container = session.runtime.container(name)
    if output:
        container.export(output)
        return
    if sys.stdout.isatty():
        raise InvalidArgument("refusing to export to terminal. Use -o flag or redirect")
    container.export(sys.stdout.buffer)


# -- helpers ------------------------------------------------------------------------------
def _containers(session, names, all_) -> list:
    """Every container named (all looked up before any is acted on), or with --all every one."""
    runtime = session.runtime
    if all_ and not names:
        return runtime.containers()
    return [runtime.container(name) for name in names_or_all(session, names, all_)]


def _mounted_list(runtime: "Runtime", no_trunc: bool, as_json: bool) -> str:
    """podman's `mount` without names: `ID  PATH` per mounted container, or JSON."""
    import json
    import os

    rows = []
    for container in sorted(runtime.containers(), key=lambda c: c.config.created):
        if runtime.store.mount_count(container.id) > 0:
            rows.append((container, os.path.join(runtime.paths.container_dir(container.id), "merged")))
    if as_json:
        return json.dumps([{"id": container.id, "Names": [container.name], "mountpoint": path}
                           for container, path in rows],
                          indent=1) + "\n"
    return "".join(f"{container.id if no_trunc else container.id[:12]}  {path}\n" for container, path in rows)


def register(group: click.Group) -> None:
    container_group = group.commands["container"]
    for command in (pause, unpause, restart, mount, umount, export):
        container_group.add_command(command)
        group.add_command(command)
    container_group.add_command(umount, "unmount")
    group.add_command(umount, "unmount")
