"""Committing a container: its settings merged into its image's, `--change`s
on top, the container paused while its changes are read (podman's `--pause`,
on by default), then :func:`husk.storage.commit.commit_image` (with
`--squash`, of the container's rootfs, mounted meanwhile)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ..define import InvalidArgument

if TYPE_CHECKING:
    from ..state.records import ImageRecord
    from .container import Container


def check_format(format_: str) -> None:
    """`--format oci|docker`, refused in podman's words (before anything is printed or read)."""
    if format_ not in ("oci", "docker"):
        raise InvalidArgument(f'unrecognized image format "{format_}"')


def commit(container: "Container", reference: str = "", *, changes: Iterable[str] = (), message: str = "",
           author: str = "", pause: bool = True, format_: str = "oci", squash: bool = False) -> "ImageRecord":
    from ..state.records import ImageConfig
    from ..storage.commit import commit_image
    from ..storage.images import parse_changes

    check_format(format_)
    runtime = container.runtime
    if container.config.rootfs:
        raise InvalidArgument(f"cannot commit container {container.name}: it runs a --rootfs directory, not an "
                              "image (export it and import the archive)")
    from .userns import refuse_chowned

    refuse_chowned(container.config, "commit")
    base = runtime.store.image(container.config.image_id)
    own = container.config
    names = {entry.partition("=")[0] for entry in own.env}
    merged = ImageConfig(
        cmd=list(own.command) or list(base.config.cmd),
        entrypoint=list(own.entrypoint) or list(base.config.entrypoint),
        env=[e for e in base.config.env if e.partition("=")[0] not in names] + list(own.env),
        workdir=own.workdir or base.config.workdir, user=own.user or base.config.user,
        labels={**base.config.labels, **own.labels}, stop_signal=base.config.stop_signal,
        exposed_ports=sorted(set(base.config.exposed_ports) | set(own.exposed_ports)))
    config = parse_changes(changes, merged)
    container.sync()
    rootfs = container.mount() if squash else ""  # --squash: the whole rootfs, one layer
    try:
        paused = pause and container.state.state.value == "running"
        if paused:
            container.pause()
        try:
            return commit_image(runtime, container.id, base, config, reference, message, author, rootfs,
                                docker=format_ == "docker")
        finally:
            if paused:
                container.unpause()
    finally:
        if squash:
            container.unmount()


def container_changes(runtime, name: str) -> list[tuple[str, str]]:
    """`diff` of a container: (A|C|D, path) against its image (refused for a --rootfs container,
    and for one whose files were chowned to a user namespace, where every file would differ)."""
    from ..storage.commit import container_changes as changes
    from .userns import refuse_chowned

    container = runtime.container(name)
    if container.config.rootfs:
        raise InvalidArgument(f"cannot list the changes of container {container.name}: it runs a --rootfs "
                              "directory, not an image")
    refuse_chowned(container.config, "list the changes of")
    return changes(runtime, container.id, container.config.image_id)


def image_changes(runtime, name: str) -> list[tuple[str, str]]:
    """`diff` of an image: what its top layer changes."""
    from ..storage.commit import image_changes as changes
    from ..storage.images import resolve_image

    return changes(runtime, resolve_image(runtime, name))
