"""The state store: typed records in one LMDB environment under the storage root.

Named databases: container configs and states (separate, so a state save never
rewrites the config), names -> id, images, image names -> id, and mount
counts.  Every multi-record change is one write transaction, so a process
killed mid-change leaves the old records, never half of the new ones.  The
environment is opened lazily, once per process (py-lmdb refuses a second open
of the same path, a forked child included), and dead readers' slots are
cleared at open.  No write transaction is ever held across a runtime call:
callers compute, then write.

The map grows when full.  LMDB forbids `set_mapsize` while any transaction
of the process is open, so every transaction holds a shared side of one
in-process lock and a resize holds it alone; a map grown by another process
shows up as MapResizedError on any transaction, read or write, which adopts
the new size and runs the transaction again.  Transactions are therefore
short and re-runnable: nothing is yielded from inside one.

Keys are at most 511 bytes in LMDB; a longer name (podman does not limit
container names) is stored under its digest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import lmdb
import msgspec

from ..define import (CorruptRecord, InvalidArgument, NameInUse, NoSuchContainer, NoSuchImage, NoSuchPod, NoSuchVolume,
                      VolumeExists)
from ..faults import fault
from .records import ContainerConfig, ContainerState, ImageRecord, PodRecord, SecretRecord, VolumeRecord

_DATABASES = ("configs", "states", "names", "images", "image_names", "mounts", "networks", "leases", "volumes", "secrets", "pods")
_INITIAL_MAP_SIZE = 1 << 32  # sparse; grown on MapFullError
#: space kept allocated past the store's last page (topped up at each opening once
#: half is spent): LMDB writes new pages there without asking the file system for
#: blocks, so on a full disk the records of an exit, a cleanup or a removal -- the
#: way out -- still commit
_RESERVE = 2 << 20
_OPEN: dict[tuple[int, str], "Store"] = {}
#: one opening at a time: LMDB refuses a second open of one environment in a
#: process, and threads (a build's parallel stages) may ask at once
_OPENING = threading.Lock()
_MAX_KEY = 511  # LMDB's default maximum key size (env.max_key_size())
_T = TypeVar("_T")

_encoder = msgspec.json.Encoder()


def encode_record(record: msgspec.Struct) -> bytes:
    """`record` as JSON.  Strings holding bytes that are not UTF-8 (surrogates,
    from the command line or husk's environment) are stored with U+FFFD for
    each, as podman's Go encoder stores them (utf8_text), and `record` itself
    is made so too: what the caller goes on with (the spec, the events, the
    output) is what was stored."""
    try:
        return _encoder.encode(record)
    except UnicodeEncodeError:
        from ..formats.environment import utf8_document

        raw = _encoder.encode(utf8_document(msgspec.to_builtins(record)))
        stored = msgspec.json.decode(raw, type=type(record))
        for field in record.__struct_fields__:
            setattr(record, field, getattr(stored, field))
        return raw

#: a decoder per record type, made at its first use: making one walks the type's
#: annotations (about 1.5 ms for all six; `inspect` of a container needs two)
_decoders: dict[type, msgspec.json.Decoder] = {}


def open_store(path: str) -> "Store":
    """The process's Store for `path` (re-opened after a fork)."""
    key = (os.getpid(), path)
    store = _OPEN.get(key)
    if store is None:
        with _OPENING:
            store = _OPEN.get(key)
            if store is None:
                store = _OPEN[key] = Store(path)
    return store


def _key(text: str) -> bytes:
    """The LMDB key for a name or id: itself, or past 511 bytes `#sha256:<digest>`
    (a '#' no valid name, reference or id contains, so it never meets a real key).
    A name from the command line keeps its bytes that are not UTF-8 (surrogates):
    looked up, it is found nowhere (no stored name has them), not an error."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) <= _MAX_KEY:
        return raw
    import hashlib

    return b"#sha256:" + hashlib.sha256(raw).hexdigest().encode()


class _MapLock:
    """Shared by transactions, held alone by a map resize; a waiting resize
    keeps new transactions out so a busy service cannot starve it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = 0
        self._resizing = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._resizing)
            self._open += 1
        try:
            yield
        finally:
            with self._cond:
                self._open -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._resizing)
            self._resizing = True
            self._cond.wait_for(lambda: not self._open)
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()


class Store:
    def __init__(self, path: str) -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        self.path = path
        self.env = lmdb.open(path, map_size=_INITIAL_MAP_SIZE, max_dbs=len(_DATABASES) + 2,
                             sync=True, metasync=True, readahead=False)
        self.env.reader_check()
        self.db = self._open_dbs()
        self._map_lock = _MapLock()
        self._map_size = self.env.info()["map_size"]
        self._keep_reserve()

    def _keep_reserve(self) -> None:
        used = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        try:
            fd = os.open(os.path.join(self.path, "data.mdb"), os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if os.fstat(fd).st_size < used + _RESERVE // 2:
                os.posix_fallocate(fd, 0, used + _RESERVE)
        except OSError:
            pass  # the disk is full already: what is allocated is the reserve
        finally:
            os.close(fd)

    def _open_dbs(self) -> dict:
        """Every database, opened in one write transaction: a new store commits (and
        syncs) once, not once per database (eleven syncs were a tenth of a first
        pull).  Adopts the size on disk first if another process has grown the map
        since this one was opened (no other thread has the store yet)."""
        try:
            txn = self.env.begin(write=True)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)
            txn = self.env.begin(write=True)
        with txn:
            return {name: self.env.open_db(name.encode(), txn=txn) for name in _DATABASES}

    # -- plumbing -----------------------------------------------------------------------
    def _decode(self, kind, raw: bytes | None, what: str):
        if raw is None:
            return None
        try:
            decoder = _decoders.get(kind)
            if decoder is None:
                decoder = _decoders[kind] = msgspec.json.Decoder(kind)
            return decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            error = CorruptRecord(f"corrupt state record for {what}: {exc}; `husk rm -f` removes it")
            if what.startswith("container "):
                error.container_id = what.split(" ", 1)[1]
            raise error from None

    def _transaction(self, body: Callable[..., _T], write: bool = False) -> _T:
        """`body(txn)` in a transaction, run again after the map grew (here when
        full, or in another process)."""
        while True:
            seen = self._map_size
            try:
                with self._map_lock.shared(), self.env.begin(write=write) as txn:
                    return body(txn)
            except lmdb.MapFullError:
                self._resize(seen, seen * 2)
            except lmdb.MapResizedError:
                self._resize(seen, 0)
            except lmdb.DiskError as exc:  # the file system is full: the old records stay, say so in one line
                import errno

                raise OSError(errno.ENOSPC, f"writing the state store: {exc}", self.path) from None

    def _resize(self, seen: int, size: int) -> None:
        """Set the map size (0: adopt the one on disk) with no transaction open,
        unless another thread changed it since `seen`."""
        with self._map_lock.exclusive():
            if self._map_size == seen:
                self.env.set_mapsize(size)
                self._map_size = self.env.info()["map_size"]

    def transaction(self, body: Callable[..., _T], write: bool = False) -> _T:
        """`body(txn)` in one transaction, for rooms that keep records of their own
        here (husk.network: "networks", "leases"); it may run twice (after the
        map grew), so it must only read and write the store."""
        return self._transaction(body, write)

    def _write(self, change: Callable[..., _T]) -> _T:
        return self._transaction(change, write=True)

    def _get(self, db: str, key: str) -> bytes | None:
        return self._transaction(lambda txn: txn.get(_key(key), db=self.db[db]))

    # -- containers ---------------------------------------------------------------------
    def add_container(self, config: ContainerConfig, state: ContainerState) -> None:
        """Store a new container; its name must be free (checked in the same transaction)."""
        def change(txn):
            if not txn.put(_key(config.name), config.id.encode(), db=self.db["names"], overwrite=False):
                owner = txn.get(_key(config.name), db=self.db["names"]).decode()
                raise NameInUse(f'the container name "{config.name}" is already in use by {owner}. '
                                "You have to remove that container to be able to reuse that name: that name is already in use")
            txn.put(config.id.encode(), encode_record(config), db=self.db["configs"])
            txn.put(config.id.encode(), encode_record(state), db=self.db["states"])
        fault("create.record.before")
        self._write(change)
        fault("create.record.after")

    def save_state(self, container_id: str, state: ContainerState, mount_delta: int = 0) -> None:
        """Store the container's state; with `mount_delta`, change its mount
        count in the same transaction (one fsync for a mount or an unmount and
        the state that records it)."""
        def change(txn):
            if txn.get(container_id.encode(), db=self.db["configs"]) is None:
                raise NoSuchContainer(f"container {container_id} has been removed")
            txn.put(container_id.encode(), encode_record(state), db=self.db["states"])
            if mount_delta:
                self._change_mount_count(txn, container_id, mount_delta)
        self._write(change)

    def rewrite_config(self, config: ContainerConfig, old_name: str = "") -> None:
        """Replace a container's config (rename, update).  A changed name
        (`old_name` given) is claimed in the same transaction that frees the
        old one, so of two renames to one name exactly one wins."""
        def change(txn):
            key = config.id.encode()
            if txn.get(key, db=self.db["configs"]) is None:
                raise NoSuchContainer(f"container {config.id} has been removed")
            if old_name and old_name != config.name:
                if not txn.put(_key(config.name), key, db=self.db["names"], overwrite=False):
                    owner = txn.get(_key(config.name), db=self.db["names"]).decode()
                    raise NameInUse(f'the container name "{config.name}" is already in use by {owner}. '
                                    "You have to remove that container to be able to reuse that name: "
                                    "that name is already in use")
                if txn.get(_key(old_name), db=self.db["names"]) == key:
                    txn.delete(_key(old_name), db=self.db["names"])
            txn.put(key, encode_record(config), db=self.db["configs"])
        self._write(change)

    def remove_container(self, config: ContainerConfig) -> None:
        def change(txn):
            key = config.id.encode()
            txn.delete(key, db=self.db["configs"])
            txn.delete(key, db=self.db["states"])
            txn.delete(key, db=self.db["mounts"])
            if txn.get(_key(config.name), db=self.db["names"]) == key:
                txn.delete(_key(config.name), db=self.db["names"])
        self._write(change)

    def container_config(self, container_id: str) -> ContainerConfig:
        config = self._decode(ContainerConfig, self._get("configs", container_id), f"container {container_id}")
        if config is None:
            raise NoSuchContainer.named(container_id)
        return config

    def container_state(self, container_id: str) -> ContainerState:
        state = self._decode(ContainerState, self._get("states", container_id), f"container {container_id}")
        if state is None:
            raise NoSuchContainer.named(container_id)
        return state

    def containers(self, errors: list[CorruptRecord] | None = None
                   ) -> Iterator[tuple[ContainerConfig, ContainerState]]:
        """Every container, read in one transaction (a consistent snapshot).

        A corrupt record raises CorruptRecord, or -- when `errors` is given --
        is appended there and skipped, so one bad record hides no other container."""
        def read(txn):
            states = txn.cursor(db=self.db["states"])
            return [(key, raw, states.get(key)) for key, raw in txn.cursor(db=self.db["configs"])]
        for key, raw, state_raw in self._transaction(read):
            what = f"container {key.decode()}"
            try:
                record = (self._decode(ContainerConfig, raw, what),
                          self._decode(ContainerState, state_raw, what) if state_raw else ContainerState())
            except CorruptRecord as exc:
                if errors is None:
                    raise
                errors.append(exc)
                continue
            yield record

    def purge_container(self, container_id: str) -> None:
        """Delete every record of a container whose records cannot be read
        (`rm -f` of a corrupt container): by id, and any name pointing at it."""
        def change(txn):
            key = container_id.encode()
            for db in ("configs", "states", "mounts"):
                txn.delete(key, db=self.db[db])
            names = txn.cursor(db=self.db["names"])
            for name, owner in list(names):
                if owner == key:
                    txn.delete(name, db=self.db["names"])
        self._write(change)

    def lookup_container(self, name_or_id: str) -> str:
        """The id for a name, a full id or a unique id prefix (podman's order)."""
        if not name_or_id or "\0" in name_or_id:
            raise NoSuchContainer.named(name_or_id)
        key = _key(name_or_id)

        def find(txn) -> list[str]:
            found = txn.get(key, db=self.db["names"])
            if found is not None:
                return [found.decode()]
            if txn.get(key, db=self.db["configs"]) is not None:
                return [name_or_id]
            cursor = txn.cursor(db=self.db["configs"])
            matches: list[str] = []
            if len(key) <= 64 and cursor.set_range(key):  # no id is longer
                for candidate in cursor.iternext(values=False):
                    if not candidate.startswith(key) or len(matches) == 2:
                        break
                    matches.append(candidate.decode())
            return matches
        matches = self._transaction(find)
        if len(matches) > 1:
            raise InvalidArgument(f'more than one result for container ID prefix "{name_or_id}"')
        if not matches:
            raise NoSuchContainer.named(name_or_id)
        return matches[0]

    # -- mount counts -------------------------------------------------------------------
    def change_mount_count(self, container_id: str, delta: int) -> int:
        """Add `delta` to the container's persistent mount count; return the new count (>= 0)."""
        return self._write(lambda txn: self._change_mount_count(txn, container_id, delta))

    def _change_mount_count(self, txn, container_id: str, delta: int) -> int:
        key = container_id.encode()
        count = max(0, int(txn.get(key, b"0", db=self.db["mounts"])) + delta)
        if count:
            txn.put(key, str(count).encode(), db=self.db["mounts"])
        else:
            txn.delete(key, db=self.db["mounts"])
        return count

    def mount_count(self, container_id: str) -> int:
        return int(self._get("mounts", container_id) or b"0")

    def reset_mount_counts(self) -> None:
        self._write(lambda txn: txn.drop(self.db["mounts"], delete=False))

    # -- images -------------------------------------------------------------------------
    def put_image(self, image: ImageRecord) -> list[str]:
        """Store an image; its names move to it from any image holding them, and
        are added to its names history (newest first; an image losing a name keeps
        it there).  Returns the ids of images left with no name (dangling)."""
        def change(txn):
            stored = txn.get(image.id.encode(), db=self.db["images"])
            before = self._decode(ImageRecord, stored, f"image {image.id}") if stored is not None else None
            earlier = (before.names_history or before.names) if before is not None else image.names_history
            image.names_history = list(dict.fromkeys([*reversed(image.names), *earlier]))
            orphans = []
            for name in image.names:
                old = txn.get(_key(name), db=self.db["image_names"])
                if old is not None and old.decode() != image.id:
                    previous = self._decode(ImageRecord, txn.get(old, db=self.db["images"]), f"image {old.decode()}")
                    if previous is not None:
                        previous.names = [n for n in previous.names if n != name]
                        txn.put(old, encode_record(previous), db=self.db["images"])
                        if not previous.names:
                            orphans.append(previous.id)
                txn.put(_key(name), image.id.encode(), db=self.db["image_names"])
            txn.put(image.id.encode(), encode_record(image), db=self.db["images"])
            return orphans
        return self._write(change)

    def image(self, image_id: str) -> ImageRecord:
        if not image_id:  # a --rootfs container's (LMDB refuses an empty key)
            raise NoSuchImage("the container has no image: it runs a --rootfs directory")
        image = self._decode(ImageRecord, self._get("images", image_id), f"image {image_id}")
        if image is None:
            raise NoSuchImage.named(image_id)
        return image

    def images(self) -> list[ImageRecord]:
        records = self._transaction(lambda txn: list(txn.cursor(db=self.db["images"])))
        return [self._decode(ImageRecord, raw, f"image {key.decode()}") for key, raw in records]

    def image_id_for_name(self, name: str) -> str | None:
        found = self._get("image_names", name)
        return found.decode() if found else None

    def image_ids_with_prefix(self, prefix: str) -> list[str]:
        def find(txn) -> list[str]:
            cursor = txn.cursor(db=self.db["images"])
            if len(prefix) > 64 or not cursor.set_range(prefix.encode()):  # no id is longer
                return []
            found = []
            for key in cursor.iternext(values=False):
                if not key.startswith(prefix.encode()) or len(found) == 2:
                    break
                found.append(key.decode())
            return found
        return self._transaction(find)

    def untag_image(self, image_id: str, names: list[str]) -> ImageRecord:
        """Take `names` off an image (record and name index in one transaction)."""
        def change(txn):
            image = self._decode(ImageRecord, txn.get(image_id.encode(), db=self.db["images"]), f"image {image_id}")
            if image is None:
                raise NoSuchImage.named(image_id)
            image.names = [n for n in image.names if n not in names]
            for name in names:
                if txn.get(_key(name), db=self.db["image_names"]) == image_id.encode():
                    txn.delete(_key(name), db=self.db["image_names"])
            txn.put(image_id.encode(), encode_record(image), db=self.db["images"])
            return image
        return self._write(change)

    def remove_image(self, image: ImageRecord) -> None:
        def change(txn):
            for name in image.names:
                if txn.get(_key(name), db=self.db["image_names"]) == image.id.encode():
                    txn.delete(_key(name), db=self.db["image_names"])
            txn.delete(image.id.encode(), db=self.db["images"])
        self._write(change)

    # -- volumes (names are checked by husk.volumes.names before they get here) ----------
    def add_volume(self, volume: VolumeRecord) -> None:
        def change(txn):
            if not txn.put(volume.name.encode(), encode_record(volume), db=self.db["volumes"], overwrite=False):
                raise VolumeExists(f"volume with name {volume.name} already exists: volume already exists")
        self._write(change)

    def save_volume(self, volume: VolumeRecord) -> None:
        self._write(lambda txn: txn.put(volume.name.encode(), encode_record(volume), db=self.db["volumes"]))

    def volume(self, name: str) -> VolumeRecord:
        raw = self._get("volumes", name) if name and "\0" not in name else None
        volume = self._decode(VolumeRecord, raw, f"volume {name}")
        if volume is None:
            raise NoSuchVolume.named(name)
        return volume

    def volume_exists(self, name: str) -> bool:
        return bool(name) and "\0" not in name and self._get("volumes", name) is not None

    def volumes(self) -> list[VolumeRecord]:
        records = self._transaction(lambda txn: list(txn.cursor(db=self.db["volumes"])))
        return [self._decode(VolumeRecord, raw, f"volume {key.decode()}") for key, raw in records]

    def remove_volume(self, name: str) -> None:
        self._write(lambda txn: txn.delete(name.encode(), db=self.db["volumes"]))

    def reset_volume_users(self) -> None:
        """After a reboot nothing holds a volume mounted."""
        def change(txn):
            for key, raw in list(txn.cursor(db=self.db["volumes"])):
                volume = self._decode(VolumeRecord, raw, f"volume {key.decode()}")
                volume.users, volume.user_mounts = [], 0
                txn.put(key, encode_record(volume), db=self.db["volumes"])
        self._write(change)

    # -- secrets (the records; the values are files, see husk.engine.secrets) ---------------
    def add_secret(self, secret: SecretRecord) -> None:
        """Store a new secret; its name must be free (checked in the same transaction)."""
        def change(txn):
            for _, raw in txn.cursor(db=self.db["secrets"]):
                if self._decode(SecretRecord, raw, "secret").name == secret.name:
                    raise NameInUse(f"{secret.name}: secret name in use")
            txn.put(secret.id.encode(), encode_record(secret), db=self.db["secrets"])
        self._write(change)

    def secrets(self) -> list[SecretRecord]:
        records = self._transaction(lambda txn: list(txn.cursor(db=self.db["secrets"])))
        return [self._decode(SecretRecord, raw, f"secret {key.decode()}") for key, raw in records]

    def remove_secret(self, secret_id: str) -> None:
        self._write(lambda txn: txn.delete(secret_id.encode(), db=self.db["secrets"]))

    # -- pods (their members are the containers whose config names them) -------------------
    def add_pod(self, pod: PodRecord) -> None:
        """Store a new pod; its name must be free among pods and containers, as in podman
        (checked in the same transaction)."""
        def change(txn):
            taken = txn.get(_key(pod.name), db=self.db["names"]) is not None or any(
                self._decode(PodRecord, raw, "pod").name == pod.name for _, raw in txn.cursor(db=self.db["pods"]))
            if taken:
                raise NameInUse(f'adding pod to state: name "{pod.name}" is in use: pod already exists')
            txn.put(pod.id.encode(), encode_record(pod), db=self.db["pods"])
        self._write(change)

    def save_pod(self, pod: PodRecord) -> None:
        def change(txn):
            if txn.get(pod.id.encode(), db=self.db["pods"]) is None:
                raise NoSuchPod.named(pod.id)
            txn.put(pod.id.encode(), encode_record(pod), db=self.db["pods"])
        self._write(change)

    def pod(self, pod_id: str) -> PodRecord:
        pod = self._decode(PodRecord, self._get("pods", pod_id), f"pod {pod_id}")
        if pod is None:
            raise NoSuchPod.named(pod_id)
        return pod

    def pods(self) -> list[PodRecord]:
        records = self._transaction(lambda txn: list(txn.cursor(db=self.db["pods"])))
        return [self._decode(PodRecord, raw, f"pod {key.decode()}") for key, raw in records]

    def lookup_pod(self, name_or_id: str) -> str:
        """The id for a pod's name, full id or unique id prefix (podman's order)."""
        pods = self.pods() if name_or_id and "\0" not in name_or_id else []
        for pod in pods:
            if name_or_id in (pod.name, pod.id):
                return pod.id
        matches = [pod.id for pod in pods if pod.id.startswith(name_or_id)]
        if len(matches) > 1:
            raise InvalidArgument(f'more than one result for pod ID prefix "{name_or_id}"')
        if not matches:
            raise NoSuchPod.named(name_or_id)
        return matches[0]

    def remove_pod(self, pod_id: str) -> None:
        self._write(lambda txn: txn.delete(pod_id.encode(), db=self.db["pods"]))
