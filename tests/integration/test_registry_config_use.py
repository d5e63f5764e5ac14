"""Issue 14's registry items that test_registry.py leaves out, against Debian's
docker-registry: a manifest list's platform choice (--arch, --os, --variant,
--platform), login --get-login, credentials from ~/.docker/config.json and
$XDG_RUNTIME_DIR/containers/auth.json, registries.conf's blocked registries,
mirrors and short-name aliases, push to docker-archive: and as v2s2, and the
search, push and prune routes of Docker's and libpod's API."""

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import urllib.parse

import pytest
from test_registry import _service_of, seed  # same directory (rootdir imports)

from husk.testing import IMAGE, UnixHTTP, needs_registry, start_registry

pytestmark = needs_registry


def _platform_layout(path: str) -> dict[str, str]:
    """An OCI layout whose index holds an amd64 and an arm64/v8 image, one small
    layer each (a file naming its platform); their config digests by arch."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as out:
            out.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    manifests, configs = [], {}
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("platform")
            content = f"{arch}\n".encode()
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        plain = buffer.getvalue()
        config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}}
        if variant:
            config["variant"] = variant
        config_descriptor = put(json.dumps(config).encode())
        configs[arch] = config_descriptor["digest"]
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_descriptor},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                **put(gzip.compress(plain))}]}
        platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          **put(json.dumps(manifest).encode()), "platform": platform})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    with open(os.path.join(path, "oci-layout"), "w") as out:
        out.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(path, "index.json"), "w") as out:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                       **put(json.dumps(index).encode()),
                                                       "annotations": {"org.opencontainers.image.ref.name": "multi"}}]},
                  out)
    return configs


def test_manifest_list_platform_choice(husk, registry, tmp_path):
    registry.trust(husk)
    configs = _platform_layout(str(tmp_path / "layout"))
    reference = f"{registry.host}/multi:1"
    subprocess.run(["skopeo", "copy", "-q", "--all", "--dest-cert-dir", registry.cert_dir,
                    f"oci:{tmp_path / 'layout'}:multi", f"docker://{reference}"], check=True, timeout=60)

    def pulled(*flags: str) -> str:
        husk("rmi", "-a", "-f", check=True)
        result = husk("pull", "-q", *flags, reference)
        assert result.returncode == 0, result.stderr
        return "sha256:" + result.stdout.strip()

    assert pulled() == configs["amd64"]  # this host's platform
    assert pulled("--arch", "arm64") == configs["arm64"]
    assert pulled("--arch", "arm64", "--variant", "v8") == configs["arm64"]
    assert pulled("--platform", "linux/arm64/v8") == configs["arm64"]
    inspect = json.loads(husk("image", "inspect", reference, check=True).stdout)[0]
    assert (inspect["Architecture"], inspect["Os"], inspect.get("Variant")) == ("arm64", "linux", "v8")
    missing = husk("pull", "--arch", "s390x", reference)
    assert missing.returncode == 125 and missing.stderr.splitlines()[-1].endswith(
        'no image found in manifest list for architecture s390x, variant "", OS linux'), missing.stderr
    windows = husk("pull", "--os", "windows", reference)
    assert windows.returncode == 125 and "OS windows" in windows.stderr


def test_get_login_docker_config_and_xdg_auth_file(husk, tmp_path):
    registry = start_registry(str(tmp_path / "registry"), "basic")
    try:
        registry.trust(husk)
        seed(husk, registry)
        del husk.extra_env["REGISTRY_AUTH_FILE"]  # the default places, as a user without it has them
        runtime_dir = tmp_path / "xdg"
        runtime_dir.mkdir(mode=0o700)
        husk.extra_env["XDG_RUNTIME_DIR"] = str(runtime_dir)
        home = husk.extra_env["HOME"]
        reference = f"{registry.host}/busybox:latest"
        refused = husk("pull", "-q", reference)
        assert refused.returncode == 125 and "authentication required" in refused.stderr, refused.stderr
        # docker's own file, read when no auth.json names the registry
        os.makedirs(os.path.join(home, ".docker"))
        token = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
        with open(os.path.join(home, ".docker", "config.json"), "w") as stream:
            json.dump({"auths": {registry.host: {"auth": token}}}, stream)
        assert husk("pull", "-q", reference).returncode == 0
        not_in = husk("login", "--get-login", registry.host)
        assert (not_in.returncode, not_in.stderr) == (0, ""), not_in.stderr  # docker's file counts for podman too
        assert not_in.stdout == f"{registry.user}\n"
        os.unlink(os.path.join(home, ".docker", "config.json"))
        gone = husk("login", "--get-login", registry.host)
        assert (gone.returncode, gone.stderr) == (125, f"Error: not logged into {registry.host}\n")
        login = husk("login", "-u", registry.user, "--password-stdin", registry.host, input=registry.password)
        assert login.returncode == 0, login.stderr
        with open(runtime_dir / "containers" / "auth.json") as stream:  # podman's default for this user
            assert registry.host in json.load(stream)["auths"]
        assert husk("login", "--get-login", registry.host, check=True).stdout == f"{registry.user}\n"
    finally:
        registry.stop()


def test_registries_conf_blocked_mirror_and_alias(husk, registry, tmp_path):
    registry.trust(husk)
    seed(husk, registry)
    conf = tmp_path / "registries.conf"
    conf.write_text(f'unqualified-search-registries = ["{registry.host}"]\n'
                    f'[aliases]\n"shortie" = "{registry.host}/busybox"\n'
                    '[[registry]]\nlocation = "blocked.invalid"\nblocked = true\n'
                    '[[registry]]\nlocation = "mirrored.invalid"\n'
                    f'[[registry.mirror]]\nlocation = "{registry.host}"\n')
    husk.extra_env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    husk("rmi", "-a", "-f", check=True)
    blocked = husk("pull", "blocked.invalid/busybox")
    assert blocked.returncode == 125 and blocked.stderr.count("Error: ") == 1, blocked.stderr
    assert "blocked" in blocked.stderr and "Traceback" not in blocked.stderr
    mirrored = husk("pull", "-q", "mirrored.invalid/busybox")  # no such host: the mirror serves it
    assert mirrored.returncode == 0, mirrored.stderr
    assert husk("image", "exists", "mirrored.invalid/busybox:latest").returncode == 0
    aliased = husk("create", "shortie")
    assert aliased.returncode == 0 and f"Trying to pull {registry.host}/busybox:latest" in aliased.stderr, \
        aliased.stderr


def test_push_to_docker_archive_and_as_v2s2(husk, registry, tmp_path):
    registry.trust(husk)
    archive = tmp_path / "bb.tar"
    husk("push", "-q", IMAGE, f"docker-archive:{archive}:localhost/pushed:1", check=True)
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == ["localhost/pushed:1"]
    loaded = husk("load", "-i", str(archive))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: localhost/pushed:1\n"), loaded.stderr
    for format_, media_type in (("v2s2", "application/vnd.docker.distribution.manifest.v2+json"),
                                ("oci", "application/vnd.oci.image.manifest.v1+json")):
        target = f"{registry.host}/fmt-{format_}:1"
        husk("push", "-q", "--format", format_, IMAGE, target, check=True)
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir, f"docker://{target}"],
                             check=True, capture_output=True, timeout=60)
        assert json.loads(raw.stdout)["mediaType"] == media_type
    bad = husk("push", "--format", "v1", IMAGE, f"{registry.host}/fmt-bad:1")
    assert bad.returncode == 125 and bad.stderr.count("\n") == 1, bad.stderr


def _get(connection: UnixHTTP, method: str, path: str):
    connection.request(method, path)
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.parametrize("prefix", ["/v1.41", "/v4.3.0/libpod"])
def test_api_search_push_and_prune(husk_envs, registry, prefix):
    with _service_of(husk_envs(), registry) as service:
        connection = UnixHTTP(service.socket_path)
        try:
            status, body = _get(connection, "GET", f"{prefix}/images/search?term={registry.host}/busy")
            assert status == 200, body
            found = json.loads(body)
            key = "Name" if prefix.endswith("libpod") else "name"  # Docker's rows are lower case
            assert [entry[key] for entry in found] == [f"{registry.host}/busybox"], found
            if prefix.endswith("libpod"):
                target = f"{registry.host}/via-libpod:1"
                status, body = _get(connection, "POST", f"{prefix}/images/{IMAGE}/push?destination={target}")
                assert status == 200 and b'"error"' not in body, body
                raw = subprocess.run(["skopeo", "inspect", "--cert-dir", registry.cert_dir, f"docker://{target}"],
                                     capture_output=True, timeout=60)
                assert raw.returncode == 0, raw.stderr
            service.env("tag", IMAGE, "localhost/dangling-soon:1", check=True)
            made = service.env("commit", "-q", service.env("create", "-q", IMAGE, "true", check=True).stdout.strip(),
                                check=True).stdout.strip()
            service.env("rm", "-a", check=True)
            status, body = _get(connection, "POST", f"{prefix}/images/prune")
            assert status == 200, body
            assert made in body.decode() and service.env("image", "exists", made).returncode == 1
            status, body = _get(connection, "POST", f"{prefix}/images/prune?filters=" + '{"bogus":["1"]}')
            assert status in (400, 500) and b"bogus" in body, body
        finally:
            connection.close()


def test_registries_conf_insecure_skips_verification(husk, registry, tmp_path):
    """`insecure = true` for a registry whose CA husk was not told of: pulls
    work without --tls-verify=false; without it they are refused."""
    seed(husk, registry)
    conf = tmp_path / "registries.conf"
    husk.extra_env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    husk.extra_env["HOME"] = str(tmp_path / "home")  # no certs.d of the user's
    reference = f"{registry.host}/busybox:latest"
    conf.write_text("")
    refused = husk("pull", "-q", reference)
    assert refused.returncode == 125 and "failed to verify certificate" in refused.stderr, refused.stderr
    conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    pulled = husk("pull", "-q", reference)
    assert pulled.returncode == 0, pulled.stderr


def test_push_asks_a_cross_repository_mount(husk, tmp_path):
    """An image pulled from repository A of a registry, pushed to repository B of
    the same registry, asks for its blobs to be mounted from A: the token the
    push asks the bearer server for covers pulling from A as well as pushing to B."""
    registry = start_registry(str(tmp_path / "registry"), "token")
    try:
        registry.trust(husk)
        seed(husk, registry, "origin/bb:1")
        creds = ["--creds", f"{registry.user}:{registry.password}"]
        husk("rmi", "-a", "-f", check=True)
        husk("pull", "-q", *creds, f"{registry.host}/origin/bb:1", check=True)
        registry.token_server.requests.clear()
        husk("push", "-q", *creds, f"{registry.host}/origin/bb:1", f"{registry.host}/copy/bb:1", check=True)
        scopes = [scope for path in registry.token_server.requests
                  for scope in urllib.parse.parse_qs(path.partition("?")[2]).get("scope", [])]
        assert "repository:copy/bb:pull,push" in scopes and "repository:origin/bb:pull" in scopes, scopes
        raw = subprocess.run(["skopeo", "inspect", "--cert-dir", registry.cert_dir, "--creds",
                              f"{registry.user}:{registry.password}", f"docker://{registry.host}/copy/bb:1"],
                             capture_output=True, timeout=60)
        assert raw.returncode == 0, raw.stderr
    finally:
        registry.stop()


def test_docker_sdk_image_api_paths(husk_envs, registry):
    """The docker SDK's low-level image calls, as its own image tests make them:
    a streamed push and pull (Docker's progress lines and aux digest), quiet
    listing, history, commit with message and author, inspect's RepoDigests,
    prune of unused images and search."""
    import docker

    with _service_of(husk_envs(), registry) as service:
        api = docker.APIClient(base_url=f"unix://{service.socket_path}", timeout=60)
        target = f"{registry.host}/sdk/bb"
        assert api.tag(IMAGE, target, "1")
        pushed = list(api.push(target, tag="1", stream=True, decode=True))
        digest = pushed[-1]["aux"]["Digest"]
        assert pushed[-1]["aux"]["Tag"] == "1" and pushed[-2] == {"status": f"1: digest: {digest}"}, pushed[-3:]
        service.env("rmi", f"{target}:1", check=True)
        pulled = list(api.pull(target, tag="1", stream=True, decode=True))
        assert {"status": f"Digest: {digest}"} in pulled, pulled
        assert pulled[-1] == {"status": f"Status: Downloaded newer image for {target}:1"}, pulled[-2:]
        assert f"{target}@{digest}" in api.inspect_image(f"{target}:1")["RepoDigests"]
        image_id = api.inspect_image(IMAGE)["Id"]
        assert image_id in api.images(quiet=True)
        assert api.history(f"{target}:1")[0]["Id"] == image_id
        container = api.create_container(IMAGE, ["touch", "/made"])
        committed = api.commit(container["Id"], repository="localhost/sdk-commit", tag="1", message="msg",
                               author="Ann")
        document = api.inspect_image("localhost/sdk-commit:1")
        assert (document["Id"], document["Comment"], document["Author"]) == (committed["Id"], "msg", "Ann")
        assert (document["Architecture"], document["Os"]) == ("amd64", "linux")
        api.remove_container(container["Id"])
        report = api.prune_images(filters={"dangling": False})  # every image no container uses
        assert {"Deleted": committed["Id"]} in report["ImagesDeleted"], report
        assert api.images(quiet=True) == []
        assert [row["name"] for row in api.search(f"{registry.host}/sdk")] == [f"{registry.host}/sdk/bb"]


def test_system_certs_d_is_read(husk, registry, tmp_path):
    """/etc/containers/certs.d/HOST/ca.crt makes husk trust a registry (podman's
    system-wide place; the registry's port makes the directory this test's own)."""
    seed(husk, registry)
    husk.extra_env["HOME"] = str(tmp_path / "home")  # no certs.d of the user's
    husk.extra_env["CONTAINERS_REGISTRIES_CONF"] = str(tmp_path / "registries.conf")
    (tmp_path / "registries.conf").write_text("")
    reference = f"{registry.host}/busybox:latest"
    refused = husk("pull", "-q", reference)
    assert refused.returncode == 125 and "failed to verify certificate" in refused.stderr, refused.stderr
    base = "/etc/containers/certs.d"
    made_base = not os.path.isdir(base)
    directory = os.path.join(base, registry.host)
    os.makedirs(directory)
    try:
        with open(os.path.join(registry.cert_dir, "ca.crt"), "rb") as source, \
                open(os.path.join(directory, "ca.crt"), "wb") as target:
            target.write(source.read())
        pulled = husk("pull", "-q", reference)
        assert pulled.returncode == 0, pulled.stderr
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if made_base:
            with contextlib.suppress(OSError):
                os.rmdir(base)
