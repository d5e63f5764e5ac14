"""`husk manifest`: lists made of local images, kept as podman keeps them, and
pushed to Debian's docker-registry on loopback; a pull of the pushed list picks
the instance of the platform asked for."""

import hashlib
import json
import shutil
import subprocess
import tarfile

import pytest

from husk.testing import HUSK, IMAGE, build_tar, needs_registry

ZERO = "sha256:" + "0" * 64


def _second_image(husk, name="localhost/other:latest") -> str:
    """A one-file image (a different config from busybox's, so another instance)."""
    info = tarfile.TarInfo("hello.txt")
    info.size = 3
    husk("import", "-", name, input=build_tar((info, b"hi\n")), check=True)
    return json.loads(husk("image", "inspect", name, check=True).stdout)[0]["Id"]


def test_local_lists(husk):
    """create, add (platform flags, annotations), inspect, annotate, remove, exists, rm,
    with podman's messages and exit codes for bad input."""
    list_id = husk("manifest", "create", "localhost/mylist", check=True).stdout.strip()
    empty = json.loads(husk("manifest", "inspect", "mylist", check=True).stdout)
    assert empty == {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                     "manifests": None}
    again = husk("manifest", "create", "localhost/mylist")
    assert again.returncode == 125 and "that name is already in use" in again.stderr, again.stderr
    assert husk("manifest", "create", "--amend", "localhost/mylist", check=True).stdout.strip() == list_id
    for verb in (["create", "--all", "localhost/other"], ["add", "--all", "mylist", IMAGE]):
        refused = husk("manifest", *verb)  # not done yet: refused in one line, never ignored
        assert (refused.returncode, refused.stderr.count("\n")) == (125, 1) and "--all" in refused.stderr, refused.stderr
    added = husk("manifest", "add", "--arch", "arm64", "--variant", "v8", "--annotation", "a=b", "mylist",
                 f"containers-storage:{IMAGE}", check=True)
    assert added.stdout.strip() == list_id
    entries = json.loads(husk("manifest", "inspect", "mylist", check=True).stdout)["manifests"]
    assert len(entries) == 1 and entries[0]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert entries[0]["annotations"] == {"a": "b"}
    digest = entries[0]["digest"]
    husk("manifest", "annotate", "--os", "freebsd", "--annotation", "c=d", "--os-version", "14.1",
         "--os-features", "f1", "--os-features", "f2", "--features", "sse4", "mylist", digest, check=True)
    entry = json.loads(husk("manifest", "inspect", "mylist", check=True).stdout)["manifests"][0]
    assert entry["platform"] == {"architecture": "arm64", "os": "freebsd", "variant": "v8", "os.version": "14.1",
                                 "os.features": ["f1", "f2"], "features": ["sse4"]}
    assert entry["annotations"] == {"a": "b", "c": "d"}
    for bad in ("bad", "sha256:../../etc", "sha256:" + "A" * 64):
        refused = husk("manifest", "remove", "mylist", bad)
        assert refused.returncode == 125 and refused.stderr.count("\n") == 1, refused.stderr
        assert "invalid checksum digest format" in refused.stderr
    missing = husk("manifest", "remove", "mylist", ZERO)
    assert missing.returncode == 125 and f'no instance matching digest "{ZERO}"' in missing.stderr
    assert husk("manifest", "remove", "mylist", digest, check=True).stdout.strip() == list_id
    assert json.loads(husk("manifest", "inspect", "mylist", check=True).stdout)["manifests"] == []
    assert husk("manifest", "exists", "mylist").returncode == 0
    assert husk("manifest", "exists", "nope").returncode == 1
    assert husk("manifest", "exists", IMAGE).returncode == 1  # an image, not a list
    assert husk("manifest", "inspect", IMAGE).returncode == 125
    nope = husk("manifest", "rm", "nope")
    assert nope.returncode == 125 and nope.stderr == "Error: nope: image not known\n"
    removed = husk("manifest", "rm", "mylist", check=True)
    assert f"Deleted: {list_id}" in removed.stdout
    assert husk("manifest", "exists", "mylist").returncode == 1
    assert husk("image", "exists", IMAGE).returncode == 0  # its images stay


@needs_registry
@pytest.mark.parametrize("format_", ["v2s2", "oci"])
def test_push_and_pull_by_platform(husk, registry, format_):
    """The list and both images reach the registry; husk pulling it gets the
    instance of the platform asked for, and skopeo resolves its arm64 one."""
    registry.trust(husk)
    other_id = _second_image(husk)
    busybox_id = json.loads(husk("image", "inspect", IMAGE, check=True).stdout)[0]["Id"]
    husk("manifest", "create", "localhost/multi", IMAGE, check=True)
    husk("manifest", "add", "--arch", "arm64", "--variant", "v8", "multi", "localhost/other:latest", check=True)
    target = f"{registry.host}/multi:1"
    digestfile = f"{husk.root}.digest"
    husk("manifest", "push", "--format", format_, "--digestfile", digestfile, "--rm", "multi",
         f"docker://{target}", check=True, timeout=120)
    assert husk("manifest", "exists", "multi").returncode == 1  # --rm
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir, f"docker://{target}"],
                         check=True, capture_output=True, timeout=60).stdout
    index = json.loads(raw)
    with open(digestfile) as stream:
        assert stream.read() == "sha256:" + hashlib.sha256(raw).hexdigest()
    want = {"v2s2": "application/vnd.docker.distribution.manifest.list.v2+json",
            "oci": "application/vnd.oci.image.index.v1+json"}[format_]
    assert index["mediaType"] == want and len(index["manifests"]) == 2
    arches = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert arches == ["amd64", "arm64"]
    husk("rmi", "-f", IMAGE, "localhost/other:latest", check=True)
    husk("pull", "-q", "--arch", "arm64", "--variant", "v8", target, check=True, timeout=120)
    assert json.loads(husk("image", "inspect", target, check=True).stdout)[0]["Id"] == other_id
    husk("rmi", target, check=True)
    husk("pull", "-q", "--arch", "amd64", target, check=True, timeout=120)
    assert json.loads(husk("image", "inspect", target, check=True).stdout)[0]["Id"] == busybox_id
    skopeo = subprocess.run(["skopeo", "inspect", "--override-arch", "arm64", "--override-variant", "v8",
                             "--cert-dir", registry.cert_dir, f"docker://{target}"],
                            check=True, capture_output=True, timeout=60)
    assert json.loads(skopeo.stdout)["Digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()  # it read the list


@needs_registry
def test_push_refuses_bad_destinations(husk, registry):
    husk("manifest", "create", "localhost/badpush", IMAGE, check=True)
    for destination in ("unqualified", f"{registry.host}/x@{ZERO}", "dir:/tmp/x"):
        refused = husk("manifest", "push", "badpush", destination)
        assert refused.returncode == 125 and refused.stderr.count("\n") == 1, refused.stderr
    registry.trust(husk)
    alone = husk("manifest", "push", "--all=false", "badpush", f"{registry.host}/alone:1")
    # the list alone: the registry refuses it, its image never having been sent
    assert alone.returncode == 125 and alone.stderr.count("Error:") == 1, alone.stderr
    assert "blob unknown" in alone.stderr
    husk("manifest", "push", "badpush", f"{registry.host}/alone:1", check=True, timeout=120)
    husk("manifest", "push", "--all=false", "badpush", f"{registry.host}/alone:2", check=True, timeout=120)
    # `push` of a list is `manifest push`
    husk("push", "badpush", f"{registry.host}/alone:3", check=True, timeout=120)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir,
                          f"docker://{registry.host}/alone:3"], check=True, capture_output=True, timeout=60).stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"


@needs_registry
def test_libpod_manifest_routes(api_crun, registry):
    """podman 4.3's v4 routes (create, modify, inspect, exists, push, delete) and v3's
    (create, add, remove by digest), against husk's service."""
    api = api_crun
    v4, v3 = "/v4.3.1/libpod/manifests", "/v3.4.0/libpod/manifests"
    status, _, created = api.request("POST", f"{v4}/localhost/apilist?images={IMAGE}")
    assert status == 201, created
    list_id = created["Id"]
    status, _, index = api.request("GET", f"{v4}/localhost/apilist/json")
    assert status == 200 and len(index["manifests"]) == 1, index
    digest = index["manifests"][0]["digest"]
    # podman's client sends its Go field names and nulls (Go's decoder ignores the case)
    status, _, report = api.request("PUT", f"{v4}/localhost%2Fapilist", {
        "Operation": "update", "Images": [IMAGE], "Annotations": {"x": "y"}, "Arch": "", "Features": None})
    assert status == 200 and report["Id"] == list_id, report
    status, _, report = api.request("PUT", f"{v4}/apilist", {"operation": "annotate", "images": [digest],
                                                             "arch": "arm64", "annotation": ["k=v"]})
    assert status == 200 and report["Id"] == list_id, report
    entry = api.request("GET", f"{v4}/apilist/json")[2]["manifests"][0]
    assert entry["platform"]["architecture"] == "arm64" and entry["annotations"] == {"x": "y", "k": "v"}
    bad = api.request("PUT", f"{v4}/apilist", {"operation": "remove", "images": ["sha256:../../x"]})
    assert bad[0] == 400, bad
    assert api.request("GET", f"{v4}/apilist/exists")[0] == 204
    assert api.request("GET", f"{v4}/nope/exists")[0] == 404
    assert api.request("GET", f"{v4}/nope/json")[0] == 404
    status, _, pushed = api.request(
        "POST", f"{v4}/apilist/registry/{registry.host}/apilist:1?tlsVerify=false&format=oci")
    assert status == 200 and pushed["Id"].startswith("sha256:"), pushed
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir,
                          f"docker://{registry.host}/apilist:1"], check=True, capture_output=True, timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed["Id"]
    assert json.loads(raw)["manifests"][0]["platform"]["architecture"] == "arm64"
    status, _, removed = api.request("DELETE", f"{v4}/apilist")
    assert status == 200 and removed["Deleted"] == [list_id], removed
    assert api.request("GET", f"{v4}/apilist/exists")[0] == 404
    # v3: create with the name in the query, add, remove by digest
    status, _, created = api.request("POST", f"{v3}/create?name=localhost/old")
    assert status == 200, created
    status, _, added = api.request("POST", f"{v3}/localhost/old/add", {"images": [IMAGE]})
    assert status == 200 and added["Id"] == created["Id"], added
    digest = api.request("GET", f"{v3}/localhost/old/json")[2]["manifests"][0]["digest"]
    status, _, dropped = api.request("DELETE", f"{v3}/localhost/old?digest={digest}")
    assert status == 200 and dropped["Id"] == created["Id"], dropped
    assert api.request("GET", f"{v3}/localhost/old/json")[2]["manifests"] == []
    assert api.request("DELETE", f"{v3}/localhost/old?digest=bad")[0] == 400


@needs_registry
def test_remote_manifest_verbs(api_crun, registry):
    """`husk --url ... manifest ...` against husk's service: the same verbs, messages and codes."""
    def remote(*args):
        return subprocess.run([HUSK, "--url", f"unix://{api_crun.socket_path}", "manifest", *args],
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())

    created = remote("create", "localhost/rlist", IMAGE)
    assert created.returncode == 0, created.stderr
    list_id = created.stdout.strip()
    digest = json.loads(remote("inspect", "rlist").stdout)["manifests"][0]["digest"]
    annotated = remote("annotate", "--arch", "arm64", "--annotation", "q=r", "--os-version", "1.2", "rlist", digest)
    assert annotated.returncode == 0 and annotated.stdout.strip() == list_id, annotated.stderr
    entry = json.loads(remote("inspect", "rlist").stdout)["manifests"][0]
    assert entry["platform"]["architecture"] == "arm64" and entry["annotations"] == {"q": "r"}
    assert entry["platform"]["os.version"] == "1.2"
    bad = remote("remove", "rlist", "bad")
    assert bad.returncode == 125 and "invalid checksum digest format" in bad.stderr, bad.stderr
    assert remote("exists", "rlist").returncode == 0 and remote("exists", "nope").returncode == 1
    digestfile = f"{api_crun.socket_path}.digest"
    pushed = remote("push", "--tls-verify=false", "--rm", "--digestfile", digestfile, "rlist",
                    f"docker://{registry.host}/rlist:1")
    assert pushed.returncode == 0, pushed.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir,
                          f"docker://{registry.host}/rlist:1"], check=True, capture_output=True, timeout=60).stdout
    with open(digestfile) as stream:
        assert stream.read() == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert remote("exists", "rlist").returncode == 1  # --rm
    assert remote("rm", "nope").returncode == 125


@needs_registry
def test_podman_client_drives_husks_manifest_routes(api_crun, registry):
    """podman 4.3's remote client against husk's service: create, add, inspect, exists,
    remove, push, rm (its remote annotate refuses its own flags, so it is left out)."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")

    def remote(*args):
        return subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", "manifest", *args],
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())

    created = remote("create", "localhost/plist")
    assert created.returncode == 0, created.stderr
    list_id = created.stdout.strip()
    added = remote("add", "--arch", "arm64", "localhost/plist", f"containers-storage:{IMAGE}")
    assert added.returncode == 0 and added.stdout.strip() == list_id, added.stderr
    index = json.loads(remote("inspect", "localhost/plist").stdout)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64"]
    assert remote("exists", "localhost/plist").returncode == 0
    assert remote("exists", "localhost/nope").returncode == 1
    bad = remote("remove", "localhost/plist", "bad")
    assert bad.returncode == 125 and "invalid checksum digest format" in bad.stderr, bad.stderr
    pushed = remote("push", "--tls-verify=false", "localhost/plist", f"docker://{registry.host}/plist:1")
    assert pushed.returncode == 0, pushed.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir,
                          f"docker://{registry.host}/plist:1"], check=True, capture_output=True, timeout=60).stdout
    assert json.loads(raw)["manifests"][0]["digest"] == index["manifests"][0]["digest"]
    removed = remote("remove", "localhost/plist", index["manifests"][0]["digest"])
    assert removed.returncode == 0, removed.stderr
    deleted = remote("rm", "localhost/plist")
    assert deleted.returncode == 0 and list_id in deleted.stdout, deleted.stderr
    assert remote("exists", "localhost/plist").returncode == 1


def test_run_of_a_list_runs_the_hosts_instance(husk):
    husk("manifest", "create", "localhost/runlist", IMAGE, check=True)
    ran = husk("run", "--rm", "localhost/runlist", "echo", "ran")
    assert (ran.returncode, ran.stdout) == (0, "ran\n"), ran.stderr
    digest = json.loads(husk("manifest", "inspect", "runlist", check=True).stdout)["manifests"][0]["digest"]
    husk("manifest", "annotate", "--arch", "s390x", "runlist", digest, check=True)
    refused = husk("run", "--rm", "localhost/runlist", "true")
    assert refused.returncode == 125 and refused.stderr.count("\n") == 1, refused.stderr
    assert "no image found in manifest list for architecture" in refused.stderr


@needs_registry
def test_the_api_image_push_routes_push_a_list(husk, registry, tmp_path):
    """Docker's and libpod's `/images/{name}/push` of a manifest list: the list with its images,
    as `husk push` and `manifest push` (one list push, husk.storage.push.push_list)."""
    import os

    from husk.testing import ApiService, UnixHTTP

    def streamed(path: str) -> tuple[int, bytes]:
        """A push route's answer: its status and its lines of JSON, whole."""
        connection = UnixHTTP(service.socket_path, timeout=180)
        try:
            connection.request("POST", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    registry.trust(husk)
    husk("manifest", "create", "localhost/apipush", IMAGE, check=True)
    husk("tag", "localhost/apipush", f"{registry.host}/apipush:d", check=True)
    service = ApiService(husk, os.path.join(str(tmp_path), "s.sock"))
    try:
        docker_answer = streamed(f"/v1.41/images/{registry.host}/apipush/push?tag=d")
        libpod_answer = streamed(f"/v4.0.0/libpod/images/localhost/apipush/push?destination={registry.host}"
                                 "/apipush:l&tlsVerify=false")
    finally:
        assert "Traceback" not in service.stop()
    for (status, answer), said in ((docker_answer, b"digest: sha256:"), (libpod_answer, b"manifestdigest")):
        assert status == 200 and said in answer and b"error" not in answer.lower(), answer
    for tag in ("d", "l"):
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir,
                              f"docker://{registry.host}/apipush:{tag}"], check=True, capture_output=True,
                             timeout=60).stdout
        index = json.loads(raw)
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json" and len(index["manifests"]) == 1
