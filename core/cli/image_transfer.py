"""Image verbs for names, archives and history: tag, untag, save, load, history."""

from __future__ import annotations

import os
import sys

import click

from ..faults import fault
from .common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@click.pass_obj
def tag(session, source, targets):
    """Add names (TARGET...) to the image SOURCE."""
    from ..storage.images import tag_image

    tag_image(session.runtime, source, targets)


@click.command(context_settings=CONTEXT)
@click.argument("image")
@click.argument("names", nargs=-1)
@click.pass_obj
def untag(session, image, names):
    """Remove names from IMAGE (all of them when no NAME is given)."""
    from ..storage.images import untag_image

    untag_image(session.runtime, image, names)


@click.command(context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="Write to this file (default: stdout, if not a terminal).")
@click.option("--format", "format_", default="docker-archive", show_default=True,
              help="docker-archive, oci-archive or oci-dir (the OCI ones: one image).")
@click.option("-m", "--multi-image-archive", is_flag=True, help="Accepted: every archive may hold several images.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for podman compatibility.")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def save(session, output, format_, multi_image_archive, quiet, images):
    """Save images to a docker-archive tar (what `docker load` and `husk load` read),
    or one image as an OCI layout (`--format oci-archive`, `oci-dir`)."""
    from ..define import InvalidArgument
    from ..storage.image_archive import save_images

    if format_ in ("oci-archive", "oci-dir"):
        _save_oci(session, format_, output, images)
        return
    if format_ != "docker-archive":
        raise InvalidArgument(f"unsupported format {format_!r}: docker-archive, oci-archive or oci-dir")
    if not output:
        if sys.stdout.isatty():
            raise InvalidArgument("refusing to save to terminal. Use -o flag or redirect")
        save_images(session.runtime, images, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    from ..state.atomic import write_output

    def write(stream) -> None:
        fault("save.archive.before")
        save_images(session.runtime, images, stream)
        fault("save.archive.after")

    try:  # a failed save leaves no half archive
        write_output(output, write)
    except OSError as exc:
        raise click.ClickException(f"writing {output}: {exc.strerror}") from None


def _save_oci(session, format_: str, output: str, images) -> None:
    """`save --format oci-archive|oci-dir`: what `push IMAGE oci-archive:OUTPUT` writes."""
    import shutil
    import tempfile

    from ..define import InvalidArgument
    from ..storage.push import push

    if len(images) != 1:
        raise InvalidArgument(f"{format_} holds one image: use docker-archive for several")
    image = images[0]
    tag = image if "/" in image and not image.startswith("sha256:") else ""
    transport = "oci-archive" if format_ == "oci-archive" else "oci"
    if output:
        push(session.runtime, image, f"{transport}:{output}" + (f":{tag}" if tag else ""))
        return
    if format_ == "oci-dir":
        raise InvalidArgument("oci-dir needs -o DIRECTORY")
    if sys.stdout.isatty():
        raise InvalidArgument("refusing to save to terminal. Use -o flag or redirect")
    with tempfile.TemporaryDirectory(dir=session.runtime.paths.root) as spool:
        path = os.path.join(spool, "image.tar")
        push(session.runtime, image, f"oci-archive:{path}" + (f":{tag}" if tag else ""))
        with open(path, "rb") as stream:
            shutil.copyfileobj(stream, sys.stdout.buffer, 1 << 20)
    sys.stdout.buffer.flush()


@click.command(context_settings=CONTEXT)
@click.option("-i", "--input", "input_", default="", help="Read from this file (default: stdin).")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for podman compatibility.")
@click.pass_obj
def load(session, input_, quiet):
    """Load images from a docker-archive tar (`docker save`'s, `husk save`'s), an
    oci-archive, or an OCI layout directory (`save --format oci-dir`'s)."""
    import shutil

    from ..storage.image_archive import load_images
    from ..storage.oci_layout import is_oci_archive
    from .options import open_input

    import tempfile

    if input_ and os.path.isdir(input_):
        _load_oci(session, f"oci:{input_}")
        return
    os.makedirs(session.runtime.paths.root, mode=0o700, exist_ok=True)  # the spool's home on a fresh root
    with open_input(input_ or None, " or the --input flag") as stream, \
            tempfile.TemporaryDirectory(dir=session.runtime.paths.root) as spool:
        path = input_ if input_ and input_ != "-" else os.path.join(spool, "input.tar")
        if path != input_:  # stdin: spooled, to tell an oci-archive from a docker-archive
            with open(path, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        if is_oci_archive(path):
            _load_oci(session, f"oci-archive:{path}")
            return
        with open(path, "rb") as archive:
            loaded = load_images(session.runtime, archive)
    from ..storage.images import normalize

    for item in loaded:
        for name in [normalize(t) for t in item.archive_tags] or ["sha256:" + item.image.id]:
            click.echo(f"Loaded image: {name}")


def _load_oci(session, source: str) -> None:
    """An OCI layout's images, pulled from `oci:DIR` or `oci-archive:FILE`."""
    from ..storage.pull import pull

    for image in pull(session.runtime, source):
        click.echo(f"Loaded image: {image.names[0] if image.names else 'sha256:' + image.id}")


HISTORY_TABLE = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "ID", "CreatedBy": "CREATED BY"}


@click.command(context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate ids and commands.")
@click.option("-H", "--human/--no-human", default=True,
              help="Dates as durations (default; --human=false: RFC 3339 times, as podman 4.3).")
@click.option("--format", "format_", default="", help="Go template, `table ...` or json.")
@click.argument("image")
@click.pass_obj
def history(session, quiet, no_trunc, human, format_, image):
    """Show the steps an image was made by, newest first."""
    from ..storage.images import image_history

    click.echo(history_text(image_history(session.runtime, image), quiet, no_trunc, human, format_), nl=False)


def history_text(steps: list[dict], quiet: bool, no_trunc: bool, human: bool, format_: str) -> str:
    """`history`'s output for an image's steps (Docker's history documents, as the API has them)."""
    import json
    import time

    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows
    from ..formats.timestamps import NS_PER_SECOND, format_go_time, human_duration
    from .image import _size

    if format_ == "json":
        return json.dumps([{"id": s["Id"].removeprefix("sha256:"), "created": s["Created"],
                            "createdBy": s["CreatedBy"], "size": s["Size"], "comment": s["Comment"],
                            "tags": s["Tags"]} for s in steps], indent=4) + "\n"
    now = time.time()
    rows = []
    for step in steps:
        ident = step["Id"].removeprefix("sha256:")
        created_by = step["CreatedBy"]
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:42] + "..."
        created = f"{human_duration(now - step['Created'])} ago" if human else _rfc3339_seconds(step["Created"])
        # podman 4.3's historyReporter: CreatedSince is Created, CreatedAt the time as Go prints it (whole seconds)
        rows.append(GoStruct({"ID": ident if no_trunc or ident == "<missing>" else ident[:12],
                              "Created": created, "CreatedSince": created,
                              "CreatedAt": format_go_time(int(step["Created"]) * NS_PER_SECOND),
                              "CreatedBy": created_by, "Size": _size(step["Size"]),
                              "Comment": step["Comment"], "Tags": step["Tags"]}, "historyReporter"))
    if quiet:
        return "".join(row["ID"] + "\n" for row in rows)
    return format_rows(format_ or HISTORY_TABLE, rows, HISTORY_HEADERS)


def _rfc3339_seconds(epoch: float) -> str:
    """Go's time.RFC3339 in local time (`2026-12-04T23:57:00Z`, `...+02:00`)."""
    import datetime

    text = datetime.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def register(group: click.Group) -> None:
    image_group = group.commands["image"]
    for command in (tag, untag, save, load, history):
        image_group.add_command(command)
        group.add_command(command)
