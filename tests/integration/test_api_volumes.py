"""Volumes through the API: the docker CLI, the docker SDK, podman-py and raw
HTTP (Docker's /volumes and libpod's /libpod/volumes)."""

from __future__ import annotations

import json
import os

import docker
import podman
import pytest

from husk.testing import needs_docker_cli


def _docker(api, *args):
    result = api.docker(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


@needs_docker_cli
def test_docker_cli_volume_verbs_and_run_with_a_named_volume(api):
    assert _docker(api, "volume", "create", "--label", "k=v", "data").strip() == "data"
    assert "data" in _docker(api, "volume", "ls", "-q").split()
    assert _docker(api, "volume", "ls", "-q", "--filter", "label=k=v").split() == ["data"]
    document = json.loads(_docker(api, "volume", "inspect", "data"))[0]
    assert (document["Name"], document["Driver"], document["Labels"]) == ("data", "local", {"k": "v"})
    _docker(api, "run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo via-docker > /data/f")
    assert _docker(api, "run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f") == "via-docker\n"
    _docker(api, "create", "--name", "user", "-v", "data:/data", "busybox", "true")
    mounts = json.loads(_docker(api, "inspect", "user"))[0]["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"], m["Driver"]) for m in mounts] == [
        ("volume", "data", "/data", "local")]
    assert mounts[0]["Source"] == document["Mountpoint"]
    in_use = api.docker("volume", "rm", "data")
    assert in_use.returncode != 0 and b"being used" in in_use.stderr
    _docker(api, "rm", "user")
    assert _docker(api, "volume", "rm", "data").strip() == "data"
    missing = api.docker("volume", "inspect", "data")
    assert missing.returncode != 0 and b"no such volume" in missing.stderr.lower()


def test_docker_sdk_volumes(api_crun):
    sdk = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    volume = sdk.volumes.create("sdkvol", labels={"a": "b"})
    assert volume.name == "sdkvol" and volume.attrs["Labels"] == {"a": "b"}
    assert sdk.volumes.get("sdkvol").attrs["Mountpoint"].endswith("/volumes/sdkvol/_data")
    assert [v.name for v in sdk.volumes.list(filters={"label": "a=b"})] == ["sdkvol"]
    output = sdk.containers.run("busybox", ["sh", "-c", "echo hi > /v/f; cat /v/f"], remove=True,
                                volumes={"sdkvol": {"bind": "/v", "mode": "rw"}})
    assert output == b"hi\n"
    # HostConfig.Mounts, anonymous Config.Volumes, VolumesFrom
    mount = docker.types.Mount(target="/m", source="sdkvol", type="volume", read_only=True)
    first = sdk.containers.create("busybox", ["cat", "/m/f"], mounts=[mount], name="first")
    assert first.attrs["Mounts"][0]["RW"] is False
    first.start()
    assert first.wait()["StatusCode"] == 0 and first.logs() == b"hi\n"
    second = sdk.containers.create("busybox", ["cat", "/m/f"], volumes_from=["first"])
    second.start()
    assert second.wait()["StatusCode"] == 0 and second.logs() == b"hi\n"
    second.remove()
    first.remove()
    anonymous = sdk.api.create_container("busybox", ["true"], volumes=["/anon"])
    names = {v.name for v in sdk.volumes.list()}
    assert len(names) == 2 and "sdkvol" in names
    sdk.api.remove_container(anonymous["Id"], v=True)
    assert {v.name for v in sdk.volumes.list()} == {"sdkvol"}
    assert sdk.volumes.prune()["VolumesDeleted"] == ["sdkvol"]
    with pytest.raises(docker.errors.NotFound):
        sdk.volumes.get("sdkvol")


def test_remove_in_use_is_409_unless_forced(api_crun):
    status, _, _ = api_crun.request("POST", "/volumes/create", {"Name": "busy"})
    assert status == 201
    status, _, body = api_crun.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                                                      "HostConfig": {"Binds": ["busy:/b"]}})
    assert status == 201
    status, _, body = api_crun.request("DELETE", "/volumes/busy")
    assert status == 409 and "is being used" in body["message"]
    assert api_crun.request("DELETE", "/volumes/busy?force=1")[0] == 204
    assert api_crun.request("GET", "/containers/json?all=1")[2] == []
    status, _, body = api_crun.request("POST", "/volumes/create", {"Name": "../x"})
    assert status == 400 and "names must match" in body["message"]


def test_libpod_volumes_and_podman_py(api_crun):
    client = podman.PodmanClient(base_url=f"http+unix://{api_crun.socket_path}", timeout=120)
    volume = client.volumes.create("pv", labels={"x": "y"})
    assert volume.name == "pv"
    assert client.volumes.exists("pv") and not client.volumes.exists("nope")
    assert client.volumes.get("pv").attrs["MountCount"] == 0
    assert [v.name for v in client.volumes.list()] == ["pv"]
    client.volumes.remove("pv")
    assert not client.volumes.exists("pv")
    status, _, body = api_crun.request("POST", "/v4.3.1/libpod/volumes/create",
                                       {"Name": "tv", "Options": {"type": "tmpfs", "device": "tmpfs"}})
    assert status == 201 and body["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    status, _, body = api_crun.request("POST", "/v4.3.1/libpod/volumes/prune")
    assert status == 200 and body == [{"Id": "tv", "Size": 0}]


def test_libpod_create_with_named_and_anonymous_volumes(api_crun):
    status, _, body = api_crun.request("POST", "/v4.3.1/libpod/containers/create", {
        "image": "busybox", "command": ["true"], "name": "lp",
        "volumes": [{"Name": "named", "Dest": "/n", "Options": ["ro"]}, {"Name": "", "Dest": "/a"}]})
    assert status == 201, body
    document = api_crun.request("GET", "/v4.3.1/libpod/containers/lp/json")[2]
    mounts = {m["Destination"]: m for m in document["Mounts"]}
    assert mounts["/n"]["Name"] == "named" and mounts["/n"]["RW"] is False and mounts["/a"]["Type"] == "volume"
    assert api_crun.request("DELETE", "/v4.3.1/libpod/containers/lp?v=true")[0] == 200
    names = [v["Name"] for v in api_crun.request("GET", "/v4.3.1/libpod/volumes/json")[2]]
    assert names == ["named"]  # the anonymous one went with the container


def test_docker_sdk_volume_api_paths(api_crun):
    """The docker SDK's own volume tests' paths: low-level and model calls, the
    errors it expects, prune's report, dangling filters, driver options."""
    sdk = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    created = sdk.api.create_volume("lowlevel", driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs"},
                                    labels={"suite": "sdk"})
    assert (created["Name"], created["Driver"], created["Labels"]) == ("lowlevel", "local", {"suite": "sdk"})
    assert created["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    assert sdk.api.inspect_volume("lowlevel")["Name"] == "lowlevel"
    listed = sdk.api.volumes()
    assert [v["Name"] for v in listed["Volumes"]] == ["lowlevel"] and listed["Warnings"] in (None, [])
    assert sdk.api.volumes(filters={"name": "lowlevel"})["Volumes"][0]["Name"] == "lowlevel"
    with pytest.raises(docker.errors.NotFound):
        sdk.api.inspect_volume("nope")
    with pytest.raises(docker.errors.NotFound):
        sdk.api.remove_volume("nope")
    with pytest.raises(docker.errors.APIError):
        sdk.api.create_volume("baddriver", driver="no-such-driver")
    # forced, a missing volume is no error (Docker's and podman's compat answer; the SDK's
    # remove_volume(force=True) never sends the parameter, so raw HTTP here)
    assert api_crun.request("DELETE", "/v1.41/volumes/nope?force=true")[0] == 204
    used = sdk.volumes.create("used")
    container = sdk.containers.create("busybox", ["true"], volumes={"used": {"bind": "/u", "mode": "rw"}})
    assert [v.name for v in sdk.volumes.list(filters={"dangling": True})] == ["lowlevel"]
    assert [v.name for v in sdk.volumes.list(filters={"dangling": False})] == ["used"]
    with pytest.raises(docker.errors.APIError) as in_use:
        used.remove()
    assert in_use.value.status_code == 409
    used.reload()
    assert used.attrs["Name"] == "used"
    report = sdk.volumes.prune()
    assert report["VolumesDeleted"] == ["lowlevel"] and isinstance(report["SpaceReclaimed"], int)
    container.remove()
    used.remove(force=True)
    assert sdk.volumes.list() == []


def test_host_config_volume_driver_makes_volumes_with_a_plugin_driver(husk_envs, tmp_path):
    """HostConfig.VolumeDriver names the driver of the volumes a create makes
    (a plugin's, loaded by the service); an unknown driver is a 400 and makes nothing."""
    import shutil
    import tempfile

    from husk.testing import ApiService
    from test_volumes import DRIVER  # same directory (rootdir imports)

    husk = husk_envs()
    (tmp_path / "huskvolprobe.py").write_text(DRIVER)
    husk.load_plugin(str(tmp_path), "huskvolprobe", PROBE_LOG=str(tmp_path / "probe.log"))
    base = tempfile.mkdtemp(prefix="hvd-")
    service = ApiService(husk, os.path.join(base, "s.sock"))
    try:
        sdk = docker.DockerClient(base_url=f"unix://{service.socket_path}", timeout=120)
        container = sdk.containers.create("busybox", ["sh", "-c", "echo p > /data/p"], volume_driver="probe",
                                          volumes={"pv": {"bind": "/data", "mode": "rw"}})
        assert sdk.volumes.get("pv").attrs["Driver"] == "probe"
        container.start()
        assert container.wait()["StatusCode"] == 0
        assert open(os.path.join(husk.root, "volume-drivers", "probe", "pv", "p")).read() == "p\n"
        with pytest.raises(docker.errors.APIError) as unknown:
            sdk.containers.create("busybox", ["true"], volume_driver="nosuch", volumes={"nv": {"bind": "/n"}})
        assert unknown.value.status_code in (400, 404) and "nosuch" in str(unknown.value)
        assert [v.name for v in sdk.volumes.list()] == ["pv"]
        container.remove()
        os.unlink(os.path.join(husk.root, "volume-drivers", "probe", "pv", "p"))
        sdk.volumes.get("pv").remove()
    finally:
        assert "Traceback" not in service.stop()
        shutil.rmtree(base, ignore_errors=True)
