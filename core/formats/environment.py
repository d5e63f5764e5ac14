"""Environment entries (`KEY=VALUE`) as husk accepts them from users, images and archives."""

from __future__ import annotations

from typing import Iterable

from ..define import InvalidArgument


def check_env(entries: Iterable[str]) -> None:
    """Refuse an environment entry holding a NUL byte: execve would cut it there
    without a word (`A=b<NUL>c` would run as `A=b`)."""
    for entry in entries:
        if "\0" in entry:
            raise InvalidArgument(f"invalid environment variable {entry!r}: it contains a NUL byte")
