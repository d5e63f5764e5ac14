"""The remote `run` and `create` take the local verbs' flags (husk.cli.remote_create sends them
as podman's SpecGenerator): for each group of flags, one container made locally and one made
through the service, and their inspect documents compared (issue 17)."""

from __future__ import annotations

import json
import re
import subprocess

from husk.testing import HUSK, IMAGE

#: what differs between any two containers, whatever their flags (their identity, their paths)
_VOLATILE = {"Id", "Name", "Created", "State", "ResolvConfPath", "HostnamePath", "HostsPath", "StaticDir",
             "OCIConfigPath", "ConmonPidFile", "PidFile", "LogPath", "Rootfs", "RestartCount", "SizeRw",
             "SizeRootFs", "Dependencies", "ExecIDs", "GraphDriver", "NetworkSettings", "IsInfra", "IsService",
             "Namespace", "Pod", "MountLabel", "ProcessLabel", "EffectiveCaps", "BoundingCaps", "ExitCommand",
             "Driver", "CreateCommand", "ContainerIDFile"}


def client(service, *args: str, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([HUSK, "--url", f"unix://{service.socket_path}", *args], input=input,
                          capture_output=True, text=True, timeout=120, env=service.env.env())


def _inspect(service, name: str) -> dict:
    document = json.loads(service.env("inspect", name, check=True).stdout)[0]
    config = document["Config"]
    if config.get("Hostname") == document["Id"][:12]:  # the default: the container's own id
        del config["Hostname"]
    config.pop("CreateCommand", None)
    for key in _VOLATILE:
        document.pop(key, None)
    # ids (of anonymous volumes, in paths) are random; the order of binds and volumes is not kept
    # across the SpecGenerator's two lists (as with podman: it sorts mounts by their destination)
    document = json.loads(re.sub(r"[0-9a-f]{64}", "<id>", json.dumps(document)))
    document["Mounts"].sort(key=lambda mount: mount["Destination"])
    document["HostConfig"]["Binds"].sort(key=lambda bind: bind.split(":")[1])
    return document


def _same(service, flags: list[str], local: str, remote: str, command=("true",)) -> dict:
    """Create `local` with the local CLI and `remote` through the service, with `flags`; their
    documents (identity and paths left out) must be equal.  The remote one's document."""
    service.env("create", "--name", local, *flags, IMAGE, *command, check=True)
    done = client(service, "create", "--name", remote, *flags, IMAGE, *command)
    assert done.returncode == 0, done.stderr
    mine, theirs = _inspect(service, local), _inspect(service, remote)
    assert theirs == mine, _diff(mine, theirs)
    return theirs


def test_remote_storage_env_and_process_flags(api_crun, tmp_path):
    host = tmp_path / "data"
    host.mkdir()
    (tmp_path / "env").write_text("FROM_FILE=1\n")
    flags = ["-v", f"{host}:/data:ro", "-v", "rfvol:/vol", "-v", "/anon",
             "--mount", f"type=bind,source={host},destination=/m", "--tmpfs", "/t1:size=1m",
             "--mount", "type=tmpfs,destination=/t2", "-e", "A=1", "--env-file", str(tmp_path / "env"),
             "-l", "k=v", "--annotation", "a=b", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "/bin/sh",
             "-h", "myhost", "--stop-signal", "SIGINT", "--stop-timeout", "3", "--restart", "on-failure:2",
             "--read-only", "--volumes-from", "rf-src"]
    api_crun.env("create", "--name", "rf-src", "-v", "/from", IMAGE, "true", check=True)
    document = _same(api_crun, flags, "rf-l1", "rf-r1", command=("-c", "true"))
    assert {m["Destination"] for m in document["Mounts"]} >= {"/data", "/vol", "/anon", "/m", "/from"}
    assert document["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    ran = client(api_crun, "run", "--rm", "-v", f"{host}:/data", "-e", "B=2", "-w", "/data", IMAGE,
                 "sh", "-c", "echo $B > out; pwd")
    assert (ran.returncode, ran.stdout) == (0, "/data\n"), ran.stderr
    assert (host / "out").read_text() == "2\n"


def _diff(a, b, where=""):
    """The fields that differ, for the failure message."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b)) for d in _diff(a.get(key), b.get(key), f"{where}.{key}")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]
