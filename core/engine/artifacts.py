"""Per-container artifact files: small named blobs that travel with a container
(plugins keep checkpoint metadata and the like there), in its `userdata/artifacts`.

A name is one path component: anything that could reach outside the artifact
directory (`..`, `/`, NUL, an empty name, `.`) is refused, so a caller passing
user input cannot read or overwrite another file.  Writes go to a temporary
file that is renamed into place, so a reader never sees half an artifact.
"""

from __future__ import annotations

import os

from ..define import HuskError, InvalidArgument

ARTIFACT_MODE = 0o740  # as podman's


class NoSuchArtifact(HuskError):
    http_status = 404
    default_message = "no such artifact"


def artifact_path(directory: str, name: str) -> str:
    """The path of artifact `name` in `directory`; InvalidArgument when it would escape."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise InvalidArgument(f"invalid artifact name {name!r}: it must be one path component")
    return os.path.join(directory, name)


def add(directory: str, name: str, data: bytes) -> None:
    from ..state.atomic import replace_file

    def write(handle) -> None:
        handle.write(data)
        os.fchmod(handle.fileno(), ARTIFACT_MODE)  # whatever the umask

    replace_file(artifact_path(directory, name), write, make_parent=True)


def get(directory: str, name: str) -> bytes:
    try:
        with open(artifact_path(directory, name), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise NoSuchArtifact(f"no artifact named {name!r}") from None


def remove(directory: str, name: str) -> None:
    try:
        os.unlink(artifact_path(directory, name))
    except FileNotFoundError:
        raise NoSuchArtifact(f"no artifact named {name!r}") from None
