"""How `logs` and `pod logs` mark each line, local and remote alike, as podman 4.3 prints
them (checked against it): with several containers each line starts with the container's
short ID (its name with --names) and a space, before the line's time; with one container
nothing, even with --names.  With --color the whole line is in the container's colour, the
colours taken in turn, with one container too.
"""

from __future__ import annotations

from typing import NamedTuple

#: the ANSI foreground colours podman 4.3 gives the containers, in turn
COLORS = (37, 31, 33, 34, 35, 36, 32)
_RESET = b"\033[0m"


class Marker(NamedTuple):
    """What goes before a container's lines (`head`) and the colour they are in (`colour`)."""
    head: bytes
    colour: bytes

    def __bool__(self) -> bool:
        """Whether it marks anything (an empty one leaves the output as it comes: a remote
        follow then copies a prompt without waiting for its newline)."""
        return bool(self.head or self.colour)

    def __call__(self, text: bytes) -> bytes:
        """`text` (one line, its time first if asked for) marked; the colour ends before the
        newline, as podman's does."""
        if not self.colour:
            return self.head + text
        body, newline = (text[:-1], b"\n") if text.endswith(b"\n") else (text, b"")
        return self.colour + self.head + body + _RESET + newline


def markers(containers: list[tuple[str, str]], by_name: bool, color: bool) -> list[Marker]:
    """A marker for each of `containers` ((id, name) pairs, in the order shown)."""
    several = len(containers) > 1
    return [Marker(f"{name if by_name else ident[:12]} ".encode() if several else b"",
                   f"\033[{COLORS[index % len(COLORS)]}m".encode() if color else b"")
            for index, (ident, name) in enumerate(containers)]
