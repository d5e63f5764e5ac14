"""`images --filter` and `--sort`, as podman 4.3 reads them (issue 12).

Filters: `id=` (prefix), `reference=` (a shell pattern against each name, with
or without its `localhost/` and tag), `before=IMAGE` and `since=IMAGE`
(created before or after that image), `label=K[=V]`, `dangling=true|false`
(no name), `containers=true|false` (used by a container).  Values of one key
are OR'ed, keys AND'ed, as in podman.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Callable

from ..define import InvalidArgument

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord

KEYS = ("id", "reference", "before", "since", "label", "dangling", "containers")
SORT_KEYS = ("created", "id", "repository", "size", "tag")


def image_filter(runtime: "Runtime", filters) -> Callable[["ImageRecord"], bool]:
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, eq, value = item.partition("=")
        if not eq or key not in KEYS:
            raise InvalidArgument(f"invalid image filter {item!r}: use {', '.join(k + '=' for k in KEYS)}")
        if key in ("dangling", "containers") and value not in ("true", "false"):
            raise InvalidArgument(f"invalid {key} filter value {value!r}: true or false")
        wanted.setdefault(key, []).append(value)
    if not wanted:
        return lambda image: True
    from ..storage.images import resolve_image

    created = {value: resolve_image(runtime, value).created for key in ("before", "since")
               for value in wanted.get(key, [])}
    used = {c.config.image_id for c in runtime.containers()} if "containers" in wanted else set()

    def one(image: "ImageRecord", key: str, value: str) -> bool:
        if key == "id":
            return image.id.startswith(value.removeprefix("sha256:"))
        if key == "reference":
            return any(fnmatch.fnmatchcase(candidate, value) for name in image.names
                       for candidate in _spellings(name))
        if key == "before":
            return image.created < created[value]
        if key == "since":
            return image.created > created[value]
        if key == "label":
            label, sep, expected = value.partition("=")
            return label in image.config.labels and (not sep or image.config.labels[label] == expected)
        if key == "dangling":
            return (not image.names) == (value == "true")
        return (image.id in used) == (value == "true")  # containers

    return lambda image: all(any(one(image, key, value) for value in values) for key, values in wanted.items())


def _spellings(name: str) -> list[str]:
    """`localhost/busybox:latest` as a reference pattern may match it: whole, without the
    registry, without the tag, both."""
    short = name.split("/", 1)[1] if name.startswith("localhost/") else name
    return [name, short, name.rpartition(":")[0], short.rpartition(":")[0]]


def sort_rows(rows: list[Any], key: str, sizes: dict[str, int]) -> list[Any]:
    """images' rows sorted as podman sorts them: newest first for created (the
    order husk.cli.image.image_rows gives them in), else ascending (`sizes`:
    bytes by the row's ID)."""
    if key not in SORT_KEYS:
        raise InvalidArgument(f"invalid sort key {key!r}: use {', '.join(SORT_KEYS)}")
    if key == "created":
        return list(rows)
    if key == "size":
        return sorted(rows, key=lambda row: sizes[row["ID"]])
    field = {"id": "ID", "repository": "Repository", "tag": "Tag"}[key]
    return sorted(rows, key=lambda row: row[field])


def reference_rows(rows: list[Any], filters) -> list[Any]:
    """Rows (one per name) whose name a `reference=` filter matches, when there is one."""
    patterns = [item.partition("=")[2] for item in filters if item.startswith("reference=")]
    if not patterns:
        return rows
    return [row for row in rows if any(fnmatch.fnmatchcase(candidate, pattern) for pattern in patterns
                                       for candidate in _spellings(f"{row['Repository']}:{row['Tag']}"))]
