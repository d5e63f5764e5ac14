"""`husk cp`: copy files between a container and the host (podman's cp).

Either side is `CONTAINER:PATH`, a host path, or `-` (a tar on stdin, or
written to stdout); both sides may be containers.  The container side goes through
:meth:`husk.Container.copy_from` / :meth:`~husk.Container.copy_to`; the host
side is archived with :func:`husk.storage.copying.write_archive` (the host's `/` as
the root) and unpacked with :func:`husk.storage.layers.extract_tree`, chrooted into
the host directory, so a container's files cannot land anywhere else.  The
two ends are joined by a pipe, a thread writing while the caller reads, so
nothing is held in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import posixpath
import sys
import threading

import click

from ..define import InvalidArgument, NoSuchPath
from .common import CONTEXT

if TYPE_CHECKING:
    from ..engine.container import Container

pass_session = click.pass_obj


@click.command(context_settings=CONTEXT)
@click.option("-a", "--archive", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Chown copied files to the primary uid/gid of the destination (the container's user, "
                   "or the caller on the host).")
@click.option("-L", "--follow-link", is_flag=True, help="Copy what a final symlink in SRC points to.")
@click.option("--overwrite", is_flag=True,
              help="Into a container: let a directory replace a non-directory and the reverse (refused by default).")
@click.argument("source")
@click.argument("destination")
@pass_session
def cp(session, archive, follow_link, overwrite, source, destination):
    """Copy files between a container and the host: SRC and DEST are
    CONTAINER:PATH, a host path, or - (a tar archive on stdin or to stdout)."""
    src_ctr, src_path = _split_argument(source)
    dst_ctr, dst_path = _split_argument(destination)
    if src_ctr and dst_ctr:
        _container_to_container(session.runtime.container(src_ctr), src_path, session.runtime.container(dst_ctr),
                                dst_path, archive, follow_link, overwrite)
        return
    if not src_ctr and not dst_ctr:
        raise InvalidArgument(f"invalid arguments {source}, {destination}: one of them must be CONTAINER:PATH")
    if src_ctr:
        container = session.runtime.container(src_ctr)
        _container_to_host(container, src_path, dst_path, archive, follow_link)
    else:
        container = session.runtime.container(dst_ctr)
        _host_to_container(container, src_path, dst_path, archive, follow_link, overwrite)


def _split_argument(argument: str) -> tuple[str, str]:
    """("container", "path") for `CONTAINER:PATH`, ("", argument) for a host path
    or `-`.  As podman: a host path is one that starts with / or ., or has a /
    before the first colon."""
    if argument == "-" or argument.startswith(("/", ".")):
        return "", argument
    name, colon, path = argument.partition(":")
    if not colon or "/" in name:
        return "", argument
    if not name:
        raise InvalidArgument(f"invalid container name in {argument!r}")
    return name, path or "/"


def _container_to_host(container: "Container", path: str, destination: str, archive: bool, follow_link: bool) -> None:
    if destination == "-":
        container.copy_from(path, sys.stdout.buffer, follow_link=follow_link)
        return
    from ..storage.layers import extract_tree

    source = container.stat_path(path)
    if follow_link and source.link_target:
        source = container.stat_path(source.link_target)
    into, name = _host_target(destination, source.is_dir, path.endswith("/."))
    owner = (os.getuid(), os.getgid()) if archive else None

    def rename_and_own(member):
        if owner is not None:
            member.uid, member.gid = owner
            member.uname = member.gname = ""
        return member

    _piped(lambda out: container.copy_from(path, out, follow_link=follow_link, name=name),
           lambda stream: extract_tree(stream, into, check=rename_and_own, what="archive"))


def _host_target(destination: str, source_is_dir: bool, contents_only: bool) -> tuple[str, str | None]:
    """(host directory to unpack into, name for the copied item) by cp's rules:
    into an existing directory under the item's own name, else as `destination`."""
    if os.path.isdir(destination) and not contents_only:
        return destination, None
    if os.path.isdir(destination):  # SRC/. into an existing directory: its contents
        return destination, "."
    if os.path.lexists(destination):
        if source_is_dir:
            raise InvalidArgument(f"cannot copy a directory to a non-directory: {destination}")
        return os.path.dirname(os.path.abspath(destination)), os.path.basename(destination)
    if destination.endswith("/") and not source_is_dir:
        raise NoSuchPath(f"{destination}: destination directory does not exist")
    parent = os.path.dirname(os.path.abspath(destination.rstrip("/")))
    if not os.path.isdir(parent):
        raise NoSuchPath(f"{parent}: no such directory")
    return parent, os.path.basename(destination.rstrip("/"))


def _host_to_container(container: "Container", source: str, path: str, archive: bool, follow_link: bool,
                       overwrite: bool = False) -> None:
    if source == "-":
        container.copy_to(path, sys.stdin.buffer, chown=archive, no_overwrite_dir_non_dir=not overwrite)
        return
    from ..storage.copying import write_archive

    if not os.path.lexists(source):
        raise NoSuchPath(f"{source}: no such file or directory")
    source_is_dir = os.path.isdir(source) if follow_link or not os.path.islink(source) else False
    into, name = _container_target(container, path, source_is_dir)
    if source.endswith("/.") and name is None:
        name = "."
    host_path = os.path.abspath(source) + ("/." if source.endswith("/.") else "")
    _piped(lambda out: write_archive("/", host_path, out, follow_link=follow_link, name=name),
           lambda stream: container.copy_to(into, stream, chown=archive, no_overwrite_dir_non_dir=not overwrite))


def _container_to_container(source: "Container", path: str, target: "Container", destination: str, archive: bool,
                            follow_link: bool, overwrite: bool) -> None:
    """One container's files into another's (or the same one's), by the rules of
    a copy into a container.  Within one container the archive is spooled first:
    the copy out and the copy in each hold the container's lock."""
    import tempfile

    stat = source.stat_path(path)
    if follow_link and stat.link_target:
        stat = source.stat_path(stat.link_target)
    into, name = _container_target(target, destination, stat.is_dir)
    if path.endswith("/.") and name is None:
        name = "."

    def produce(out) -> None:
        source.copy_from(path, out, follow_link=follow_link, name=name)

    def consume(stream) -> None:
        target.copy_to(into, stream, chown=archive, no_overwrite_dir_non_dir=not overwrite)

    if source.id != target.id:
        _piped(produce, consume)
        return
    with tempfile.TemporaryFile() as spool:  # 0600 and unlinked: only this process sees it
        produce(spool)
        spool.seek(0)
        consume(spool)


def _container_target(container: "Container", path: str, source_is_dir: bool) -> tuple[str, str | None]:
    """(container directory to unpack into, name for the copied item)."""
    try:
        target = container.stat_path(path)
    except NoSuchPath:
        target = None
    if target is not None:
        if target.link_target:
            target = container.stat_path(target.link_target)
        if target.is_dir:
            return path, None
        if source_is_dir:
            raise InvalidArgument(f"cannot copy a directory to a non-directory: {path}")
        return posixpath.dirname(posixpath.normpath("/" + path)), posixpath.basename(posixpath.normpath("/" + path))
    if path.endswith("/") and not source_is_dir:
        raise NoSuchPath(f"{path}: destination directory does not exist in the container")
    normal = posixpath.normpath("/" + path)
    return posixpath.dirname(normal), posixpath.basename(normal)


def _piped(produce, consume) -> None:
    """Run `produce(writable)` in a thread and `consume(readable)` here, joined
    by a pipe.  The producer's error wins (the consumer then only saw a cut
    archive); a consumer that stops early makes the producer's writes fail,
    which is no error of its own."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                produce(out)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    writer = threading.Thread(target=run, name="husk-cp-writer", daemon=True)
    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as stream:  # closing it unblocks a writer still writing
            consume(stream)
    except BaseException:
        writer.join()
        if failure:
            raise failure[0] from None
        raise
    writer.join()
    if failure:
        raise failure[0]


def register(group: click.Group) -> None:
    group.add_command(cp)
    group.commands["container"].add_command(cp)
