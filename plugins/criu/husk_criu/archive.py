"""The checkpoint archive: what a restore on another storage root needs.

A tar (plain, gzip, or zstd through the zstd binary) whose first member is the
version marker, then the container's config, the OCI spec it ran with, the
network status, its log, CRIU's images under checkpoint/, the rootfs diff
(the overlay upper dir, as a layer tar with OCI whiteouts) unless ignored, and
the content of each volume the container uses as volumes/NAME.tar unless
ignored (podman's --ignore-volumes).

An imported archive is untrusted: only those names, only regular files (and
the checkpoint/ directory), sizes within the free space, the marker first and
right; the rootfs diff is unpacked by husk.storage.layers (chrooted, no escaping
names or links) after its headers were checked for device nodes; the config
is held to what `husk create` accepts, and privileges (privileged, added
capabilities, host binds, the host's network) come back only with
--import-privileged.  Any problem is one InvalidArgument, and the staging
directory goes away.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time

from husk.define import HuskError, InvalidArgument, NameInUse
from husk.state.paths import is_id

VERSION_NAME = "husk-checkpoint.version"
VERSION = b"husk-checkpoint 1\n"
SMALL_MEMBERS = {"config.json", "spec.json", "network.status"}
LARGE_MEMBERS = {"container.log", "rootfs-diff.tar"}
SMALL_LIMIT = 1 << 20
VOLUME_MEMBER = re.compile(r"volumes/([a-zA-Z0-9][a-zA-Z0-9_.-]*)\.tar")
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


# -- export -------------------------------------------------------------------------------
def write_archive(container, images: str, target: str, compression: str, ignore_rootfs: bool,
                  ignore_volumes: bool = False) -> None:
    import msgspec

    paths = container.runtime.paths
    userdata = paths.userdata(container.id)
    diff = os.path.join(userdata, "rootfs-diff.tar")
    if not ignore_rootfs:
        _write_upper_tar(os.path.join(paths.container_dir(container.id), "upper"), diff)
    try:
        with _output(target, compression) as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, VERSION_NAME, VERSION)
            _add_bytes(tar, "config.json", msgspec.json.encode(container.config))
            _add_file(tar, "spec.json", os.path.join(userdata, "config.json"))
            _add_bytes(tar, "network.status", b"{}\n")
            if os.path.exists(paths.log_path(container.id)):
                _add_file(tar, "container.log", paths.log_path(container.id))
            tar.addfile(_info("checkpoint", tarfile.DIRTYPE, 0))
            for name in sorted(os.listdir(images)):
                _add_file(tar, f"checkpoint/{name}", os.path.join(images, name))
            if not ignore_rootfs:
                _add_file(tar, "rootfs-diff.tar", diff)
            if not ignore_volumes:
                _add_volumes(tar, container, userdata)
    except BaseException as exc:  # a full disk, say: no half archive is left to be taken for a whole one
        if target != "-" and os.path.exists(target):
            os.unlink(target)
        if isinstance(exc, BrokenPipeError):
            raise HuskError("the checkpoint archive's reader went away") from None
        raise
    finally:
        if os.path.exists(diff):
            os.unlink(diff)


def _add_volumes(tar: tarfile.TarFile, container, userdata: str) -> None:
    """Each volume's content (the volume is mounted: the container was running)."""
    names = list(dict.fromkeys(m.source for m in container.config.mounts if m.type == "volume"))
    if not names:
        return
    tar.addfile(_info("volumes", tarfile.DIRTYPE, 0))
    volumes = container.runtime.volumes
    spool = os.path.join(userdata, "volume.tar")
    try:
        for name in names:
            with tarfile.open(spool, "w", format=tarfile.PAX_FORMAT) as content:
                content.add(volumes.path(volumes.get(name)), arcname=".")
            _add_file(tar, f"volumes/{name}.tar", spool)
    finally:
        if os.path.exists(spool):
            os.unlink(spool)


class _output:
    """The archive's byte sink: the file or stdout, through `zstd` or gzip as asked."""

    def __init__(self, target: str, compression: str) -> None:
        self.target, self.compression = target, compression

    def __enter__(self):
        self.file = sys.stdout.buffer if self.target == "-" else open(self.target, "wb")
        self.process = None
        if self.compression == "zstd":
            if shutil.which("zstd") is None:
                raise InvalidArgument("zstd compression needs the zstd binary (apt-get install zstd)")
            self.process = subprocess.Popen(["zstd", "-q", "-c", "-T0"], stdin=subprocess.PIPE, stdout=self.file)
            return self.process.stdin
        if self.compression == "gzip":
            import gzip

            self.gzip = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=1)
            return self.gzip
        return self.file

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.stdin.close()
            if self.process.wait() != 0 and exc[0] is None:
                raise HuskError("zstd failed writing the checkpoint archive")
        elif self.compression == "gzip":
            self.gzip.close()
        self.file.flush()
        if self.file is not sys.stdout.buffer:
            self.file.close()


def _info(name: str, kind: bytes, size: int, mode: int = 0o600) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = kind, size, mode if kind != tarfile.DIRTYPE else 0o700, time.time()
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    tar.addfile(_info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    with open(path, "rb") as handle:
        tar.addfile(_info(name, tarfile.REGTYPE, os.fstat(handle.fileno()).st_size), handle)


def _write_upper_tar(upper: str, target: str) -> None:
    """The upper dir as a layer tar: overlay whiteouts (0/0 character devices,
    the opaque xattr) become OCI whiteouts, which husk.storage.layers turns back."""
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory, dirs, files in os.walk(upper):
            relative = os.path.relpath(directory, upper)
            if relative != ".":
                tar.add(directory, arcname=relative, recursive=False)
                try:
                    if os.getxattr(directory, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                        tar.addfile(_info(os.path.join(relative, OPAQUE), tarfile.REGTYPE, 0))
                except OSError:
                    pass
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(directory, d))):
                path = os.path.join(directory, name)
                arcname = os.path.normpath(os.path.join(relative, name))
                st = os.lstat(path)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    whiteout = os.path.join(os.path.dirname(arcname), WHITEOUT + name)
                    tar.addfile(_info(whiteout, tarfile.REGTYPE, 0))
                else:
                    tar.add(path, arcname=arcname, recursive=False)


# -- import -------------------------------------------------------------------------------
def import_archive(runtime, options: dict):
    """Unpack the archive into a new container (exited, checkpointed); return it."""
    import tempfile

    containers_dir = os.path.join(runtime.paths.root, "containers")
    os.makedirs(containers_dir, mode=0o700, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".import-", dir=containers_dir)
    try:
        source = options["target_file"]
        stream = sys.stdin.buffer if source == "-" else _open_archive(source)
        _unpack(stream, staging)
        return _adopt(runtime, staging, options)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_archive(path: str):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InvalidArgument(f"cannot open checkpoint archive {path}: {exc.strerror}") from None


def _unpack(raw, staging: str) -> None:
    reader, process = _decompressed(raw)
    free = shutil.disk_usage(staging).free
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                name = _check_member(member, seen, free)
                if member.isdir():
                    os.mkdir(os.path.join(staging, name), 0o700)
                    continue
                free -= member.size
                source = tar.extractfile(member)
                with open(os.path.join(staging, name), "xb") as out:
                    copied = shutil.copyfileobj(source, out, 1 << 20)
                    if out.tell() != member.size:
                        raise InvalidArgument(f"invalid checkpoint archive: member '{name}' is truncated")
                    del copied
                if name == VERSION_NAME:
                    with open(os.path.join(staging, name), "rb") as handle:
                        if handle.read() != VERSION:
                            raise InvalidArgument("invalid checkpoint archive: unsupported version marker "
                                                  f"(want {VERSION.decode().strip()!r})")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (None, 0) and not isinstance(exc, EOFError):
            if exc.errno in (28, 122):  # ENOSPC, EDQUOT
                raise HuskError(f"importing the checkpoint archive: {exc.strerror}") from None
        raise InvalidArgument(f"invalid checkpoint archive: truncated or not a tar ({exc})") from None
    finally:
        if process is not None:
            process.kill()
            process.wait()
    if not seen:
        raise InvalidArgument("invalid checkpoint archive: empty")
    for required in ("config.json", "checkpoint"):
        if required not in seen:
            raise InvalidArgument(f"invalid checkpoint archive: no {required}")


def _check_member(member: tarfile.TarInfo, seen: set[str], free: int) -> str:
    name = member.name
    if not seen and name != VERSION_NAME:
        raise InvalidArgument(f"invalid checkpoint archive: no version marker (first member is '{name}')")
    if name in seen:
        raise InvalidArgument(f"invalid checkpoint archive: member '{name}' appears twice")
    parts = name.split("/")
    allowed = (name in SMALL_MEMBERS or name in LARGE_MEMBERS or name == VERSION_NAME
               or name in ("checkpoint", "volumes") or VOLUME_MEMBER.fullmatch(name)
               or (len(parts) == 2 and parts[0] == "checkpoint" and parts[1] not in ("", ".", "..")))
    if not allowed:
        raise InvalidArgument(f"invalid checkpoint archive: unexpected member '{name}'")
    if name in ("checkpoint", "volumes"):
        if not member.isdir():
            raise InvalidArgument(f"invalid checkpoint archive: '{name}' is not a directory")
    elif not member.isreg():
        kind = ("a device node" if member.ischr() or member.isblk() else "a link" if member.issym() or member.islnk()
                else "not a regular file")
        raise InvalidArgument(f"invalid checkpoint archive: member '{name}' is {kind}")
    limit = SMALL_LIMIT if name in SMALL_MEMBERS or name == VERSION_NAME else free
    if member.size > limit:
        raise InvalidArgument(f"invalid checkpoint archive: member '{name}' claims {member.size} bytes, "
                              f"more than the {limit} allowed")
    if parts[0] in ("checkpoint", "volumes") and len(parts) == 2 and parts[0] not in seen:
        raise InvalidArgument(f"invalid checkpoint archive: '{name}' comes before its directory")
    seen.add(name)
    return name


def _decompressed(raw):
    """(reader of the plain tar, zstd process or None), told by magic bytes."""
    from husk.storage.layers import peek_stream

    head, stream = peek_stream(raw, 4)
    if head.startswith(b"\x1f\x8b"):
        import gzip

        return gzip.GzipFile(fileobj=stream, mode="rb"), None
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        if shutil.which("zstd") is None:
            raise InvalidArgument("the checkpoint archive is zstd-compressed and the zstd binary is not installed")
        process = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        import threading

        def feed():
            try:
                while chunk := stream.read(1 << 20):
                    process.stdin.write(chunk)
            except (OSError, ValueError):
                pass
            finally:
                try:
                    process.stdin.close()
                except OSError:
                    pass

        threading.Thread(target=feed, daemon=True).start()
        return process.stdout, process
    return stream, None


def _scan_diff(path: str) -> None:
    """Refuse what a container's upper dir never holds in husk's archives."""
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.ischr() or member.isblk():
                    raise InvalidArgument(f"invalid checkpoint archive: rootfs diff holds a device node "
                                          f"'{member.name}'")
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid checkpoint archive: rootfs diff: {exc}") from None


def _in_the_way(runtime, config, keeps_id: bool) -> str:
    """What to do about a container of this storage that has the archive's name
    or id: restore a copy under a new name, or, where the runtime's images keep
    the id (no --name), make room: remove the container that has the id, or
    remove or rename the one that has the name."""
    if not keeps_id:
        return (f"a container named {config.name!r} or with id {config.id[:12]} already exists "
                "in this storage; restore a copy with --name NEW")
    if runtime.container_exists(config.id):
        return (f"container {config.id[:12]} already exists in this storage, and runtime {config.runtime} "
                "restores a checkpoint only under the id it was taken with: remove that container first")
    return (f"a container named {config.name!r} already exists in this storage, and runtime {config.runtime} "
            "cannot restore a checkpoint under another name (--name): remove or rename that container first")


def _adopt(runtime, staging: str, options: dict):
    """Make the staged archive a container of this storage root."""
    import msgspec

    from husk.define import NoSuchImage, State
    from husk.engine.names import check_name
    from husk.state.records import ContainerConfig, ContainerState
    from husk.storage.layers import extract_layer

    try:
        with open(os.path.join(staging, "config.json"), "rb") as handle:
            config = msgspec.json.decode(handle.read(), type=ContainerConfig)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidArgument(f"invalid checkpoint archive: config.json: {exc}") from None
    backend = runtime.oci_runtime(config.runtime)  # a runtime this host does not have is refused now
    image_index = f"checkpoint/{backend.checkpoint_image}"  # CRIU's inventory.img, or the backend's own
    if not os.path.isfile(os.path.join(staging, image_index)):
        raise InvalidArgument(f"invalid checkpoint archive: no {image_index} "
                              f"(what runtime {config.runtime} checkpoints)")
    if options.get("name") and backend.checkpoint_keeps_id:
        raise InvalidArgument(f"runtime {config.runtime} cannot restore a checkpoint under another container id "
                              "(--name): its images keep the id they were taken with; import it without --name")
    if options.get("name"):
        check_name(options["name"])
        config.id, config.name = os.urandom(32).hex(), options["name"]
    elif not is_id(config.id):
        raise InvalidArgument("invalid checkpoint archive: config.json has a malformed container id")
    _check_config(config, options.get("import_privileged", False))
    if runtime.container_exists(config.id) or runtime.container_exists(config.name):
        raise NameInUse(_in_the_way(runtime, config, backend.checkpoint_keeps_id))
    try:
        runtime.store.image(config.image_id)
    except NoSuchImage:  # another storage root: the same image under its name
        from husk.storage.images import resolve_image

        try:
            config.image_id = resolve_image(runtime, config.image_ref or config.image_name).id
        except NoSuchImage:
            raise InvalidArgument(f"the archive's image {config.image_ref or config.image_name} "
                                  f"({config.image_id[:12]}) is not in this storage") from None
    _restore_volumes(runtime, config, staging, bool(options.get("ignore_volumes")))
    diff = os.path.join(staging, "rootfs-diff.tar")
    upper = os.path.join(staging, "upper")
    if os.path.exists(diff) and not options.get("ignore_rootfs"):
        _scan_diff(diff)
        with open(diff, "rb") as handle:
            extract_layer(handle, upper)
    else:
        os.mkdir(upper, 0o755)
    paths = runtime.paths
    container_dir = paths.container_dir(config.id)
    os.mkdir(container_dir, 0o700)  # private, as husk.state.paths says why
    os.mkdir(paths.userdata(config.id), 0o700)
    try:
        os.rename(upper, os.path.join(container_dir, "upper"))
        os.rename(os.path.join(staging, "checkpoint"), os.path.join(paths.userdata(config.id), "checkpoint"))
        if os.path.exists(os.path.join(staging, "container.log")):
            os.rename(os.path.join(staging, "container.log"), paths.log_path(config.id))
        return runtime.adopt_container(config, ContainerState(checkpointed=True, state=State.EXITED))
    except BaseException:
        shutil.rmtree(container_dir, ignore_errors=True)
        raise


def _restore_volumes(runtime, config, staging: str, ignore_volumes: bool) -> None:
    """Make the volumes the container uses: with the archive's content (unless
    ignored), which may not land in a volume that exists already; empty when
    the archive has none.  Unpacked as a layer is: chrooted, nothing escapes."""
    from husk.storage.layers import extract_layer

    names = list(dict.fromkeys(m.source for m in config.mounts if m.type == "volume"))
    archived = {name for name in names if os.path.exists(os.path.join(staging, "volumes", f"{name}.tar"))}
    if not ignore_volumes:
        for name in sorted(archived):
            if runtime.volumes.exists(name):
                raise InvalidArgument(f"volume with name {name} already exists. Use --ignore-volumes to not "
                                      "restore content of volumes")
    for name in names:
        volume = runtime.volumes.create(name, ignore=True)
        if name in archived and not ignore_volumes:
            with open(os.path.join(staging, "volumes", f"{name}.tar"), "rb") as handle:
                extract_layer(handle, runtime.volumes.path(volume))


# Annotations the OCI runtimes act on: crun's run.oci.* (its own seccomp filter
# for later execs, keep-going on unknown syscalls, a handler), runc's CRIU
# configuration file (org.criu.config: action scripts run on the host), the
# systemd unit properties both set on the scope, crun's wasm handler.
RUNTIME_ANNOTATIONS = ("run.oci.", "org.criu.", "org.systemd.property.", "module.wasm.image/")


def _check_config(config, import_privileged: bool) -> None:
    """Hold an archive's config.json to what `husk create` accepts from flags,
    and refuse what would give the new container more than a default one has
    (privileged, added capabilities, host binds, the host's network, a weaker
    seccomp filter, AppArmor profile, masks or /proc options, annotations
    that direct the OCI runtime) unless the
    user passed --import-privileged: an archive is a file anybody can edit, and
    restoring it as it says would hand root on the host to whoever wrote it."""
    from husk.presentation.mounts import parse_tmpfs, parse_volume
    from husk.engine.names import check_name
    from husk.engine.restart import parse_restart_policy
    from husk.formats.environment import check_env
    from husk.formats.signals import parse_signal
    from husk.engine.spec import capability_set
    from husk.engine.security import options as security_options, parse as parse_security, relaxed
    from husk.network.networks import check_attachment
    from husk.network.ports import check_mapping

    try:
        if not is_id(config.image_id):
            raise InvalidArgument("malformed image id")
        check_name(config.name)
        check_env(config.env)
        parse_signal(config.stop_signal)
        policy = config.restart_policy
        parse_restart_policy(policy.name + (f":{policy.max_retries}" if policy.max_retries else ""))
        if config.network not in ("none", "host", "bridge"):
            raise InvalidArgument(f"network mode {config.network!r} is not supported")
        for network_name, attachment in config.networks.items():
            check_attachment(network_name, attachment)
        for mapping in config.ports:
            check_mapping(mapping)
        capability_set(config.cap_add, config.cap_drop, privileged=config.privileged)
        parse_security(security_options(config.security), config.security.seccomp_policy)
        for dependency in config.dependencies:
            if not is_id(dependency):
                check_name(dependency)
        for mount in config.mounts:
            options = f":{','.join(mount.options)}" if mount.options else ""
            if mount.type == "bind":
                expected = parse_volume(f"{mount.source}:{mount.destination}{options}")
            elif mount.type == "tmpfs" and mount.source == "tmpfs":
                expected = parse_tmpfs(f"{mount.destination}{options}")
            elif mount.type == "volume" and mount.source:
                expected = parse_volume(f"{mount.source}:{mount.destination}{options}")
            else:
                expected = None
            if expected != mount:
                raise InvalidArgument(f"mount on {mount.destination!r} is not one -v or --tmpfs makes")
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid checkpoint archive: config.json: {exc}") from None
    elevated = (["privileged"] if config.privileged else []) + \
        [f"--cap-add {name}" for name in config.cap_add] + \
        [f"a bind of {m.source}" for m in config.mounts if m.type == "bind"] + \
        (["the host's network"] if config.network == "host" else []) + \
        relaxed(config.security) + \
        [f"the annotation {key}" for key in sorted(config.annotations) if key.startswith(RUNTIME_ANNOTATIONS)]
    if elevated and not import_privileged:
        raise InvalidArgument(f"the checkpoint archive asks for {', '.join(elevated)}: "
                              "restore it with --import-privileged only if you trust who made it")
