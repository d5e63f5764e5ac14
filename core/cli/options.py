"""Turning command-line values into engine arguments: env files, labels, the
entrypoint, input files.  Volumes and tmpfs mounts are parsed by
:mod:`husk.presentation.mounts`, which the API shares."""

from __future__ import annotations

import contextlib
import os
from typing import BinaryIO, Iterator

from ..define import InvalidArgument
from ..formats.environment import split_entry, utf8_text



def parse_env(values: tuple[str, ...], env_files: tuple[str, ...], *, exec_: bool = False) -> list[str]:
    """`-e K=V`, `-e K` (taken from the caller's environment when set), `-e K*`
    (every variable of the caller's starting with K) and `--env-file`s, files
    first as podman does, in order.

    As podman 4.3: `-e K=` sets K empty; a name loses its leading blanks; an
    entry with no name (`=V`, `-e=`, which cobra reads as the value "=") is
    refused, and so is an empty one (`-e ''`, `--env=`), except that create
    and run ignore a lone empty `-e` (exec refuses it too, its message after
    "parsing environment variables: ")."""
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
    if exec_ or values != ("",):
        entries.extend(values)
    env = []
    for entry in entries:
        try:
            name, value = split_entry(entry)
        except InvalidArgument as exc:
            raise InvalidArgument(f"parsing environment variables: {exc}" if exec_ else str(exc)) from None
        if value is not None:
            env.append(f"{name}={value}")
        elif name.endswith("*"):
            env += [utf8_text(f"{key}={val}") for key, val in os.environ.items() if key.startswith(name[:-1])]
        elif name in os.environ:
            env.append(utf8_text(f"{name}={os.environ[name]}"))
    return env


def parse_labels(values: tuple[str, ...]) -> dict[str, str]:
    """`--label KEY[=VALUE]`: podman's rule, a key is required, the value may be left out."""
    labels = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key:
            from ..formats.gofmt import go_quote

            raise InvalidArgument(f"invalid label format: {go_quote(value)}")
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
