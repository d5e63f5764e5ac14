"""Sizes as podman prints them (go-units): `human_size` in decimal units with
four significant digits (`52.77MB`, stats and `system df`), `bytes_size` in
binary ones (`50.33MiB`)."""

from __future__ import annotations

DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _custom(size: float, base: float, units: tuple[str, ...]) -> str:
    index = 0
    while size >= base and index < len(units) - 1:
        size /= base
        index += 1
    return f"{size:.4g}{units[index]}"


def human_size(size: float) -> str:
    return _custom(float(size), 1000.0, DECIMAL)


def bytes_size(size: float) -> str:
    return _custom(float(size), 1024.0, BINARY)
