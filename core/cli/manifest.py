"""`manifest create/add/inspect/annotate/remove/rm/exists/push`: podman's manifest
lists, kept locally by husk.storage.manifest_list."""

from __future__ import annotations

import click

from ..define import HuskError
from .common import CONTEXT
from .registry import AUTHFILE, CERT_DIR, CREDS, TLS_VERIFY, _pull_options

PLATFORM = [click.option("--arch", default="", help="Override the image's architecture."),
            click.option("--os", "os_", default="", help="Override the image's OS."),
            click.option("--variant", default="", help="Override the image's architecture variant."),
            click.option("--os-version", default="", help="The OS version the image needs (os.version)."),
            click.option("--os-features", multiple=True, help="An OS feature the image needs (os.features; several)."),
            click.option("--features", multiple=True, help="A feature the image needs (features; several)."),
            click.option("--annotation", "annotations", multiple=True, help="KEY=VALUE to set on the entry.")]


def platform_options(function):
    for option in reversed(PLATFORM):
        function = option(function)
    return function


def _annotations(values) -> dict[str, str]:
    from ..storage.manifest_list import parse_annotations

    return parse_annotations(values)


def _refuse_all(all_: bool) -> None:
    """--all (every image of a list that IMAGE names) needs a list read from a
    registry, which husk's manifest verbs do not do yet: refused, not ignored."""
    from ..define import InvalidArgument

    if all_:
        raise InvalidArgument("--all: adding every image of a list IMAGE names is not supported yet "
                              "(add its images one by one)")


@click.command(context_settings=CONTEXT)
@click.option("--all", "all_", is_flag=True, help="Add all of a list's images (not supported yet: refused).")
@click.option("-a", "--amend", is_flag=True, help="Add to the list of that name if one exists.")
@TLS_VERIFY
@click.argument("name")
@click.argument("images", nargs=-1)
@click.pass_obj
def create(session, all_, amend, tls_verify, name, images):
    """Create a manifest list NAME, holding IMAGEs."""
    from ..storage import manifest_list

    _refuse_all(all_)

    click.echo(manifest_list.create(session.runtime, name, list(images), amend=amend))


@click.command(context_settings=CONTEXT)
@platform_options
@click.option("--all", "all_", is_flag=True, help="Add all of a list's images (not supported yet: refused).")
@TLS_VERIFY
@AUTHFILE
@CREDS
@CERT_DIR
@click.argument("name")
@click.argument("image")
@click.pass_obj
def add(session, annotations, all_, tls_verify, authfile, creds, cert_dir, name, image, **platform):
    """Add the local IMAGE (containers-storage:NAME, or a stored NAME) to the list NAME."""
    from ..storage import manifest_list

    _refuse_all(all_)
    click.echo(manifest_list.add(session.runtime, name, image, annotations=_annotations(annotations), **platform))


@click.command(context_settings=CONTEXT)
@platform_options
@click.argument("name")
@click.argument("digest")
@click.pass_obj
def annotate(session, annotations, name, digest, **platform):
    """Change the platform or annotations of the instance DIGEST of the list NAME."""
    from ..storage import manifest_list

    click.echo(manifest_list.annotate(session.runtime, name, digest, annotations=_annotations(annotations),
                                      **platform))


@click.command(context_settings=CONTEXT)
@TLS_VERIFY
@click.argument("name")
@click.pass_obj
def inspect(session, tls_verify, name):
    """Print the list's index as JSON."""
    import json

    from ..storage import manifest_list

    click.echo(json.dumps(manifest_list.index_of(manifest_list.get_list(session.runtime, name)), indent=4))


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("digest")
@click.pass_obj
def remove(session, name, digest):
    """Remove the instance DIGEST from the list NAME."""
    from ..storage import manifest_list

    click.echo(manifest_list.remove(session.runtime, name, digest))


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(session, names):
    """Remove manifest lists (the images they hold stay)."""
    from ..storage import manifest_list
    from ..storage.images import remove_image

    failed = None
    for name in names:
        try:
            manifest_list.get_list(session.runtime, name)
            removal = remove_image(session.runtime, name)
        except HuskError as exc:
            if failed is not None:
                click.echo(f"Error: {failed}", err=True)
            failed = exc
            continue
        for tagged in removal.untagged:
            click.echo(f"Untagged: {tagged}")
        if removal.deleted:
            click.echo(f"Deleted: {removal.image.id}")
    if failed is not None:
        raise failed


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.pass_obj
def exists(session, name):
    """Exit 0 when NAME is a manifest list here, 1 when not."""
    from ..storage import manifest_list

    try:
        manifest_list.get_list(session.runtime, name)
    except HuskError:
        raise SystemExit(1)


@click.command(context_settings=CONTEXT)
@click.option("--all", "all_", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Push the list's images too (default true; --all=false pushes the list alone).")
@click.option("-f", "--format", "format_", default="", type=click.Choice(["", "oci", "v2s2"]),
              help="oci or v2s2 (default: the list's own type).")
@click.option("--rm", "remove_list", is_flag=True, help="Remove the list once pushed.")
@click.option("--digestfile", help="Write the list's digest to this file.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress.")
@click.option("--remove-signatures", is_flag=True, help="Accepted: husk copies no signatures.")
@AUTHFILE
@CERT_DIR
@CREDS
@TLS_VERIFY
@click.argument("name")
@click.argument("destination")
@click.pass_obj
def push(session, all_, format_, remove_list, digestfile, quiet, remove_signatures, name, destination, **flags):
    """Push the list NAME (and, with --all, its images) to DESTINATION in a registry."""
    from ..storage import manifest_list
    from ..storage.images import remove_image
    from ..storage.pull import Progress
    from ..storage.push import push_list
    from .registry import TerminalProgress

    digest = push_list(session.runtime, manifest_list.get_list(session.runtime, name), destination, all_=all_,
                       manifest_format=format_, options=_pull_options(**flags),
                       progress=Progress() if quiet else TerminalProgress())
    if digestfile:
        with open(digestfile, "w") as stream:
            stream.write(digest)
    if remove_list:
        remove_image(session.runtime, name)


def register(group: click.Group) -> None:
    manifest_group = click.Group("manifest", help="Manipulate manifest lists and image indexes.",
                                 context_settings=CONTEXT)
    for command in (create, add, annotate, inspect, remove, rm, exists, push):
        manifest_group.add_command(command)
    group.add_command(manifest_group)
