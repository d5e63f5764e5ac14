"""Environment entries (`KEY=VALUE`) as husk accepts them from users, images and
archives, and the text of arguments that is not UTF-8 as podman stores it."""

from __future__ import annotations

from typing import Iterable

from ..define import InvalidArgument


def utf8_text(text: str) -> str:
    """`text` (from the command line or husk's own environment) with each byte
    that is not UTF-8 as U+FFFD, as podman stores it.

    Python hands such bytes over as lone surrogates (surrogateescape), which
    the state store's JSON refuses and the OCI spec's would write as escapes;
    podman keeps the bytes until its JSON, whose Go encoder writes U+FFFD for
    each: a label, env value, annotation or command holds U+FFFD there and
    here, and a name so read fails its pattern in both.  Any lone surrogate is
    so replaced: an API body's `"\\ud800"` too, as Go's decoder reads it.  A
    host path the CLI opens itself (cp, import, load, save -o, build's
    context) keeps its bytes, as podman's does; a bind mount's source goes
    through the spec, U+FFFD in both (the runtime finds no such path)."""
    if text.isascii():
        return text
    return "".join(["\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text])


def utf8_document(value):
    """`value` (a JSON document: dicts, lists, strings) with utf8_text applied
    to every string, keys too: what the store and the OCI spec write when a
    record holds bytes that are not UTF-8 (a label, env value, annotation,
    command or mount source from the command line, which keeps their bytes
    so that a host path it opens names that file)."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, dict):
        return {utf8_document(key): utf8_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [utf8_document(item) for item in value]
    return value


def utf8_json(document) -> str:
    """`document` as compact JSON (ASCII) as podman's Go encoder writes it: a
    string holding bytes that are not UTF-8 with U+FFFD for each, where
    json.dumps writes the lone surrogate as an escape that runtimes and image
    readers take for a broken UTF-16 pair."""
    import json

    text = json.dumps(document, separators=(",", ":"))
    if "\\ud" in text:  # a surrogate escape: a pair, or bytes from the command line
        text = json.dumps(utf8_document(document), separators=(",", ":"))
    return text


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
