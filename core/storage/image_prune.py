"""`image prune`: images no container uses, dangling ones (no name) or with
`-a` every one, narrowed by podman's prune filters; then layers that no image
lists (what an interrupted pull left) and staging directories (what a killed
one left) once they are an hour old, so a pull still running keeps the layers
it has stored but not yet registered."""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Callable

from ..define import InvalidArgument, NoSuchImage
from ..state.paths import is_id

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

#: an unlisted layer younger than this may belong to a pull in progress
ORPHAN_AGE = 3600


def prune_matcher(filters: dict[str, list[str]], keys: tuple[str, ...]) -> Callable[[float, dict], bool]:
    """podman's prune filters as match(created, labels): `until` (created before
    that time), `label` / `label!` (`key` or `key=value`); other keys refused."""
    from ..formats.timestamps import parse_time

    for key in filters:
        if key not in keys:
            raise InvalidArgument(f"invalid filter {key!r}: prune filters are {', '.join(keys)}")
    untils = [parse_time(value) for value in filters.get("until", [])]

    def labelled(labels: dict, value: str) -> bool:
        key, sep, wanted = value.partition("=")
        return key in labels and (not sep or labels[key] == wanted)

    def match(created: float, labels: dict) -> bool:
        return (all(created < until for until in untils)
                and all(labelled(labels, value) for value in filters.get("label", []))
                and not any(labelled(labels, value) for value in filters.get("label!", [])))

    return match


def prune_images(runtime: "Runtime", all_: bool = False, filters: dict[str, list[str]] | None = None) -> list[str]:
    """Remove the images no container uses that are dangling (every one with
    `all_`) and match `filters`; the ids removed."""
    from .images import remove_image

    filters = dict(filters or {})
    dangling = filters.pop("dangling", ["false" if all_ else "true"])
    if dangling[-1] not in ("true", "false"):
        raise InvalidArgument(f"invalid filter dangling={dangling[-1]!r}: true or false")
    match = prune_matcher(filters, ("until", "label", "label!"))
    used = {container.config.image_id for container in runtime.containers(errors=[])}
    removed = []
    for image in runtime.store.images():
        if image.id in used or (dangling[-1] == "true" and image.names) or \
                not match(image.created, image.config.labels):
            continue
        try:
            remove_image(runtime, image.id)
        except NoSuchImage:
            continue  # removed meanwhile
        removed.append(image.id)
    _remove_orphan_layers(runtime)
    return removed


def _remove_orphan_layers(runtime: "Runtime") -> None:
    layers_root = os.path.join(runtime.paths.root, "layers")
    listed = {layer.removeprefix("sha256:") for image in runtime.store.images() for layer in image.layers}
    try:
        entries = os.listdir(layers_root)
    except FileNotFoundError:
        return
    now = time.time()
    for entry in entries:
        staging = entry.startswith(".stage-")  # a pull or load killed mid-layer left it
        if not staging and (entry in listed or not is_id(entry)):
            continue
        path = os.path.join(layers_root, entry)
        try:
            if now - os.stat(path).st_mtime < ORPHAN_AGE:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
