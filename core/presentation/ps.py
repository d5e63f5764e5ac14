"""`ps` rows: which containers a listing shows, in what order, and podman's
row and JSON document for each.  `husk ps` prints them; the libpod API's
container list answers the documents."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..define import HuskError, InvalidArgument, State
from ..engine.lifecycle import RunRootListing
from ..engine.networking import network_names, uses_networks
from ..engine.process_args import resolve_args
from ..formats.gofmt import GoStruct
from ..formats.timestamps import format_go_time, human_duration

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord


def status_text(container: "Container", now: float) -> str:
    """podman 4.3's STATUS column: `Up 5 seconds ago`, `Exited (3) 2 minutes ago`, or the
    state's name capitalised (`Created`, `Initialized`, `Paused`, ...)."""
    st = container.state
    if st.stopping and st.state is State.RUNNING:
        return "Stopping"
    if st.state is State.RUNNING:
        from ..engine.health import status

        health = status(container)
        return f"Up {human_duration(now - st.started_at)} ago" + (f" ({health})" if health else "")
    if st.state in (State.STOPPED, State.EXITED):
        return f"Exited ({st.exit_code}) {human_duration(now - st.finished_at)} ago"
    return _CAPITALIZED[st.state]


#: the other states' STATUS (str() of an enum member, for every row of a `ps`, was a tenth of the row)
_CAPITALIZED = {state: str(state).capitalize() for state in State}


def command_args(container: "Container", image: "ImageRecord | None") -> list[str]:
    """The command the container runs (its entrypoint and command, or the image's)."""
    config = container.config
    try:
        return resolve_args(config, image.config) if image else config.entrypoint + config.command
    except HuskError:
        return []


def ps_row(container: "Container", image: "ImageRecord | None", no_trunc: bool, now: float) -> dict[str, Any]:
    """One row of `ps`, a struct to templates (podman's psReporter): an unknown
    field is an error, as in podman.  (Called for every container of a `ps`:
    its imports are the module's, not the function's, and what two fields
    show alike is computed once.)"""
    config, st = container.config, container.state
    command = " ".join(command_args(container, image))
    if not no_trunc and len(command) > 17:
        command = command[:17] + "..."
    created_human = f"{human_duration(now - config.created)} ago"
    created_at = format_go_time(int(config.created * 1e9))  # podman's .Created and .CreatedAt alike
    return GoStruct({
        "ID": config.id if no_trunc else config.id[:12],
        "Names": config.name,
        "Image": config.image_ref or config.image_name,
        "ImageID": config.image_id,
        "Command": command,
        "Created": created_at,
        "CreatedAt": created_at,
        "CreatedHuman": created_human,
        "RunningFor": created_human,
        "Status": status_text(container, now),
        "State": st.shown(),
        "Ports": _ports(config.ports),
        "Labels": dict(config.labels),
        "Mounts": [m.destination for m in config.mounts],
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Exited": st.state in (State.STOPPED, State.EXITED),
        "Networks": network_names(container) if uses_networks(container) else [],
        "Size": "",
        "StartedAt": _unix(st.started_at),
        "ExitedAt": _unix(st.finished_at),
        "AutoRemove": config.auto_remove,
        "Pod": config.pod if no_trunc else config.pod[:12],
        "PodName": _pod_name(container),
    }, "psReporter")


def _ports(mappings) -> str:
    """The PORTS column; the ports module (sockets) only for a container that has some."""
    if not mappings:
        return ""
    from ..network.ports import ps_text

    return ps_text(mappings)


def _pod_name(container: "Container") -> str:
    """The pods module (tarfile, cgroups) only for a container in a pod."""
    if not container.config.pod:
        return ""
    from ..engine.pods import pod_name

    return pod_name(container.runtime, container.config.pod)


def _newest_first(entry) -> float:
    return -entry[1].config.created  # full precision, not the row's seconds


#: `ps --sort` keys, over (row, container, image) entries
SORT_KEYS = {"created": _newest_first, "id": lambda entry: entry[0]["ID"], "image": lambda entry: entry[0]["Image"],
             "names": lambda entry: entry[0]["Names"], "status": lambda entry: entry[0]["State"],
             "runningfor": _newest_first}


def select_containers(runtime: "Runtime", *, all_: bool, filters: dict[str, list[str]], sort: str = "created",
                      latest: bool = False, no_trunc: bool = False, errors: list | None = None
                      ) -> list[tuple[dict[str, Any], "Container", "ImageRecord | None"]]:
    """The containers a listing shows (synced, filtered, sorted), each with its
    `ps` row and image; corrupt records go to `errors` (see Store.containers)."""
    if filters:  # the filters module for a listing that has some (~0.8M instructions of every ps)
        from .filters import container_filter

        match = container_filter(filters)
    else:
        match = None
    if sort not in SORT_KEYS:
        raise InvalidArgument(f"invalid sort key {sort!r}: use {', '.join(SORT_KEYS)}")
    containers = runtime.containers(errors)
    files = RunRootListing(runtime.paths)
    for container in containers:
        container.sync_if_unlocked(files)
    containers = [c for c in containers if (all_ or c.state.state is State.RUNNING) and (match is None or match(c))]
    if latest:
        containers = sorted(containers, key=lambda c: c.config.created)[-1:]
    now = time.time()
    images = {image.id: image for image in runtime.store.images()}
    entries = []
    for container in containers:
        image = images.get(container.config.image_id)
        entries.append((ps_row(container, image, no_trunc, now), container, image))
    return sorted(entries, key=SORT_KEYS[sort])


#: Go's zero time.Time in Unix seconds: podman's StartedAt and ExitedAt of what never started or exited
_ZERO_UNIX = -62135596800


def _unix(epoch: float) -> int:
    return int(epoch) if epoch else _ZERO_UNIX


def ps_document(row: dict[str, Any], container: "Container", image: "ImageRecord | None") -> dict[str, Any]:
    """podman's ListContainer JSON (`ps --format json`, the libpod list): the full
    id and command, whatever --no-trunc says."""
    return {"AutoRemove": row["AutoRemove"], "Command": command_args(container, image) or None,
            "Created": int(container.config.created), "CreatedAt": row["CreatedHuman"], "Exited": row["Exited"],
            "ExitedAt": row["ExitedAt"], "ExitCode": row["ExitCode"], "Id": container.id,
            "Image": row["Image"], "ImageID": row["ImageID"], "Labels": row["Labels"] or None,
            "Mounts": row["Mounts"], "Names": [row["Names"]], "Networks": row["Networks"], "Pid": row["Pid"],
            "Ports": None, "StartedAt": row["StartedAt"], "State": row["State"], "Status": row["Status"],
            "Pod": container.config.pod, "PodName": row["PodName"]}
