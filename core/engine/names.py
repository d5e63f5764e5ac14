"""Container names: what podman accepts (create, rename, a restored import)."""

from __future__ import annotations

import re

from ..define import InvalidArgument

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def check_name(name: str) -> None:
    """Refuse a container name podman would refuse (create, rename, a restored
    checkpoint's --name): the one place that says what a name may be.  No
    length limit, as in podman (the store keys a long name by its digest)."""
    if not NAME_PATTERN.fullmatch(name):  # fullmatch: `$` would let a trailing newline in
        shown = name.encode("unicode_escape").decode("ascii")  # one line, whatever the name holds
        raise InvalidArgument(f'container name "{shown}" is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*')
