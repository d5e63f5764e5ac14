"""What `ps`, `inspect` and `logs` print (the rows and documents come from
:mod:`husk.presentation`; this module prints them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import sys

from ..define import EXIT_ENGINE, HuskError, InvalidArgument, NoSuchContainer, State

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

def _json(value, indent: int) -> str:
    """JSON text indented by `indent` spaces a level, through msgspec, which
    reading the records loaded already (the json module cost an `inspect` 1 ms
    to import, issue 20).  The text of json.dumps(value, indent=indent) for
    ASCII strings and ordinary numbers; other characters are printed as UTF-8,
    as podman's Go encoder does (json.dumps escaped them as \\uXXXX)."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(value, enc_hook=str), indent=indent).decode()


PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
              "Pod": "POD ID", "PodName": "PODNAME"}


def _parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    """`--filter KEY=VALUE` flags as the filters' dict (checked by husk.presentation.filters)."""
    parsed: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            from ..presentation.filters import KEYS  # here: inspect and logs, which share this module, filter nothing

            raise InvalidArgument(f"invalid filter {item!r}: use {', '.join(k + '=' for k in KEYS)}")
        parsed.setdefault(key, []).append(value)
    return parsed


def list_containers(runtime: "Runtime", *, all_: bool, quiet: bool, no_trunc: bool, no_heading: bool,
                    filters: tuple[str, ...], format_: str, sort: str, latest: bool, last: int = -1,
                    namespaces: bool = False, size: bool = False, errors: list | None = None) -> str:
    """The `ps` output; corrupt records go to `errors` (see Store.containers).
    `last` >= 0: only the containers created last; `namespaces`: rows carry
    podman's --ns fields (each namespace's inode number); `size`: rows carry
    the writable layer's size and the root filesystem's (SIZE column)."""
    from ..presentation.ps import ps_document, select_containers

    entries = select_containers(runtime, all_=all_, filters=_parse_filters(filters), sort=sort, latest=latest,
                                no_trunc=no_trunc, errors=errors)
    if last >= 0:
        newest = sorted(entries, key=lambda entry: entry[1].config.created)[len(entries) - last:] if last else []
        entries = [entry for entry in entries if entry in newest]
    rows = [row for row, _, _ in entries]
    if namespaces:
        for row, container, _ in entries:
            row.update(_namespace_fields(container.state.pid))
    sizes = {}
    if size and not quiet:
        from ..engine.disk_usage import container_sizes
        from ..formats.units import human_size

        for row, container, _ in entries:
            sizes[container.id] = rw, rootfs = container_sizes(runtime, container)
            row["Size"] = f"{human_size(rw)} (virtual {human_size(rootfs)})"
    if quiet:
        return "".join(row["ID"] + "\n" for row in rows)
    if format_ == "json":
        documents = [ps_document(*entry) for entry in entries]
        for document, (_, container, _) in zip(documents, entries):
            if container.id in sizes:
                document["Size"] = dict(zip(("rwSize", "rootFsSize"), sizes[container.id]))
        return _json(documents, indent=4) + "\n"
    from ..formats.template import format_rows

    return format_rows(format_ or (PS_TABLE + "\t{{.Size}}" if size else PS_TABLE), rows,
                       {**PS_HEADERS, **NS_HEADERS}, heading=not no_heading)


#: `ps --ns`: podman's columns
NS_TABLE = ("table {{.ID}}\t{{.Names}}\t{{.Pid}}\t{{.Cgroupns}}\t{{.IPC}}\t{{.MNT}}\t{{.NET}}\t{{.PIDNS}}"
            "\t{{.UserNS}}\t{{.UTS}}")
NS_HEADERS = {"Cgroupns": "CGROUPNS", "PIDNS": "PIDNS", "UserNS": "USERNS"}
_NS_FIELDS = {"Cgroupns": "cgroup", "IPC": "ipc", "MNT": "mnt", "NET": "net", "PIDNS": "pid", "UserNS": "user",
              "UTS": "uts"}


def _namespace_fields(pid: int) -> dict[str, str]:
    """The inode numbers of a running process's namespaces (empty when it is not running)."""
    fields = {}
    for field, kind in _NS_FIELDS.items():
        try:
            link = os.readlink(f"/proc/{pid}/ns/{kind}") if pid else ""
        except OSError:
            link = ""
        fields[field] = link.partition("[")[2].rstrip("]")
    return fields


#: Fields of podman's inspect documents that are Go maps (any key is valid), not structs.
_MAP_FIELDS = frozenset({"Labels", "Annotations", "Tmpfs", "Data", "Sysctls", "Attributes", "Loaded", "Failed",
                         "Runtimes"})


def inspect_objects(runtime: "Runtime", names, type_: str, format_: str,
                    size: bool = False) -> tuple[str, list[str]]:
    """Each name as a container, image, volume, network or pod (`type_`, or `all`:
    the first kind that has it, in podman's order): the JSON array, or the template
    per object, and the failures' messages for :func:`print_report`.
    `size`: containers' documents carry SizeRw and SizeRootFs (podman's --size).

    A name that is none is podman's message (`inspecting object: no such
    object: "NAME"`, or the kind's own with a `type_`); the others are still printed."""
    if not names:
        raise InvalidArgument("no names or ids specified")  # podman's words
    documents, errors = [], []
    for name in names:
        try:
            found = _inspect_one(runtime, name, type_, size)
        except HuskError as exc:
            errors.append(f"inspecting object: {exc}")
            continue
        if found is None:
            errors.append(f'inspecting object: no such object: "{name}"')
        else:
            documents.append(found)
    if format_ and format_ != "json":
        from ..formats.template import compile as compile_template

        template = compile_template(format_)
        return "".join(template.render(_inspect_value(kind, doc)) + "\n" for kind, doc in documents), errors
    return _json([doc for _, doc in documents], indent=5) + "\n", errors  # podman 4.3 indents by 5


_ALL_KINDS = ("container", "image", "volume", "network", "pod")


def _inspect_one(runtime: "Runtime", name: str, type_: str, size: bool) -> tuple[str, dict] | None:
    """(kind, document) of the first kind that has `name`; None when none has
    (with `type_` all), else the kind's own error."""
    from ..define import NoSuchImage, NoSuchNetwork, NoSuchPod, NoSuchVolume
    from .inspected import OTHER_KINDS

    for kind in _ALL_KINDS if type_ == "all" else (type_,):
        try:
            if kind == "container":
                return kind, _container_document(runtime, name, size)
            if kind == "image":
                from ..presentation.images import image_document  # not before: a container's is the hot path
                from ..storage.images import resolve_image

                return kind, image_document(resolve_image(runtime, name), runtime.paths)
            return kind, OTHER_KINDS[kind][0](runtime, name)
        except (NoSuchContainer, NoSuchImage, NoSuchVolume, NoSuchNetwork, NoSuchPod, InvalidArgument) as exc:
            if type_ == "all":  # podman's: a name no kind takes (an image's bad reference too) is no object
                continue
            if isinstance(exc, NoSuchContainer):
                raise NoSuchContainer(f"no such container {name}") from None
            if isinstance(exc, NoSuchImage):
                raise NoSuchImage(f"{name}: image not known") from None
            raise
    return None


def _container_document(runtime: "Runtime", name: str, size: bool) -> dict:
    """A container's inspect document (`size`: with SizeRw and SizeRootFs)."""
    container = runtime.container(name)
    document = container.inspect()
    if size:
        from ..engine.disk_usage import container_sizes

        document["SizeRw"], document["SizeRootFs"] = container_sizes(runtime, container)
    return document


def _inspect_value(kind: str, document: dict):
    """A document of `inspect` as the Go struct its template sees."""
    if kind in ("container", "image"):
        struct = "define.InspectContainerData" if kind == "container" else "inspect.ImageData"
        return _go_value(_go_fields(kind, document), struct, _MAP_FIELDS)
    from .inspected import OTHER_KINDS

    return _go_value(document, *OTHER_KINDS[kind][1:])


def print_report(output: str, errors: list[str]) -> None:
    """What an inspect printed, then its failures as podman 4.3 reports several:
    each but the first as `error MESSAGE`, then the first as the `Error:` line,
    and exit 125 if there was one."""
    sys.stdout.write(output)
    sys.stdout.flush()
    for message in errors[1:]:
        print(f"error {message}", file=sys.stderr)
    if errors:
        print(f"Error: {errors[0]}", file=sys.stderr)
        raise SystemExit(EXIT_ENGINE)


def _go_fields(kind: str, doc: dict) -> dict:
    """What podman's Go structs show templates beyond their JSON: the field ID
    (its JSON name is Id); a container's sizes without --size too (JSON leaves
    them out: omitempty) and Config.Healthcheck (nil); State.Healthcheck,
    podman's old name of State.Health (a method of its struct, kept for old templates);
    HostConfig.IDMappings' UIDMap and GIDMap (JSON UidMap, GidMap)."""
    if "Id" not in doc:
        return doc
    if kind == "image":
        return {**doc, "ID": doc["Id"]}
    host = doc["HostConfig"]
    if "IDMappings" in host:
        maps = host["IDMappings"]
        host = {**host, "IDMappings": {"UIDMap": maps["UidMap"], "GIDMap": maps["GidMap"]}}
    return {"SizeRw": None, "SizeRootFs": 0, **doc, "ID": doc["Id"],
            "State": {**doc["State"], "Healthcheck": doc["State"]["Health"]},
            "Config": {"Healthcheck": None, **doc["Config"]}, "HostConfig": host}


def documents_text(documents: list[dict], format_: str, struct: str, map_fields=frozenset({"Labels", "Options"}),
                   indent: int = 4, go_names: dict | None = None) -> str:
    """Inspect documents as podman prints them: a JSON array (`indent` spaces a
    level: podman's volume inspect has 5), or `format_` (a Go template) once per
    document; `struct` is the Go type the template sees.  `go_names` maps JSON
    keys to the Go fields a template names, where the two differ (a network's
    `name` is `.Name`)."""
    if not format_ or format_ == "json":
        return _json(documents, indent=indent) + "\n"
    from ..formats.template import compile as compile_template

    template = compile_template(format_)
    return "".join(template.render(_go_value(d, struct, map_fields, go_names)) + "\n" for d in documents)


def _go_value(document: dict, struct: str, map_fields: frozenset, go_names: dict | None = None):
    """A document as the Go struct `struct` (see :func:`documents_text`)."""
    from ..formats.gofmt import as_struct

    if go_names:
        document = _renamed(document, go_names, map_fields)
        map_fields = frozenset(go_names.get(key, key) for key in map_fields)
    return as_struct(document, struct, map_fields)


def _renamed(value, names: dict, keep: frozenset):
    """`value` with its dicts' keys renamed by `names`, except inside the map fields `keep`."""
    if isinstance(value, list):
        return [_renamed(item, names, keep) for item in value]
    if not isinstance(value, dict):
        return value
    return {names.get(k, k): v if k in keep else _renamed(v, names, keep) for k, v in value.items()}


def print_inspected(names, document_of, format_: str, struct: str, error_prefix: str = "", indent: int = 4,
                    map_fields=frozenset({"Labels", "Options"}), go_names: dict | None = None,
                    one_as_object: bool = False) -> None:
    """`document_of(name)` for each name, printed as :func:`documents_text` does;
    the names that fail are reported as :func:`print_report` does (exit 125).
    `one_as_object`: a single JSON document is printed bare, not in an array
    (podman 4.3's pod inspect)."""
    documents, errors = [], []
    for name in names:
        try:
            documents.append(document_of(name))
        except HuskError as exc:
            errors.append(f"{error_prefix}{exc}")
    if one_as_object and len(documents) == 1 and (not format_ or format_ == "json"):
        output = _json(documents[0], indent=indent) + "\n"
    else:
        output = documents_text(documents, format_, struct, map_fields, indent, go_names)
    print_report(output, errors)


def print_logs(runtime: "Runtime", names, *, follow: bool, tail: int, timestamps: bool, since, until,
               by_name: bool = False, color: bool = False) -> None:
    """Each container's log, its lines marked as :mod:`husk.presentation.logs` says (the
    container's short id or name when there are several, a colour with `color`)."""
    from ..formats.timestamps import parse_until
    from ..engine.logs import follow_log, read_log, write_lines
    from ..formats.timestamps import parse_time
    from ..presentation.logs import markers

    since_t = parse_time(since) if since else None
    until_t = parse_until(until) if until else None
    tail_n = None if tail < 0 else tail
    out, err = sys.stdout.buffer, sys.stderr.buffer
    containers = [runtime.container(name) for name in names]
    marks = markers([(c.id, c.name) for c in containers], by_name, color)
    for container, mark in zip(containers, marks):
        if container.config.log_driver == "none":
            raise InvalidArgument("this container is using the 'none' log driver, cannot read logs: "
                                  "this container is not logging output")
        path = runtime.paths.log_path(container.id)
        if follow:
            def running(container=container) -> bool:
                container.reload()
                container.sync_if_unlocked()
                return container.state.state in (State.RUNNING, State.PAUSED, State.CREATED)

            lines = follow_log(path, running, tail=tail_n, since=since_t, until=until_t)
        else:
            lines = read_log(path, tail=tail_n, since=since_t, until=until_t)
        write_lines(lines, out, err, timestamps, mark)


def print_listing(documents: list[dict], format_: str, quiet: bool, heading: bool, table: str, headers: dict,
                  row, quiet_value, json_text=None) -> None:
    """What a list verb (pod ps, network, volume and secret ls) prints of its libpod list
    documents, local and remote alike: `quiet_value(document)` a line with -q, JSON
    (`json_text(documents)`, or indented by 4), or `row(document)` of each through the table or
    the template."""
    from ..formats.template import format_rows

    if quiet:
        sys.stdout.write("".join(quiet_value(doc) + "\n" for doc in documents))
    elif format_ == "json":
        sys.stdout.write((json_text(documents) if json_text else _json(documents, indent=4)) + "\n")
    else:
        sys.stdout.write(format_rows(table if format_ in ("", "table") else format_, [row(doc) for doc in documents],
                                     headers, heading=heading))
