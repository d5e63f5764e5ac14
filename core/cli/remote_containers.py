"""More remote verbs on containers (see :mod:`husk.cli.remote`): attach, port, top, stats,
events and cp, as podman-remote has them, over the libpod API.  Their output is the local
verbs' (the same printers), made from the service's documents.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
import sys

import click

from ..define import InvalidArgument, NoSuchPath
from .common import CONTEXT
from .remote import RemoteCommand, ServiceError, _hijack, _pump, _terminal, client, path
from .system import events_options


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--no-stdin", is_flag=True, help="Do not attach stdin.")
@click.argument("name")
def attach(no_stdin, name):
    """Attach to a running container's output (and its stdin when it keeps one open); its exit
    code is ours."""
    service = client()
    document = service.json("GET", path("containers", name, "json"))
    config, ident = document["Config"], document["Id"]
    interactive = bool(config.get("OpenStdin")) and not no_stdin
    sock, pending = _hijack(service, f"{path('containers', ident, 'attach')}?stream=true&stdout=true&stderr=true"
                                     f"&stdin={str(interactive).lower()}")
    if config.get("Tty"):
        _terminal(service, ident, sock, pending, interactive)
    else:
        _pump(sock, pending, interactive, tty=False)
    raise SystemExit(service.json("POST", path("containers", ident, "wait"), {"condition": "stopped"}))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every container's ports.")
@click.argument("container", required=False)
@click.argument("private_port", required=False)
def port(all_, container, private_port):
    """List a container's published ports: `80/tcp -> 0.0.0.0:8080`."""
    from .network import print_ports

    if not all_ and not container:
        raise click.UsageError("you must supply a running container name or id")
    service = client()
    names = [doc["Id"] for doc in service.json("GET", "/containers/json", {"all": "true"})] if all_ else [container]
    containers = []
    for name in names:
        document = service.json("GET", path("containers", name, "json"))
        published = ((document.get("NetworkSettings") or {}).get("Ports") or {}).items()
        containers.append((document["Id"], [(*key.partition("/")[::2], each.get("HostIp"), each.get("HostPort", ""))
                                            for key, bindings in published for each in bindings or []]))
    print_ports(containers, all_, private_port)


@click.command(cls=RemoteCommand, context_settings={**CONTEXT, "ignore_unknown_options": True,
                                                   "allow_interspersed_args": False})
@click.argument("container")
@click.argument("descriptors", nargs=-1, type=click.UNPROCESSED)
def top(container, descriptors):
    """Show the processes of a running container (podman's format descriptors)."""
    from .changes import format_table

    answer = client().json("GET", path("containers", container, "top"), {"ps_args": list(descriptors)})
    click.echo(format_table(answer["Titles"], answer["Processes"]), nl=False)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="All containers (the service shows its running ones).")
@click.option("--no-stream", is_flag=True, help="One report, then exit.")
@click.option("--no-reset", is_flag=True, help="Do not clear the screen between reports.")
@click.option("--format", "format_", default="", help="Go template, table, or json.")
@click.option("-i", "--interval", type=click.IntRange(1), default=5, show_default=True, help="Seconds between reports.")
@click.argument("names", nargs=-1)
def stats(all_, no_stream, no_reset, format_, interval, names):
    """Live resource use of the service's containers (podman's columns), shown as the local verb
    shows its own."""
    from ..presentation.stats import podman_row
    from .stats import _render, show_reports

    query = {"containers": list(names), "stream": str(not no_stream).lower(), "interval": interval}
    response = client().open("GET", "/containers/stats", query, timeout=None)

    def rounds():
        for line in response if not no_stream else [response.read()]:
            answer = json.loads(line)
            if answer.get("Error"):
                raise ServiceError(str(answer["Error"]))
            yield [podman_row(report) for report in answer.get("Stats") or []]

    show_reports(rounds(), lambda rows: _render(rows, format_), no_stream, no_reset)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@events_options
def events(since, until, filters, format_, stream, no_trunc):
    """The service's events, as the local verb prints them."""
    from ..state.events import parse_filter_args
    from .system import print_events

    query = {"stream": str(stream).lower(), "filters": json.dumps(parse_filter_args(list(filters)))}
    query.update({key: value for key, value in (("since", since), ("until", until)) if value})
    print_events(map(_event, client().open("GET", "/events", query, timeout=None)), format_, no_trunc)


def _event(line: bytes):
    """One of the service's events (Docker's shape, podman's statuses: the libpod stream's) as husk's Event."""
    from ..state.events import EXIT_CODE_ATTRIBUTE, Event

    document = json.loads(line)
    attributes = dict((document.get("Actor") or {}).get("Attributes") or {})
    if document.get("Action") != "died":
        attributes.pop(EXIT_CODE_ATTRIBUTE, None)  # the libpod stream gives every event one
    return Event(document.get("Action", ""), type=document.get("Type", ""), id=document.get("id") or "",
                 name=attributes.pop("name", ""), image=attributes.pop("image", ""), attributes=attributes,
                 time_ns=document.get("timeNano"))


# -- cp -------------------------------------------------------------------------------------
@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--archive", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Keep the files' owners (false: the copier's).")
@click.option("--overwrite", is_flag=True, help="Let a directory replace a file and the reverse.")
@click.argument("source")
@click.argument("destination")
def cp(archive, overwrite, source, destination):
    """Copy files between this host and a container on the service (CONTAINER:PATH on one side)."""
    from .cp import _split_argument

    src_ctr, src_path = _split_argument(source)
    dst_ctr, dst_path = _split_argument(destination)
    if bool(src_ctr) == bool(dst_ctr):
        raise InvalidArgument(f"invalid arguments {source}, {destination}: exactly one of them must be "
                              "CONTAINER:PATH remotely")
    if src_ctr:
        _from_container(src_ctr, src_path, dst_path, archive)
    else:
        _into_container(src_path, dst_ctr, dst_path, archive, overwrite)


def _stat(container: str, where: str) -> dict | None:
    """The path's stat from the service (HEAD /archive's header), None when it is not there."""
    try:
        response = client().open("HEAD", path("containers", container, "archive"), {"path": where})
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise
    response.read()
    header = response.getheader("X-Docker-Container-Path-Stat", "")
    try:
        return json.loads(base64.b64decode(header))
    except (binascii.Error, ValueError):
        raise ServiceError(f"the service sent no stat of {where}") from None


_GO_MODE_DIR = 1 << 31


def _from_container(container: str, where: str, destination: str, archive: bool) -> None:
    from ..storage.layers import extract_tree
    from .cp import _host_target

    response = client().open("GET", path("containers", container, "archive"), {"path": where}, timeout=None)
    if destination == "-":
        while chunk := response.read1(65536):
            sys.stdout.buffer.write(chunk)
        return
    stat = json.loads(base64.b64decode(response.getheader("X-Docker-Container-Path-Stat", "") or "e30="))
    into, name = _host_target(destination, bool(stat.get("mode", 0) & _GO_MODE_DIR), where.endswith("/."))
    owner = (os.getuid(), os.getgid()) if not archive else None

    def rename_and_own(member):
        """The archive's top entry has the item's own name: it becomes `name` ("." its contents)."""
        if name is not None and name != ".":  # (".": the service sent the contents already)
            rest = member.name.removeprefix("./").partition("/")[2]
            member.name = posixpath.join(name, rest) if rest else name
        if owner is not None:
            member.uid, member.gid = owner
            member.uname = member.gname = ""
        return member

    extract_tree(response, into, check=rename_and_own, what="archive")


def _into_container(source: str, container: str, where: str, archive: bool, overwrite: bool) -> None:
    import tempfile

    from ..storage.copying import write_archive

    query = {"path": where, "chown": str(archive).lower(), "noOverwriteDirNonDir": str(not overwrite).lower()}
    if source == "-":
        client().open("PUT", path("containers", container, "archive"), query, body=sys.stdin.buffer.read()).read()
        return
    if not os.path.lexists(source):
        raise NoSuchPath(f"{source}: no such file or directory")
    source_is_dir = os.path.isdir(source) and not os.path.islink(source)
    target = _stat(container, where)
    if target is not None and target.get("mode", 0) & _GO_MODE_DIR:
        into, name = where, None
    elif target is not None and source_is_dir:
        raise InvalidArgument(f"cannot copy a directory to a non-directory: {where}")
    elif target is None and where.endswith("/") and not source_is_dir:
        raise NoSuchPath(f"{where}: destination directory does not exist in the container")
    else:
        normal = posixpath.normpath("/" + where)
        into, name = posixpath.dirname(normal), posixpath.basename(normal)
    if source.endswith("/.") and name is None:
        name = "."
    host_path = os.path.abspath(source) + ("/." if source.endswith("/.") else "")
    with tempfile.TemporaryFile() as spool:  # the request's body has a length
        write_archive("/", host_path, spool, name=name)
        spool.seek(0)
        query["path"] = into
        client().open("PUT", path("containers", container, "archive"), query, body=spool).read()


COMMANDS = {command.name: command for command in (attach, port, top, stats, events, cp)}
