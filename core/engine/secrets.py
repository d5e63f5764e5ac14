"""Secrets: values kept out of every record, document and log.

A secret's record (name, id, labels) is in the state store; its value is a
0600 file under the storage root (``ROOT/secrets/filedriver/ID``, podman's
`file` driver).  `--secret NAME[,type=mount|env,...]` records only which
secret a container uses and how.  At each init the value is written to a
0400 file in the container's run directory (a tmpfs in production, never
part of the rootfs, so neither `commit` nor a checkpoint's rootfs diff
carries it) and bind-mounted read-only at ``/run/secrets/NAME`` (or the
target), or put in the process's environment.  Nothing here puts a value
in a container's config, its inspect document, an event or a log.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from ..define import InvalidArgument, NoSuchSecret
from ..state.paths import make_private_dirs
from ..state.records import Mount, SecretRecord, SecretUse

if TYPE_CHECKING:
    from ..state.records import ContainerConfig
    from .container import Container
    from .runtime import Runtime

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
MAX_SIZE = 512000  # podman's limit, bytes
_ID = re.compile(r"[0-9a-f]{25}")


def create(runtime: "Runtime", name: str, data: bytes, driver: str = "file",
           labels: dict[str, str] | None = None) -> SecretRecord:
    if not _NAME.fullmatch(name) or len(name) > 253:
        raise InvalidArgument(f"invalid secret name {name!r}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    if driver != "file":
        raise InvalidArgument(f"secret driver {driver!r} is not supported: use file")
    if not 0 < len(data) < MAX_SIZE:
        raise InvalidArgument(f"secret data must be larger than 0 and less than {MAX_SIZE} bytes")
    secret = SecretRecord(id=os.urandom(13).hex()[:25], name=name, created=time.time(), driver=driver,
                          labels=dict(labels or {}))
    make_private_dirs(runtime.paths.secrets_dir)
    path = os.path.join(runtime.paths.secrets_dir, secret.id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        runtime.store.add_secret(secret)
    except BaseException:
        os.unlink(path)
        raise
    return secret


def lookup(runtime: "Runtime", name_or_id: str) -> SecretRecord:
    """By name, full id or unique id prefix."""
    secrets = runtime.store.secrets()
    for secret in secrets:
        if name_or_id in (secret.name, secret.id):
            return secret
    matches = [s for s in secrets if name_or_id and s.id.startswith(name_or_id)]
    if len(matches) == 1:
        return matches[0]
    raise NoSuchSecret.named(name_or_id)


def remove(runtime: "Runtime", name_or_id: str) -> SecretRecord:
    """Delete a secret (containers that use it keep their copy until their next init)."""
    secret = lookup(runtime, name_or_id)
    runtime.store.remove_secret(secret.id)
    try:
        os.unlink(os.path.join(runtime.paths.secrets_dir, _checked_id(secret.id)))
    except FileNotFoundError:
        pass
    return secret


def _checked_id(secret_id: str) -> str:
    if not _ID.fullmatch(secret_id):
        raise InvalidArgument(f"invalid secret id {secret_id!r}")
    return secret_id


def value(runtime: "Runtime", secret: SecretRecord) -> bytes:
    """A secret's data (kube play reads the Secret documents it stored)."""
    return _value(runtime, SecretUse(id=secret.id, name=secret.name))


def _value(runtime: "Runtime", use: SecretUse) -> bytes:
    try:
        with open(os.path.join(runtime.paths.secrets_dir, _checked_id(use.id)), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise NoSuchSecret.named(use.name) from None


def parse_secret(runtime: "Runtime", value: str) -> SecretUse:
    """`NAME[,type=mount|env][,target=T][,uid=N][,gid=N][,mode=OCTAL]`, the secret looked up now."""
    name, *fields = value.split(",")
    secret = lookup(runtime, name)
    use = SecretUse(id=secret.id, name=secret.name)
    for field in fields:
        key, sep, item = field.partition("=")
        if not sep or key not in ("type", "target", "uid", "gid", "mode"):
            raise InvalidArgument(f"invalid secret option {field!r}: use type=, target=, uid=, gid=, mode=")
        if key == "type":
            if item not in ("mount", "env"):
                raise InvalidArgument(f"invalid secret type {item!r}: use mount or env")
            use.type = item
        elif key == "target":
            use.target = item
        else:
            try:
                number = int(item, 8 if key == "mode" else 10)
            except ValueError:
                raise InvalidArgument(f"invalid secret option {field!r}: not a number") from None
            if number < 0:
                raise InvalidArgument(f"invalid secret option {field!r}: negative")
            setattr(use, key, number)
    if use.type == "env" and (use.uid or use.gid or use.mode != 0o444):
        raise InvalidArgument("uid, gid and mode apply only to secrets of type mount")
    if use.type == "mount":
        target = use.target or use.name
        if not target.startswith("/"):
            target = "/run/secrets/" + target
        if ".." in target.split("/"):
            raise InvalidArgument(f"invalid secret target {use.target!r}")
        use.target = os.path.normpath(target)
    else:
        use.target = use.target or use.name
    return use


def spec_config(container: "Container", config: "ContainerConfig") -> "ContainerConfig":
    """`config` with the container's secrets as mounts and environment entries,
    for the spec only; the files are written to the run directory now."""
    if not config.secrets:
        return config
    import msgspec

    runtime = container.runtime
    directory = os.path.join(runtime.paths.container_run_dir(container.id), "secrets")
    make_private_dirs(directory)
    mounts, env = list(config.mounts), list(config.env)
    for number, use in enumerate(config.secrets):
        value = _value(runtime, use)
        if use.type == "env":
            env = [e for e in env if e.partition("=")[0] != use.target] + [f"{use.target}={value.decode()}"]
            continue
        path = os.path.join(directory, str(number))
        if os.path.exists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(value)
        os.chown(path, use.uid, use.gid)
        os.chmod(path, use.mode)
        mounts.append(Mount(destination=use.target, type="bind", source=path, options=["ro", "nosuid", "nodev", "noexec"]))
    return msgspec.structs.replace(config, mounts=mounts, env=env)


def discard(container: "Container") -> None:
    """Delete the container's copies of its secrets (at cleanup: the process is gone).
    Most containers have none: shutil (bz2, lzma: ~1.5 ms of every stop) is
    imported only when there is a directory to remove."""
    directory = os.path.join(container.runtime.paths.container_run_dir(container.id), "secrets")
    if not os.path.isdir(directory):
        return
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
