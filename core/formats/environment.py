"""Environment entries (`KEY=VALUE`) as husk accepts them from users, images and archives."""

from __future__ import annotations

from typing import Iterable

from ..define import InvalidArgument


def utf8_text(text: str) -> str:
    """`text` (from the command line or husk's own environment) with each byte
    that is not UTF-8 as U+FFFD, as podman stores it.

    Python hands such bytes over as lone surrogates (surrogateescape), which
    the state store's and the OCI spec's JSON refuse (an internal error, before
    this); podman keeps the bytes until its JSON, whose Go encoder writes U+FFFD
    for each: a label, env value, annotation or command holds U+FFFD there and
    here, and a name so read fails its pattern in both.  A file path that is
    not UTF-8 names another file so read (podman opens the bytes)."""
    if text.isascii():
        return text
    return "".join(["\ufffd" if "\udc80" <= char <= "\udcff" else char for char in text])


def check_env(entries: Iterable[str]) -> None:
    """Refuse an environment entry holding a NUL byte (execve would cut it
    there without a word: `A=b<NUL>c` would run as `A=b`) or without a name
    (split_entry), so that create refuses it, whoever calls, rather than
    every start."""
    for entry in entries:
        if "\0" in entry:
            raise InvalidArgument(f"invalid environment variable {entry!r}: it contains a NUL byte")
        split_entry(entry)


def split_entry(entry: str) -> tuple[str, str | None]:
    """One entry as podman reads one (its env.ParseSlice), the one reader of the
    CLI's -e, the API's Env and a container's stored environment: the name and
    the value after the first `=`, or None when there is no `=` (a name whose
    value the reader looks up).  Leading blanks are not the name's; an entry
    without a name (`=V`, `=`, ``) is refused with podman's message."""
    name, sep, value = entry.partition("=")
    if not name:
        from .gofmt import go_quote

        raise InvalidArgument(f"invalid environment variable: {go_quote(entry)}")
    return name.lstrip(" \t"), value if sep else None
