"""Image tag, untag, save, load and history through the API, with the real docker
CLI, the docker SDK and podman-py; bad archives are a 400 that stores nothing
and leaves the service serving."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from husk.testing import UnixHTTP, needs_docker_cli

docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
podman = pytest.importorskip("podman", reason="podman-py is in the test extra")


def _names(api) -> list[str]:
    return sorted(api.env("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split())


@needs_docker_cli
def test_docker_cli_tag_save_rmi_load_run(api, tmp_path):
    archive = str(tmp_path / "x.tar")
    assert api.docker("tag", "busybox", "mybox:2").returncode == 0
    listed = api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()
    assert sorted(listed) == ["localhost/busybox:latest", "mybox:2"]
    image_id = api.docker("inspect", "--format", "{{.Id}}", "mybox:2").stdout.decode().strip()
    saved = api.docker("save", "mybox:2", "-o", archive)
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["docker.io/library/mybox:2"]
    assert manifest[0]["Config"] == image_id.removeprefix("sha256:") + ".json"
    assert api.docker("rmi", "-f", image_id).returncode == 0
    assert api.docker("images", "-q").stdout == b""
    loaded = api.docker("load", "-i", archive)
    assert (loaded.returncode, loaded.stdout) == (0, b"Loaded image: docker.io/library/mybox:2\n"), loaded.stderr
    assert api.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.decode() == \
        f"mybox:2 {image_id.removeprefix('sha256:')[:12]}\n"
    ran = api.docker("run", "--rm", "mybox:2", "echo", "loaded")
    assert (ran.returncode, ran.stdout) == (0, b"loaded\n"), ran.stderr
    history = api.docker("history", "--format", "{{.ID}} {{.CreatedBy}}", "mybox:2").stdout.decode()
    assert history == f"{image_id.removeprefix('sha256:')[:12]} husk import\n"


def test_docker_sdk_tag_save_load(api_crun):
    client = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    image = client.images.get("busybox")
    layers = image.attrs["RootFS"]["Layers"]
    assert len(layers) == 1 and layers[0].startswith("sha256:") and len(layers[0]) == 71, layers
    assert image.tag("sdk/box", "v1") is True
    assert sorted(client.images.get("sdk/box:v1").tags) == ["localhost/busybox:latest", "localhost/sdk/box:v1"]
    data = b"".join(image.save())  # by id: an archive without names
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == []
    named = b"".join(client.images.get("sdk/box:v1").save(named=True))
    client.images.remove(image.id, force=True)
    assert client.images.list() == []
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [image.id] and loaded[0].tags == []
    loaded = client.images.load(named)
    assert [i.id for i in loaded] == [image.id]
    assert client.images.get(image.id).tags == ["localhost/busybox:latest"]
    assert client.containers.run("busybox", ["echo", "sdk"], remove=True) == b"sdk\n"
    assert [step["CreatedBy"] for step in client.images.get("busybox").history()] == ["husk import"]


def test_podman_py_get_tag_save_remove_load(api_crun):
    client = podman.PodmanClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    image = client.images.get("busybox")
    assert image.tags == ["localhost/busybox:latest"]
    assert image.tag("pp", "7") is True
    assert sorted(client.images.get("pp:7").tags) == ["localhost/busybox:latest", "localhost/pp:7"]
    data = b"".join(client.images.get("pp:7").save(named="localhost/pp:7"))
    report = client.images.remove(image.id, force=True)
    assert {"Deleted": image.id} in report and report[-1] == {"ExitCode": 0}
    with pytest.raises(podman.errors.ImageNotFound):
        client.images.get("busybox")
    loaded = list(client.images.load(data))
    assert [i.id for i in loaded] == [image.id] and loaded[0].tags == ["localhost/pp:7"]
    status, _, _ = api_crun.request("POST", "/v4.0.0/libpod/images/pp:7/untag?repo=pp&tag=7")
    assert status == 201 and client.images.exists("pp:7") is False
    with pytest.raises(podman.errors.ImageNotFound):
        client.images.remove("nosuch")


def test_libpod_remove_many_import_and_get(api_crun, busybox_tar):
    with open(busybox_tar, "rb") as stream:
        status, _, body = api_crun.request("POST", "/v4.0.0/libpod/images/import?reference=imp:1"
                                           "&changes=CMD%3D%5B%22sh%22%5D", stream.read())
    assert status == 200 and len(body["Id"]) == 64
    status, _, inspect = api_crun.request("GET", "/v4.0.0/libpod/images/imp:1/json")
    assert (status, inspect["Id"], inspect["Config"]["Cmd"]) == (200, body["Id"], ["sh"])
    status, response, data = api_crun.request("GET", "/v4.0.0/libpod/images/imp:1/get?format=docker-archive")
    assert status == 200 and response.getheader("Content-Type") == "application/x-tar"
    status, _, body = api_crun.request("DELETE", "/v4.0.0/libpod/images/remove?images=imp:1&images=nosuch")
    assert status == 200 and body["Deleted"] == [inspect["Id"]] and body["ExitCode"] == 1
    assert body["Errors"] == ["nosuch: image not known"]
    status, _, body = api_crun.request("POST", "/v4.0.0/libpod/images/load", data)
    assert (status, body) == (200, {"Names": ["localhost/imp:1"]})
    status, _, body = api_crun.request("GET", "/v4.0.0/libpod/images/imp:1/get?format=oci-archive")
    assert status == 400 and "docker-archive" in body["message"]


def test_docker_save_of_several_and_chunked_load(api_crun):
    api_crun.env("tag", "busybox", "two:2", check=True)
    status, _, data = api_crun.request("GET", "/images/get?names=busybox&names=two:2")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["localhost/busybox:latest", "localhost/two:2"]
    status, _, body = api_crun.request("DELETE", "/images/two:2")  # one of two names: untagged only
    assert (status, body) == (200, [{"Untagged": "localhost/two:2"}])
    image_id = api_crun.env("image", "inspect", "--format", "{{.Id}}", "busybox", check=True).stdout.strip()
    status, _, body = api_crun.request("DELETE", f"/images/{image_id}")
    assert (status, body) == (200, [{"Untagged": "localhost/busybox:latest"}, {"Deleted": f"sha256:{image_id}"}])
    chunks = iter([data[i:i + 65536] for i in range(0, len(data), 65536)])
    conn = UnixHTTP(api_crun.socket_path)
    conn.request("POST", "/v1.41/images/load?quiet=0", body=chunks)  # an iterator: sent chunked
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()
    assert status == 200
    assert body == b'{"stream": "Loaded image: localhost/busybox:latest\\n"}\n' \
                   b'{"stream": "Loaded image: localhost/two:2\\n"}\n'
    assert _names(api_crun) == ["localhost/busybox:latest", "localhost/two:2"]


def test_tag_errors(api_crun):
    status, _, body = api_crun.request("POST", "/images/nosuch/tag?repo=x")
    assert status == 404 and body["message"].endswith("nosuch: image not known")
    status, _, body = api_crun.request("POST", "/images/busybox/tag")
    assert status == 400 and "repo" in body["message"]
    status, _, body = api_crun.request("POST", "/images/busybox/tag?repo=UPPER")
    assert status == 400 and body["message"].startswith("invalid reference format")
    status, _, body = api_crun.request("GET", "/images/nosuch/get")
    assert status == 404
    status, _, body = api_crun.request("GET", "/images/get")
    assert status == 400


def test_bad_archives_are_a_400_and_store_nothing(api_crun):
    from test_image_archive import bad_archives

    before = _names(api_crun)
    for case, (data, message) in bad_archives().items():
        for path in ("/images/load", "/v4.0.0/libpod/images/load"):
            status, _, body = api_crun.request("POST", path, data)
            assert status == 400 and message in body["message"], (case, body)
    assert _names(api_crun) == before
    assert api_crun.env("image", "exists", "evil:1").returncode == 1
    status, _, _ = api_crun.request("GET", "/_ping")
    assert status == 200
