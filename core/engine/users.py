"""Who a container's process runs as: `--user` resolved against the image's files.

The forms are podman's: `name`, `uid`, `name:group`, `uid:gid` (and mixes), each
side a name looked up in the rootfs's /etc/passwd or /etc/group, or a number
taken as is.  A number not in passwd is allowed (the process runs with that uid,
gid 0, HOME=/); an unknown name is an error.  Supplementary groups come from
/etc/group membership, and only when no group was given, as runc and podman do
(`id` in an alpine container lists root's wheel, bin, daemon...).  The files are
read through :mod:`husk.storage.rootpath`, so an image's symlinks cannot point us at
host files.
"""

from __future__ import annotations

import msgspec

from ..storage import rootpath
from ..define import InvalidArgument

#: the largest id the kernel accepts ((uid_t)-1 means "no change")
MAX_ID = 2**32 - 2


class ExecUser(msgspec.Struct, frozen=True):
    """The ids and home directory the container's process gets.

    (msgspec Structs, not NamedTuples: three namedtuple classes cost a
    millisecond of import time; msgspec is loaded anyway for the records.)
    """

    uid: int
    gid: int
    additional_gids: list[int]
    home: str


class _PasswdEntry(msgspec.Struct, frozen=True):
    name: str
    uid: int
    gid: int
    home: str


class _GroupEntry(msgspec.Struct, frozen=True):
    name: str
    gid: int
    members: list[str]


def resolve_user(rootfs: str, user: str) -> ExecUser:
    """Resolve a `--user` value (or an image's USER) inside `rootfs`.

    An empty value means root.
    :raises InvalidArgument: unknown user or group name, or a bad number.
    """
    user_part, has_group, group_part = user.partition(":")
    passwd = _passwd(rootfs)
    entry: _PasswdEntry | None
    if user_part == "" or (user_part.isascii() and user_part.isdigit()):
        uid = _number(user_part or "0", "user")
        entry = next((e for e in passwd if e.uid == uid), None)
    else:
        entry = next((e for e in passwd if e.name == user_part), None)
        if entry is None:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = entry.uid

    groups: list[_GroupEntry] | None = None
    if has_group and group_part:
        if group_part.isascii() and group_part.isdigit():  # not "²": int() refuses it
            gid = _number(group_part, "group")
        else:
            groups = _groups(rootfs)
            found = next((g for g in groups if g.name == group_part), None)
            if found is None:
                raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
            gid = found.gid
    else:
        gid = entry.gid if entry else 0

    additional: list[int] = []
    if entry is not None and not (has_group and group_part):
        for group in groups if groups is not None else _groups(rootfs):
            if entry.name in group.members and group.gid != gid and group.gid not in additional:
                additional.append(group.gid)

    home = entry.home if entry and entry.home else ("/root" if uid == 0 and entry is None else "/")
    return ExecUser(uid, gid, additional, home)


def _number(text: str, what: str) -> int:
    value = int(text) if len(text) <= 20 else MAX_ID + 1  # past 4300 digits int() refuses
    if value > MAX_ID:
        raise InvalidArgument(f"{what} id {text} is out of range (at most {MAX_ID})")
    return value


def user_names(rootfs: str) -> dict[int, str]:
    """uid -> name from the rootfs's /etc/passwd (the first name of a uid wins, as getpwuid)."""
    names: dict[int, str] = {}
    for entry in _passwd(rootfs):
        names.setdefault(entry.uid, entry.name)
    return names


def group_names(rootfs: str) -> dict[int, str]:
    names: dict[int, str] = {}
    for entry in _groups(rootfs):
        names.setdefault(entry.gid, entry.name)
    return names


def _passwd(rootfs: str) -> list[_PasswdEntry]:
    """Entries of /etc/passwd; malformed lines are skipped, as libc does."""
    entries = []
    for fields in _records(rootfs, "/etc/passwd"):
        if len(fields) >= 6 and fields[2].isdigit() and fields[3].isdigit():
            entries.append(_PasswdEntry(fields[0], int(fields[2]), int(fields[3]), fields[5]))
    return entries


def _groups(rootfs: str) -> list[_GroupEntry]:
    entries = []
    for fields in _records(rootfs, "/etc/group"):
        if len(fields) >= 3 and fields[2].isdigit():
            members = [m.strip() for m in fields[3].split(",") if m.strip()] if len(fields) > 3 else []
            entries.append(_GroupEntry(fields[0], int(fields[2]), members))
    return entries


def _records(rootfs: str, path: str) -> list[list[str]]:
    text = rootpath.read_text(rootfs, path) or ""
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]
