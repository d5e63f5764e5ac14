"""The OCI image layout (`oci:` directories and `oci-archive:` tars): an
`oci-layout` marker, `index.json` naming manifests (the tag in the
`org.opencontainers.image.ref.name` annotation), and `blobs/sha256/<hex>`.

Writing takes what :func:`husk.storage.push.prepare` made.  Reading is a
source for :func:`husk.storage.pull.fetch_image`, like a registry: every
digest is checked before it names a path, and every blob is hashed as it is
read, so a layout is trusted no more than a registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from typing import TYPE_CHECKING, Callable

from ..define import InvalidArgument, NoSuchImage
from ..state.paths import check_digest
from .registry import CONFIG_LIMIT, JSON_LIMIT, OCI_INDEX, RegistryError

if TYPE_CHECKING:
    from .push import PreparedImage

REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def write_layout(prepared: "PreparedImage", path: str, tag: str, archive: bool = False) -> None:
    """Write the image as an OCI layout directory at `path` (added to what is
    there), or as a tar of one (`archive`) written as write_output writes it.
    The tar's layout is staged beside `path`, or in /var/tmp (podman's
    image_copy_tmp_dir) for a /dev or /proc name (`/dev/stdout`, `/dev/fd/1`),
    whose directory is no place for it (/dev/fd cannot hold one)."""
    if archive:
        from ..state.atomic import write_output

        directory = os.path.dirname(os.path.abspath(path))
        if (directory + "/").startswith(("/dev/", "/proc/")):
            directory = "/var/tmp"
        staging = tempfile.mkdtemp(prefix=".oci-", dir=directory)
        try:
            write_layout(prepared, staging, tag)

            def tar(stream) -> None:
                with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as out:  # a pipe too
                    for entry in ("oci-layout", "index.json", "blobs"):
                        out.add(os.path.join(staging, entry), entry)

            write_output(path, tar)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    for blob in [*prepared.layers, prepared.config]:
        with blob.open() as stream, open(os.path.join(blobs, blob.digest[7:]), "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
    with open(os.path.join(blobs, prepared.digest[7:]), "wb") as out:
        out.write(prepared.manifest)
    with open(os.path.join(path, "oci-layout"), "wb") as out:
        out.write(_LAYOUT)
    index_path = os.path.join(path, "index.json")
    try:
        with open(index_path, encoding="utf-8") as stream:
            index = json.load(stream)
    except (FileNotFoundError, ValueError):
        index = {}
    manifests = [m for m in index.get("manifests") or [] if (m.get("annotations") or {}).get(REF_NAME) != tag]
    manifests.append({"mediaType": prepared.media_type, "digest": prepared.digest, "size": len(prepared.manifest),
                      "annotations": {REF_NAME: tag}})
    with open(index_path, "w", encoding="utf-8") as out:
        json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, out)


def is_oci_archive(path: str) -> bool:
    """Whether `path` is a tar holding an OCI layout (an `oci-layout` member)."""
    try:
        with tarfile.open(path, "r:*") as archive:
            return any(os.path.normpath(m.name) == "oci-layout" for m in archive.getmembers())
    except (tarfile.TarError, OSError, EOFError):
        return False


class _FileBlob:
    """A blob read from a file, hashed and held to its size like a registry's (see BlobReader)."""

    def __init__(self, stream, digest: str, size: int, progress: Callable[[int], None] | None = None) -> None:
        self.stream, self.digest, self.size, self.progress = stream, digest, size, progress
        self.offset, self._hash = 0, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(1 << 20 if size < 0 else size)
        self._hash.update(data)
        self.offset += len(data)
        if self.size >= 0 and self.offset > self.size:
            raise RegistryError(f"blob {self.digest}: larger than its descriptor says")
        if self.progress and data:
            self.progress(len(data))
        return data

    def finish(self) -> None:
        while self.read(1 << 20):
            pass
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self.digest or (self.size >= 0 and self.offset != self.size):
            raise RegistryError(f"blob {self.digest}: digest mismatch: the layout holds {actual}")

    def close(self) -> None:
        self.stream.close()

    def interrupt(self) -> None:
        """Nothing to wake: a file read does not stall (the pull's progress callback stops it)."""


class LayoutSource:
    """An OCI layout (a directory, or a tar that is read in place) as a source of
    manifests and blobs, with the registry client's methods."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tar = None
        if os.path.isfile(path):
            try:
                self._tar = tarfile.open(path, "r:*")
                self._members = {os.path.normpath(m.name): m for m in self._tar.getmembers() if m.isfile()}
            except (tarfile.TarError, OSError) as exc:
                raise InvalidArgument(f"invalid oci-archive {path!r}: {exc}") from None
        elif not os.path.isdir(path):
            raise InvalidArgument(f"no OCI layout at {path!r}")

    def _open(self, name: str):
        if self._tar is not None:
            member = self._members.get(name)
            if member is None:
                raise InvalidArgument(f"invalid OCI layout {self.path!r}: no {name}")
            return self._tar.extractfile(member)
        try:
            return open(os.path.join(self.path, name), "rb")
        except FileNotFoundError:
            raise InvalidArgument(f"invalid OCI layout {self.path!r}: no {name}") from None

    def _small(self, name: str, limit: int) -> bytes:
        with self._open(name) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise InvalidArgument(f"invalid OCI layout {self.path!r}: {name} is larger than {limit} bytes")
        return data

    def index_entry(self, tag: str) -> tuple[str, str]:
        """The manifest digest `tag` names in index.json (the only one when no tag is
        given), and the entry's ref name."""
        try:
            manifests = json.loads(self._small("index.json", JSON_LIMIT)).get("manifests") or []
        except (ValueError, AttributeError):
            raise InvalidArgument(f"invalid OCI layout {self.path!r}: malformed index.json") from None
        chosen = [m for m in manifests if isinstance(m, dict) and
                  (not tag or (m.get("annotations") or {}).get(REF_NAME) == tag)]
        if not chosen or (not tag and len(chosen) > 1):
            raise NoSuchImage(f"{self.path}: no image {'tagged ' + repr(tag) if tag else '(several: name one)'}")
        ref_name = str((chosen[0].get("annotations") or {}).get(REF_NAME, ""))
        return check_digest(chosen[0].get("digest", ""), "manifest digest"), ref_name

    def _blob_name(self, digest: str) -> str:
        return f"blobs/sha256/{check_digest(digest, 'blob digest')[7:]}"

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        digest = check_digest(reference, "manifest digest")
        data = self._small(self._blob_name(digest), JSON_LIMIT)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RegistryError(f"manifest {digest}: digest mismatch")
        try:
            media_type = json.loads(data).get("mediaType", "")
        except (ValueError, AttributeError):
            media_type = ""
        return data, media_type, digest

    def get_blob(self, repository: str, digest: str, limit: int = CONFIG_LIMIT) -> bytes:
        reader = self.blob_reader(repository, digest, -1)
        data = reader.stream.read(limit + 1)
        if len(data) > limit:
            raise RegistryError(f"blob {digest}: larger than {limit} bytes")
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RegistryError(f"blob {digest}: digest mismatch")
        return data

    def blob_reader(self, repository: str, digest: str, size: int, progress=None) -> _FileBlob:
        return _FileBlob(self._open(self._blob_name(digest)), digest, size, progress)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()


class DirSource(LayoutSource):
    """skopeo's `dir:` layout: manifest.json and each blob by its hex digest."""

    def index_entry(self, tag: str) -> tuple[str, str]:
        return "sha256:" + hashlib.sha256(self._small("manifest.json", JSON_LIMIT)).hexdigest(), ""

    def _blob_name(self, digest: str) -> str:
        return check_digest(digest, "blob digest")[7:]

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        if reference == self.index_entry("")[0]:
            data = self._small("manifest.json", JSON_LIMIT)
            try:
                media_type = json.loads(data).get("mediaType", "")
            except (ValueError, AttributeError):
                media_type = ""
            return data, media_type, reference
        return super().get_manifest(repository, reference)
