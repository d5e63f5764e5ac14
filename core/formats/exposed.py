"""Exposed ports as Dockerfile's EXPOSE and `--expose` write them.

``80``, ``80/udp``, ``8000-8002/tcp``: each port of a range on its own,
normalised to ``PORT/PROTOCOL`` as an image config's ExposedPorts keys are.
"""

from __future__ import annotations

from typing import Iterable

from ..define import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


def parse_expose(values: Iterable[str]) -> list[str]:
    """Every value as ``PORT/PROTOCOL`` keys, in order, without repeats."""
    keys = []
    for value in values:
        ports, _, protocol = value.partition("/")
        protocol = protocol.lower() or "tcp"
        if protocol not in PROTOCOLS:
            raise InvalidArgument(f'invalid protocol "{protocol}" in expose "{value}": must be tcp, udp or sctp')
        low, count = port_range(ports, f'expose "{value}"')
        keys += [f"{port}/{protocol}" for port in range(low, low + count)]
    return list(dict.fromkeys(keys))


def port_range(text: str, where: str) -> tuple[int, int]:
    """`80` or `8000-8009`: (first port, how many); InvalidArgument naming `where` else."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise InvalidArgument(f'invalid port "{text}" in {where}') from None
    if not 1 <= low <= high <= 65535:
        raise InvalidArgument(f'invalid port "{text}" in {where}: ports are 1-65535')
    return low, high - low + 1
