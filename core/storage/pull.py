"""`husk pull`: an image from a registry into the layer store.

The path of one pull: short-name resolution (registries.conf), the manifest
(an index or list narrowed to this platform), the config (the image id is its
digest), then every layer not stored yet, a few at once: each blob streams
from the registry through a hash (:class:`husk.storage.registry.BlobReader`)
into the chrooted unpacker (:func:`husk.storage.layer_store.stage_layer`), so
it is unpacked as it arrives and never written twice.  A layer is moved into
the store only when both digests agree, the blob's and the config's diff_id,
and the image is registered only when every layer is there.  Layers are
content-addressed by diff_id and shared; a lock per layer makes two pulls of
the same layer download it once.  An interrupted pull leaves verified layers
(a new pull uses them) and no image record; staging directories go with it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import platform
import threading
from typing import TYPE_CHECKING

import msgspec

from ..define import HuskError, InvalidArgument, NoSuchImage
from ..faults import fault
from ..state.paths import check_digest
from .registry import (MANIFEST_LIST, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST, RegistryClient, RegistryError,
                       RemoteRef, TLSOptions, certs_dir_for, parse_remote)

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord

#: layers downloaded and unpacked at once
PARALLEL_LAYERS = 4
LAYER_TYPES = frozenset({
    "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd"})
CONFIG_TYPES = frozenset({"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"})


class Descriptor(msgspec.Struct):
    mediaType: str = ""
    digest: str = ""
    size: int = -1
    platform: dict | None = None


class _Manifest(msgspec.Struct):
    schemaVersion: int = 0
    mediaType: str = ""
    config: Descriptor | None = None
    layers: list[Descriptor] | None = None
    manifests: list[Descriptor] | None = None
    annotations: dict[str, str] | None = None


@dataclasses.dataclass
class Platform:
    os: str = "linux"
    architecture: str = ""
    variant: str = ""

    @classmethod
    def parse(cls, spec: str = "", os_: str = "", arch: str = "", variant: str = "") -> "Platform":
        """--platform os/arch[/variant], or --os/--arch/--variant; the host's by default."""
        if spec:
            parts = spec.split("/")
            if len(parts) not in (2, 3) or not all(parts):
                raise InvalidArgument(f"invalid platform {spec!r}: expected OS/ARCH[/VARIANT]")
            os_, arch, variant = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        host_arch, host_variant = _host_arch()
        arch = arch or host_arch
        return cls(os_ or "linux", arch, variant or (host_variant if arch == host_arch else ""))


def _host_arch() -> tuple[str, str]:
    machine = platform.machine()
    return {"x86_64": ("amd64", ""), "aarch64": ("arm64", "v8"), "armv7l": ("arm", "v7"),
            "armv6l": ("arm", "v6"), "i686": ("386", ""), "ppc64le": ("ppc64le", ""),
            "s390x": ("s390x", "")}.get(machine, (machine, ""))


@dataclasses.dataclass
class PullOptions:
    """What a pull may be told: TLS (None: as registries.conf says), credentials
    (None: auth.json's), the platform, and --all-tags."""

    tls_verify: bool | None = None
    cert_dir: str | None = None
    authfile: str | None = None
    credentials: tuple[str, str] | None = None
    platform: Platform = dataclasses.field(default_factory=Platform.parse)
    all_tags: bool = False


class Progress:
    """What a pull reports; the CLI and the API render it.  Methods are called
    from the layer threads too, so implementations must be thread-safe."""

    def message(self, text: str) -> None: ...

    def layer_start(self, digest: str, size: int) -> None: ...

    def layer_advance(self, digest: str, amount: int) -> None: ...

    def layer_done(self, digest: str, status: str) -> None: ...


def pull(runtime: "Runtime", reference: str, options: PullOptions | None = None,
         progress: Progress | None = None) -> list["ImageRecord"]:
    """Pull `reference` (a short name is resolved as podman does); every tag of
    it with `options.all_tags`.  Returns the images stored."""
    from .reference import check_reference
    from .registry_config import load_registries_conf, resolve_short_name

    options, progress = options or PullOptions(), progress or Progress()
    transport, _, location = reference.partition(":")
    if transport in ("oci-archive", "oci", "dir") and location:
        return [pull_local(runtime, transport, location, options.platform, progress)]
    if transport == "docker-archive" and location:
        from .image_archive import load_images

        with open(location.partition(":")[0], "rb") as stream:
            return [loaded.image for loaded in load_images(runtime, stream)]
    reference = reference.removeprefix("docker://")
    check_reference(reference)
    conf = load_registries_conf()
    candidates = resolve_short_name(reference, conf)
    errors: list[HuskError] = []
    for candidate in candidates:
        ref = parse_remote(candidate)
        if options.all_tags:
            if "@" in reference or ":" in reference.rsplit("/", 1)[-1]:
                raise InvalidArgument("tag or digest can't be used with --all-tags option")
            try:
                tags = client_for(ref.registry, conf, options, ref.name).tags(ref.repository)
            except HuskError as exc:
                errors.append(exc)
                continue
            return [_pull_one(runtime, ref.with_tag(tag), conf, options, progress) for tag in tags]
        progress.message(f"Trying to pull {ref}...")
        try:
            return [_pull_one(runtime, ref, conf, options, progress)]
        except (NoSuchImage, RegistryError) as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise type(errors[-1])(f"{errors[-1]} (tried {', '.join(candidates)})")


def client_for(registry: str, conf, options: PullOptions, name: str, insecure: bool = False) -> RegistryClient:
    from .registry_config import credentials_for

    entry = conf.entry_for(name)
    verify = options.tls_verify if options.tls_verify is not None else \
        not (insecure or (entry is not None and entry.insecure and entry.location.split("/")[0] == registry))
    credentials = options.credentials or credentials_for(name, options.authfile)
    return RegistryClient(registry, credentials=credentials,
                          tls=TLSOptions(verify=verify, cert_dir=certs_dir_for(registry, options.cert_dir)))


def newer_available(image: "ImageRecord", options: PullOptions) -> bool:
    """`--pull newer`: whether the registry's manifest for the image's name differs
    from the one it was pulled as; an image that came from no registry, or a
    registry that cannot be asked, keeps the stored image."""
    from .registry import is_qualified
    from .registry_config import load_registries_conf

    name = next((n for n in image.names if is_qualified(n) and not n.startswith("localhost/")), None)
    if not image.digest or name is None:
        return False
    try:
        ref = parse_remote(name)
        client = client_for(ref.registry, load_registries_conf(), options, ref.name)
        remote = client.manifest_digest(ref.repository, ref.reference)
        if remote is None or remote == image.digest:
            return False
        # an index's digest is not the platform manifest's the image was pulled as: look inside
        data, media_type, _ = client.get_manifest(ref.repository, remote)
        manifest = _decode_manifest(data, name)
        if (manifest.mediaType or media_type) in (OCI_INDEX, MANIFEST_LIST):
            return _choose(manifest.manifests or [], options.platform, name) != image.digest
    except HuskError:
        return False
    return True


def _pull_one(runtime: "Runtime", ref: RemoteRef, conf, options: PullOptions, progress: Progress) -> "ImageRecord":
    """Try the mirrors registries.conf names, then the registry itself."""
    from .registry_config import pull_sources

    last: HuskError | None = None
    for source, insecure in pull_sources(conf, ref.name):
        source_ref = parse_remote(f"{source}@{ref.digest}" if ref.digest else f"{source}:{ref.tag}")
        client = client_for(source_ref.registry, conf, options, source, insecure)
        try:
            name = f"{ref.name}@{ref.digest}" if ref.digest else str(ref)
            return fetch_image(runtime, client, source_ref.repository, source_ref.reference, name, options.platform,
                               progress, where=str(source_ref))
        except (NoSuchImage, RegistryError) as exc:
            last = exc
        finally:
            client.close()
    assert last is not None
    raise last


def _decode_manifest(data: bytes, where: str) -> _Manifest:
    try:
        return msgspec.json.decode(data, type=_Manifest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise RegistryError(f"{where}: malformed manifest: {exc}") from None


def fetch_image(runtime: "Runtime", source, repository: str, reference: str, name: str, want: Platform,
                progress: Progress, where: str, event: str = "pull", refuse_devices: bool = True) -> "ImageRecord":
    """Store the image `reference` names in `source` (a RegistryClient, or an
    OCI layout's :class:`husk.storage.oci_layout.LayoutSource`) under `name`.

    :param refuse_devices: a layer holding a device node is an error (a
        registry's); a local layout's (`load`, `pull oci-archive:`) keeps them.
    """
    data, media_type, digest = source.get_manifest(repository, reference)
    manifest = _decode_manifest(data, where)
    media_type = manifest.mediaType or media_type
    if media_type in (OCI_INDEX, MANIFEST_LIST) or (manifest.manifests is not None and manifest.layers is None):
        chosen = _choose(manifest.manifests or [], want, where)
        data, media_type, digest = source.get_manifest(repository, chosen)
        manifest = _decode_manifest(data, where)
        media_type = manifest.mediaType or media_type
    if media_type not in (OCI_MANIFEST, MANIFEST_V2, "") or manifest.config is None or manifest.layers is None:
        raise RegistryError(f"{where}: unsupported manifest type {media_type or '(none)'} "
                            "(husk reads OCI and Docker v2 schema 2 manifests)")
    config_digest = _checked(manifest.config, where, "config", CONFIG_TYPES)
    for layer in manifest.layers:
        _checked(layer, where, "layer", LAYER_TYPES)
    progress.message("Getting image source signatures")
    config_json = source.get_blob(repository, config_digest)
    from .image_archive import config_record

    try:
        image = config_record(config_json, [name] if name else [], 0)
    except InvalidArgument as exc:
        raise RegistryError(f"{where}: {exc}") from None
    if len(image.layers) != len(manifest.layers):
        raise RegistryError(f"{where}: the config lists {len(image.layers)} layers, the manifest "
                            f"{len(manifest.layers)}")
    image.size = _fetch_layers(runtime, source, repository, list(zip(manifest.layers, image.layers)), progress,
                               refuse_devices)
    fault("pull.blobs.after")
    progress.message(f"Copying config {config_digest[7:19]} done")
    progress.message("Writing manifest to image destination")
    image.digest = digest
    image.annotations = dict(manifest.annotations or {})
    from .image_archive import merge_stored

    image = merge_stored(runtime, image)
    fault("pull.record.before")
    runtime.store.put_image(image)
    fault("pull.record.after")
    runtime.emit(event, id=image.id, name=name, image=image.id, type="image")
    progress.message("Storing signatures")
    return image


def _checked(descriptor: Descriptor, where: str, what: str, types: frozenset) -> str:
    try:
        check_digest(descriptor.digest, f"{what} digest")
    except InvalidArgument as exc:
        raise RegistryError(f"{where}: {exc}") from None
    if descriptor.size < 0:
        raise RegistryError(f"{where}: {what} {descriptor.digest} has no size")
    if descriptor.mediaType and descriptor.mediaType not in types:
        raise RegistryError(f"{where}: {what} {descriptor.digest} has unsupported media type {descriptor.mediaType}")
    return descriptor.digest


def _choose(manifests: list[Descriptor], want: Platform, where: str) -> str:
    """The digest of the index entry for `want` (a variant only counts when asked or known)."""
    fallback = None
    for entry in manifests:
        found = entry.platform or {}
        if found.get("os") != want.os or found.get("architecture") != want.architecture:
            continue
        if not want.variant or found.get("variant", "") == want.variant:
            return _checked_index(entry, where)
        fallback = fallback or entry
    if fallback is not None and not found.get("variant"):
        return _checked_index(fallback, where)
    raise NoSuchImage(f"choosing an image from manifest list {where}: no image found in manifest list for "
                      f'architecture {want.architecture}, variant "{want.variant}", OS {want.os}')


def _checked_index(entry: Descriptor, where: str) -> str:
    try:
        return check_digest(entry.digest, "manifest digest")
    except InvalidArgument as exc:
        raise RegistryError(f"{where}: {exc}") from None


def _fetch_layers(runtime: "Runtime", source, repository: str,
                  layers: list[tuple[Descriptor, str]], progress: Progress, refuse_devices: bool) -> int:
    """Download and unpack the layers not stored yet, a few at once; the total
    uncompressed size.  The first failure stops the others."""
    from concurrent.futures import ThreadPoolExecutor

    abort = threading.Event()
    readers: list = []  # the streams in flight, interrupted on the first failure (or ^C)
    unique = list({diff_id: (descriptor, diff_id) for descriptor, diff_id in layers}.values())
    with ThreadPoolExecutor(max_workers=PARALLEL_LAYERS) as pool:
        try:
            futures = [pool.submit(_fetch_layer, runtime, source, repository, d, diff_id, progress, abort, readers,
                                   refuse_devices)
                       for d, diff_id in unique]
            # Opened while the layers stream rather than at the registration after them: a
            # new store's first commits sync, and behind 200 MB of freshly written layers
            # that took 0.1-0.15 s (issue 14's benchmark pulls into an empty root).
            runtime.store
            sizes = dict(future.result() for future in futures)
        finally:
            abort.set()
            for reader in list(readers):  # a stalled registry must not keep the others waiting
                reader.interrupt()
    return sum(sizes[diff_id] for _, diff_id in layers)


def _fetch_layer(runtime: "Runtime", source, repository: str, descriptor: Descriptor, diff_id: str,
                 progress: Progress, abort: threading.Event, readers: list, refuse_devices: bool) -> tuple[str, int]:
    from .layer_store import layer_archive, layer_present, stage_layer

    short = descriptor.digest[7:19]
    with _layer_lock(runtime, diff_id):
        if layer_present(runtime, diff_id):
            progress.layer_done(descriptor.digest, "Already exists")
            progress.message(f"Copying blob {short} skipped: already exists")
            return diff_id, os.path.getsize(layer_archive(runtime, diff_id))

        def advance(amount: int) -> None:
            if abort.is_set():
                raise HuskError("pull aborted")
            progress.layer_advance(descriptor.digest, amount)

        progress.layer_start(descriptor.digest, descriptor.size)
        reader = source.blob_reader(repository, descriptor.digest, descriptor.size, progress=advance)
        readers.append(reader)
        if abort.is_set():  # aborted after the others were interrupted
            raise HuskError("pull aborted")
        try:
            try:
                staged = stage_layer(runtime, reader, refuse_devices=refuse_devices)
            except InvalidArgument as exc:
                reader.finish()  # bytes that are not the blob are the error to report, not their tar
                raise RegistryError(f"layer {descriptor.digest}: {exc}") from None
            try:
                reader.finish()
                if staged.digest != diff_id:
                    raise RegistryError(f"layer {descriptor.digest}: uncompressed digest {staged.digest}, "
                                        f"the config says {diff_id}")
                if staged.commit():
                    remember_blob_digest(runtime, diff_id, descriptor.digest)
            except BaseException:
                staged.discard()
                raise
        finally:
            reader.close()
        progress.layer_done(descriptor.digest, "Pull complete")
        progress.message(f"Copying blob {short} done")
        return diff_id, staged.size


def _blob_digest_path(runtime: "Runtime", diff_id: str) -> str:
    from .layer_store import ARCHIVE_NAME

    return os.path.join(runtime.paths.layer_dir(diff_id), ARCHIVE_NAME + ".sha256")


def remember_blob_digest(runtime: "Runtime", diff_id: str, digest: str) -> None:
    """Note the digest of a layer's stored archive (known from the pull that
    verified it, or a push that hashed it), so a push need not hash it again."""
    from ..state.atomic import replace_file

    replace_file(_blob_digest_path(runtime, diff_id), check_digest(digest))


def remembered_blob_digest(runtime: "Runtime", diff_id: str) -> str:
    """The digest :func:`remember_blob_digest` noted, or "" (the archive must be hashed)."""
    try:
        with open(_blob_digest_path(runtime, diff_id)) as stream:
            return check_digest(stream.read(80).strip())
    except (OSError, InvalidArgument):
        return ""


class _layer_lock:
    """An exclusive flock per layer under the run root, so concurrent pulls fetch a layer once."""

    def __init__(self, runtime: "Runtime", diff_id: str) -> None:
        from ..state.paths import make_private_dirs

        directory = os.path.join(runtime.paths.runroot, "locks")
        make_private_dirs(directory)
        self.path = os.path.join(directory, "layer-" + check_digest(diff_id, "diff_id")[7:] + ".lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def pull_local(runtime, transport: str, location: str, platform, progress):
    """`husk pull oci-archive:PATH[:TAG]` (and oci:, dir:): the image stored under the
    tag, or the entry's ref name, when it is a full reference; with no name otherwise."""
    from .images import normalize
    from .oci_layout import DirSource, LayoutSource

    path, _, tag = location.partition(":")
    source = DirSource(path) if transport == "dir" else LayoutSource(path)
    try:
        digest, ref_name = source.index_entry(tag)
        name = next((normalize(n) for n in (tag, ref_name) if "/" in n), "")
        return fetch_image(runtime, source, "", digest, name, platform, progress,
                           where=f"{transport}:{path}", event="pull", refuse_devices=False)
    finally:
        source.close()
