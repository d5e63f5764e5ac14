"""User namespaces for rootful containers (issue 18): `--userns`, `--uidmap`,
`--gidmap`, `--subuidname` and `--subgidname`, as podman 4.3 reads them.

A mapping is recorded on the container as lists of [container id, host id,
size] and turned into the OCI spec's user namespace and linux.uidMappings /
gidMappings.  The root filesystem must then be owned by the mapped ids: husk
chowns the container's own overlay view once per mapping (the overlay copies
the metadata up; the shared layers stay untouched) and records the mapping it
applied, so a restart does not walk the tree again.  Idmapped mounts would
avoid the copy-up, but the kernel here (6.18) refuses MOUNT_ATTR_IDMAP on an
overlay mount (EINVAL); idmapping each layer under the overlay would work
(measured on ext4) and is not done yet.

The container's directory is 0700 and owned by root like every other one, so
the mapped root could not reach its rootfs or its bundle files: it is given to
the container's root (host id of container uid 0) instead, still 0700, and
the storage root and its `containers` directory get the search bit only for
that purpose (0711: no listing; each container's own directory stays 0700).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Iterable

from ..define import HuskError, InvalidArgument

if TYPE_CHECKING:
    from ..state.records import ContainerConfig
    from .container import Container
    from .runtime import Runtime

SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
#: the user whose /etc/subuid ranges `--userns=auto` takes ids from (podman's)
AUTO_USER = "containers"
#: podman's smallest `--userns=auto` range
AUTO_MIN_SIZE = 1024
#: the file in the container's directory naming the mapping its rootfs was chowned to
_APPLIED = "idmap"
_CLONE_NEWUSER = 0x10000000
#: --userns modes whose maps are not ranges of their own (they span the user's ids, or share another's)
_NOT_ALLOCATIONS = ("keep-id", "nomap", "ns:", "container:")


def parse_map(values: Iterable[str], flag: str) -> list[list[int]]:
    """`--uidmap`/`--gidmap` CONTAINER:HOST:SIZE entries (podman's check and message)."""
    result = []
    for value in values:
        parts = value.split(":")
        if len(parts) != 3 or not all(part.isdigit() for part in parts) or int(parts[2]) == 0:
            what = "UID" if flag == "--uidmap" else "GID"
            raise InvalidArgument(f'initializing ID mappings: {what} setting is malformed expected '
                                  f'["uint32:uint32:uint32"]: ["{value}"]')
        result.append([int(part) for part in parts])
    return result


def sub_ranges(name: str, path: str) -> list[tuple[int, int]]:
    """The (start, size) ranges of user `name` in /etc/subuid or /etc/subgid
    (by name, or by uid when the file names the user by number, as podman)."""
    import pwd

    keys = {name}
    try:
        keys.add(str(pwd.getpwnam(name).pw_uid))
    except KeyError:
        pass
    ranges = []
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in keys and fields[1].isdigit() and fields[2].isdigit():
                    ranges.append((int(fields[1]), int(fields[2])))
    except FileNotFoundError:
        pass
    if not ranges:
        raise InvalidArgument(f'no subuid ranges found for user "{name}" in {path}')
    return ranges


def _whole(ranges: list[tuple[int, int]]) -> list[list[int]]:
    """Ranges laid one after the other from container id 0."""
    result, inside = [], 0
    for start, size in ranges:
        result.append([inside, start, size])
        inside += size
    return result


def resolve(userns: str, uidmap: list[str], gidmap: list[str], subuidname: str, subgidname: str,
            taken: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """The (uid mappings, gid mappings) for the flags; ([], []) means the host's
    user namespace.  `taken`: the host uid ranges of the store's other containers
    (`auto` picks a range that overlaps none)."""
    explicit = bool(uidmap or gidmap or subuidname or subgidname)
    if userns and explicit:
        raise InvalidArgument("--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive")
    if explicit:
        uids = parse_map(uidmap, "--uidmap") or (_whole(sub_ranges(subuidname, SUBUID)) if subuidname else [])
        gids = parse_map(gidmap, "--gidmap") or (_whole(sub_ranges(subgidname, SUBGID)) if subgidname else [])
        return (uids or gids), (gids or uids)  # podman: one given, the other is the same
    mode, _, options = userns.partition(":")
    if mode in ("", "host"):
        return [], []
    if mode in ("keep-id", "nomap"):
        from .config import is_rootless

        if not is_rootless() or options:
            raise InvalidArgument(f"{mode} is only supported in rootless mode" if not is_rootless()
                                  else f"invalid --userns={userns}: {mode} takes no options")
        return _keep_id() if mode == "keep-id" else _nomap()
    if mode == "private":
        raise InvalidArgument("must provide at least one UID or GID mapping to configure a user namespace")
    if mode == "ns":
        return namespace_maps(options)
    if mode == "auto":
        return _auto(options, taken)
    raise InvalidArgument(f"unrecognized namespace mode {userns} passed")


def run_options(runtime_of, userns: str, uidmap: Iterable[str] = (), gidmap: Iterable[str] = (),
                subuidname: str = "", subgidname: str = "") -> dict:
    """The RunOptions fields (`userns`, `uid_mappings`, `gid_mappings`) for the CLI's flags and the
    API's fields alike.  `runtime_of()` gives the runtime (called only when needed: `container:NAME`
    reads that container's maps, keep-id and nomap the rootless namespace).  `auto` is checked here and
    given its range at create, under the store's lock for it (:func:`adopt_auto`)."""
    uidmap, gidmap = list(uidmap), list(gidmap)
    explicit = bool(uidmap or gidmap or subuidname or subgidname)
    if userns.startswith("auto") and not explicit:
        check_auto(userns.partition(":")[2])
        return {"userns": userns}
    if userns in ("keep-id", "nomap"):
        runtime_of()  # a rootless user's namespace joined: its maps say how many ids there are
    if userns.startswith("container:") and not explicit:
        other = runtime_of().container(userns.partition(":")[2])  # its maps, its namespace at init
        options = other.config.run_options
        if not options.uid_mappings:
            raise InvalidArgument(f"container {other.config.name} has no user namespace of its own to share")
        return {"uid_mappings": list(options.uid_mappings), "gid_mappings": list(options.gid_mappings),
                "userns": f"container:{other.id}"}
    uids, gids = resolve(userns, uidmap, gidmap, subuidname, subgidname, [])
    return {"uid_mappings": uids, "gid_mappings": gids, "userns": userns}


def inspect_fields(options) -> dict:
    """podman 4.3's HostConfig.UsernsMode (`container:ID`, `ns:PATH`, `private` for any other namespace
    of the container's own but auto's, else "") and HostConfig.IDMappings (only when mapped)."""
    userns = options.userns
    if userns.startswith(("container:", "ns:")):
        mode = userns
    else:
        mode = "private" if options.uid_mappings and not userns.startswith("auto") else ""
    fields = {"UsernsMode": mode}
    if options.uid_mappings:
        fields["IDMappings"] = {"UidMap": [":".join(map(str, m)) for m in options.uid_mappings],
                                "GidMap": [":".join(map(str, m)) for m in options.gid_mappings]}
    return fields


def namespace_maps(path: str) -> tuple[list[list[int]], list[list[int]]]:
    """The uid and gid maps of the user namespace at `path` (`--userns=ns:PATH`), read by a child that
    joins it: a process reading its own maps sees its namespace's ids as the parent namespace knows them."""
    import ctypes

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgument(f"cannot find specified user namespace path: stat {path}: "
                              f"{os.strerror(exc.errno).lower()}") from None
    setns = ctypes.CDLL(None, use_errno=True).setns
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only reads two files and exits
        try:
            if setns(fd, _CLONE_NEWUSER) == 0:
                with open("/proc/self/uid_map") as uids, open("/proc/self/gid_map") as gids:
                    os.write(write_end, (uids.read() + "--\n" + gids.read()).encode())
        finally:
            os._exit(0)
    os.close(fd)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(child, 0)
    if "--\n" not in text:
        raise InvalidArgument(f"{path} is not a user namespace husk can join")
    uids, gids = ([[int(field) for field in line.split()] for line in part.splitlines() if line.strip()]
                  for part in text.split("--\n"))
    if uids == [[0, 0, 2 ** 32 - 1]]:
        raise InvalidArgument(f"--userns=ns:{path}: that is the host's user namespace (use --userns=host)")
    return uids, gids


def _own_extents() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The (first id, count) extents of the user namespace husk runs in, for uids and gids (a rootless
    user's: its own id as 0, then each subordinate range)."""
    extents = []
    for kind in ("uid", "gid"):
        with open(f"/proc/self/{kind}_map") as handle:
            extents.append(sorted((int(line.split()[0]), int(line.split()[2])) for line in handle if line.strip()))
    return extents[0], extents[1]


def _fitted(mappings: list[list[int]], extents: list[tuple[int, int]]) -> list[list[int]]:
    """`mappings` cut where the namespace's extents meet: the kernel refuses a line of a child's map that
    spans two lines of its parent's."""
    result = []
    for container, host, size in mappings:
        for first, count in extents:
            low, high = max(host, first), min(host + size, first + count)
            if low < high:
                result.append([container + low - host, low, high - low])
    return sorted(result)


def _keep_id() -> tuple[list[list[int]], list[list[int]]]:
    """podman's keep-id: the user's own uid and gid are the same inside (they are 0 of the namespace husk
    runs in), container ids below them are that namespace's 1..N, the rest map to themselves."""
    import pwd

    from .config import host_uid

    uid = host_uid()
    try:
        gid = pwd.getpwuid(uid).pw_gid
    except KeyError:
        gid = uid
    maps = []
    for own, extents in zip((uid, gid), _own_extents()):
        size = sum(count for _, count in extents)
        if own >= size:
            raise InvalidArgument(f"keep-id: the user namespace has only {size} ids, not enough to map id {own} "
                                  "(add subordinate ids: contrib/setup.sh --rootless USER)")
        wanted = [[0, 1, own], [own, 0, 1], [own + 1, own + 1, size - own - 1]]
        maps.append(_fitted([entry for entry in wanted if entry[2]], extents))
    return maps[0], maps[1]


def _nomap() -> tuple[list[list[int]], list[list[int]]]:
    """podman's nomap: only the user's subordinate ids, from container id 0; the user's own id is not mapped."""
    maps = []
    for extents in _own_extents():
        size = sum(count for _, count in extents)
        if size < 2:
            raise InvalidArgument("nomap: the user has no subordinate ids (contrib/setup.sh --rootless USER)")
        maps.append(_fitted([[0, 1, size - 1]], extents))
    return maps[0], maps[1]


def keep_id_user(uids: list[list[int]], gids: list[list[int]]) -> tuple[int, int]:
    """The container's uid and gid that keep-id maps to the user (the runtime's own ids)."""
    return next(c for c, h, _ in uids if h == 0), next(c for c, h, _ in gids if h == 0)


def check_auto(options: str) -> int:
    """The size `--userns=auto[:size=N]` asks for (podman's smallest by default)."""
    size = AUTO_MIN_SIZE
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key != "size" or not value.isdigit() or int(value) == 0:
            raise InvalidArgument(f"invalid --userns=auto option {option!r}: size=N")
        size = int(value)
    return size


def adopt_auto(runtime: "Runtime", config: "ContainerConfig") -> "Container":
    """Record a `--userns=auto` container with a range no other container of the store holds: the
    others' ranges are read and the new one recorded under one lock, so two creates at once cannot
    both pick the same free range."""
    from ..state.lock import FileLock
    from ..state.records import ContainerState

    with FileLock(os.path.join(runtime.paths.root, "userns-auto.lock")):
        taken = [mapping for container in runtime.containers() for mapping in container.config.run_options.uid_mappings
                 if not container.config.run_options.userns.startswith(_NOT_ALLOCATIONS)]
        options = config.run_options
        options.uid_mappings, options.gid_mappings = resolve(options.userns, [], [], "", "", taken)
        return runtime.adopt_container(config, ContainerState())


def _auto(options: str, taken: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    from .config import is_rootless

    size = check_auto(options)
    extents = None
    if is_rootless():  # the user's own namespace's ids but its own (0), as podman's rootless auto
        extents = _own_extents()
        uid_ranges, gid_ranges = ([(1, sum(count for _, count in kind) - 1)] for kind in extents)
    else:
        try:
            uid_ranges, gid_ranges = sub_ranges(AUTO_USER, SUBUID), sub_ranges(AUTO_USER, SUBGID)
        except InvalidArgument as exc:
            raise InvalidArgument(f"cannot find mappings for --userns=auto: {exc}") from None
    busy = sorted((host, host + count) for _, host, count in taken)
    for start, count in uid_ranges:
        candidate = start
        for low, high in busy:
            if candidate + size <= low or candidate >= high:
                continue
            candidate = high
        if candidate + size <= start + count and any(low <= candidate and candidate + size <= low + n
                                                     for low, n in gid_ranges):
            if extents:
                return _fitted([[0, candidate, size]], extents[0]), _fitted([[0, candidate, size]], extents[1])
            return [[0, candidate, size]], [[0, candidate, size]]
    raise InvalidArgument("creating container storage: could not find enough available IDs")


def host_id(mappings: list[list[int]], inside: int) -> int:
    """The host id of container id `inside` (the overflow id 65534 when unmapped)."""
    for container, host, size in mappings:
        if container <= inside < container + size:
            return host + inside - container
    return 65534


def refuse_chowned(config, action: str) -> None:
    """Commit, export and diff would see the chowned rootfs (every file changed,
    owned by the host's ids): refused until ids are shifted back on the way out."""
    if config.run_options.uid_mappings:
        raise InvalidArgument(f"cannot {action} container {config.name}: it runs in a user namespace and its "
                              "root filesystem is chowned to the mapped ids (not supported yet)")


# -- at init --------------------------------------------------------------------

def add_to_spec(spec: dict, uids: list[list[int]], gids: list[list[int]], path: str = "") -> None:
    """A new user namespace with the mappings, or the one at `path` (which has them)."""
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "user"] + [
        {"type": "user", "path": path} if path else {"type": "user"}]
    linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in uids]
    linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in gids]


def prepare(container_dir: str, rootfs: str, uids: list[list[int]], gids: list[list[int]]) -> None:
    """Give the rootfs to the mapped ids (once per mapping) and the container's
    directory to its mapped root, so the runtime inside the namespace reaches both."""
    import json

    marker = os.path.join(container_dir, _APPLIED)
    try:
        with open(marker) as handle:
            before = json.load(handle)
    except FileNotFoundError:
        before = [[[0, 0, 2 ** 32 - 1]], [[0, 0, 2 ** 32 - 1]]]  # as the layers hold them
    if before != [uids, gids]:
        from ..state.atomic import replace_file

        _shift_tree(rootfs, before, (uids, gids))
        replace_file(marker, json.dumps([uids, gids]), durable=True)  # a lost marker would shift the tree again
    root_uid, root_gid = host_id(uids, 0), host_id(gids, 0)
    if any(host == 0 for _, host, _ in uids):  # husk's own uid is mapped (keep-id): the runtime reaches all
        return
    containers = os.path.dirname(container_dir)
    _check_reachable(os.path.dirname(os.path.dirname(containers)))
    for parent in (os.path.dirname(containers), containers):  # the storage root and its containers/
        if stat.S_IMODE(os.stat(parent).st_mode) != 0o711:
            os.chmod(parent, 0o711)
    for path in (container_dir, os.path.join(container_dir, "userdata")):
        if os.path.isdir(path):
            os.chown(path, root_uid, root_gid)


def _check_reachable(directory: str) -> None:
    """The storage root's ancestors must let others search them (as /var/lib
    does), or the mapped root fails deep in the runtime with EACCES."""
    while True:
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            raise HuskError(f"a user namespace needs the storage root's parent directories searchable by "
                            f"other users: {directory} is not (chmod o+x)")
        if directory == "/":
            return
        directory = os.path.dirname(directory)


def _container_id(mappings: list[list[int]], host: int) -> int:
    for container, start, size in mappings:
        if start <= host < start + size:
            return container + host - start
    return host


def _shift_tree(rootfs: str, before: tuple, after: tuple) -> None:
    """Chown every file from the ids of mapping `before` to those of `after`
    (modes restored: a chown drops the setuid and setgid bits)."""
    (old_uids, old_gids), (new_uids, new_gids) = before, after

    def shift(path: str) -> None:
        st = os.lstat(path)
        uid = host_id(new_uids, _container_id(old_uids, st.st_uid))
        gid = host_id(new_gids, _container_id(old_gids, st.st_gid))
        if (uid, gid) == (st.st_uid, st.st_gid):
            return
        os.lchown(path, uid, gid)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(st.st_mode))

    shift(rootfs)
    for directory, dirs, files in os.walk(rootfs):
        for name in dirs + files:
            shift(os.path.join(directory, name))
