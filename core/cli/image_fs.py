"""Image verbs on an image's file system and layers: image mount, image
unmount (umount), image tree.  Registered into the `image` group by husk.cli.image."""

from __future__ import annotations

import click

from .common import CONTEXT


def _resolve_all(session, names) -> list:
    """Every named image, resolved before any is touched (as podman: one unknown name, nothing done)."""
    from ..storage.images import resolve_image

    return [resolve_image(session.runtime, name) for name in names]


def _print_mounts(mounted, format_: str) -> None:
    if format_ == "json":
        import json

        click.echo(json.dumps([{"id": image.id, "Names": [image.digest] if image.digest else [],
                                "Repositories": list(image.names), "mountpoint": path}
                               for image, path in mounted], indent=1))
        return
    labels = [image.names[0] if image.names else image.id[:12] for image, _ in mounted]
    width = max(map(len, labels), default=0)
    for label, (_, path) in zip(labels, mounted):
        click.echo(f"{label:<{width}}  {path}")


@click.command("mount", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Mount every image.")
@click.option("--format", "format_", default="", help="json, for the listing.")
@click.argument("names", nargs=-1)
@click.pass_obj
def image_mount(session, all_, format_, names):
    """Mount images' root filesystems read-only and print the mount points;
    with no IMAGE, list the mounted images."""
    from ..define import InvalidArgument
    from ..storage.image_mount import mount_image, mounted_images

    if format_ not in ("", "json"):
        raise InvalidArgument(f'unknown --format argument: "{format_}"')
    runtime = session.runtime
    if all_:
        for image in runtime.store.images():
            mount_image(runtime, image)
    elif names:
        for image in _resolve_all(session, names):
            click.echo(mount_image(runtime, image))
        return
    _print_mounts(mounted_images(runtime), format_)


@click.command("unmount", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Unmount every mounted image.")
@click.option("-f", "--force", is_flag=True, help="Accepted: husk's image mounts are not counted.")
@click.argument("names", nargs=-1)
@click.pass_obj
def image_unmount(session, all_, force, names):
    """Unmount images; prints each image's id."""
    from ..storage.image_mount import mounted_images, unmount_image

    runtime = session.runtime
    if not all_ and not names:
        raise click.UsageError("image name or ID must be specified")
    targets = [image for image, _ in mounted_images(runtime)] if all_ else _resolve_all(session, names)
    for image in targets:
        unmount_image(runtime, image.id)
        click.echo(image.id)


@click.command("tree", context_settings=CONTEXT)
@click.option("--whatrequires", "what_requires", is_flag=True,
              help="Show the image's top layer and the layers of the images built on it.")
@click.argument("name")
@click.pass_obj
def image_tree(session, what_requires, name):
    """Print an image's layers as a tree, with the images each is the top layer of."""
    from ..presentation.image_tree import tree_text
    from ..storage.images import resolve_image

    click.echo(tree_text(session.runtime, resolve_image(session.runtime, name), what_requires), nl=False)


def add_to(image_group: click.Group) -> None:
    image_group.add_command(image_mount)
    image_group.add_command(image_unmount)
    image_group.add_command(image_unmount, "umount")
    image_group.add_command(image_tree)
