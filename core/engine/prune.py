"""Pruning: removing every container that is not running, as `podman container
prune` does (created, initialised, stopped and exited ones; running, paused and
removing ones stay), narrowed by podman's prune filters."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

from ..define import HuskError, NoSuchContainer, State

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

#: the states a prune removes
PRUNABLE = frozenset({State.CONFIGURED, State.CREATED, State.STOPPED, State.EXITED})
FILTER_KEYS = ("until", "label", "label!")


class PruneReport(msgspec.Struct):
    """One container the prune tried: its id, the bytes its writable layer held,
    and the error when its removal failed."""

    id: str
    size: int = 0
    error: str = ""


def prune_containers(runtime: "Runtime", filters: dict[str, list[str]] | None = None) -> list[PruneReport]:
    """Remove the containers that are not running and match `filters`
    (`until`: created before that time; `label` / `label!`: `key` or
    `key=value`, as podman's).  A failure is reported, not raised, so one
    stuck container does not keep the others."""
    match = _matcher(filters or {})
    reports = []
    for container in runtime.containers(errors=[]):
        container.sync_if_unlocked()
        if container.state.state not in PRUNABLE or not match(container):
            continue
        report = PruneReport(container.id, _writable_size(runtime, container.id))
        try:
            container.remove()
        except NoSuchContainer:
            continue  # removed meanwhile by someone else
        except HuskError as exc:
            report.error, report.size = str(exc), 0
        reports.append(report)
    return reports


def _matcher(filters: dict[str, list[str]]):
    from ..storage.image_prune import prune_matcher

    match = prune_matcher(filters, FILTER_KEYS)
    return lambda container: match(container.config.created, container.config.labels)


def _writable_size(runtime: "Runtime", container_id: str) -> int:
    """Bytes in the container's upper (writable) directory, links not followed."""
    total = 0
    for directory, _, files in os.walk(os.path.join(runtime.paths.container_dir(container_id), "upper")):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total
