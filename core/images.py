"""Images: names, import of a rootfs tarball, removal.

An image is a list of layers (unpacked once under the storage root, shared by
every image that has them) plus its config.  Names are normalised as podman
does for local images: `busybox` is `localhost/busybox:latest` when imported,
and lookups try the short name against every stored name's repository.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, BinaryIO, Iterable

import msgspec

from .define import ImageInUse, InvalidArgument, NoSuchImage
from .records import ImageConfig, ImageRecord

if TYPE_CHECKING:
    from .runtime import Runtime


def normalize(reference: str) -> str:
    """`busybox` -> `localhost/busybox:latest`; `quay.io/x/y` -> `quay.io/x/y:latest`."""
    if not reference or any(c.isspace() for c in reference) or reference != reference.strip("/:"):
        raise InvalidArgument(f"invalid reference format: {reference!r}")
    first, _, rest = reference.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        reference = f"localhost/{reference}"
    last = reference.rsplit("/", 1)[1]
    if "@" not in last and ":" not in last:
        reference += ":latest"
    repo = reference.rsplit(":", 1)[0] if "@" not in last else reference.split("@")[0]
    if repo != repo.lower():
        raise InvalidArgument(f"invalid reference format: repository name must be lowercase: {reference!r}")
    return reference


def resolve_image(runtime: "Runtime", name: str) -> ImageRecord:
    """The image a user means by `name`: a stored name, a (prefix of an) id, or a short name."""
    store = runtime.store
    candidates = [name]
    try:
        candidates.append(normalize(name))
    except InvalidArgument:
        pass
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
    LABEL, USER, STOPSIGNAL), as `KEY=value` or `KEY value`."""
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
            config.env = [e for e in config.env if e.partition("=")[0] != name] + [f"{name}={val}"]
        elif key == "LABEL":
            name, sep, val = value.partition("=")
            if not name or not sep:
                raise InvalidArgument(f"invalid change {change!r}: LABEL needs key=value")
            config.labels[name] = val.strip('"')
        elif key == "WORKDIR":
            config.workdir = value
        elif key == "USER":
            config.user = value
        elif key == "STOPSIGNAL":
            from .signals import parse_signal

            parse_signal(value)
            config.stop_signal = value
        else:
            raise InvalidArgument(f"invalid change {change!r}: {key} is not supported "
                                  "(CMD, ENTRYPOINT, ENV, LABEL, STOPSIGNAL, USER, WORKDIR are)")
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
                   changes: Iterable[str] = (), message: str = "") -> ImageRecord:
    """Make an image of one layer from a rootfs tarball (plain or compressed)."""
    import hashlib
    import shutil

    from .layers import extract_layer

    names = [normalize(reference)] if reference else []
    config = parse_changes(changes)
    layers_root = os.path.join(runtime.paths.root, "layers")
    os.makedirs(layers_root, mode=0o700, exist_ok=True)
    staging = os.path.join(layers_root, f".import-{os.getpid()}-{time.monotonic_ns()}")
    os.makedirs(staging, mode=0o700)
    try:
        info = extract_layer(stream, os.path.join(staging, "diff"))
        layer_id = info.digest
        final = runtime.paths.layer_dir(layer_id)
        try:
            os.rename(staging, final)
        except OSError:  # the same layer is already there: keep the existing copy
            if not os.path.isdir(final):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    created = time.time()
    config_blob = msgspec.json.encode({"layers": [layer_id], "config": config, "created": created,
                                       "comment": message})
    image = ImageRecord(id=hashlib.sha256(config_blob).hexdigest(), names=names, layers=[layer_id],
                        created=created, size=info.size, config=config)
    runtime.store.put_image(image)
    runtime.emit("import", id=image.id, name=names[0] if names else "", image=image.id, type="image")
    return image


def remove_image(runtime: "Runtime", name: str, force: bool = False) -> ImageRecord:
    """Remove an image; with `force`, its containers go first.  Layers no other image
    uses are deleted from disk."""
    import shutil

    image = resolve_image(runtime, name)
    users = [c for c in runtime.containers() if c.config.image_id == image.id]
    if users and not force:
        raise ImageInUse(f"image used by {users[0].id}: image is in use by a container: "
                         "consider listing external containers and force-removing image", exit_code=2)
    for container in users:
        container.remove(force=True, timeout=0)
    runtime.store.remove_image(image)
    still_used = {layer for other in runtime.store.images() for layer in other.layers}
    for layer in image.layers:
        if layer not in still_used:
            shutil.rmtree(runtime.paths.layer_dir(layer), ignore_errors=True)
    runtime.emit("remove", id=image.id, name=name, image=image.id, type="image")
    return image
