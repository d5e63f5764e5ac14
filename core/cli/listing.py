"""What `ps`, `inspect` and `logs` print: rows, filters, podman's human times."""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

from ..define import EXIT_ENGINE, HuskError, InvalidArgument, NoSuchContainer, State

PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "CreatedAt": "CREATED AT", "RunningFor": "CREATED"}
_PS_FILTER_KEYS = ("name", "status", "exited", "label", "id", "ancestor")


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
    st = ctr.state
    if st.state is State.RUNNING:
        return f"Up {human_duration(now - st.started_at)}"
    if st.state is State.PAUSED:
        return f"Up {human_duration(now - st.started_at)} (paused)"
    if st.state in (State.STOPPED, State.EXITED):
        return f"Exited ({st.exit_code}) {human_duration(now - st.finished_at)} ago"
    if st.state is State.REMOVING:
        return "Removing"
    return "Created"


def ps_row(ctr, image, no_trunc: bool, now: float) -> dict[str, Any]:
    from ..spec import resolve_args
    from ..timestamps import format_go_time

    config, st = ctr.config, ctr.state
    try:
        args = resolve_args(config, image.config) if image else config.entrypoint + config.command
    except HuskError:
        args = []
    command = " ".join(args)
    if not no_trunc and len(command) > 20:
        command = command[:17] + "..."
    return {
        "ID": config.id if no_trunc else config.id[:12],
        "Names": config.name,
        "Image": config.image_name,
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
    }


def _parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key not in _PS_FILTER_KEYS:
            raise InvalidArgument(f"invalid filter {item!r}: use {', '.join(k + '=' for k in _PS_FILTER_KEYS)}")
        if key == "status" and value not in {str(s) for s in State} | {"created", "exited"}:
            raise InvalidArgument(f"invalid status filter {value!r}")
        if key == "exited" and not value.lstrip("-").isdigit():
            raise InvalidArgument(f"invalid exited filter {value!r}: must be an exit code")
        parsed.setdefault(key, []).append(value)
    return parsed


def _matches(ctr, key: str, value: str) -> bool:
    config, st = ctr.config, ctr.state
    if key == "name":
        return re.search(value, config.name) is not None
    if key == "id":
        return config.id.startswith(value)
    if key == "status":
        return str(st.state) == value or (value == "exited" and st.state is State.STOPPED)
    if key == "exited":
        return st.state in (State.STOPPED, State.EXITED) and st.exit_code == int(value)
    if key == "label":
        label, sep, wanted = value.partition("=")
        return label in config.labels and (not sep or config.labels[label] == wanted)
    if key == "ancestor":
        return config.image_name == value or config.image_id.startswith(value)
    return False


def list_containers(runtime, *, all_: bool, quiet: bool, no_trunc: bool, no_heading: bool,
                    filters: tuple[str, ...], format_: str, sort: str, latest: bool) -> str:
    parsed = _parse_filters(filters)
    sort_keys = {"created": lambda r: -r["Created"], "id": lambda r: r["ID"], "image": lambda r: r["Image"],
                 "names": lambda r: r["Names"], "status": lambda r: r["State"],
                 "runningfor": lambda r: -r["Created"]}
    if sort not in sort_keys:
        raise InvalidArgument(f"invalid sort key {sort!r}: use {', '.join(sort_keys)}")
    containers = [c for c in runtime.containers()]
    for ctr in containers:
        ctr.sync_if_unlocked()
    containers = [c for c in containers
                  if (all_ or c.state.state is State.RUNNING)
                  and all(any(_matches(c, k, v) for v in vs) for k, vs in parsed.items())]
    if latest:
        containers = sorted(containers, key=lambda c: c.config.created)[-1:]
    now = time.time()
    images = {image.id: image for image in runtime.store.images()}
    rows = sorted((ps_row(c, images.get(c.config.image_id), no_trunc, now) for c in containers),
                  key=sort_keys[sort])
    if quiet:
        return "".join(row["ID"] + "\n" for row in rows)
    if format_ == "json":
        return json.dumps([_ps_json(row) for row in rows], indent=4) + "\n"
    from ..template import format_rows

    return format_rows(format_ or PS_TABLE, rows, PS_HEADERS, heading=not no_heading)


def _ps_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"Id": row["ID"], "Names": [row["Names"]], "Image": row["Image"], "ImageID": row["ImageID"],
            "Command": row["Command"].split(), "Created": row["Created"], "CreatedAt": row["CreatedHuman"],
            "State": row["State"], "Status": row["Status"], "Exited": row["Exited"],
            "ExitCode": row["ExitCode"], "Labels": row["Labels"] or None, "Pid": row["Pid"],
            "Mounts": row["Mounts"], "Ports": None}


def image_document(image) -> dict[str, Any]:
    from ..inspect import rfc3339

    cfg = image.config
    return {"Id": image.id, "Digest": "sha256:" + image.id, "RepoTags": list(image.names), "RepoDigests": [],
            "Created": rfc3339(image.created), "Size": image.size, "VirtualSize": image.size,
            "Config": {"Cmd": cfg.cmd or None, "Entrypoint": cfg.entrypoint or None, "Env": cfg.env,
                       "WorkingDir": cfg.workdir, "User": cfg.user, "Labels": cfg.labels or None,
                       "StopSignal": cfg.stop_signal},
            "Architecture": "amd64", "Os": "linux",
            "RootFS": {"Type": "layers", "Layers": list(image.layers)}, "Labels": cfg.labels or None}


def inspect_objects(runtime, names, type_: str, format_: str) -> tuple[str, int]:
    """Each name as a container (or image); JSON array, or the template per object."""
    from ..images import resolve_image

    documents, code = [], 0
    for name in names:
        try:
            if type_ != "image":
                try:
                    documents.append(runtime.container(name).inspect())
                    continue
                except NoSuchContainer:
                    if type_ == "container":
                        raise
            documents.append(image_document(resolve_image(runtime, name)))
        except HuskError as exc:
            message = str(exc) if type_ != "all" else f'no such object: "{name}"'
            print(f"Error: {message}", file=sys.stderr)
            code = EXIT_ENGINE
    if format_:
        from ..template import compile as compile_template

        template = compile_template(format_)
        return "".join(template.render(doc) + "\n" for doc in documents), code
    return json.dumps(documents, indent=4) + "\n", code


def print_logs(runtime, names, *, follow: bool, tail: int, timestamps: bool, since, until) -> None:
    from ..logs import follow_log, read_log, write_lines
    from ..timestamps import parse_time

    since_t = parse_time(since) if since else None
    until_t = parse_time(until) if until else None
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
