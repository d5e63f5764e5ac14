"""Images: names and tags, import of a rootfs tarball, removal.

An image is a list of layers (unpacked once under the storage root, shared by
every image that has them) plus its config.  Names are normalised as podman
does for local images: `busybox` is `localhost/busybox:latest` when imported,
and lookups try the short name against every stored name's repository.
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING, BinaryIO, Iterable

import msgspec

from ..define import ImageInUse, InvalidArgument, NoSuchImage
from ..state.records import ImageConfig, ImageRecord
from .reference import check_reference

if TYPE_CHECKING:
    from ..engine.runtime import Runtime


def normalize(reference: str) -> str:
    """`busybox` -> `localhost/busybox:latest`; `quay.io/x/y` -> `quay.io/x/y:latest`.
    Anything the reference grammar refuses (:mod:`husk.storage.reference`) is an InvalidArgument."""
    check_reference(reference)
    first, _, rest = reference.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost" and first == first.lower()):
        reference = f"localhost/{reference}"
    last = reference.rsplit("/", 1)[1]
    if "@" not in last and ":" not in last:
        reference += ":latest"
    return reference


def resolve_image(runtime: "Runtime", name: str) -> ImageRecord:
    """The image a user means by `name`: a stored name, a (prefix of an) id, or a short name.
    A name the reference grammar refuses is an InvalidArgument, whatever is stored."""
    store = runtime.store
    candidates = [name, normalize(name)]
    for candidate in candidates:
        image_id = store.image_id_for_name(candidate)
        if image_id:
            return store.image(image_id)
    hex_part = name.removeprefix("sha256:")
    if len(hex_part) >= 3 and all(c in "0123456789abcdef" for c in hex_part):
        ids = store.image_ids_with_prefix(hex_part)
        if len(ids) == 1:
            return store.image(ids[0])
    if "/" not in name:  # short name: match the last path component of any stored name
        wanted = name if ":" in name else name + ":latest"
        for image in store.images():
            if any(stored.rsplit("/", 1)[-1] == wanted for stored in image.names):
                return image
    raise NoSuchImage.named(name)


def parse_changes(changes: Iterable[str], base: ImageConfig | None = None) -> ImageConfig:
    """Apply Dockerfile-style `--change` instructions (CMD, ENTRYPOINT, ENV, WORKDIR,
    LABEL, USER, STOPSIGNAL, VOLUME, EXPOSE), as `KEY=value` or `KEY value`."""
    config = msgspec.structs.replace(base or ImageConfig())
    config.env, config.labels = list(config.env), dict(config.labels)
    for change in changes:
        key, value = _split_instruction(change)
        if key in ("CMD", "ENTRYPOINT"):
            setattr(config, key.lower(), _command_form(change, value))
        elif key == "ENV":
            name, sep, val = value.partition("=") if "=" in value.split(" ", 1)[0] else value.partition(" ")
            if not name or not sep:
                raise InvalidArgument(f"invalid change {change!r}: ENV needs NAME=value")
            from ..formats.environment import check_env

            check_env([value])
            config.env = [e for e in config.env if e.partition("=")[0] != name] + [f"{name}={val}"]
        elif key == "LABEL":
            name, sep, val = value.partition("=")
            if not name or not sep:
                raise InvalidArgument(f"invalid change {change!r}: LABEL needs key=value")
            config.labels[name] = val.strip('"')
        elif key == "WORKDIR":
            # relative to the WORKDIR before it, as in a Dockerfile; a container's
            # working directory must be absolute, so a relative one is refused now
            config.workdir = posixpath.join(config.workdir, value) if value else ""
            if value and not config.workdir.startswith("/"):
                raise InvalidArgument(f"invalid change {change!r}: WORKDIR must be an absolute path")
        elif key == "USER":
            config.user = value
        elif key == "STOPSIGNAL":
            from ..formats.signals import parse_signal

            parse_signal(value)
            config.stop_signal = value
        elif key == "VOLUME":
            paths = json_string_list(value, f"change {change!r}") if value.startswith("[") else value.split()
            if not paths or not all(p.startswith("/") for p in paths):
                raise InvalidArgument(f"invalid change {change!r}: VOLUME needs absolute paths")
            config.volumes = sorted(set(config.volumes) | set(paths))
        elif key == "EXPOSE":
            from ..formats.exposed import parse_expose

            config.exposed_ports = sorted(set(config.exposed_ports) | set(parse_expose(value.split())))
        else:
            raise InvalidArgument(f"invalid change {change!r}: {key} is not supported "
                                  "(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR are)")
    return config


def _split_instruction(change: str) -> tuple[str, str]:
    head = change.split("=", 1)[0].split(" ", 1)[0]
    key = head.upper()
    rest = change[len(head):]
    if not rest or rest[0] not in "= ":
        raise InvalidArgument(f"invalid change {change!r}: expected INSTRUCTION=value")
    return key, rest[1:].strip()


def json_string_list(value: str, what: str) -> list[str]:
    """A JSON array of strings (the exec form of CMD, ENTRYPOINT, --entrypoint)."""
    import json

    try:
        parsed = json.loads(value)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: bad JSON array") from None
    if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
        raise InvalidArgument(f"invalid {what}: expected a JSON array of strings")
    return parsed


def _command_form(change: str, value: str) -> list[str]:
    """Dockerfile's exec form (a JSON array) or shell form (run by /bin/sh -c)."""
    if value.startswith("["):
        return json_string_list(value, f"change {change!r}")
    return ["/bin/sh", "-c", value] if value else []


def import_tarball(runtime: "Runtime", stream: BinaryIO, reference: str = "",
                   changes: Iterable[str] = (), message: str = "", platform: dict | None = None) -> ImageRecord:
    """Make an image of one layer from a rootfs tarball (plain or compressed); `platform`:
    the config's architecture, os and variant when they are not this host's (import --arch ...)."""
    from .layer_store import stage_layer

    names = [normalize(reference)] if reference else []
    config = parse_changes(changes)
    layer = stage_layer(runtime, stream)
    layer.commit()
    created = time.time()
    history = [{"created": _rfc3339(created), "created_by": "husk import", "comment": message}]
    config_json = config_blob(config, [layer.digest], created, history, platform)
    image = ImageRecord(id=image_id(config_json), names=names, layers=[layer.digest], created=created,
                        size=layer.size, config=config, config_json=config_json.decode())
    runtime.store.put_image(image)
    runtime.emit("import", id=image.id, name=names[0] if names else "", image=image.id, type="image")
    return image


# -- the image config as Docker and OCI write it --------------------------------------------
def image_id(config_json: bytes) -> str:
    """An image's id: the sha256 of its config's bytes, as Docker computes it."""
    import hashlib

    return hashlib.sha256(config_json).hexdigest()


def _rfc3339(epoch: float) -> str:
    from ..formats.timestamps import format_rfc3339_nano

    return format_rfc3339_nano(int(epoch * 1e9))


def config_blob(config: ImageConfig, layers: list[str], created: float, history: list[dict],
                image_platform: dict | None = None) -> bytes:
    """The OCI image config (Docker's field names) for husk's ImageConfig."""
    import platform

    from ..formats.environment import utf8_json

    machine = platform.machine()
    run = {"Env": config.env or None, "Cmd": config.cmd or None, "Entrypoint": config.entrypoint or None,
           "WorkingDir": config.workdir, "User": config.user, "Labels": config.labels or None}
    if config.stop_signal:
        run["StopSignal"] = config.stop_signal
    if config.volumes:
        run["Volumes"] = {path: {} for path in config.volumes}
    if config.exposed_ports:
        run["ExposedPorts"] = {port: {} for port in config.exposed_ports}
    document = {"architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
                "config": run, "created": _rfc3339(created), "history": history, "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": list(layers)}}
    document.update({key: value for key, value in (image_platform or {}).items() if value})
    return utf8_json(document).encode()


# -- names ----------------------------------------------------------------------------------
def tag_image(runtime: "Runtime", name: str, targets: Iterable[str]) -> ImageRecord:
    """Add names to an image (normalised as :func:`normalize` does); a name another
    image holds moves to this one, as podman's and Docker's tag do."""
    wanted = [normalize(target) for target in targets]
    if not wanted:
        raise InvalidArgument("at least one target name must be given")
    image = resolve_image(runtime, name)
    image.names = list(dict.fromkeys([*image.names, *wanted]))
    runtime.store.put_image(image)
    for target in wanted:
        runtime.emit("tag", id=image.id, name=target, image=image.id, type="image")
    return image


def untag_image(runtime: "Runtime", name: str, targets: Iterable[str] = ()) -> list[str]:
    """Take names off an image (every name when none is given); the image stays,
    maybe dangling.  Returns the names removed."""
    image = resolve_image(runtime, name)
    removing = [normalize(target) for target in targets] or list(image.names)
    for target in removing:
        if target not in image.names:
            raise NoSuchImage(f"{target}: tag not known")
    runtime.store.untag_image(image.id, removing)
    for target in removing:
        runtime.emit("untag", id=image.id, name=target, image=image.id, type="image")
    return removing


def image_history(runtime: "Runtime", name: str) -> list[dict]:
    """The image's history, newest step first, in Docker's shape (`Id` is the
    image's for the newest step, `<missing>` for the others, as Docker answers
    for steps that are not images of their own)."""
    import json

    from ..formats.timestamps import parse_rfc3339_ns

    image = resolve_image(runtime, name)
    steps = json.loads(image.config_json).get("history") or [] if image.config_json else []
    sizes = iter(layer_sizes(runtime, image))
    rows = []
    for step in steps:
        try:
            created = parse_rfc3339_ns(step.get("created") or "") // 1_000_000_000
        except ValueError:
            created = 0
        rows.append({"Id": "<missing>", "Created": created, "CreatedBy": step.get("created_by", ""),
                     "Tags": None, "Size": 0 if step.get("empty_layer") else next(sizes, 0),
                     "Comment": step.get("comment", "")})
    if not rows:
        rows = [{"Id": "<missing>", "Created": int(image.created), "CreatedBy": "", "Tags": None,
                 "Size": image.size, "Comment": ""}]
    rows.reverse()
    rows[0].update(Id="sha256:" + image.id, Tags=list(image.names) or None)
    return rows


def layer_sizes(runtime: "Runtime", image: ImageRecord) -> list[int]:
    """Each layer's archive size (the uncompressed size for an image of one layer)."""
    import os

    from .layer_store import ARCHIVE_NAME

    if len(image.layers) == 1:
        return [image.size]
    sizes = []
    for layer in image.layers:
        try:
            sizes.append(os.path.getsize(os.path.join(runtime.paths.layer_dir(layer), ARCHIVE_NAME)))
        except OSError:
            sizes.append(0)
    return sizes


def stored_name(image: ImageRecord, name: str) -> str | None:
    """The name of `image` that the user's `name` means (as typed, normalised, or a
    short name), or None when `name` is an id or an id prefix."""
    normalised = normalize(name)
    if name in image.names or normalised in image.names:
        return name if name in image.names else normalised
    if "/" not in name:
        short = name if ":" in name else name + ":latest"
        return next((stored for stored in image.names if stored.rsplit("/", 1)[-1] == short), None)
    return None


class ImageRemoval(msgspec.Struct):
    """What a removal did: the names taken off, and whether the image itself went.
    (A Struct rather than a dataclass: create and run import this module, and
    dataclasses costs them 0.7 ms.)"""

    image: ImageRecord
    untagged: list[str]
    deleted: bool


def remove_image(runtime: "Runtime", name: str, force: bool = False) -> ImageRemoval:
    """Remove an image; with `force`, its containers go first.  Layers no other image
    uses are deleted from disk.  An image named by one of several names only loses
    that name, as podman's and Docker's rmi do; named by id, it goes whole."""
    import shutil

    image = resolve_image(runtime, name)
    named = stored_name(image, name)
    if named is not None and len(image.names) > 1:
        runtime.store.untag_image(image.id, [named])
        runtime.emit("untag", id=image.id, name=named, image=image.id, type="image")
        return ImageRemoval(image, [named], deleted=False)
    users = [c for c in runtime.containers() if c.config.image_id == image.id
             or any(m.type == "image" and m.source == image.id for m in c.config.mounts)]
    if users and not force:
        raise ImageInUse(f"image used by {users[0].id}: image is in use by a container: "
                         "consider listing external containers and force-removing image", exit_code=2)
    for container in users:
        container.remove(force=True, timeout=0)
    runtime.store.remove_image(image)
    from .image_mount import unmount_image

    unmount_image(runtime, image.id)  # as podman's rmi: a mounted image goes too
    still_used = {layer for other in runtime.store.images() for layer in other.layers}
    for layer in image.layers:
        if layer in still_used:
            continue
        try:
            directory = runtime.paths.layer_dir(layer)
        except InvalidArgument:
            continue  # stored before ids were checked: whatever it names is not husk's to delete
        shutil.rmtree(directory, ignore_errors=True)
    runtime.emit("remove", id=image.id, name=name, image=image.id, type="image")
    return ImageRemoval(image, list(image.names), deleted=True)
