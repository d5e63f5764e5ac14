"""What the CLI and both APIs show of volumes: podman's and Docker's documents,
and the filters of `volume ls`/`volume prune` and `GET /volumes`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from ..define import InvalidArgument
from ..formats.timestamps import go_time, rfc3339

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import VolumeRecord

LIST_KEYS = ("name", "driver", "label", "opt", "dangling", "until", "scope")
PRUNE_KEYS = ("label", "label!", "until")


def podman_document(runtime: "Runtime", volume: "VolumeRecord") -> dict[str, Any]:
    """`volume inspect` (and libpod's API): podman 4.3's fields, empty ones left out as it does."""
    document: dict[str, Any] = {
        "Name": volume.name, "Driver": volume.driver, "Mountpoint": runtime.volumes.path(volume),
        "CreatedAt": go_time(volume.created), "Labels": dict(sorted(volume.labels.items())), "Scope": "local",
        "Options": dict(sorted(volume.options.items()))}  # Go maps: keys in order
    if volume.uid >= 0:
        document["UID"] = volume.uid
    if volume.gid >= 0:
        document["GID"] = volume.gid
    if volume.anonymous:
        document["Anonymous"] = True
    document["MountCount"] = len(volume.users) + volume.user_mounts
    if volume.needs_copy_up:
        document["NeedsCopyUp"] = True
    if volume.uid < 0 and volume.gid < 0 and volume.needs_copy_up:
        document["NeedsChown"] = True
    return document


def docker_document(runtime: "Runtime", volume: "VolumeRecord") -> dict[str, Any]:
    """Docker's Volume object."""
    return {"CreatedAt": rfc3339(volume.created), "Driver": volume.driver, "Labels": dict(sorted(volume.labels.items())),
            "Mountpoint": runtime.volumes.path(volume), "Name": volume.name,
            "Options": dict(sorted(volume.options.items())),
            "Scope": "local"}


def volume_filter(runtime: "Runtime", wanted: dict[str, list[str]],
                  keys: tuple[str, ...] = LIST_KEYS) -> Callable[["VolumeRecord"], bool]:
    """Check `wanted` and return the predicate (values of one key OR'ed, keys AND'ed)."""
    from ..formats.timestamps import parse_until

    for key, values in wanted.items():
        if key not in keys:
            raise InvalidArgument(f"invalid filter {key!r}")
        for value in values:
            if key == "dangling" and value not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid dangling filter value {value!r}: use true or false")
            if key == "until":
                parse_until(value)
            if key == "name":
                try:
                    re.compile(value)
                except re.error:
                    raise InvalidArgument(f"invalid name filter {value!r}: bad regular expression") from None
    used: set[str] | None = None

    def in_use() -> set[str]:
        nonlocal used
        if used is None:
            used = {m.source for config, _ in runtime.store.containers() for m in config.mounts if m.type == "volume"}
        return used

    def one(volume: "VolumeRecord", key: str, value: str) -> bool:
        if key == "name":
            return re.search(value, volume.name) is not None
        if key == "driver":
            return volume.driver == value
        if key in ("label", "label!"):
            label, sep, expected = value.partition("=")
            found = label in volume.labels and (not sep or volume.labels[label] == expected)
            return found if key == "label" else not found
        if key == "opt":
            option, sep, expected = value.partition("=")
            return option in volume.options and (not sep or volume.options[option] == expected)
        if key == "dangling":
            return (volume.name not in in_use()) == (value in ("true", "1"))
        if key == "until":
            return volume.created < parse_until(value)
        return value == "local"  # scope

    return lambda volume: all(any(one(volume, k, v) for v in vs) for k, vs in wanted.items() if vs)
