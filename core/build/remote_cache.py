"""`--cache-from` and `--cache-to`: the layer cache in a registry, as buildah keeps it.

A step's result is stored in a repository as an image tagged with the step's
cache key (:func:`husk.build.cache.step_key`, 64 hex digits, a valid tag):
`--cache-to REPO` pushes each step it builds as `REPO:KEY`, and
`--cache-from REPO` pulls `REPO:KEY` when the local cache misses.  The key
covers the parent step, the instruction and the checksums of what COPY/ADD
read, so an image found under it is the step's result, wherever it was built.

A pulled cache image is not kept as an image: its name is taken off and, when
the pull made it, its record goes with the build's intermediate images, so its
layers stay as build cache (see :mod:`husk.build.usage`) until an image holds
them or a prune removes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..define import NoSuchImage

if TYPE_CHECKING:
    from .builder import Builder, State


def _tagged(repository: str, key: str) -> str:
    return f"{repository.removeprefix('docker://')}:{key}"


def fetch(builder: "Builder", key: str) -> dict | None:
    """The cached state (as :meth:`State.as_cached` makes it) of `key` from the first
    `--cache-from` repository that has it; None when none has."""
    from ..storage.pull import Progress, pull
    from .cache import image_fields

    store = builder.runtime.store
    for repository in builder.options.cache_from:
        name = _tagged(repository, key)
        before = {image.id for image in store.images()}
        try:
            [image] = pull(builder.runtime, name, builder.options.registry, Progress())
        except NoSuchImage:  # the registry has no such tag: a miss (its other errors stop the build)
            continue
        stored = [n for n in image.names if n.endswith(f":{key}")]
        image = store.untag_image(image.id, stored)
        if image.id not in before and not image.names:
            builder.intermediates.append(image.id)  # dropped at the end of the build; its layers stay
        return image_fields(image)
    return None


def store(builder: "Builder", state: "State") -> None:
    """Push the step's result to every `--cache-to` repository, tagged with its key (a blob the
    repository has is not sent again)."""
    from ..storage.push import push

    image_id = builder._register(state)
    for repository in builder.options.cache_to:
        push(builder.runtime, image_id, "docker://" + _tagged(repository, state.key),
             options=builder.options.registry)
