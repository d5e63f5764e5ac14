"""A checkpoint archive is anybody's file (issue 10 item 4): its config.json is
held to what `husk create` accepts from flags, and privileges in it
(privileged, added capabilities, host binds, the host's network) come back only
with --import-privileged.  runc only: Debian's crun has no CRIU (its refusal is
tested in test_checkpoint.py)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

PRIVILEGES = {"privileged": True, "cap_add": ["ALL"], "network": "host",
              "mounts": [{"destination": "/host", "type": "bind", "source": "/", "options": ["rbind"]}]}


_ARCHIVE: list[bytes] = []


@pytest.fixture
def archive(tmp_path, husk_envs):
    """An exported checkpoint of a plain sleeping container without networks (the
    privileges test moves it to the host network; made once: every
    test's storage holds the same busybox image)."""
    if not _ARCHIVE:
        env = husk_envs("runc")
        env("run", "-d", "--network", "none", "--name", "plain", "busybox", "sleep", "1000", check=True)
        env("container", "checkpoint", "--export", str(tmp_path / "plain.tar"), "plain", check=True)
        _ARCHIVE.append((tmp_path / "plain.tar").read_bytes())
    return _ARCHIVE[0]


def _edited(archive: bytes, **changes) -> bytes:
    """The archive with its config.json changed as an attacker would."""
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=rebuilt, mode="w") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isreg() else None
            if member.name == "config.json":
                data = json.dumps({**json.loads(data), **changes}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return rebuilt.getvalue()


def _refused(env, archive: bytes, *words: str, options=()) -> None:
    before = sorted(os.listdir(os.path.join(env.root, "containers")))
    result = env("container", "restore", "--import", "-", *options, input=archive)
    stderr = result.stderr.decode()
    assert result.returncode == 125 and stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    for word in words:
        assert word in stderr, stderr
    assert env("ps", "-aq").stdout == ""
    assert sorted(os.listdir(os.path.join(env.root, "containers"))) == before


def test_privileges_in_an_archive_are_refused(husk_envs, archive):
    env = husk_envs("runc")
    _refused(env, _edited(archive, **PRIVILEGES), "privileged", "--cap-add ALL", "a bind of /",
             "the host's network", "--import-privileged")
    for key, value in PRIVILEGES.items():
        _refused(env, _edited(archive, **{key: value}), "--import-privileged")


@pytest.mark.parametrize("security, shown", [
    ({"seccomp": "unconfined"}, "seccomp=unconfined"),
    ({"unmask": ["ALL"]}, "unmask=ALL"),
    ({"proc_opts": ["rw"]}, "proc-opts=rw"),
    ({"seccomp_policy": "image"}, "--seccomp-policy=image"),
])
def test_a_weaker_confinement_in_an_archive_is_refused(husk_envs, archive, security, shown):
    _refused(husk_envs("runc"), _edited(archive, security=security), shown, "--import-privileged")


@pytest.mark.parametrize("key", ["run.oci.seccomp_bpf_data", "run.oci.seccomp_fail_unknown_syscall",
                                 "org.criu.config", "org.systemd.property.Delegate"])
def test_runtime_directing_annotations_in_an_archive_are_refused(husk_envs, archive, key):
    """crun's own seccomp filter for later execs, runc's CRIU configuration file and
    the like direct the runtime: they come back only with --import-privileged."""
    annotations = {"io.example.harmless": "1", key: "x"}
    _refused(husk_envs("runc"), _edited(archive, annotations=annotations), f"the annotation {key}",
             "--import-privileged")


def test_import_privileged_restores_them(husk_envs, archive):
    env = husk_envs("runc")
    env("container", "restore", "--import", "-", "--import-privileged", "--name", "trusted",
        input=_edited(archive, **PRIVILEGES), check=True)
    status = env("exec", "trusted", "grep", "CapEff", "/proc/self/status", check=True).stdout
    assert status.split()[1] != "00000000800405fb", status  # more than podman's default set
    shown = env("inspect", "--format", "{{.HostConfig.Privileged}} {{.HostConfig.Binds}} {{.HostConfig.NetworkMode}}",
                "trusted", check=True).stdout
    assert shown == "true [/:/host:rbind] host\n", shown
    env("rm", "-f", "-t", "0", "trusted", check=True)


@pytest.mark.parametrize("changes, message", [
    ({"id": "../../../tmp/x"}, "malformed container id"),
    ({"image_id": "../layers/x"}, "malformed image id"),
    ({"name": "nl\n"}, 'container name "nl\\n" is invalid'),
    ({"env": ["A=b\0c"]}, "NUL"),
    ({"cap_add": ["CAP_NOPE"]}, "unknown capability"),
    ({"network": "container:x"}, "not supported"),
    ({"stop_signal": "SIGNOPE"}, "SIGNOPE"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/", "options": ["nope"]}]}, "nope"),
    ({"mounts": [{"destination": "/x", "type": "proc", "source": "proc"}]}, "not one -v or --tmpfs makes"),
    ({"mounts": [{"destination": "x", "type": "tmpfs", "source": "tmpfs"}]}, "must be absolute"),
    ({"dependencies": ["../x"]}, "is invalid"),
    ({"security": {"seccomp": "/nonexistent.json"}}, "opening seccomp profile failed"),
    ({"security": {"seccomp_policy": "nope"}}, "invalid seccomp policy"),
    ({"security": {"mask": ["relative"]}}, "must be an absolute path"),
])
def test_what_create_would_refuse_is_refused(husk_envs, archive, changes, message):
    """Even with --import-privileged: that flag restores privileges, not nonsense."""
    _refused(husk_envs("runc"), _edited(archive, **changes), "invalid checkpoint archive", message,
             options=("--import-privileged",))


def test_import_privileged_needs_import(husk_envs):
    result = husk_envs("runc")("container", "restore", "--import-privileged", "x")
    assert result.returncode == 125 and "--import-privileged can only be used with image or --import" in result.stderr


def test_api_refuses_privileges_unless_asked(husk_envs, archive, api_runc):
    edited = _edited(archive, privileged=True)
    status, _, answer = api_runc.request("POST", "/v4.3.1/libpod/containers/restore?import=true", edited,
                                         {"Content-Type": "application/x-tar"})
    assert status == 400 and "--import-privileged" in answer["message"], (status, answer)
    status, _, answer = api_runc.request(
        "POST", "/v4.3.1/libpod/containers/restore?import=true&importPrivileged=true&name=ok", edited,
        {"Content-Type": "application/x-tar"})
    assert status == 200, (status, answer)
