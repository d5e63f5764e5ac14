"""Verbs on a container's changes: commit, diff (container diff, image diff)."""

from __future__ import annotations

import click

from .common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option("-a", "--author", default="", help="Author of the image.")
@click.option("-c", "--change", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, ...).")
@click.option("-f", "--format", "format_", default="oci", show_default=True, help="Image format: oci or docker.")
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-p/--pause", "--pause/--no-pause", default=True, show_default=True,
              help="Pause the container while its changes are read.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id.")
@click.option("--squash", is_flag=True, help="Make the whole root filesystem the image's only layer.")
@click.argument("container")
@click.argument("image", required=False, default="")
@click.pass_obj
def commit(session, author, change, format_, message, pause, quiet, squash, container, image):
    """Make an image of CONTAINER's changes (a new layer over its image); prints the id."""
    import sys

    from ..engine.commit import check_format, commit as commit_container

    check_format(format_)
    if message and format_ != "docker":
        from ..define import InvalidArgument

        raise InvalidArgument("messages are only compatible with the docker image format (-f docker)")
    target = session.runtime.container(container)
    if not quiet:
        print("Getting image source signatures", file=sys.stderr)
    record = commit_container(target, image, changes=change, message=message, author=author, pause=pause,
                              format_=format_, squash=squash)
    if not quiet:
        print("Writing manifest to image destination", file=sys.stderr)
    click.echo(record.id)


def _print_changes(found: list[tuple[str, str]], format_: str) -> None:
    if format_ == "json":
        import json

        kinds = {"A": "added", "C": "changed", "D": "deleted"}
        document: dict[str, list[str]] = {}
        for kind, path in found:
            document.setdefault(kinds[kind], []).append(path)
        click.echo(json.dumps(document, indent=4))
        return
    if format_:
        from ..define import InvalidArgument

        raise InvalidArgument(f"unsupported format {format_!r}: json")
    for kind, path in found:
        click.echo(f"{kind} {path}")


def _container_changes(session, name):
    from ..engine.commit import container_changes

    return container_changes(session.runtime, name)


def _image_changes(session, name):
    from ..engine.commit import image_changes

    return image_changes(session.runtime, name)


def _diff_command(name: str, changes_of, doc: str):
    @click.command(name, context_settings=CONTEXT, help=doc)
    @click.option("--format", "format_", default="", help="json, or the default A/C/D lines.")
    @click.argument("name")
    @click.pass_obj
    def command(session, format_, name):
        _print_changes(changes_of(session, name), format_)
    return command


def _any_changes(session, name):
    from ..define import NoSuchContainer

    try:
        return _container_changes(session, name)
    except NoSuchContainer:
        return _image_changes(session, name)


diff = _diff_command("diff", _any_changes,
                     "Changes of a container (or of an image's top layer): A added, C changed, D deleted.")
container_diff = _diff_command("diff", _container_changes, "Changes of a container: A added, C changed, D deleted.")
image_diff = _diff_command("diff", _image_changes, "What an image's top layer changes: A added, C changed, D deleted.")


def register(group: click.Group) -> None:
    group.add_command(commit)
    group.add_command(diff)
    group.commands["container"].add_command(commit)
    group.commands["container"].add_command(container_diff)
    group.commands["image"].add_command(image_diff)
