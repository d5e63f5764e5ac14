"""`husk manifest`: manifest lists (Docker) and image indexes (OCI), kept locally
as podman keeps them: an image record with no layers whose `manifest_list` is
the index's JSON, named like any image (so `images`, `rmi` and `tag` see it).

An instance added from a local image is described by the manifest a push
would send for it (computed with :func:`husk.storage.push.prepare` in the
list's own format); the record remembers which local image each digest came
from, so `manifest push` can send the images before the list.  A push in
another format (`--format`) prepares each image again and rewrites the list's
entries with the digests the registry then holds, as podman does.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument, NoSuchImage
from ..state.records import ImageRecord
from .registry import MANIFEST_LIST, OCI_INDEX

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

_LOCAL = "containers-storage:"


def check_digest(digest: str) -> str:
    """`sha256:` + 64 lowercase hex (husk.state.paths.check_digest), refused in podman's words."""
    from ..state.paths import check_digest as well_formed

    try:
        return well_formed(digest)
    except InvalidArgument:
        raise InvalidArgument(f'invalid image digest "{digest}": invalid checksum digest format') from None


def index_of(image: ImageRecord) -> dict:
    """The list's index document."""
    return json.loads(image.manifest_list)


def get_list(runtime: "Runtime", name: str) -> ImageRecord:
    """The manifest list `name` names; an image that is not a list is refused."""
    from .images import resolve_image

    image = resolve_image(runtime, name)
    if not image.manifest_list:
        raise HuskError(f"{name}: image is not a manifest list")
    return image


def _save(runtime: "Runtime", image: ImageRecord, index: dict) -> None:
    image.manifest_list = json.dumps(index)
    image.size = len(image.manifest_list)
    runtime.store.put_image(image)


def create(runtime: "Runtime", name: str, images: list[str] = (), *, amend: bool = False) -> str:
    """A new, empty list named `name` holding `images`; with `amend`, a list of that
    name already stored is added to instead.  Its id."""
    from .images import normalize

    full = normalize(name)
    existing = runtime.store.image_id_for_name(full)
    if existing and not (amend and runtime.store.image(existing).manifest_list):
        raise HuskError(f'creating image to hold manifest list: image name "{full}" is already associated with '
                        f'image "{existing}": that name is already in use')
    if not existing:
        record = ImageRecord(id=os.urandom(32).hex(), names=[full], layers=[], created=time.time())
        _save(runtime, record, {"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": None})
        existing = record.id
    for image in images:
        add(runtime, existing, image)
    return existing


def _local_image(runtime: "Runtime", reference: str) -> ImageRecord:
    """The local image an `add` names: `containers-storage:NAME`, or a bare NAME
    stored here (podman would look a bare name up in a registry)."""
    from .images import resolve_image

    if reference.startswith("docker://") or reference.startswith("oci:") or reference.startswith("dir:"):
        raise InvalidArgument(f"adding {reference!r}: husk adds only local images (containers-storage:NAME)")
    name = reference.removeprefix(_LOCAL)
    image = resolve_image(runtime, name)
    if image.manifest_list:
        raise InvalidArgument(f"{name} is a manifest list: add its images one by one")
    return image


def parse_annotations(values) -> dict[str, str]:
    """KEY=VALUE strings (the flags, or libpod's `annotation` list) as a map,
    refused in podman's words when one has no `=`."""
    result = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"no value given for annotation {key!r}")
        result[key] = text
    return result


def _override(platform: dict, arch: str = "", os_: str = "", variant: str = "", os_version: str = "",
              os_features=(), features=()) -> dict:
    """`platform` with the flags that were given set (`--os-features` and
    `--features` are lists: OCI's os.features and the Docker list's features)."""
    for key, value in (("architecture", arch), ("os", os_), ("variant", variant), ("os.version", os_version),
                       ("os.features", list(os_features)), ("features", list(features))):
        if value:
            platform[key] = value
    return platform


def add(runtime: "Runtime", list_name: str, reference: str, *, arch: str = "", os_: str = "", variant: str = "",
        annotations: dict[str, str] | None = None, **platform_flags) -> str:
    """Add the local image `reference` to the list; the list's id (`platform_flags`: _override's others)."""
    from .push import prepare

    record = get_list(runtime, list_name)
    index = index_of(record)
    image = _local_image(runtime, reference)
    prepared = prepare(runtime, image, "oci" if index["mediaType"] == OCI_INDEX else "v2s2")
    prepared.cleanup()
    config = json.loads(image.config_json)
    platform = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    _override(platform, arch, os_, variant, **platform_flags)
    entry = {"mediaType": prepared.media_type, "size": len(prepared.manifest), "digest": prepared.digest,
             "platform": platform}
    if annotations:
        entry["annotations"] = dict(annotations)
    index["manifests"] = [m for m in index["manifests"] or [] if m["digest"] != prepared.digest] + [entry]
    record.list_instances[prepared.digest] = image.id
    _save(runtime, record, index)
    return record.id


def _instance(runtime: "Runtime", list_name: str, digest: str, doing: str) -> tuple[ImageRecord, dict, dict]:
    """The list, its index and the entry of `digest` (checked first: `sha256:` + 64 hex)."""
    record = get_list(runtime, list_name)
    try:
        check_digest(digest)
    except InvalidArgument as error:
        raise InvalidArgument(f"{doing} {list_name}: {error}") from None
    index = index_of(record)
    for entry in index["manifests"] or []:
        if entry["digest"] == digest:
            return record, index, entry
    raise NoSuchImage(f'{doing} {list_name}: no instance matching digest "{digest}" found in manifest list: '
                      "file does not exist")


def annotate(runtime: "Runtime", list_name: str, digest: str, *, annotations: dict[str, str] | None = None,
             **platform_flags) -> str:
    """Change an instance's platform (_override's flags) or annotations; the list's id."""
    record, index, entry = _instance(runtime, list_name, digest, "annotating manifest list")
    _override(entry.setdefault("platform", {}), **platform_flags)
    if annotations:
        entry["annotations"] = {**entry.get("annotations", {}), **annotations}
    _save(runtime, record, index)
    return record.id


def remove(runtime: "Runtime", list_name: str, digest: str) -> str:
    """Take the instance `digest` out of the list; the list's id."""
    record, index, _ = _instance(runtime, list_name, digest, "removing from manifest list")
    index["manifests"] = [m for m in index["manifests"] if m["digest"] != digest]
    record.list_instances.pop(digest, None)
    _save(runtime, record, index)
    return record.id


def instance_image(runtime: "Runtime", record: ImageRecord) -> ImageRecord:
    """The local image a list holds for this host's platform (what `run LIST` runs, as podman's)."""
    import msgspec

    from .pull import Descriptor, Platform, _choose

    entries = msgspec.convert(index_of(record)["manifests"] or [], list[Descriptor])
    name = record.names[0] if record.names else record.id
    digest = _choose(entries, Platform.parse(), name)
    try:
        return runtime.store.image(record.list_instances[digest])
    except (KeyError, NoSuchImage):
        raise NoSuchImage(f"{name}: the image of instance {digest} is no longer stored") from None
