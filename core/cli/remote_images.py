"""Remote verbs that make or move images and archives (see :mod:`husk.cli.remote`): commit,
tag, untag, save, load and export, and the container's rename and init, as podman-remote has
them.  Archives stream between this host's files (or stdout and stdin) and the service.
"""

from __future__ import annotations

import contextlib
import sys

import click

from .common import CONTEXT
from .remote import RemoteCommand, ServiceError, _each, client, go_times, path


def _split(name: str) -> tuple[str, str]:
    """(repository, tag) of a name (the tag after the last colon past the last slash)."""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, ""
    return repository, tag


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-c", "--change", "changes", multiple=True, help="A Containerfile instruction to apply.")
@click.option("-m", "--message", default="", help="The commit message.")
@click.option("-a", "--author", default="", help="The image's author.")
@click.option("-p", "--pause", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Pause the container while committing.")
@click.option("-q", "--quiet", is_flag=True, help="(The ID alone is all it prints remotely.)")
@click.argument("container")
@click.argument("image", required=False, default="")
def commit(changes, message, author, pause, quiet, container, image):
    """Make an image of a container's changes on the service; its ID on stdout."""
    repository, tag = _split(image)
    query = {"container": container, "repo": repository, "tag": tag, "changes": list(changes), "comment": message,
             "author": author, "pause": str(pause).lower()}
    click.echo(client().json("POST", "/commit", query)["Id"])


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
def tag(image, names):
    """Give an image of the service more names."""
    service = client()
    for name in names:
        repository, version = _split(name)
        service.open("POST", path("images", image, "tag"), {"repo": repository, "tag": version or "latest"}).read()


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("image")
@click.argument("names", nargs=-1)
def untag(image, names):
    """Take names from an image of the service (all of them when none is given)."""
    service = client()
    for name in names or [""]:
        repository, version = _split(name)
        query = {"repo": repository, "tag": version or "latest"} if name else None
        service.open("POST", path("images", image, "untag"), query).read()


@contextlib.contextmanager
def _output(filename: str):
    """Where an archive goes: the file, or stdout (refused when it is a terminal, as podman does)."""
    if filename:
        with open(filename, "wb") as handle:
            yield handle
        return
    if sys.stdout.isatty():
        raise click.UsageError("refusing to write an archive to a terminal: use -o or redirect stdout")
    yield sys.stdout.buffer


def _download(target: str, filename: str) -> None:
    response = client().open("GET", target, timeout=None)
    with _output(filename) as out:
        while chunk := response.read1(1 << 16):
            out.write(chunk)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="The file (default: stdout).")
@click.argument("image")
def save(output, image):
    """Write an image of the service as a docker-archive tar."""
    _download(path("images", image, "get"), output)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="The file (default: stdout).")
@click.argument("container")
def export(output, container):
    """Write a container's filesystem on the service as a tar."""
    _download(path("containers", container, "export"), output)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-i", "--input", "input_", default="", help="The archive (default: stdin).")
@click.option("-q", "--quiet", is_flag=True, help="(Only the names are printed remotely.)")
def load(input_, quiet):
    """Load images from an archive here into the service's store."""
    with open(input_, "rb") if input_ else contextlib.nullcontext(sys.stdin.buffer) as source:
        report = client().json("POST", "/images/load", body=source)
    click.echo("".join(f"Loaded image: {name}\n" for name in report.get("Names") or []), nl=False)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("container")
@click.argument("name")
def rename(container, name):
    """Give a container of the service another name."""
    client().open("POST", path("containers", container, "rename"), {"name": name}).read()


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
def init(names):
    """Create containers in the runtime without starting them."""
    service = client()
    _each(names, lambda name: service.open("POST", path("containers", name, "init")).read())


@click.command("inspect", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template applied to each result.")
@click.argument("names", nargs=-1, required=True)
def image_inspect(format_, names):
    """Show the service's images (`image inspect`: images only)."""
    from .listing import print_inspected

    service = client()

    def document(name: str) -> dict:
        try:
            return go_times(service.json("GET", path("images", name, "json")))
        except ServiceError as exc:
            if exc.status == 404:  # the service's words are Docker's (`No such image: ...`)
                raise ServiceError(f"{name}: image not known") from None
            raise

    print_inspected(names, document, format_, "define.ImageData", "inspecting object: ", indent=5)  # as locally


COMMANDS = {command.name: command for command in (commit, tag, untag, save, export, load, rename, init)}
