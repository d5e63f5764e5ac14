"""`husk push`: an image from the store to a registry (`docker://`) or to a
directory or archive in the ecosystem's layouts (`dir:`, `oci:`, `oci-archive:`,
`docker-archive:`).

Each layer's blob is its stored archive as it arrived (a pulled layer pushes
back as the same bytes, so manifests and digests agree with the registry it
came from); a layer stored uncompressed (import, build) is compressed on the
way (`--compression-format`, gzip or zstd; with zstd a gzip layer is
recompressed, as podman does), into a temporary file, since the manifest needs
its digest and size first.  To a registry, blobs the repository has already are
skipped (HEAD) and one stored in another repository of the same registry is
mounted rather than sent; the manifest goes last, so a registry never holds a
tag that points at missing blobs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument, NoSuchImage
from .registry import MANIFEST_LIST, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord
    from .pull import Progress, PullOptions

_MEDIA = {  # (format, compression) -> layer media type
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("v2s2", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
_CONFIG_MEDIA = {"oci": "application/vnd.oci.image.config.v1+json",
                 "v2s2": "application/vnd.docker.container.image.v1+json"}
TRANSPORTS = ("docker", "dir", "oci", "oci-archive", "docker-archive")
#: blobs sent (or mounted) at once, each thread on its own connection
UPLOADS = 4


@dataclasses.dataclass
class Blob:
    digest: str
    size: int
    media_type: str
    path: str = ""  # a file holding the bytes
    data: bytes = b""  # or the bytes themselves (the config)

    def open(self):
        import io

        return open(self.path, "rb") if self.path else io.BytesIO(self.data)


@dataclasses.dataclass
class PreparedImage:
    """What a push sends: the layers' blobs, the config's, and the manifest over them."""

    image: "ImageRecord"
    layers: list[Blob]
    config: Blob
    manifest: bytes
    media_type: str
    temporary: list[str]

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    def cleanup(self) -> None:
        for path in self.temporary:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _compression(path: str) -> str:
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return ""


def _hash_file(path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def _zstandard():
    try:
        import zstandard
    except ImportError:
        raise HuskError("zstd compression needs the zstandard Python module (pip install zstandard)") from None
    return zstandard


def _open_plain(path: str, stored: str):
    """The layer archive at `path` as its plain tar stream."""
    if stored == "gzip":
        import gzip

        return gzip.open(path, "rb")
    if stored == "zstd":
        return _zstandard().ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def _compress_to_temporary(runtime: "Runtime", path: str, stored: str, compression: str) -> tuple[str, str, int]:
    """The layer archive at `path` (compressed as `stored` says) as a `compression`
    (gzip or zstd) blob in a private temporary file: (path, digest, size)."""
    import zlib

    fd, target = tempfile.mkstemp(prefix=".push-", dir=os.path.join(runtime.paths.root, "layers"))
    digest, size = hashlib.sha256(), 0
    compressor = (_zstandard().ZstdCompressor(level=3).compressobj() if compression == "zstd"
                  else zlib.compressobj(6, zlib.DEFLATED, 31))
    try:
        with os.fdopen(fd, "wb") as out, _open_plain(path, stored) as stream:
            def write(data: bytes) -> None:
                nonlocal size
                digest.update(data)
                size += len(data)
                out.write(data)

            while chunk := stream.read(1 << 20):
                write(compressor.compress(chunk))
            write(compressor.flush())
    except BaseException:
        os.unlink(target)
        raise
    return target, "sha256:" + digest.hexdigest(), size


def prepare(runtime: "Runtime", image: "ImageRecord", manifest_format: str = "oci",
            compression: str = "gzip") -> PreparedImage:
    """The blobs and manifest of `image` in `manifest_format` (oci or v2s2)."""
    from concurrent.futures import ThreadPoolExecutor

    from .layer_store import layer_archive
    from .pull import remember_blob_digest, remembered_blob_digest

    if manifest_format not in _CONFIG_MEDIA:
        raise InvalidArgument(f"unsupported manifest format {manifest_format!r}: oci or v2s2")
    if compression not in ("gzip", "zstd"):
        raise InvalidArgument(f"unsupported compression format {compression!r}: gzip or zstd")
    if (manifest_format, compression) not in _MEDIA:
        raise InvalidArgument("zstd-compressed layers need an OCI manifest: use --format oci")
    if not image.config_json:
        raise HuskError(f"image {image.id[:12]} has no stored config (it was stored by an older husk): "
                        "import it again to push it")
    temporary: list[str] = []

    def layer(diff_id: str) -> Blob:
        path = layer_archive(runtime, diff_id)
        stored = _compression(path)
        # recompressed: a plain one, any for zstd, a zstd one for v2s2; else sent as it is stored
        if stored == "" or (stored != compression and (compression == "zstd" or manifest_format == "v2s2")):
            path, digest, size = _compress_to_temporary(runtime, path, stored, compression)
            temporary.append(path)
            stored = compression
        else:
            digest, size = remembered_blob_digest(runtime, diff_id), os.path.getsize(path)
            if not digest:
                digest, size = _hash_file(path)
                remember_blob_digest(runtime, diff_id, digest)
        return Blob(digest, size, _MEDIA[(manifest_format, stored)], path=path)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            layers = list(pool.map(layer, image.layers))
    except BaseException:
        PreparedImage(image, [], Blob("", 0, ""), b"", "", temporary).cleanup()
        raise
    config_bytes = image.config_json.encode()
    config = Blob("sha256:" + hashlib.sha256(config_bytes).hexdigest(), len(config_bytes),
                  _CONFIG_MEDIA[manifest_format], data=config_bytes)
    media_type = OCI_MANIFEST if manifest_format == "oci" else MANIFEST_V2
    document = {"schemaVersion": 2, "mediaType": media_type,
                "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.size},
                "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layers]}
    if image.annotations and manifest_format == "oci":  # v2s2 manifests have no annotations
        document["annotations"] = dict(image.annotations)
    manifest = json.dumps(document, separators=(",", ":")).encode()
    return PreparedImage(image, layers, config, manifest, media_type, temporary)


def split_destination(destination: str) -> tuple[str, str]:
    """`docker://host/repo:tag` -> ("docker", "host/repo:tag"); a bare name is docker://."""
    transport, sep, rest = destination.partition(":")
    if sep and transport in TRANSPORTS and (transport != "docker" or rest.startswith("//")):
        return transport, rest.removeprefix("//") if transport == "docker" else rest
    return "docker", destination


def push(runtime: "Runtime", source: str, destination: str = "", *, options: "PullOptions | None" = None,
         manifest_format: str = "oci", compression: str = "gzip", progress: "Progress | None" = None) -> str:
    """Push the image `source` to `destination` (default: its own name); the
    manifest's digest."""
    from .images import resolve_image
    from .pull import Progress

    progress = progress or Progress()
    image = resolve_image(runtime, source)
    if image.manifest_list:  # a list goes with its images, as `manifest push`
        return push_list(runtime, image, destination or source, manifest_format=manifest_format, options=options,
                         progress=progress)
    transport, target = split_destination(destination or source)
    if transport == "docker-archive":
        from ..state.atomic import write_output
        from .image_archive import save_images

        path, _, name = target.partition(":")
        try:
            write_output(path, lambda out: save_images(runtime, [source], out, name))
        except OSError as exc:
            raise _destination_error(transport, path, exc) from None
        return ""
    prepared = prepare(runtime, image, manifest_format, compression)
    try:
        if transport == "docker":
            return _to_registry(runtime, prepared, target, options, progress)
        if transport == "dir":
            try:
                _to_dir(prepared, target)
            except OSError as exc:
                raise _destination_error(transport, target, exc) from None
            return prepared.digest
        from .oci_layout import write_layout

        path, _, tag = target.partition(":")
        try:
            write_layout(prepared, path, tag or _tag_of(source), archive=transport == "oci-archive")
        except OSError as exc:
            raise _destination_error(transport, path, exc) from None
        return prepared.digest
    finally:
        prepared.cleanup()


def _destination_error(transport: str, path: str, exc: OSError) -> Exception:
    """A file or directory destination that cannot be written, as podman says it
    (`initializing destination docker-archive:/no/x.tar: opening file "/no/x.tar": no such
    file or directory`), naming the path the user gave, never a staging file beside it;
    other errors as they are."""
    beside = os.path.dirname(os.path.abspath(path))
    if exc.filename is None or os.path.dirname(os.path.abspath(os.fsdecode(exc.filename))) != beside:
        return exc  # not the destination's file (a layer of the store): as it is
    opening = "" if transport == "dir" else f'opening file "{path}": '
    return HuskError(f"initializing destination {transport}:{path}: {opening}{(exc.strerror or str(exc)).lower()}")


def _tag_of(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2] if ":" in last and "@" not in last else "latest"


def _to_dir(prepared: PreparedImage, path: str) -> None:
    """skopeo's `dir:` layout: manifest.json, `version`, each blob by its hex digest."""
    import shutil

    try:
        os.mkdir(path)  # as podman's: the directory's parent must exist
    except FileExistsError:
        pass
    for blob in [*prepared.layers, prepared.config]:
        target = os.path.join(path, blob.digest[7:])
        with blob.open() as stream, open(target, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
    with open(os.path.join(path, "manifest.json"), "wb") as out:
        out.write(prepared.manifest)
    with open(os.path.join(path, "version"), "w") as out:
        out.write("Directory Transport Version: 1.1\n")


def _registry_ref(target: str):
    """A push's registry `target`, parsed and checked (the one check of an image's and a list's
    destination): it names a registry and a tag (or none: latest), never a digest."""
    from .registry import is_qualified, parse_remote

    if not is_qualified(target):
        raise InvalidArgument(f"invalid destination {target!r}: push needs a fully qualified name "
                              "(registry/repository[:tag])")
    ref = parse_remote(target)
    if ref.digest:
        raise InvalidArgument("cannot push to a digest reference: give a tag")
    return ref


def _client(ref, options: "PullOptions | None"):
    from .pull import PullOptions, client_for
    from .registry_config import load_registries_conf

    return client_for(ref.registry, load_registries_conf(), options or PullOptions(), ref.name)


def _to_registry(runtime: "Runtime", prepared: PreparedImage, target: str, options, progress,
                 by_digest: bool = False) -> str:
    """Send `prepared` to `target`'s repository, its manifest under the target's tag
    or, `by_digest`, under its own digest only (a manifest list's instance)."""
    from concurrent.futures import ThreadPoolExecutor

    from .registry import is_qualified, parse_remote

    ref = _registry_ref(target)
    client = _client(ref, options)
    mount_from = next((parse_remote(n).repository for n in prepared.image.names
                       if is_qualified(n) and n.split("/", 1)[0] == ref.registry
                       and parse_remote(n).repository != ref.repository), "")
    progress.message("Getting image source signatures")

    def send(blob: Blob) -> None:
        short = blob.digest[7:19]
        # a mount answers for a blob the target has as well: no HEAD first then
        if not mount_from and client.blob_exists(ref.repository, blob.digest):
            progress.layer_done(blob.digest, "Already exists")
            progress.message(f"Copying blob {short} skipped: already exists")
            return
        progress.layer_start(blob.digest, blob.size)
        client.upload_blob(ref.repository, blob.digest, blob.open, blob.size, mount_from=mount_from)
        progress.layer_advance(blob.digest, blob.size)
        progress.layer_done(blob.digest, "Pushed")
        progress.message(f"Copying blob {short} done")

    try:
        with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
            list(pool.map(send, prepared.layers))
        send(prepared.config)
        progress.message(f"Copying config {prepared.config.digest[7:19]} done")
        progress.message("Writing manifest to image destination")
        digest = client.put_manifest(ref.repository, prepared.digest if by_digest else ref.reference,
                                     prepared.manifest, prepared.media_type)
    finally:
        client.close()
    progress.message("Storing signatures")
    return digest


#: a list's --format: its media type
LIST_FORMATS = {"v2s2": MANIFEST_LIST, "oci": OCI_INDEX}


def push_list(runtime: "Runtime", record: "ImageRecord", destination: str, *, all_: bool = True,
              manifest_format: str = "", options: "PullOptions | None" = None,
              progress: "Progress | None" = None) -> str:
    """Push the manifest list `record` (husk.storage.manifest_list) to the registry reference
    `destination`, with `all_` its images first (each by digest, in the list's format or
    `manifest_format`'s, the entries rewritten to the digests sent); the list's digest there.
    Here, beside the image push, so that `push`, `manifest push` and the API's push routes all
    push a list."""
    from .pull import Progress

    name = record.names[0] if record.names else record.id
    index = json.loads(record.manifest_list)
    media_type = LIST_FORMATS.get(manifest_format) if manifest_format else index["mediaType"]
    if media_type is None:
        raise InvalidArgument(f"unsupported manifest format {manifest_format!r}: oci or v2s2")
    transport, target = split_destination(destination)
    if transport != "docker":
        raise InvalidArgument(f"pushing a manifest list to {transport}: is not supported: use docker://")
    ref = _registry_ref(target)  # checked before any image is sent
    progress = progress or Progress()
    entries = []
    for entry in index["manifests"] or []:
        entry = dict(entry)
        if all_:
            image_id = record.list_instances.get(entry["digest"])
            try:
                image = runtime.store.image(image_id) if image_id else None
            except NoSuchImage:
                image = None
            if image is None:
                raise NoSuchImage(f"pushing manifest list {name}: the image of instance {entry['digest']} "
                                  "is no longer stored")
            prepared = prepare(runtime, image, "oci" if media_type == OCI_INDEX else "v2s2")
            try:
                _to_registry(runtime, prepared, target, options, progress, by_digest=True)
            finally:
                prepared.cleanup()
            entry.update(mediaType=prepared.media_type, size=len(prepared.manifest), digest=prepared.digest)
        entries.append(entry)
    data = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries},
                      separators=(",", ":")).encode()
    client = _client(ref, options)
    try:
        progress.message("Writing manifest list to image destination")
        client.put_manifest(ref.repository, ref.reference, data, media_type)
    finally:
        client.close()
    progress.message("Storing signatures")
    return "sha256:" + hashlib.sha256(data).hexdigest()
