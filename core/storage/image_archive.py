"""Image archives in the docker-archive format (`docker save`/`docker load`,
podman's `docker-archive`): one tar holding

- `manifest.json`: `[{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<hex>.tar", ...]}]`,
  one entry per image;
- each image's config, whose sha256 is the image id (husk keeps the exact bytes);
- each layer's tar, by its diff_id (plain or compressed, as it was stored);
- `repositories`: `{"repo": {"tag": "<top layer hex>"}}`, which older loaders read.

Loading reads an archive from any writer (Docker's own layout with
`<id>/layer.tar` or `blobs/sha256/<hex>`, layers plain or compressed): the
archive is opened from a seekable file (a pipe is spooled first, since Docker
writes manifest.json last), every path it names is checked to stay inside it,
every layer is unpacked by the chrooted :mod:`husk.storage.layers` and its digest
checked against the config before anything is stored; then layers are moved
into place and images registered.  A bad archive is one InvalidArgument.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tempfile
from typing import TYPE_CHECKING, BinaryIO, Iterable

import msgspec

from ..define import HuskError, InvalidArgument
from ..state.paths import check_digest, is_id

if TYPE_CHECKING:
    import tarfile

    from ..state.records import ImageRecord
    from ..engine.runtime import Runtime

#: manifest.json and configs are read into memory; past this they are refused
_JSON_LIMIT = 16 << 20
#: symlinks followed inside an archive to reach a member (Docker's layout links
#: a layer shared by several images)
_LINK_HOPS = 8


class ManifestEntry(msgspec.Struct, rename="pascal"):
    config: str
    layers: list[str]
    repo_tags: list[str] | None = None


class _RootFS(msgspec.Struct):
    diff_ids: list[str]
    type: str = "layers"


class _RunConfig(msgspec.Struct, rename="pascal"):
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: list[str] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    volumes: dict[str, dict] | None = None
    exposed_ports: dict[str, dict] | None = None


class _History(msgspec.Struct):
    """One history entry (every field optional, as the OCI spec has them; null as absent, as Go reads it)."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class _Config(msgspec.Struct):
    """The fields of an image config husk reads (the bytes are kept whole;
    `history` is checked for its shape only: build extends it)."""

    rootfs: _RootFS
    config: _RunConfig | None = None
    created: str = ""
    os: str = "linux"
    history: list[_History] | None = None


@dataclasses.dataclass
class LoadedImage:
    """An image a load registered, with the names the archive gave it (as written there)."""

    image: "ImageRecord"
    archive_tags: list[str]


# -- save -----------------------------------------------------------------------------------
def save_images(runtime: "Runtime", names: Iterable[str], out: BinaryIO, as_name: str = "") -> None:
    """Write the named images as one docker-archive tar to `out` (may be a pipe).

    An image named by a name is saved with that name (its stored form); one
    named by id is saved with no name, as Docker does.  `as_name` names the
    archive's image instead (`push IMAGE docker-archive:PATH:NAME`)."""
    import io
    import tarfile
    import time

    from .images import normalize, resolve_image, stored_name
    from .layer_store import layer_archive

    entries: list[dict] = []
    configs: dict[str, bytes] = {}
    layers: dict[str, str] = {}
    for name in names:
        image = resolve_image(runtime, name)
        if not image.config_json:
            raise HuskError(f"image {image.id[:12]} has no stored config (it was stored by an older husk): "
                            "import it again to save it")
        named = normalize(as_name) if as_name else stored_name(image, name)
        tags = [named] if named else []
        configs[image.id] = image.config_json.encode()
        for layer in image.layers:
            layers[layer] = layer_archive(runtime, layer)
        for entry in entries:
            if entry["Config"] == f"{image.id}.json":
                entry["RepoTags"] = list(dict.fromkeys(entry["RepoTags"] + tags))
                break
        else:
            entries.append({"Config": f"{image.id}.json", "RepoTags": tags,
                            "Layers": [f"{_hex(layer)}.tar" for layer in image.layers]})
    if not entries:
        raise InvalidArgument("no image names given")
    now = int(time.time())
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        def add(member: str, data: bytes) -> None:
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), now, 0o644
            archive.addfile(info, io.BytesIO(data))

        for layer, path in layers.items():
            info = tarfile.TarInfo(f"{_hex(layer)}.tar")
            with open(path, "rb") as stream:
                info.size, info.mtime, info.mode = os.fstat(stream.fileno()).st_size, now, 0o644
                archive.addfile(info, stream)
        for image_id, blob in configs.items():
            add(f"{image_id}.json", blob)
        repositories: dict[str, dict[str, str]] = {}
        for entry in entries:
            for tag in entry["RepoTags"]:
                repo, _, version = tag.rpartition(":")
                repositories.setdefault(repo, {})[version] = entry["Layers"][-1].removesuffix(".tar")
        add("manifest.json", _json(entries))
        add("repositories", _json(repositories))


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _json(document) -> bytes:
    import json

    return json.dumps(document, separators=(",", ":")).encode()


# -- load -----------------------------------------------------------------------------------
def load_images(runtime: "Runtime", stream: BinaryIO) -> list[LoadedImage]:
    """Load every image of a docker-archive tar read from `stream` (a file or a pipe).

    Nothing is stored unless the whole archive is good: a missing or malformed
    manifest or config, a path that leaves the archive, a truncated or
    mismatching layer is an InvalidArgument ("invalid image archive: ...")."""
    if _seekable(stream):
        return _load_from(runtime, stream)
    root = runtime.paths.root
    os.makedirs(root, mode=0o700, exist_ok=True)
    with tempfile.TemporaryFile(dir=root) as spool:
        while chunk := stream.read(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        return _load_from(runtime, spool)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable() and os.path.isfile(f"/proc/self/fd/{stream.fileno()}")
    except (AttributeError, OSError, ValueError):
        return False


def _load_from(runtime: "Runtime", spool: BinaryIO) -> list[LoadedImage]:
    import tarfile
    import zlib

    try:
        archive = tarfile.open(fileobj=spool, mode="r:*")
    except (tarfile.TarError, EOFError, OSError):
        raise _invalid("not a tar archive (plain, gzip, bzip2 or xz)") from None
    with archive:
        try:
            members = _index(archive)
            if "manifest.json" not in members:
                raise _invalid("no manifest.json: husk loads docker-archive tars "
                               "(what `docker save` and `husk save` write)")
            manifest = _decode(_read(archive, members, "manifest.json"), list[ManifestEntry], "manifest.json")
            if not manifest:
                raise _invalid("manifest.json lists no image")
            return _register(runtime, archive, members, manifest)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise _invalid(f"the archive is truncated or corrupt ({exc})") from None


def _invalid(reason: str) -> InvalidArgument:
    """The error for a bad archive: one line, whatever the reason's text held."""
    return InvalidArgument("invalid image archive: " + " ".join(reason.split()))


def _index(archive: "tarfile.TarFile") -> dict[str, "tarfile.TarInfo"]:
    """Members by normalised name; a member whose name leaves the archive is refused."""
    members = {}
    for member in archive.getmembers():
        members[_inside(member.name, "member")] = member
    return members


def _inside(name: str, what: str) -> str:
    relative = posixpath.normpath(name)
    if name.startswith("/") or relative == ".." or relative.startswith("../") or "\0" in name:
        raise _invalid(f"{what} '{name}' points outside the archive")
    return relative


def _member(archive, members, name: str) -> "tarfile.TarInfo":
    """The regular file `name` names, following symlinks that stay inside the archive."""
    path = _inside(name, "path")
    for _ in range(_LINK_HOPS):
        member = members.get(path)
        if member is None:
            raise _invalid(f"'{name}' is named in manifest.json but is not in the archive")
        if member.isfile():
            return member
        if not member.issym():
            raise _invalid(f"'{name}' is not a regular file in the archive")
        target = member.linkname if member.linkname.startswith("/") else \
            posixpath.join(posixpath.dirname(path), member.linkname)
        path = _inside(target, "symlink")
    raise _invalid(f"'{name}': too many symlinks")


def _read(archive, members, name: str) -> bytes:
    member = _member(archive, members, name)
    if member.size > _JSON_LIMIT:
        raise _invalid(f"'{name}' is larger than {_JSON_LIMIT >> 20} MiB")
    data = archive.extractfile(member).read()
    if len(data) != member.size:
        raise _invalid(f"'{name}' is truncated")
    return data


def _decode(data: bytes, kind, what: str):
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _invalid(f"{what}: {exc}") from None


def _register(runtime: "Runtime", archive, members, manifest: list[ManifestEntry]) -> list[LoadedImage]:
    """Stage every layer, check every digest, then store layers and images.

    Nothing the archive claims is taken on its word: a diff_id must be a sha256
    digest before it names anything (it becomes a directory in the layer
    store), every layer is hashed, even one whose diff_id is stored already
    (the stored copy is used only when the archive's bytes are that layer),
    and the image id is the digest of the config's bytes, which must match a
    digest the config's member name carries."""
    from .images import image_id, normalize

    staged: dict[str, object] = {}
    verified: set[str] = set()
    loaded: list[LoadedImage] = []
    try:
        for entry in manifest:
            config_json = _read(archive, members, entry.config)
            config = _decode(config_json, _Config, entry.config)
            if len(config.rootfs.diff_ids) != len(entry.layers):
                raise _invalid(f"{entry.config} lists {len(config.rootfs.diff_ids)} layers, "
                               f"manifest.json {len(entry.layers)}")
            if config.os not in ("linux", ""):
                raise _invalid(f"{entry.config} is an image for {config.os!r}, not linux")
            claimed = _named_digest(entry.config)
            if claimed is not None and claimed != image_id(config_json):
                raise _invalid(f"{entry.config} has digest sha256:{image_id(config_json)}, its name says {claimed}")
            for diff_id in config.rootfs.diff_ids:
                try:
                    check_digest(diff_id, "diff_id")
                except InvalidArgument as exc:
                    raise _invalid(f"{entry.config}: {exc}") from None
            size = 0
            for path, diff_id in zip(entry.layers, config.rootfs.diff_ids):
                if diff_id not in verified:
                    _verify_layer(runtime, archive.extractfile(_member(archive, members, path)), path, diff_id,
                                  staged)
                    verified.add(diff_id)
                size += _layer_size(runtime, staged, diff_id)
            try:
                names = [normalize(tag) for tag in entry.repo_tags or []]
            except InvalidArgument as exc:
                raise _invalid(f"manifest.json: {exc}") from None
            image = _record(config, config_json, names, size)
            loaded.append(LoadedImage(image, list(entry.repo_tags or [])))
        for layer in staged.values():
            layer.commit()
        staged.clear()
    finally:
        for layer in staged.values():
            layer.discard()
    for item in loaded:
        item.image = merge_stored(runtime, item.image)
        runtime.store.put_image(item.image)
        runtime.emit("load", id=item.image.id, name=item.image.names[0] if item.image.names else "",
                     image=item.image.id, type="image")
    return loaded


def _verify_layer(runtime: "Runtime", stream: BinaryIO, path: str, diff_id: str, staged: dict) -> None:
    """Hash the layer `path` (unpacking it into `staged` unless stored already)
    and refuse it unless its digest is `diff_id`."""
    from .layer_store import layer_present, stage_layer
    from .layers import layer_digest

    try:
        if layer_present(runtime, diff_id):
            digest = layer_digest(stream).digest
        else:
            layer = stage_layer(runtime, stream)
            staged[layer.digest] = layer
            digest = layer.digest
    except InvalidArgument as exc:
        raise _invalid(f"layer '{path}': {exc}") from None
    if digest != diff_id:
        raise _invalid(f"layer '{path}' has digest {digest}, the config says {diff_id}")


def _named_digest(name: str) -> str | None:
    """The digest a member name carries (`<hex>.json`, `blobs/sha256/<hex>`), if any."""
    base = posixpath.basename(name).removesuffix(".json")
    return base if is_id(base) else None


def _layer_size(runtime: "Runtime", staged: dict, diff_id: str) -> int:
    if diff_id in staged:
        return staged[diff_id].size
    from .layer_store import layer_archive

    return os.path.getsize(layer_archive(runtime, diff_id))


def _record(config: _Config, config_json: bytes, names: list[str], size: int) -> "ImageRecord":
    from .images import image_id
    from ..state.records import ImageConfig, ImageRecord

    run = config.config or _RunConfig()
    return ImageRecord(
        id=image_id(config_json), names=names, layers=list(config.rootfs.diff_ids),
        created=_created(config.created), size=size, config_json=config_json.decode(),
        config=ImageConfig(cmd=run.cmd or [], entrypoint=run.entrypoint or [], env=run.env or [],
                           workdir=run.working_dir, user=run.user, labels=run.labels or {},
                           stop_signal=run.stop_signal, volumes=sorted(run.volumes or {}),
                           exposed_ports=sorted(run.exposed_ports or {})))


def config_record(config_json: bytes, names: list[str], size: int) -> "ImageRecord":
    """The ImageRecord an image config's bytes describe (a pull's); InvalidArgument
    for a config that is malformed or names a diff_id that is no sha256 digest."""
    try:
        config = msgspec.json.decode(config_json, type=_Config)
        config_json.decode()
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"malformed image config: {exc}") from None
    for diff_id in config.rootfs.diff_ids:
        check_digest(diff_id, "diff_id")
    return _record(config, config_json, names, size)


def merge_stored(runtime: "Runtime", image: "ImageRecord") -> "ImageRecord":
    """An image stored again (loaded, pulled) keeps the names it had, plus the new ones."""
    from ..define import NoSuchImage

    try:
        stored = runtime.store.image(image.id)
    except NoSuchImage:
        return image
    image.names = list(dict.fromkeys([*stored.names, *image.names]))
    return image


def _created(value: str) -> float:
    from ..formats.timestamps import parse_rfc3339_ns

    if not value:
        return 0.0
    try:
        return parse_rfc3339_ns(value) / 1e9
    except (ValueError, HuskError):
        raise _invalid(f"bad created time {value!r}") from None
