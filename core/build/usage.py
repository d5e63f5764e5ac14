"""The build cache's disk usage and its pruning: `system df`'s Build Cache row,
Docker's `BuildCache` in `GET /system/df`, and what `system prune` and
`builder prune` (Docker's `POST /build/prune`) remove.

The build cache is what a build keeps for the next one and no image holds:

* the step entries under `<root>/build-cache` (:mod:`husk.build.cache`),
  with the layers they name that no image lists (a RUN step of a stage no
  image was made from, a step whose image was removed or retagged away);
* the directories of `RUN --mount=type=cache` under `<root>/build-cache-mounts`.

Sizes are measured as `du --bytes` measures them (each inode once, the
directories themselves included), so the row agrees with du.  A layer that
several entries name is counted with the oldest.  An entry is *dangling*
when it names a layer no image holds (or one that is gone): Docker's default
prune removes those; `--all` removes every entry and every cache mount too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import TYPE_CHECKING

from ..state.paths import is_id

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

CACHE_DIR = "build-cache"
MOUNTS_DIR = "build-cache-mounts"


@dataclasses.dataclass
class CacheRecord:
    """One entry, in Docker's terms: `regular` (a step's result) or `exec.cachemount`."""

    id: str
    kind: str
    description: str
    #: the entry's own bytes: its file (or mount directory) and the image-less layers counted with it
    size: int
    created: float
    dangling: bool
    path: str
    #: the image-less layers counted with this entry: hex id -> bytes
    layers: dict[str, int] = dataclasses.field(default_factory=dict)
    #: every image-less layer the entry names (pruning keeps those a kept entry still names)
    names: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class BuildCacheUsage:
    records: list[CacheRecord]
    #: du -sb of the cache directories and the image-less layers they name, each inode once
    size: int

    @property
    def reclaimable(self) -> int:
        """Nothing in the cache is in use between builds: all of it."""
        return self.size


def _entries(directory: str) -> list[tuple[str, os.stat_result]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not is_id(name):
            continue  # a writer's temporary file
        try:
            found.append((name, os.lstat(os.path.join(directory, name))))
        except OSError:
            continue
    return sorted(found, key=lambda item: (item[1].st_mtime, item[0]))


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as file:
            value = json.load(file)
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def build_cache_usage(runtime: "Runtime") -> BuildCacheUsage:
    from ..engine.disk_usage import tree_size

    root = runtime.paths.root
    layers_root = os.path.join(root, "layers")
    held = {layer.removeprefix("sha256:") for image in runtime.store.images() for layer in image.layers}
    seen: set = set()
    records = []
    cache_dir, mounts_dir = os.path.join(root, CACHE_DIR), os.path.join(root, MOUNTS_DIR)
    total = tree_size(cache_dir, seen) + tree_size(mounts_dir, seen)
    counted: set[str] = set()
    for name, info in _entries(cache_dir):
        path = os.path.join(cache_dir, name)
        value = _read(path)
        layers = [str(layer).removeprefix("sha256:") for layer in value.get("layers") or []]
        free = {layer for layer in layers if layer not in held and is_id(layer)}
        present = {layer for layer in free if os.path.isdir(os.path.join(layers_root, layer))}
        own = {layer: tree_size(os.path.join(layers_root, layer), seen) for layer in sorted(present - counted)}
        counted |= present
        size = info.st_size + sum(own.values())
        total += sum(own.values())
        history = value.get("history") or [{}]
        description = str(history[-1].get("created_by", "")) if isinstance(history[-1], dict) else ""
        records.append(CacheRecord(name, "regular", description, size, info.st_mtime, bool(free), path,
                                   own, free))
    for name, info in _entries(mounts_dir):
        path = os.path.join(mounts_dir, name)
        records.append(CacheRecord(name, "exec.cachemount", "cached mount (RUN --mount=type=cache)",
                                   tree_size(path), info.st_mtime, False, path))
    return BuildCacheUsage(records, total)


def prune_build_cache(runtime: "Runtime", all_: bool = False,
                      filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
    """Remove the dangling entries (every entry and cache mount with `all_`) that
    match podman's prune `filters` (`until` on when the entry was written; the
    cache has no labels, so `label=` matches none and `label!=` all), with the
    layers only they name; (the ids removed, the bytes freed)."""
    from ..storage.image_prune import prune_matcher

    match = prune_matcher(filters or {}, ("until", "label", "label!"))
    usage = build_cache_usage(runtime)
    doomed = [r for r in usage.records if (all_ or r.dangling) and match(r.created, {})]
    doomed_ids = {r.id for r in doomed}
    kept_names = {layer for r in usage.records if r.id not in doomed_ids for layer in r.names}
    freed = 0
    for record in doomed:
        if record.kind == "regular":
            try:
                os.unlink(record.path)
            except FileNotFoundError:
                continue  # pruned meanwhile
            freed += record.size
            for layer, size in record.layers.items():
                if layer in kept_names:  # a kept entry still names it: it stays
                    freed -= size
                    continue
                shutil.rmtree(os.path.join(runtime.paths.root, "layers", layer), ignore_errors=True)
        else:
            shutil.rmtree(record.path, ignore_errors=True)
            freed += record.size
    return [r.id for r in doomed], freed
