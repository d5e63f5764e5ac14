"""Volume names: podman's rule, checked before a name touches a path or a key."""

from __future__ import annotations

import os
import re

from ..define import InvalidArgument

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
#: podman's message for a name that does not match, word for word
NAME_RULE = "names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"


def check_volume_name(name: str) -> str:
    """`name` when podman would accept it as a volume name, else InvalidArgument.
    The rule leaves out `/`, `..` as a name, and the empty name, so a valid name
    is always one path component."""
    if not isinstance(name, str) or len(name) > 255 or not _NAME.fullmatch(name):
        raise InvalidArgument(f"running volume create option: {NAME_RULE}: invalid argument")
    return name


def anonymous_name() -> str:
    """A new anonymous volume's name: 64 hex digits, as podman makes them."""
    return os.urandom(32).hex()
