"""A container's argv and environment from its record and its image's config.

Apart from the spec generator (husk.engine.spec, a large module) because
`ps`, `inspect` and `create` need them too, and they are hot paths that
must not import the whole spec machinery for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..define import InvalidArgument

if TYPE_CHECKING:
    from ..state.records import ContainerConfig, ImageConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: marks a container created with --entrypoint, so an empty one still overrides the image's
ENTRYPOINT_SET_ANNOTATION = "husk.entrypoint-set"


def resolve_args(config: "ContainerConfig", image: "ImageConfig") -> list[str]:
    """The process's argv, as docker and podman build it.

    A container's entrypoint replaces the image's and then drops the image's
    CMD too (only the container's own command follows it); the container's
    command replaces the image's CMD.  `--entrypoint ""` sets an empty one: the
    record marks it with the annotation ``husk.entrypoint-set`` (set at create).
    """
    if config.entrypoint or config.annotations.get(ENTRYPOINT_SET_ANNOTATION) == "true":
        entrypoint = config.entrypoint
        command = config.command
    else:
        entrypoint = image.entrypoint
        command = config.command or image.cmd
    args = [*entrypoint, *command]
    if not args:
        raise InvalidArgument("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")
    return args


def merge_env(image_env: list[str], container_env: list[str], *, hostname: str, home: str) -> list[str]:
    """The process environment: defaults, then the image's, then the container's
    (a later value wins by name); HOSTNAME and HOME are added unless set.

    An entry without ``=`` takes its value from husk's own environment, and is
    dropped when husk has none (as `-e NAME` does).
    """
    from ..formats.environment import split_entry, utf8_text

    merged = {"PATH": DEFAULT_PATH, "TERM": "xterm", "container": "husk"}
    for entry in (*image_env, *container_env):
        name, value = split_entry(entry)
        if value is not None:
            merged[name] = value
        elif name in os.environ:
            merged[name] = utf8_text(os.environ[name])
    merged.setdefault("HOSTNAME", hostname)
    merged.setdefault("HOME", home)
    return [f"{name}={value}" for name, value in merged.items()]
