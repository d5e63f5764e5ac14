"""RUN --mount: what a RUN step sees besides the image (Docker's BuildKit syntax).

- `type=bind` (the default): a path of the context, or with `from=` of a
  stage or image, at `target`, read-only unless `rw` (then a private copy,
  thrown away after the step);
- `type=cache`: a directory kept across builds under the storage root
  (`build-cache-mounts/`, one per `id`, default the target);
- `type=tmpfs`: an empty tmpfs (`size=`);
- `type=secret`: a `--secret id=...` file, read-only at `target` (default
  `/run/secrets/ID`), never in a layer, the history or the cache key.

Nothing mounted is part of the step's layer: the empty mount targets the
runtime leaves are left out (:func:`husk.storage.commit.commit_layer`)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import shutil
import tempfile
from typing import TYPE_CHECKING, Callable

from ..define import InvalidArgument

if TYPE_CHECKING:
    from ..state.records import Mount

_TYPES = ("bind", "cache", "tmpfs", "secret")
_FLAGS = {"ro", "readonly", "rw", "readwrite", "required"}


@dataclasses.dataclass
class RunMounts:
    mounts: list["Mount"] = dataclasses.field(default_factory=list)
    #: what the cache key adds: the checksums of context files a bind reads, a stage's key
    key: list = dataclasses.field(default_factory=list)
    #: the mount targets, relative to the rootfs: left out of the layer
    targets: list[str] = dataclasses.field(default_factory=list)
    cleanups: list[Callable[[], None]] = dataclasses.field(default_factory=list)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()


def parse(text: str) -> dict[str, str]:
    """`type=cache,target=/x,ro` as a dict (a bare word is a flag: "true")."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        key = key.lower()
        if not sep and key not in _FLAGS:
            raise InvalidArgument(f"invalid --mount field {item!r}: KEY=VALUE")
        fields[{"src": "source", "dst": "target", "destination": "target", "readonly": "ro",
                "readwrite": "rw"}.get(key, key)] = value if sep else "true"
    kind = fields.setdefault("type", "bind")
    if kind not in _TYPES:
        raise InvalidArgument(f"unsupported --mount type {kind!r}: {', '.join(_TYPES)}")
    return fields


def _flag(fields: dict[str, str], name: str) -> bool:
    return fields.get(name, "false").lower() in ("true", "1", "")


def prepare(builder, values: list[str], workdir: str, stages) -> RunMounts:
    """The mounts of a RUN's `--mount` flags (`builder`: the running Builder)."""
    from ..state.records import Mount
    from . import files

    prepared = RunMounts()
    try:
        for value in values:
            fields = parse(value)
            kind = fields["type"]
            target = fields.get("target", "")
            if kind == "secret":
                secret_id = fields.get("id") or posixpath.basename(target)
                target = target or f"/run/secrets/{secret_id}"
            if not target:
                raise InvalidArgument(f"--mount {value!r}: a target is required")
            target = posixpath.normpath(posixpath.join(workdir, target))
            options = ["ro"] if _flag(fields, "ro") else []
            if kind == "tmpfs":
                size = fields.get("size")
                prepared.mounts.append(Mount(target, "tmpfs", "tmpfs", [f"size={size}"] if size else []))
            elif kind == "cache":
                source = _cache_dir(builder.runtime.paths.root, fields.get("id") or target, fields)
                prepared.mounts.append(Mount(target, "bind", source, options))
            elif kind == "secret":
                source = builder.options.secrets.get(secret_id)
                if source is None:
                    if _flag(fields, "required"):
                        raise InvalidArgument(f"secret {secret_id!r} is required but was not given (--secret id=...)")
                    continue
                prepared.mounts.append(Mount(target, "bind", source, ["ro"]))
            else:
                root, patterns = _bind_root(builder, fields.get("from", ""), stages, prepared)
                sources = files.gather(root, fields.get("source", "/"), patterns)
                if root == builder.context.root:
                    prepared.key.append([s.checksum_fields() for s in sources])
                source = _resolved(root, fields.get("source", "/"))
                if _flag(fields, "rw"):
                    source = _private_copy(builder.runtime.paths.root, source, prepared)
                else:
                    options = ["ro"]
                prepared.mounts.append(Mount(target, "bind", source, options))
            prepared.targets.append(target.lstrip("/"))
    except BaseException:
        prepared.close()
        raise
    return prepared


def _cache_dir(root: str, cache_id: str, fields: dict[str, str]) -> str:
    directory = os.path.join(root, "build-cache-mounts", hashlib.sha256(cache_id.encode()).hexdigest())
    if not os.path.isdir(directory):
        os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, int(fields.get("mode", "755"), 8))
        os.chown(directory, int(fields.get("uid", "0")), int(fields.get("gid", "0")))
    return directory


def _bind_root(builder, origin: str, stages, prepared: RunMounts):
    """(the root a bind reads from, its ignore patterns): the context, a stage or an image."""
    if not origin:
        return builder.context.root, builder.context.patterns
    layers, key = builder.source_layers(origin, stages)
    prepared.key.append(key)
    from .mounted import Mounted

    mount = Mounted(builder.runtime, layers)
    root = mount.__enter__()
    prepared.cleanups.append(lambda: mount.__exit__(None, None, None))
    return root, []


def _resolved(root: str, path: str) -> str:
    """The host path of `path` resolved inside `root` (symlinks followed only within it)."""
    from ..storage.rootpath import open_path

    fd = open_path(root, path)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _private_copy(root: str, source: str, prepared: RunMounts) -> str:
    parent = os.path.join(root, "build-tmp")
    os.makedirs(parent, mode=0o700, exist_ok=True)
    directory = tempfile.mkdtemp(dir=parent)
    prepared.cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    copy = os.path.join(directory, "copy")
    if os.path.isdir(source):
        shutil.copytree(source, copy, symlinks=True)
    else:
        shutil.copy2(source, copy)
    return copy
