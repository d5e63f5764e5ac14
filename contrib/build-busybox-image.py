#!/usr/bin/env python3
"""Build husk's default image, localhost/busybox:latest, from the host's busybox-static.

Why from the host: husk must work offline (CI has no registry), and Debian's
busybox-static is one self-contained binary that gives a shell and the usual
utilities. The rootfs tar is written directly with tarfile, so no staging
directory, no chown, and the same bytes for the same busybox binary (every
mtime is the binary's), which keeps the image id stable across builds.

Usage:
    build-busybox-image.py [HUSK_GLOBAL_FLAG...]   build and `husk import` it
    build-busybox-image.py --tar-only OUT.tar      only write the rootfs tar

Global flags (e.g. `--root DIR --runroot DIR`) are passed to husk before the
`import` verb, so tests can build into their own storage.
"""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

BUSYBOX = pathlib.Path("/bin/busybox")
REFERENCE = "localhost/busybox:latest"
IMAGE_CHANGES = (
    'CMD=["sh"]',
    "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)
USER_UID = 1000

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/:/bin/false
husk:x:1000:1000:husk:/home/husk:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

# nogroup (Debian's name) comes first, so gid 65534 prints as nogroup; nobody
# is kept as an alias because busybox-based images name it that way.
GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:root
users:x:100:
husk:x:1000:
nogroup:x:65534:
nobody:x:65534:
"""

# (path, mode, uid): directories of the rootfs, parents before children.
DIRECTORIES = (
    ("bin", 0o755, 0),
    ("dev", 0o755, 0),
    ("etc", 0o755, 0),
    ("home", 0o755, 0),
    ("home/husk", 0o755, USER_UID),
    ("proc", 0o555, 0),
    ("root", 0o700, 0),
    ("run", 0o755, 0),
    ("sys", 0o555, 0),
    ("tmp", 0o1777, 0),
    ("var", 0o755, 0),
    ("var/tmp", 0o1777, 0),
)


def busybox_version(busybox: pathlib.Path) -> str:
    """The version word of the banner, e.g. "v1.35.0"."""
    banner = subprocess.run([busybox], capture_output=True, text=True).stdout
    first_line = banner.splitlines()[0] if banner else ""
    words = first_line.split()
    return words[1] if len(words) > 1 and words[0] == "BusyBox" else "unknown"


def applet_names(busybox: pathlib.Path) -> list[str]:
    """Every applet the binary offers, except itself (it is /bin/busybox already)."""
    listing = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({name for name in listing.split() if name and name != "busybox" and "/" not in name})


def os_release(version: str) -> str:
    return (
        'NAME="husk-busybox"\n'
        "ID=husk-busybox\n"
        f'VERSION_ID="{version.lstrip("v")}"\n'
        f'PRETTY_NAME="husk busybox (BusyBox {version})"\n'
    )


def build_rootfs_tar(out: io.BufferedIOBase, busybox: pathlib.Path = BUSYBOX) -> None:
    """Write the rootfs as an uncompressed tar with numeric owners to `out`."""
    mtime = int(busybox.stat().st_mtime)
    version = busybox_version(busybox)

    def member(name: str, kind: bytes, mode: int, uid: int = 0, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.size = kind, mode, mtime, size
        info.uid = info.gid = uid
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, mode, uid in DIRECTORIES:
            tar.addfile(member(path, tarfile.DIRTYPE, mode, uid))
        with busybox.open("rb") as binary:
            tar.addfile(member("bin/busybox", tarfile.REGTYPE, 0o755, size=busybox.stat().st_size), binary)
        for applet in applet_names(busybox):
            link = member(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
            link.linkname = "busybox"
            tar.addfile(link)
        for path, text in (
            ("etc/passwd", PASSWD),
            ("etc/group", GROUP),
            ("etc/os-release", os_release(version)),
        ):
            data = text.encode()
            tar.addfile(member(path, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))


def husk_executable() -> str:
    """The husk beside this interpreter (a venv's), else the one on PATH."""
    beside = pathlib.Path(sys.executable).parent / "husk"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("husk")
    if found is None:
        raise SystemExit("build-busybox-image: husk not found (run contrib/setup.sh)")
    return found


def main(argv: list[str]) -> int:
    if not BUSYBOX.is_file():
        print(f"build-busybox-image: {BUSYBOX} missing (apt-get install busybox-static)", file=sys.stderr)
        return 1
    if argv[:1] == ["--tar-only"]:
        if len(argv) != 2:
            print("usage: build-busybox-image.py --tar-only OUT.tar", file=sys.stderr)
            return 2
        out_path = pathlib.Path(argv[1])
        partial = out_path.with_name(out_path.name + ".partial")
        with partial.open("wb") as out:
            build_rootfs_tar(out)
        partial.replace(out_path)  # readers never see a half-written tar
        return 0
    buffer = io.BytesIO()
    build_rootfs_tar(buffer)
    command = [husk_executable(), *argv, "import"]
    for change in IMAGE_CHANGES:
        command += ["--change", change]
    command += ["-", REFERENCE]
    return subprocess.run(command, input=buffer.getvalue()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
