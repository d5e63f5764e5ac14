"""What `ps`, `inspect` and `logs` print: rows, filters, podman's human times."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ..define import EXIT_ENGINE, HuskError, InvalidArgument, NoSuchContainer, State
from ..presentation.filters import KEYS, container_filter

PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "CreatedAt": "CREATED AT", "RunningFor": "CREATED"}


def human_duration(seconds: float) -> str:
    """Docker's HumanDuration: `Less than a second`, `5 seconds`, `About a minute`, `3 hours`..."""
    seconds = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def status_text(ctr, now: float) -> str:
    """podman's STATUS column: `Up 5 seconds`, `Exited (3) 2 minutes ago`, or the
    state's name capitalised (`Created`, `Initialized`, `Paused`, ...)."""
    st = ctr.state
    if st.state is State.RUNNING:
        return f"Up {human_duration(now - st.started_at)}"
    if st.state in (State.STOPPED, State.EXITED):
        return f"Exited ({st.exit_code}) {human_duration(now - st.finished_at)} ago"
    return str(st.state).capitalize()


def command_args(ctr, image) -> list[str]:
    """The command the container runs (its entrypoint and command, or the image's)."""
    from ..engine.spec import resolve_args

    config = ctr.config
    try:
        return resolve_args(config, image.config) if image else config.entrypoint + config.command
    except HuskError:
        return []


def ps_row(ctr, image, no_trunc: bool, now: float) -> dict[str, Any]:
    """One row of `ps`, a struct to templates (podman's psReporter): an unknown
    field is an error, as in podman."""
    from ..formats.gofmt import GoStruct
    from ..formats.timestamps import format_go_time

    config, st = ctr.config, ctr.state
    command = " ".join(command_args(ctr, image))
    if not no_trunc and len(command) > 17:
        command = command[:17] + "..."
    return GoStruct({
        "ID": config.id if no_trunc else config.id[:12],
        "Names": config.name,
        "Image": config.image_ref or config.image_name,
        "ImageID": config.image_id,
        "Command": command,
        "Created": int(config.created),
        "CreatedAt": format_go_time(int(config.created * 1e9)),
        "CreatedHuman": f"{human_duration(now - config.created)} ago",
        "RunningFor": f"{human_duration(now - config.created)} ago",
        "Status": status_text(ctr, now),
        "State": str(st.state),
        "Ports": "",
        "Labels": dict(config.labels),
        "Mounts": [m.destination for m in config.mounts],
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Exited": st.state in (State.STOPPED, State.EXITED),
        "Networks": [],
        "Size": "",
        "StartedAt": int(st.started_at),
        "ExitedAt": int(st.finished_at),
        "AutoRemove": config.auto_remove,
    }, "psReporter")


def _parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    """`--filter KEY=VALUE` flags as the filters' dict (checked by husk.presentation.filters)."""
    parsed: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid filter {item!r}: use {', '.join(k + '=' for k in KEYS)}")
        parsed.setdefault(key, []).append(value)
    return parsed


def list_containers(runtime, *, all_: bool, quiet: bool, no_trunc: bool, no_heading: bool,
                    filters: tuple[str, ...], format_: str, sort: str, latest: bool,
                    errors: list | None = None) -> str:
    """The `ps` output; corrupt records go to `errors` (see Store.containers)."""
    match = container_filter(_parse_filters(filters))
    newest_first = lambda pair: -pair[1].config.created  # noqa: E731 - full precision, not the row's seconds
    sort_keys = {"created": newest_first, "id": lambda pair: pair[0]["ID"], "image": lambda pair: pair[0]["Image"],
                 "names": lambda pair: pair[0]["Names"], "status": lambda pair: pair[0]["State"],
                 "runningfor": newest_first}
    if sort not in sort_keys:
        raise InvalidArgument(f"invalid sort key {sort!r}: use {', '.join(sort_keys)}")
    containers = runtime.containers(errors)
    for ctr in containers:
        ctr.sync_if_unlocked()
    containers = [c for c in containers
                  if (all_ or c.state.state is State.RUNNING)
                  and match(c)]
    if latest:
        containers = sorted(containers, key=lambda c: c.config.created)[-1:]
    now = time.time()
    images = {image.id: image for image in runtime.store.images()}
    pairs = sorted(((ps_row(c, images.get(c.config.image_id), no_trunc, now), c) for c in containers),
                   key=sort_keys[sort])
    rows = [row for row, _ in pairs]
    if quiet:
        return "".join(row["ID"] + "\n" for row in rows)
    if format_ == "json":
        return json.dumps([_ps_json(row, c, images.get(c.config.image_id)) for row, c in pairs], indent=4) + "\n"
    from ..formats.template import format_rows

    return format_rows(format_ or PS_TABLE, rows, PS_HEADERS, heading=not no_heading)


def _ps_json(row: dict[str, Any], ctr, image) -> dict[str, Any]:
    """podman's ListContainer JSON: the full id and command, whatever --no-trunc says."""
    return {"AutoRemove": row["AutoRemove"], "Command": command_args(ctr, image) or None,
            "Created": row["Created"], "CreatedAt": row["CreatedHuman"], "Exited": row["Exited"],
            "ExitedAt": row["ExitedAt"], "ExitCode": row["ExitCode"], "Id": ctr.id,
            "Image": row["Image"], "ImageID": row["ImageID"], "Labels": row["Labels"] or None,
            "Mounts": row["Mounts"], "Names": [row["Names"]], "Networks": row["Networks"], "Pid": row["Pid"],
            "Ports": None, "StartedAt": row["StartedAt"], "State": row["State"], "Status": row["Status"]}


def image_document(image) -> dict[str, Any]:
    from ..engine.inspect import rfc3339

    cfg = image.config
    return {"Id": image.id, "Digest": "sha256:" + image.id, "RepoTags": list(image.names), "RepoDigests": [],
            "Created": rfc3339(image.created), "Size": image.size, "VirtualSize": image.size,
            "Config": {"Cmd": cfg.cmd or None, "Entrypoint": cfg.entrypoint or None, "Env": cfg.env,
                       "WorkingDir": cfg.workdir, "User": cfg.user, "Labels": cfg.labels or None,
                       "StopSignal": cfg.stop_signal},
            "Architecture": "amd64", "Os": "linux",
            "RootFS": {"Type": "layers", "Layers": list(image.layers)}, "Labels": cfg.labels or None}


#: Fields of podman's inspect documents that are Go maps (any key is valid), not structs.
_MAP_FIELDS = frozenset({"Labels", "Annotations", "Tmpfs", "Data", "Sysctls", "Attributes", "Loaded", "Failed",
                         "Runtimes"})


def inspect_objects(runtime, names, type_: str, format_: str) -> tuple[str, int]:
    """Each name as a container (or image); JSON array, or the template per object.

    A name that is neither is one error line (podman's wording) and exit 125,
    the others are still printed; any other failure (a corrupt record) keeps
    its own message, which names the container."""
    from ..define import NoSuchImage
    from ..storage.images import resolve_image

    documents, code = [], 0
    for name in names:
        try:
            if type_ != "image":
                try:
                    documents.append(("container", runtime.container(name).inspect()))
                    continue
                except NoSuchContainer:
                    if type_ == "container":
                        raise
            documents.append(("image", image_document(resolve_image(runtime, name))))
        except NoSuchImage:
            message = f'no such object: "{name}"' if type_ == "all" else f"{name}: image not known"
            print(f"Error: {message}", file=sys.stderr)
            code = EXIT_ENGINE
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = EXIT_ENGINE
    if format_:
        from ..formats.gofmt import as_struct
        from ..formats.template import compile as compile_template

        template = compile_template(format_)
        types = {"container": "define.InspectContainerData", "image": "inspect.ImageData"}
        return "".join(template.render(as_struct(doc, types[kind], _MAP_FIELDS)) + "\n"
                       for kind, doc in documents), code
    return json.dumps([doc for _, doc in documents], indent=4) + "\n", code


def print_logs(runtime, names, *, follow: bool, tail: int, timestamps: bool, since, until) -> None:
    from ..formats.timestamps import parse_until
    from ..engine.logs import follow_log, read_log, write_lines
    from ..formats.timestamps import parse_time

    since_t = parse_time(since) if since else None
    until_t = parse_until(until) if until else None
    tail_n = None if tail < 0 else tail
    out, err = sys.stdout.buffer, sys.stderr.buffer
    containers = [runtime.container(name) for name in names]
    for ctr in containers:
        path = runtime.paths.log_path(ctr.id)
        if follow:
            def running(ctr=ctr) -> bool:
                ctr.reload()
                ctr.sync_if_unlocked()
                return ctr.state.state in (State.RUNNING, State.PAUSED, State.CREATED)

            lines = follow_log(path, running, tail=tail_n, since=since_t, until=until_t)
        else:
            lines = read_log(path, tail=tail_n, since=since_t, until=until_t)
        if len(containers) > 1:
            lines = _prefixed(lines, ctr.id[:12])
        write_lines(lines, out, err, timestamps)


def _prefixed(lines, prefix: str):
    for line in lines:
        line.text = prefix.encode() + b" " + line.text
        yield line
