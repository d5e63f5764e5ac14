"""The layer cache: a step's key -> the image state it produced.

A key is the sha256 of the parent step's key (the base image's id for the
first), the instruction with its arguments expanded, the build args RUN
sees, and for COPY/ADD the checksums of every file read.  The value is the
whole state after the step (layers, config, history), so a warm rebuild
yields the very same image id.  Entries are small JSON files under
`<root>/build-cache`, written atomically; an entry whose layers are gone
(removed with their last image) is a miss."""

from __future__ import annotations

import hashlib
import json
import os

from ..state.paths import is_id


def step_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), sort_keys=True).encode()).hexdigest()


def image_fields(image) -> dict:
    """A stored image as a step's state (the fields a cache entry has): its layers,
    config, history, size and platform, from its config document (or one made from
    its record when it has none).  FROM's base and a `--cache-from` image are read so."""
    document = json.loads(image.config_json) if image.config_json else {}
    if not document:
        from ..storage.images import config_blob

        document = json.loads(config_blob(image.config, image.layers, image.created, []))
    return {"layers": list(image.layers), "config": document.get("config") or {},
            "history": document.get("history") or [], "size": image.size,
            "platform": {k: document[k] for k in ("architecture", "os", "variant") if document.get(k)}}


class Cache:
    def __init__(self, root: str) -> None:
        self.directory = os.path.join(root, "build-cache")

    def _path(self, key: str) -> str:
        if not is_id(key):  # a key names a file: 64 hex digits, no newline after them
            raise ValueError(f"bad cache key {key!r}")
        return os.path.join(self.directory, key)

    def get(self, key: str) -> dict | None:
        try:
            with open(self._path(key), "rb") as file:
                return json.load(file)
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        from ..state.atomic import replace_file

        replace_file(self._path(key), json.dumps(value, separators=(",", ":")), make_parent=True)
