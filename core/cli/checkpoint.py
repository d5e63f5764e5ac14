"""`container checkpoint` and `container restore`: the CLI over Container.checkpoint
and Container.restore.  The work is the husk-criu plugin's; without it, both
verbs say which package to install and exit 125."""

from __future__ import annotations

import sys
import time

import click

from ..define import HuskError, InvalidArgument
from .common import CONTEXT
from .targets import targets as select

COMPRESSIONS = ("none", "gzip", "zstd")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Checkpoint every running container.")
@click.option("-k", "--keep", is_flag=True, help="Keep the CRIU images and logs (dump.log, stats).")
@click.option("-R", "--leave-running", is_flag=True, help="Leave the container running after the checkpoint.")
@click.option("--tcp-established", is_flag=True, help="Checkpoint established TCP connections.")
@click.option("-e", "--export", "export", default="", help="Write the checkpoint archive to FILE (- for stdout).")
@click.option("--ignore-rootfs", is_flag=True, help="With --export: leave the rootfs changes out of the archive.")
@click.option("--ignore-volumes", is_flag=True, help="With --export: leave the volumes' content out of the archive.")
@click.option("-c", "--compress", default="none", show_default=True,
              help="Archive compression: none, gzip or zstd (zstd needs the zstd binary).")
@click.option("--print-stats", is_flag=True, help="Print the checkpoint's statistics as JSON.")
@click.option("--file-locks", is_flag=True, help="Checkpoint a container holding file locks.")
@click.option("-l", "--latest", is_flag=True, help="Checkpoint the container created last.")
@click.argument("names", nargs=-1)
@click.pass_obj
def checkpoint(session, all_, keep, leave_running, tcp_established, export, ignore_rootfs, ignore_volumes, compress,
               print_stats, file_locks, latest, names):
    """Checkpoint running containers (CRIU, through the container's runtime)."""
    if compress not in COMPRESSIONS:
        raise InvalidArgument(f"invalid compression {compress!r}: use none, gzip or zstd")
    if ignore_rootfs and not export:
        raise InvalidArgument("--ignore-rootfs can only be used with --export")
    if ignore_volumes and not export:
        raise InvalidArgument("--ignore-volumes can only be used with --export")
    targets = select(session, names, all_=all_, latest=latest, states=("running",))
    if export and len(targets) > 1:
        raise InvalidArgument("--export can only be used with one container")
    options = {"keep": keep, "keep_running": leave_running, "tcp_established": tcp_established,
               "target_file": export, "ignore_rootfs": ignore_rootfs, "ignore_volumes": ignore_volumes,
               "compression": compress,
               "print_stats": print_stats, "file_locks": file_locks}
    _each(session, targets, "checkpoint", options, print_stats, echo=export != "-")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Restore every checkpointed container.")
@click.option("-k", "--keep", is_flag=True, help="Keep the CRIU images and logs after the restore.")
@click.option("--tcp-established", is_flag=True, help="Restore established TCP connections.")
@click.option("-i", "--import", "import_", default="", help="Restore from a checkpoint archive (- for stdin).")
@click.option("-n", "--name", default="", help="With --import: restore a copy under this name (and a new id).")
@click.option("--ignore-rootfs", is_flag=True, help="With --import: leave the archive's rootfs changes out.")
@click.option("--ignore-volumes", is_flag=True, help="With --import: leave the archive's volume content out.")
@click.option("--import-privileged", is_flag=True,
              help="With --import: restore the archive's privileges (privileged, added capabilities, "
                   "host binds, host network); only for an archive you trust.")
@click.option("--ignore-static-ip", is_flag=True, help="Give the container a new IP address.")
@click.option("--ignore-static-mac", is_flag=True, help="Give the container a new MAC address.")
@click.option("--file-locks", is_flag=True, help="Restore file locks.")
@click.option("-p", "--publish", multiple=True, help="Publish these ports instead of the container's (as run -p).")
@click.option("--print-stats", is_flag=True, help="Print the restore's statistics as JSON.")
@click.option("-l", "--latest", is_flag=True, help="Restore the container created last.")
@click.argument("names", nargs=-1)
@click.pass_obj
def restore(session, all_, keep, tcp_established, import_, name, ignore_rootfs, ignore_volumes, import_privileged,
            ignore_static_ip, ignore_static_mac, file_locks, publish, print_stats, latest, names):
    """Restore checkpointed containers, or a new one from a checkpoint archive."""
    options = {"keep": keep, "tcp_established": tcp_established, "ignore_rootfs": ignore_rootfs,
               "ignore_volumes": ignore_volumes,
               "ignore_static_ip": ignore_static_ip, "ignore_static_mac": ignore_static_mac,
               "file_locks": file_locks, "print_stats": print_stats}
    if publish:
        from ..network.ports import parse_publish

        options["publish"] = [m for value in publish for m in parse_publish(value)]
    if import_:
        if all_ or names:
            raise InvalidArgument("--import cannot be used with --all or container names")
        from ..engine.container import restore_imported

        options.update(target_file=import_, name=name, import_privileged=import_privileged)
        began = time.monotonic()
        container = restore_imported(session.runtime, options)
        if print_stats:
            _print_stats("restore", _entries(options, ""), began, to_stderr=False)
        else:
            click.echo(container.id)
        return
    if name:
        raise InvalidArgument("--name can only be used with --import")
    if ignore_rootfs:
        raise InvalidArgument("--ignore-rootfs can only be used with --import")
    if ignore_volumes:
        raise InvalidArgument("--ignore-volumes can only be used with --import")
    if import_privileged:
        raise InvalidArgument("--import-privileged can only be used with --import")
    targets = [cid for cid in select(session, names, all_=all_, latest=latest, states=("exited", "stopped"))
               if not all_ or session.runtime.container(cid).state.checkpointed]
    _each(session, targets, "restore", options, print_stats, echo=True)


def _each(session, targets, action, options, print_stats, echo) -> None:
    """Run `action` on each container in turn; one Error line per failure.
    With --print-stats, podman's report of them all replaces the names."""
    code = 0
    began = time.monotonic()
    statistics: list[dict] = []
    for target in targets:
        try:
            container = session.runtime.container(target)
            getattr(container, action)(options)
        except HuskError as exc:
            click.echo(f"Error: {exc}", err=True)
            code = code or exc.exit_code
            continue
        if print_stats:
            statistics += _entries(options, target)
        elif echo:
            click.echo(container.id if target == container.id else target)
    if print_stats:
        _print_stats(action, statistics, began, to_stderr=options.get("target_file") == "-")
    if code:
        raise SystemExit(code)


def _entries(options: dict, raw_input: str) -> list[dict]:
    """The plugin's statistics of one container, named as the user named it."""
    stats = options.pop("stats", None) or {}
    return [{"Id": entry["Id"], "RawInput": raw_input,
             **{key: value for key, value in entry.items() if key not in ("Id", "Name")}}
            for entry in stats.get("container_statistics", [])]


def _print_stats(action: str, statistics: list[dict], began: float, to_stderr: bool) -> None:
    """podman's document: the whole command's duration (µs), then each container's."""
    import json

    document = {f"podman_{action}_duration": int((time.monotonic() - began) * 1e6),
                "container_statistics": statistics}
    sys.stderr.flush()
    click.echo(json.dumps(document, indent=4), err=to_stderr)


def register(group: click.Group) -> None:
    container_group = group.commands["container"]
    for command in (checkpoint, restore):
        container_group.add_command(command)
        group.add_command(command)
