"""Container names: what podman accepts (create, rename, a restored import)."""

from __future__ import annotations

import os
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


_ADJECTIVES = ("brave", "calm", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid",
               "merry", "nimble", "quiet", "stoic", "tender", "vivid", "witty", "zealous", "bold")
_NOUNS = ("hopper", "lovelace", "turing", "curie", "noether", "ritchie", "thompson", "knuth",
          "liskov", "hamilton", "torvalds", "wozniak", "babbage", "shannon", "dijkstra", "kay")


def random_name() -> str:
    """adjective_noun_xxxx, like podman's; os.urandom because `secrets` costs 4 ms to import."""
    entropy = os.urandom(4)
    return f"{_ADJECTIVES[entropy[0] % len(_ADJECTIVES)]}_{_NOUNS[entropy[1] % len(_NOUNS)]}_{entropy[2:].hex()}"

