"""Turning command-line values into engine arguments: env files, volumes, labels.

Kept apart from the verbs so that the API service can reuse the same parsing
for the same inputs (one way to read `-v SRC:DST:ro`)."""

from __future__ import annotations

import contextlib
import os
from typing import BinaryIO, Iterator

from ..define import InvalidArgument
from ..state.records import Mount

_VOLUME_OPTIONS = {"ro", "rw", "z", "Z", "rbind", "bind", "private", "rprivate", "shared", "rshared",
                   "slave", "rslave", "nosuid", "suid", "nodev", "dev", "noexec", "exec"}


def parse_env(values: tuple[str, ...], env_files: tuple[str, ...]) -> list[str]:
    """`-e K=V`, `-e K` (taken from the caller's environment when set) and `--env-file`s,
    files first as podman does, in order."""
    entries: list[str] = []
    for path in env_files:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise InvalidArgument(f"reading env file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidArgument(f"reading env file {path}: not UTF-8 text") from None
        entries.extend(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    entries.extend(values)
    env = []
    for entry in entries:
        name, sep, _ = entry.partition("=")
        if not name or any(c.isspace() for c in name):
            raise InvalidArgument(f"invalid environment variable: {entry!r}")
        if sep:
            env.append(entry)
        elif name in os.environ:
            env.append(f"{name}={os.environ[name]}")
    return env


def parse_labels(values: tuple[str, ...]) -> dict[str, str]:
    """`--label KEY[=VALUE]`: podman's rule, a key is required, the value may be left out."""
    labels = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key:
            raise InvalidArgument(f"invalid label format: {_quoted(value)}")
        labels[key] = val
    return labels


def parse_annotations(values: tuple[str, ...]) -> dict[str, str]:
    """`--annotation KEY=VALUE`: podman's rule, the `=` is required."""
    annotations = {}
    for value in values:
        key, equals, val = value.partition("=")
        if not equals:
            raise InvalidArgument("annotations must be formatted KEY=VALUE")
        annotations[key] = val
    return annotations


def _quoted(value: str) -> str:
    """Go's %q of a string, near enough: one line whatever it holds."""
    return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def parse_volume(value: str) -> Mount:
    """`-v /host:/ctr[:opts]`: a bind mount of an existing absolute host path."""
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume {value!r}: expected /host/path:/container/path[:options]")
    source, destination = parts[0], parts[1]
    options = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    if not source.startswith("/"):
        raise InvalidArgument(f"invalid volume {value!r}: named volumes are not supported yet; use an absolute host path")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid container path {destination!r}: must be absolute")
    unknown = [o for o in options if o not in _VOLUME_OPTIONS]
    if unknown:
        raise InvalidArgument(f"invalid volume option {unknown[0]!r} in {value!r}")
    if not os.path.exists(source):
        raise InvalidArgument(f"statfs {source}: no such file or directory")
    return Mount(destination=os.path.normpath(destination), type="bind", source=os.path.abspath(source),
                 options=[o for o in options if o not in ("z", "Z")])


def parse_tmpfs(value: str) -> Mount:
    destination, _, options = value.partition(":")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid tmpfs destination {destination!r}: must be absolute")
    return Mount(destination=os.path.normpath(destination), type="tmpfs", source="tmpfs",
                 options=[o for o in options.split(",") if o])


def parse_entrypoint(value: str | None) -> list[str] | None:
    """`--entrypoint` as podman reads it: a JSON array, or one executable; "" clears it."""
    if value is None:
        return None
    if value.startswith("["):
        from ..storage.images import json_string_list

        return json_string_list(value, f"entrypoint {value!r}")
    return [value] if value else []


@contextlib.contextmanager
def open_input(path: str | None, hint: str = "") -> Iterator[BinaryIO]:
    """The file at `path` for reading, or stdin when `path` is None or "-".
    A terminal on stdin is refused (an archive is never typed in); `hint`
    names the flag that would give a file instead."""
    import sys

    import click

    if path in (None, "-"):
        if sys.stdin.isatty():
            raise InvalidArgument("cannot read from terminal, use command-line redirection" + hint)
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise click.ClickException(f"opening {path}: {exc.strerror}") from None
    with stream:
        yield stream
