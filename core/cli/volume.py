"""`volume create/ls/inspect/rm/prune/exists/mount/unmount/export/import`:
podman's verbs, flags, output and exit codes (1 for a volume that does not
exist, 2 for one in use)."""

from __future__ import annotations

import json
import re
import sys

import click

from ..define import HuskError, InvalidArgument, NoSuchVolume, VolumeInUse
from .common import CONTEXT

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME"}
PRUNE_WARNING = ("WARNING! This will remove all volumes not used by at least one container. "
                 "The following volumes will be removed:")


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key or (what == "option" and not sep):
            raise InvalidArgument(f"invalid {what} {value!r}: use KEY=VALUE")
        pairs[key] = val
    return pairs


def _filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid filter {item!r}: use KEY=VALUE")
        wanted.setdefault(key, []).append(value)
    return wanted


@click.command(context_settings=CONTEXT)
@click.option("-d", "--driver", default="local", show_default=True, help="Volume driver.")
@click.option("-o", "--opt", "opts", multiple=True, help="Driver option KEY=VALUE (local: type, device, o).")
@click.option("-l", "--label", "labels", multiple=True, help="Label KEY=VALUE.")
@click.option("--ignore", is_flag=True, help="Do nothing when the volume exists (beyond podman 4.3).")
@click.argument("name", required=False, default="")
@click.pass_obj
def create(session, driver, opts, labels, ignore, name):
    """Create a volume (a random name when none is given)."""
    volume = session.runtime.volumes.create(name, driver=driver, options=_pairs(opts, "option"),
                                            labels=_pairs(labels, "label"), ignore=ignore)
    click.echo(volume.name)


@click.command("ls", context_settings=CONTEXT)
@click.option("-f", "--filter", "filters", multiple=True, help="name=, driver=, label=, opt=, dangling=, until=.")
@click.option("--format", "format_", default="", help="Go template, or json.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the names.")
@click.option("-n", "--noheading", is_flag=True, help="No header row.")
@click.pass_obj
def ls(session, filters, format_, quiet, noheading):
    """List volumes."""
    from ..presentation.volumes import podman_document, volume_filter

    runtime = session.runtime
    keep = volume_filter(runtime, _filters(filters))
    volumes = sorted((v for v in runtime.volumes.list() if keep(v)), key=lambda v: v.name)
    print_volumes([podman_document(runtime, v) for v in volumes], format_, quiet, not noheading)


def print_volumes(documents: list[dict], format_: str, quiet: bool, heading: bool) -> None:
    """`volume ls` of podman's volume documents (this host's or a service's)."""
    from .listing import print_listing

    def json_text(docs: list[dict]) -> str:  # podman's: two spaces, an empty map as an empty indented line
        text = json.dumps(docs, indent=2)
        return re.sub(r"^( *)(.*)\{\}", lambda m: f"{m[1]}{m[2]}{{\n{m[1]}  \n{m[1]}}}", text, flags=re.M)

    print_listing(documents, format_, quiet, heading, LS_TABLE, LS_HEADERS, lambda doc: doc, lambda doc: doc["Name"],
                  json_text)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Inspect every volume.")
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
@click.argument("names", nargs=-1)
@click.pass_obj
def inspect(session, all_, format_, names):
    """Show volumes' details as JSON (or through a template)."""
    runtime = session.runtime
    if not all_ and not names:
        raise InvalidArgument("provide one or more volume names or use --all")
    from .inspected import volume_document
    from .listing import print_inspected

    print_inspected([v.name for v in runtime.volumes.list()] if all_ else names,
                    lambda name: volume_document(runtime, name), format_, "define.InspectVolumeData",
                    "inspecting object: ", indent=5)  # podman 4.3 indents volume inspect by 5


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every volume.")
@click.option("-f", "--force", is_flag=True, help="Remove the containers using it first.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before SIGKILL (with -f).")
@click.argument("names", nargs=-1)
@click.pass_obj
def rm(session, all_, force, timeout, names):
    """Remove volumes."""
    from ..engine.volume_mounts import remove_volume

    runtime = session.runtime
    if all_ == bool(names):
        raise InvalidArgument("choose either one or more volumes or all")
    code = 0
    for name in [v.name for v in runtime.volumes.list()] if all_ else names:
        try:
            remove_volume(runtime, name, force=force, timeout=timeout)
            click.echo(name)
        except NoSuchVolume as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = code or 1
        except VolumeInUse as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = 2
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
    if code:
        raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="label=, label!=, until=.")
@click.pass_obj
def prune(session, force, filters):
    """Remove every volume no container uses."""
    from ..presentation.volumes import PRUNE_KEYS, volume_filter

    runtime = session.runtime
    wanted = volume_filter(runtime, _filters(filters), PRUNE_KEYS)
    if not force:
        used = {m.source for c in runtime.containers() for m in c.config.mounts if m.type == "volume"}
        click.echo(PRUNE_WARNING)
        for volume in runtime.volumes.list():
            if volume.name not in used and wanted(volume):
                click.echo(volume.name)
        if not click.confirm("Are you sure you want to continue? [y/N]", default=False, show_default=False,
                             prompt_suffix=" "):
            return
    for volume in runtime.volumes.prune(keep=lambda v: not wanted(v)):
        click.echo(volume.name)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.pass_obj
def exists(session, name):
    """Exit 0 when the volume exists, 1 when it does not."""
    raise SystemExit(0 if session.runtime.volumes.exists(name) else 1)


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def mount(session, names):
    """Mount volumes and print where (until `volume unmount`)."""
    for name in names:
        click.echo(session.runtime.volumes.mount_for_user(name))


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def unmount(session, names):
    """Drop a `volume mount`."""
    for name in names:
        session.runtime.volumes.unmount_for_user(name)
        click.echo(name)


@click.command("export", context_settings=CONTEXT)
@click.option("-o", "--output", default=None, help="Write to this file (default: stdout).")
@click.argument("name")
@click.pass_obj
def export(session, output, name):
    """Write a volume's content as a tar archive."""
    from ..engine.volume_mounts import export_volume

    if output is None and sys.stdout.isatty():
        raise InvalidArgument("cannot write to terminal, use command-line redirection or the --output flag")
    if output is None:
        export_volume(session.runtime, name, sys.stdout.buffer)
        return
    with open(output, "wb") as target:
        export_volume(session.runtime, name, target)


@click.command("import", context_settings=CONTEXT)
@click.argument("name")
@click.argument("source")
@click.pass_obj
def import_(session, name, source):
    """Replace nothing, add a tar archive's content (a file, or - for stdin) to a volume."""
    from ..engine.volume_mounts import import_volume
    from .options import open_input

    with open_input(source) as stream:
        import_volume(session.runtime, name, stream)


def register(group: click.Group) -> None:
    volume_group = click.Group("volume", help="Manage volumes.", context_settings=CONTEXT)
    for command in (create, ls, inspect, rm, prune, exists, mount, unmount, export, import_):
        volume_group.add_command(command)
    volume_group.add_command(ls, "list")
    group.add_command(volume_group)
