"""Mount options as users write them (`-v /host:/ctr[:opts]`, `--tmpfs /dir[:opts]`),
read the same way by the CLI and the API's create bodies (Docker's Binds and Tmpfs,
libpod's mounts): one way to read `-v SRC:DST:ro`."""

from __future__ import annotations

import os

from ..define import InvalidArgument
from ..state.records import Mount

_VOLUME_OPTIONS = {"ro", "rw", "z", "Z", "rbind", "bind", "private", "rprivate", "shared", "rshared",
                   "slave", "rslave", "nosuid", "suid", "nodev", "dev", "noexec", "exec"}


def parse_volume(value: str) -> Mount:
    """`-v /host:/ctr[:opts]`: a bind mount of an existing absolute host path."""
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume {value!r}: expected /host/path:/container/path[:options]")
    source, destination = parts[0], parts[1]
    options = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    if not source.startswith("/"):
        raise InvalidArgument(f"invalid volume {value!r}: named volumes are not supported yet; use an absolute host path")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid container path {destination!r}: must be absolute")
    unknown = [o for o in options if o not in _VOLUME_OPTIONS]
    if unknown:
        raise InvalidArgument(f"invalid volume option {unknown[0]!r} in {value!r}")
    if not os.path.exists(source):
        raise InvalidArgument(f"statfs {source}: no such file or directory")
    return Mount(destination=os.path.normpath(destination), type="bind", source=os.path.abspath(source),
                 options=[o for o in options if o not in ("z", "Z")])


def parse_tmpfs(value: str) -> Mount:
    destination, _, options = value.partition(":")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid tmpfs destination {destination!r}: must be absolute")
    return Mount(destination=os.path.normpath(destination), type="tmpfs", source="tmpfs",
                 options=[o for o in options.split(",") if o])
