"""Mount options as users write them (`-v SRC:/ctr[:opts]`, `--tmpfs /dir[:opts]`),
read the same way by the CLI and the API's create bodies (Docker's Binds and Tmpfs,
libpod's mounts): one way to read `-v SRC:DST:ro`."""

from __future__ import annotations

import os
from typing import Iterable

from ..define import InvalidArgument
from ..state.records import Mount
from ..volumes.names import check_volume_name

_VOLUME_OPTIONS = {"ro", "rw", "z", "Z", "rbind", "bind", "private", "rprivate", "shared", "rshared",
                   "slave", "rslave", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                   "U", "copy", "nocopy"}


def parse_volume(value: str) -> Mount:
    """`-v SRC:/ctr[:opts]`: a bind mount of an existing host path (SRC starts
    with `/` or `.`), a named volume (any other SRC: made when missing), or
    with no SRC (`-v /ctr`) a new anonymous volume."""
    parts = value.split(":")
    if len(parts) == 1:
        parts = ["", parts[0]]
    elif not parts[0]:
        raise InvalidArgument("host directory cannot be empty")
    if len(parts) > 3 or not parts[1]:
        raise InvalidArgument(f"invalid volume {value!r}: expected [SOURCE:]/container/path[:options]")
    source, destination = parts[0], parts[1]
    options = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid container path {destination!r}: must be absolute")
    unknown = [o for o in options if o not in _VOLUME_OPTIONS]
    if unknown:
        raise InvalidArgument(f"invalid volume option {unknown[0]!r} in {value!r}")
    if not source or not source.startswith(("/", ".")):
        if source:
            check_volume_name(source)
        return Mount(destination=os.path.normpath(destination), type="volume", source=source, options=options)
    if not os.path.exists(source):
        raise InvalidArgument(f"statfs {source}: no such file or directory")
    return Mount(destination=os.path.normpath(destination), type="bind", source=os.path.abspath(source),
                 options=[o for o in options if o not in ("z", "Z", "U", "copy", "nocopy")])


def parse_volume_mount(fields: dict[str, str], value: str, volume_opts: Iterable[str] = ()) -> Mount:
    """`--mount type=volume,src=NAME,dst=/ctr[,ro][,volume-nocopy][,volume-opt=K=V]...`
    (its fields already split); no src: an anonymous volume.  Each volume-opt is
    kept as a `volume-opt=K=V` option: the driver's options for a volume this
    mount makes (see husk.engine.volume_mounts), never given to the runtime."""
    destination = fields.get("dst") or fields.get("destination") or fields.get("target") or ""
    source = fields.get("src") or fields.get("source") or ""
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid mount {value!r}: a volume mount needs an absolute dst")
    options = []
    for key, item in fields.items():
        if key in ("type", "dst", "destination", "target", "src", "source"):
            continue
        if key in ("ro", "readonly") and item in ("", "true", "1"):
            options.append("ro")
        elif key == "volume-nocopy" and item in ("", "true", "1"):
            options.append("nocopy")
        elif key in ("U", "chown") and item in ("", "true", "1"):
            options.append("U")
        elif key in _VOLUME_OPTIONS and not item:
            options.append(key)
        elif key not in ("ro", "readonly", "volume-nocopy", "U", "chown", "volume-label"):
            raise InvalidArgument(f"invalid mount option {key!r} in {value!r}")
    for option in volume_opts:
        if "=" not in option:
            raise InvalidArgument(f"invalid mount option 'volume-opt={option}' in {value!r}: KEY=VALUE expected")
        options.append(f"volume-opt={option}")
    if source:
        check_volume_name(source)
    return Mount(destination=os.path.normpath(destination), type="volume", source=source, options=options)


def parse_tmpfs(value: str) -> Mount:
    destination, _, options = value.partition(":")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid tmpfs destination {destination!r}: must be absolute")
    return Mount(destination=os.path.normpath(destination), type="tmpfs", source="tmpfs",
                 options=[o for o in options.split(",") if o])
