"""Image verbs: import, images, rmi, image exists, image inspect."""

from __future__ import annotations


import click

from ..define import HuskError, NoSuchImage
from .common import CONTEXT

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedHuman}}\t{{.Size}}"
IMAGES_HEADERS = {"ID": "IMAGE ID", "CreatedHuman": "CREATED"}


@click.command("import", context_settings=CONTEXT)
@click.option("-c", "--change", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, ...).")
@click.option("-m", "--message", default="", help="Commit message for the image.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for podman compatibility.")
@click.option("--arch", default="", help="The image's architecture (default: this host's).")
@click.option("--os", "os_", default="", help="The image's operating system (default: linux).")
@click.option("--variant", default="", help="The image's architecture variant (e.g. v7).")
@click.argument("source")
@click.argument("reference", required=False, default="")
@click.pass_obj
def import_(session, change, message, quiet, arch, os_, variant, source, reference):
    """Make an image from a rootfs tarball (SOURCE, or - for stdin); prints its id."""
    from ..storage.images import import_tarball

    from .options import open_input

    with open_input(source) as stream:
        image = import_tarball(session.runtime, stream, reference, change, message,
                               {"architecture": arch, "os": os_, "variant": variant})
    click.echo(image.id)


@click.command(context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@click.option("--no-trunc", is_flag=True, help="Full ids.")
@click.option("--noheading", "-n", "no_heading", is_flag=True, help="Omit the table header.")
@click.option("--format", "format_", default="", help="Go template, `table ...` or json.")
@click.option("--digests", is_flag=True, help="Show the manifest digest each image was pulled or pushed as.")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Intermediate images too (husk makes none: the list is the same).")
@click.option("-f", "--filter", "filters", multiple=True,
              help="id=, reference=PATTERN, before=IMAGE, since=IMAGE, label=K[=V], dangling=BOOL, containers=BOOL.")
@click.option("--sort", default="created", help="created (default), id, repository, size or tag.")
@click.option("--history", is_flag=True, help="Show the names each image has had (a HISTORY column).")
@click.argument("name", required=False)
@click.pass_obj
def images(session, quiet, no_trunc, no_heading, format_, digests, all_, filters, sort, history, name):
    """List images."""
    import json

    from ..storage.images import resolve_image
    from ..presentation.image_filters import image_filter, reference_rows, sort_rows

    records = [resolve_image(session.runtime, name)] if name else session.runtime.store.images()
    records = [image for image in records if image_filter(session.runtime, filters)(image)]
    rows = image_rows([{"Id": i.id, "Names": i.names, "Created": i.created, "Size": i.size,
                        "Digest": i.digest or "sha256:" + i.id, "Labels": dict(i.config.labels),
                        "History": i.names_history} for i in records], no_trunc)
    rows = sort_rows(reference_rows(rows, filters), sort, {image.id if no_trunc else image.id[:12]: image.size for image in records})
    if is_json(format_) and not quiet:
        from ..presentation.images import image_summary

        used: dict[str, int] = {}
        for container in session.runtime.containers(errors=[]):
            used[container.config.image_id] = used.get(container.config.image_id, 0) + 1
        click.echo(json.dumps(list_documents([image_summary(i, used.get(i.id, 0)) for i in records], rows,
                                             no_trunc), indent=4))
        return
    table = IMAGES_TABLE.replace("\t{{.ID}}", "\t{{.Digest}}\t{{.ID}}") if digests else IMAGES_TABLE
    print_images(rows, quiet, format_ or table + ("\t{{.History}}" if history else ""), not no_heading)


def is_json(format_: str) -> bool:
    """podman's test for a JSON list format: `json`, or a template that is only `{{json .}}`."""
    import re

    return re.fullmatch(r"\s*(json|\{\{\s*json\s*\.?\s*\}\})\s*", format_) is not None


def list_documents(summaries: list[dict], rows: list, no_trunc: bool) -> list[dict]:
    """podman 4.3's `images --format json`: for each of the verb's rows (:func:`image_rows`,
    filtered and sorted: one a name), its image's libpod ImageSummary (husk's or a service's),
    RepoTags null, and Created (Unix seconds) and CreatedAt (RFC 3339) last."""
    from ..formats.timestamps import rfc3339

    documents = {}
    for summary in summaries:
        document = {key: value for key, value in summary.items() if key != "Created"}
        document.update(RepoTags=None, Created=summary["Created"], CreatedAt=rfc3339(summary["Created"]))
        documents[summary["Id"] if no_trunc else summary["Id"][:12]] = document
    return [documents[row["ID"]] for row in rows]


def print_images(rows: list, quiet: bool, template: str, heading: bool) -> None:
    """`images`' lines of :func:`image_rows`: each ID once with -q, else through the template."""
    from ..formats.template import format_rows

    if quiet:
        click.echo("".join(dict.fromkeys(row["ID"] + "\n" for row in rows)), nl=False)
    else:
        click.echo(format_rows(template, rows, IMAGES_HEADERS, heading=heading), nl=False)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Remove the containers using the image too.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every image.")
@click.option("-i", "--ignore", is_flag=True, help="Ignore images that do not exist.")
@click.option("--no-prune", is_flag=True,
              help="Keep dangling parent images: what husk always does (its images have no parents).")
@click.argument("names", nargs=-1)
@click.pass_obj
def rmi(session, force, all_, ignore, no_prune, names):
    """Remove images."""
    from ..storage.images import remove_image

    targets = [i.id for i in session.runtime.store.images()] if all_ else list(names)
    if not targets and not all_:
        raise click.UsageError("image name or ID must be specified")
    code = 0
    for name in targets:
        try:
            removal = remove_image(session.runtime, name, force=force)
        except HuskError as exc:
            if ignore and isinstance(exc, NoSuchImage):
                continue
            click.echo(f"Error: {exc}", err=True)
            code = exc.exit_code if not isinstance(exc, NoSuchImage) else 1
            continue
        for tagged in removal.untagged:
            click.echo(f"Untagged: {tagged}")
        if removal.deleted:
            click.echo(f"Deleted: {removal.image.id}")
    raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.pass_obj
def exists(session, name):
    """Exit 0 when the image exists, 1 when it does not."""
    from ..storage.images import resolve_image

    try:
        resolve_image(session.runtime, name)
    except NoSuchImage:
        raise SystemExit(1) from None
    raise SystemExit(0)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template applied to each image.")
@click.argument("names", nargs=-1)
@click.pass_obj
def inspect(session, format_, names):
    """Show images' configuration as JSON."""
    from .listing import inspect_objects, print_report

    print_report(*inspect_objects(session.runtime, names, "image", format_))


def image_rows(images: list[dict], no_trunc: bool) -> list:
    """`images`' rows (podman's imageReporter), newest first, one a name, of images as libpod's
    list gives them (Id, Names, Created in Unix seconds, Size, Digest, Labels, History: the names
    the image had), this host's or a service's.  A row's Created is podman 4.3's: its
    imageReporter's Created() method, `17 hours ago` (as CreatedSince), not the seconds."""
    import time

    from ..formats.gofmt import GoStruct
    from ..formats.timestamps import NS_PER_SECOND, format_go_time, human_duration

    now = time.time()
    rows = []
    for image in sorted(images, key=lambda i: -i["Created"]):
        ago = f"{human_duration(now - image['Created'])} ago"
        created_at = format_go_time(int(image["Created"]) * NS_PER_SECOND)  # podman's: whole Unix seconds
        for tagged in image["Names"] or ["<none>:<none>"]:
            repository, at, _ = tagged.partition("@")  # pulled by digest: no tag
            repository, tag = (repository, "<none>") if at else tagged.rpartition(":")[::2]
            rows.append(GoStruct({
                "Repository": repository, "Tag": tag, "ID": image["Id"] if no_trunc else image["Id"][:12],
                "Created": ago, "CreatedAt": created_at, "CreatedTime": created_at,
                "CreatedHuman": ago, "CreatedSince": ago, "Size": _size(image["Size"]), "Names": image["Names"],
                "Digest": image["Digest"], "Labels": image["Labels"] or {},
                "History": ", ".join(image.get("History") or [])}, "imageReporter"))
    return rows


def _size(size: int) -> str:
    """podman's image size: decimal units, three significant digits (`4.26 MB`)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.3g} {unit}"
        value /= 1000
    return f"{size} B"


def register(group: click.Group) -> None:
    image_group = click.Group("image", help="Manage images.", context_settings=CONTEXT)
    image_group.add_command(import_)
    image_group.add_command(images, "list")
    image_group.add_command(images, "ls")
    image_group.add_command(rmi, "rm")
    image_group.add_command(exists)
    image_group.add_command(inspect)
    from .image_fs import add_to

    add_to(image_group)
    group.add_command(image_group)
    group.add_command(import_)
    group.add_command(images)
    group.add_command(rmi)



