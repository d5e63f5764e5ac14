"""Named volumes in containers with a user namespace (issue 18): a new volume is given to the
container's user as its mapping maps it on first use (podman's), so root inside can write to it; the
image's content copied up keeps the mapped ids; `:U` chowns to the mapped user too."""

from __future__ import annotations

import os

from test_userns import mapped  # noqa: F401 - the fixture: the roots' parent searchable by others


def _data(husk, volume: str) -> os.stat_result:
    path = husk("volume", "inspect", "--format", "{{.Mountpoint}}", volume, check=True).stdout.strip()
    return os.stat(path)


def test_new_volume_belongs_to_the_mapped_user(mapped):  # noqa: F811
    husk = mapped
    run = ["run", "--rm", "--network", "none", "--uidmap", "0:230000:65536"]
    wrote = husk(*run, "-v", "fresh:/data", "busybox", "sh", "-c", "touch /data/x && stat -c %u:%g /data/x",
                 check=True)
    assert wrote.stdout == "0:0\n"
    assert (_data(husk, "fresh").st_uid, _data(husk, "fresh").st_gid) == (230000, 230000)
    # a later run keeps it (first use only); the image's /etc copied up keeps the mapped ids
    assert husk(*run, "-v", "fresh:/data", "busybox", "stat", "-c", "%u", "/data", check=True).stdout == "0\n"
    assert husk(*run, "-v", "etc:/etc", "busybox", "sh", "-c", "touch /etc/y && stat -c %u /etc /etc/passwd",
                check=True).stdout == "0\n0\n"
    # the container's user, mapped; and :U through the mapping
    as_user = husk(*run, "--user", "1000:1000", "-v", "users:/data", "busybox", "sh", "-c",
                   "touch /data/x && stat -c %u:%g /data/x", check=True)
    assert as_user.stdout == "1000:1000\n"
    assert _data(husk, "users").st_uid == 231000
    husk("volume", "create", "plain", check=True)
    husk("run", "--rm", "--network", "none", "-v", "plain:/data", "busybox", "true", check=True)
    husk(*run, "--user", "7:7", "-v", "plain:/data:U", "busybox", "true", check=True)
    assert (_data(husk, "plain").st_uid, _data(husk, "plain").st_gid) == (230007, 230007)
