"""Remote verbs that look after what the service holds (see :mod:`husk.cli.remote`): `container`
and `image` exists and prune, diff, history, image tree, search, update, checkpoint and restore,
healthcheck run, system df and prune, as podman-remote has them.  Their output is the local
verbs' (the same printers), made from the service's libpod documents.
"""

from __future__ import annotations

import json

import click

from ..define import InvalidArgument
from .changes import resource_options
from .disk import prune_options
from .common import CONTEXT
from .remote import RemoteCommand, ServiceError, _each, client, path
from .remote_objects import _exists, _prune

container_exists = _exists("container")
image_exists = _exists("image")
container_prune = _prune("container", "Id")


@click.command("prune", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every image no container uses, not only dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (remotely, never asked).")
def image_prune(all_, force):
    """Remove the service's unused images; their IDs, one a line."""
    for report in client().json("POST", "/images/prune", {"all": str(all_).lower()}) or []:
        click.echo(report["Id"])


def _diff(kinds: tuple[str, ...], doc: str) -> click.Command:
    """`diff`: a container's changes (`kinds` ("containers",)), an image's, or (both) the
    container's when there is one, as podman's `diff` looks them up."""
    @click.command("diff", cls=RemoteCommand, context_settings=CONTEXT, help=doc)
    @click.option("--format", "format_", default="", help="json, or the default A/C/D lines.")
    @click.argument("name")
    def diff(format_, name):
        from .commit import _print_changes

        letters = {0: "C", 1: "A", 2: "D"}
        for kind in kinds:
            try:
                found = client().json("GET", path(kind, name, "changes"))
                break
            except ServiceError as exc:
                if exc.status != 404 or kind == kinds[-1]:
                    raise
        _print_changes([(letters[change["Kind"]], change["Path"]) for change in found or []], format_)
    return diff


diff = _diff(("containers", "images"), "Changes of a container (or of an image's top layer): A added, C changed, "
             "D deleted.")
container_diff = _diff(("containers",), "Changes of a container: A added, C changed, D deleted.")
image_diff = _diff(("images",), "What an image's top layer changes: A added, C changed, D deleted.")


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate ids and commands.")
@click.option("-H", "--human/--no-human", default=True, help="Dates as durations (default).")
@click.option("--format", "format_", default="", help="Go template, `table ...` or json.")
@click.argument("image")
def history(quiet, no_trunc, human, format_, image):
    """Show the steps an image of the service was made by, newest first."""
    from .image_transfer import history_text

    steps = client().json("GET", path("images", image, "history"))
    click.echo(history_text(steps, quiet, no_trunc, human, format_), nl=False)


@click.command("tree", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--whatrequires", "what_requires", is_flag=True, help="The images built on this one.")
@click.argument("image")
def image_tree(what_requires, image):
    """An image of the service's layers (or its children) as a tree."""
    answer = client().json("GET", path("images", image, "tree"), {"whatrequires": str(what_requires).lower()})
    click.echo(answer["Tree"], nl=False)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--limit", default=25, show_default=True, help="Show at most this many results.")
@click.option("--list-tags", is_flag=True, help="List the tags of the repository TERM names.")
@click.option("--format", "format_", default="", help="Go template for each result (.Name, .Description, .Tag).")
@click.option("--no-trunc", is_flag=True, help="Do not shorten descriptions.")
@click.option("--tls-verify", type=click.BOOL, default=None, help="Require HTTPS and verify certificates.")
@click.argument("term")
def search(limit, list_tags, format_, no_trunc, tls_verify, term):
    """Search registries from the service (its registries.conf and network)."""
    from .registry import search_text

    query = {"term": term, "limit": limit, "listTags": str(list_tags).lower()}
    if tls_verify is not None:
        query["tlsVerify"] = str(tls_verify).lower()
    click.echo(search_text(client().json("GET", "/images/search", query), list_tags, format_), nl=False)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--format", "format_", default="", help="Go template ({{.Type}} {{.Total}} {{.Active}} {{.Size}} "
              "{{.Reclaimable}}), or json.")
@click.option("-v", "--verbose", is_flag=True, help="Each image, container, volume and build cache entry.")
def df(format_, verbose):
    """The disk space the service's images, containers, volumes and build cache use (its libpod
    report, printed as the local verb prints it)."""
    from .disk import print_df

    print_df(lambda: client().json("GET", "/system/df"), format_, verbose)


@click.command("prune", cls=RemoteCommand, context_settings=CONTEXT)
@prune_options
def system_prune(all_, force, filters, volumes):
    """Remove the service's stopped containers, unused networks, dangling (-a: unused) images, its
    dangling (-a: all) build cache and, with --volumes, unused volumes (libpod's /system/prune)."""
    from ..presentation.disk import check_prune_filters
    from .disk import print_prune, prune_warning
    from .prune import _confirmed, _filters

    wanted = _filters(filters)
    check_prune_filters(wanted)
    if _confirmed(force, prune_warning(all_, volumes)):
        print_prune(client().json("POST", "/system/prune", {"all": str(all_).lower(), "volumes": str(volumes).lower(),
                                                           "filters": json.dumps(wanted)}))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@resource_options
@click.option("--restart", default=None, help="Restart policy: no, on-failure[:N], always, unless-stopped.")
@click.argument("container")
def update(memory, cpus, cpu_shares, pids_limit, restart, container):
    """Change a container's resource limits or restart policy on the service; prints its id."""
    from ..engine.resources import CPU_PERIOD, limits

    given = {key: value for key, value in (("memory", memory), ("cpus", cpus), ("cpu_shares", cpu_shares),
                                           ("pids_limit", pids_limit)) if value is not None}
    if not given and restart is None:
        raise InvalidArgument("nothing to update: give --memory, --cpus, --cpu-shares, --pids-limit or --restart")
    checked = limits(**given)  # checked here, so that a bad value is the same one line as locally
    body: dict = {}
    if memory is not None:
        body["memory"] = {"limit": checked.memory or -1}
    cpu = {}
    if cpus is not None:
        cpu.update(quota=checked.nano_cpus * CPU_PERIOD // 1_000_000_000 or -1, period=CPU_PERIOD)
    if cpu_shares is not None:
        cpu["shares"] = checked.cpu_shares
    if cpu:
        body["cpu"] = cpu
    if pids_limit is not None:
        body["pids"] = {"limit": checked.pids_limit}
    query = {}
    if restart is not None:
        policy, _, retries = restart.partition(":")
        query = {"restartPolicy": policy, "restartRetries": retries or "0"}
    click.echo(client().json("POST", path("containers", container, "update"), query, body=body))


@click.command("run", cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("container")
def healthcheck_run(container):
    """Run a container's health check on the service once: nothing and exit 0 when it passes,
    `unhealthy` and exit 1 when it fails."""
    log = client().json("GET", path("containers", container, "healthcheck")).get("Log") or [{}]
    if log[-1].get("ExitCode") != 0:
        click.echo("unhealthy")
        raise SystemExit(1)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-k", "--keep", is_flag=True, help="Keep the checkpoint's files on the service.")
@click.option("-R", "--leave-running", is_flag=True, help="Leave the container running after the checkpoint.")
@click.option("--tcp-established", is_flag=True, help="Checkpoint established TCP connections.")
@click.option("-e", "--export", "export", default="", help="Write the checkpoint here, as a tar (streamed).")
@click.option("--ignore-rootfs", is_flag=True, help="With --export: leave out the root filesystem's changes.")
@click.argument("names", nargs=-1, required=True)
def checkpoint(keep, leave_running, tcp_established, export, ignore_rootfs, names):
    """Checkpoint running containers of the service (CRIU on its host); their names."""
    if ignore_rootfs and not export:
        raise InvalidArgument("--ignore-rootfs can only be used with --export")
    if export and len(names) > 1:
        raise InvalidArgument("--export can only be used with one container")
    service = client()
    query = {"keep": keep, "leaveRunning": leave_running, "tcpEstablished": tcp_established,
             "export": bool(export), "ignoreRootFS": ignore_rootfs}
    query = {key: str(value).lower() for key, value in query.items()}

    def one(name: str) -> None:
        response = service.open("POST", path("containers", name, "checkpoint"), query, timeout=None)
        if not export:
            response.read()
            return
        with open(export, "wb") as out:
            while chunk := response.read1(1 << 16):
                out.write(chunk)

    _each(names, one)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-k", "--keep", is_flag=True, help="Keep the checkpoint's files on the service.")
@click.option("--tcp-established", is_flag=True, help="Restore established TCP connections.")
@click.option("-i", "--import", "import_", default="", help="A checkpoint archive here (streamed to the service).")
@click.option("-n", "--name", default="", help="With --import: the new container's name.")
@click.argument("names", nargs=-1)
def restore(keep, tcp_established, import_, name, names):
    """Restore checkpointed containers of the service, or (--import) a new one from an archive
    here; their IDs."""
    if bool(import_) == bool(names):
        raise InvalidArgument("give the containers to restore, or --import (not both)")
    if name and not import_:
        raise InvalidArgument("--name can only be used with --import")
    service = client()
    query = {"keep": str(keep).lower(), "tcpEstablished": str(tcp_established).lower()}
    if import_:
        with open(import_, "rb") as archive:
            report = service.json("POST", "/containers/restore", {**query, "import": "true", "name": name},
                                  body=archive)
        click.echo(report["Id"])
        return
    _each(names, lambda each: service.open("POST", path("containers", each, "restore"), query).read())


CONTAINER_COMMANDS = {"exists": container_exists, "prune": container_prune, "diff": container_diff}
IMAGE_COMMANDS = {"exists": image_exists, "prune": image_prune, "tree": image_tree, "history": history,
                  "search": search, "diff": image_diff}
COMMANDS = {command.name: command for command in (diff, history, search, update, checkpoint, restore)}
SYSTEM_COMMANDS = {"df": df, "prune": system_prune}
GROUPS = {"healthcheck": {"run": healthcheck_run}}
