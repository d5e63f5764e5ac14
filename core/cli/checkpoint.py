"""`container checkpoint` and `container restore`: the CLI over Container.checkpoint
and Container.restore.  The work is the husk-criu plugin's; without it, both
verbs say which package to install and exit 125."""

from __future__ import annotations

import sys
import time

import click

from ..define import HuskError, InvalidArgument, NoSuchContainer
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
@click.option("--create-image", default="", help="Store the checkpoint as an image of one layer (restore IMAGE).")
@click.option("-P", "--pre-checkpoint", is_flag=True,
              help="Dump only the memory, leaving the container running (where CRIU tracks dirty memory).")
@click.option("--with-previous", is_flag=True, help="Dump only what changed since the --pre-checkpoint.")
@click.option("-l", "--latest", is_flag=True, help="Checkpoint the container created last.")
@click.argument("names", nargs=-1)
@click.pass_obj
def checkpoint(session, all_, keep, leave_running, tcp_established, export, ignore_rootfs, ignore_volumes, compress,
               print_stats, file_locks, create_image, pre_checkpoint, with_previous, latest, names):
    """Checkpoint running containers (CRIU, through the container's runtime)."""
    if pre_checkpoint and (with_previous or export or create_image):
        raise InvalidArgument("--pre-checkpoint dumps memory only: not with --with-previous, --export or "
                              "--create-image")
    if create_image:
        if export or all_ or len(names) + bool(latest) != 1:
            raise InvalidArgument("--create-image checkpoints one container, without --export and --all")
        _checkpoint_image(session, select(session, names, latest=latest, states=("running",))[0], create_image,
                          {"keep": keep, "keep_running": leave_running, "tcp_established": tcp_established,
                           "ignore_rootfs": ignore_rootfs, "ignore_volumes": ignore_volumes,
                           "file_locks": file_locks, "compression": "none"})
        return
    if compress not in COMPRESSIONS:
        raise InvalidArgument(f'selected compression algorithm ("{compress}") not supported. '
                              'Please select one from: gzip, none, zstd')
    if ignore_rootfs and not export:
        raise InvalidArgument("--ignore-rootfs can only be used with --export")
    if ignore_volumes and not export:
        raise InvalidArgument("--ignore-volumes can only be used with --export")
    targets = select(session, names, all_=all_, latest=latest, states=("running",))
    if export and len(targets) > 1:
        raise InvalidArgument("--export can only be used with one container")
    options = {"keep": keep, "keep_running": leave_running or pre_checkpoint, "tcp_established": tcp_established,
               "pre_checkpoint": pre_checkpoint, "with_previous": with_previous, "target_file": export, "ignore_rootfs": ignore_rootfs, "ignore_volumes": ignore_volumes,
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
        if names:
            raise InvalidArgument("cannot use --import with positional arguments")
        if all_:
            raise InvalidArgument("--import cannot be used with --all")
        options.update(target_file=import_, name=name, import_privileged=import_privileged)
        _restore_archive(session, options, print_stats)
        return
    from ..engine.monitor_client import unconfigured_monitor

    # the first restore's monitor starts now, its interpreter's start-up beside the lookups and the mount
    monitor = unconfigured_monitor(session.runtime.paths.runroot)
    try:
        images = [target for target in names if _checkpoint_image_record(session, target) is not None]
        if images:  # podman's `restore IMAGE`: a checkpoint image, as an archive to import
            if all_ or latest or len(names) != 1:
                raise InvalidArgument("a checkpoint image is restored on its own: one IMAGE, without --all and "
                                      "--latest")
            options["import_privileged"] = import_privileged
            _restore_image(session, images[0], options, name, print_stats)
            return
        if name:
            raise InvalidArgument("--name can only be used with image or --import")
        if ignore_rootfs:
            raise InvalidArgument("--ignore-rootfs can only be used with image or --import")
        if ignore_volumes:
            raise InvalidArgument("--ignore-volumes can only be used with image or --import")
        if import_privileged:
            raise InvalidArgument("--import-privileged can only be used with image or --import")
        targets = [cid for cid in select(session, names, all_=all_, latest=latest, states=("exited", "stopped"))
                   if not all_ or session.runtime.container(cid).state.restorable()]
        options["monitor"] = monitor  # taken (and given up, if unused) by the first restore
        _each(session, targets, "restore", options, print_stats, echo=True)
    finally:
        monitor.abandon()  # nothing when a restore has taken it


#: the labels podman puts on a checkpoint image (`checkpoint --create-image`)
CHECKPOINT_NAME_LABEL = "io.podman.annotations.checkpoint.name"


def _checkpoint_image(session, target: str, reference: str, options: dict) -> None:
    """`checkpoint --create-image IMAGE`: the export archive, as the one layer of
    a new image (podman's checkpoint image), labelled with the container's name,
    image and runtime; `restore IMAGE` makes a container of it again."""
    import os
    import shutil
    import tempfile

    from ..storage.images import import_tarball

    container = session.runtime.container(target)
    work = tempfile.mkdtemp(prefix="husk-checkpoint-image-")  # 0700: only root reads the dump
    try:
        archive = os.path.join(work, "checkpoint.tar")
        container.checkpoint({**options, "target_file": archive})
        config = container.config
        labels = {CHECKPOINT_NAME_LABEL: config.name, "io.podman.annotations.checkpoint.rawImageName": config.image_name,
                  "io.podman.annotations.checkpoint.rawImageID": config.image_id,
                  "io.podman.annotations.checkpoint.runtime.name": config.runtime}
        with open(archive, "rb") as stream:
            image = import_tarball(session.runtime, stream, reference,
                                   [f"LABEL {key}={value}" for key, value in labels.items()],
                                   f"checkpoint of container {config.name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    click.echo(image.id)


def _checkpoint_image_record(session, name: str):
    """The checkpoint image `name` names, if it is one (and no container has that name)."""
    if session.runtime.container_exists(name):
        return None  # the common case: before the image store's modules are imported
    from ..define import NoSuchImage
    from ..storage.images import resolve_image

    try:
        image = resolve_image(session.runtime, name)
    except (NoSuchImage, InvalidArgument):
        return None
    return image if CHECKPOINT_NAME_LABEL in image.config.labels and len(image.layers) == 1 else None


def _restore_image(session, name: str, options: dict, new_name: str, print_stats: bool) -> None:
    """`restore IMAGE`: a container again from a checkpoint image's layer (its
    archive, untrusted like any), under its old name or `--name`."""
    from ..storage.layer_store import layer_archive

    image = _checkpoint_image_record(session, name)
    options.update(target_file=layer_archive(session.runtime, image.layers[0]), name=new_name)
    _restore_archive(session, options, print_stats)


def _restore_archive(session, options: dict, print_stats: bool) -> None:
    """A new container from the checkpoint archive `options["target_file"]`; prints its id (or the stats)."""
    from ..engine.container import restore_imported

    began = time.monotonic()
    container = restore_imported(session.runtime, options)
    if print_stats:
        _print_stats("restore", _entries(options, ""), began, to_stderr=False)
    else:
        click.echo(container.id)


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
            if action == "restore" and isinstance(exc, NoSuchContainer):  # it was no checkpoint image either
                exc = NoSuchContainer(f"no such container or image: {target}")
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
