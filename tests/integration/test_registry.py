"""Images from registries, against Debian's docker-registry (the `registry*`
fixtures of husk.testing): pull, run/create --pull, push, login/logout,
search, OCI layouts, interoperability with skopeo and podman both ways, and
hostile registries that get a clear error and leave the store as it was."""

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading

import pytest

from husk.testing import (HUSK, IMAGE, ApiService, PtyTerminal, UnixHTTP, build_tar, needs_docker_cli,
                          needs_registry, self_signed_certificate, serve_https, start_registry)

pytestmark = needs_registry


def seed(husk, registry, name="busybox:latest") -> str:
    """skopeo copies husk's busybox (a docker-archive husk saved) into the registry;
    the manifest digest the registry holds."""
    archive = os.path.join(os.path.dirname(husk.root), "seed.tar")
    husk("save", "-o", archive, IMAGE, check=True)
    creds = ["--dest-creds", f"{registry.user}:{registry.password}"] if registry.auth != "none" else []
    subprocess.run(["skopeo", "copy", "-q", "--dest-cert-dir", registry.cert_dir, *creds, f"docker-archive:{archive}",
                    f"docker://{registry.host}/{name}"], check=True, capture_output=True, timeout=60)
    creds = ["--creds", f"{registry.user}:{registry.password}"] if registry.auth != "none" else []
    inspect = subprocess.run(["skopeo", "inspect", "--cert-dir", registry.cert_dir, *creds,
                              f"docker://{registry.host}/{name}"], check=True, capture_output=True, timeout=60)
    return json.loads(inspect.stdout)["Digest"]


def _store_listing(husk) -> list[str]:
    return sorted(os.listdir(os.path.join(husk.root, "layers")))


def test_run_pulls_a_missing_image(husk, registry_any_auth):
    """The done-when line: `husk run --rm REGISTRY/busybox:latest echo hi`, with each kind of auth."""
    registry = registry_any_auth
    registry.trust(husk)
    seed(husk, registry)
    reference = f"{registry.host}/busybox:latest"
    if registry.auth != "none":
        refused = husk("run", "--rm", reference, "echo", "hi")
        assert refused.returncode == 125 and "authentication required" in refused.stderr, refused.stderr
        wrong = husk("login", "-u", registry.user, "--password-stdin", registry.host, input="nope\n")
        assert wrong.returncode == 125 and wrong.stderr.count("\n") == 1, wrong.stderr
        login = husk("login", "-u", registry.user, "--password-stdin", registry.host, input=registry.password + "\n")
        assert login.returncode == 0 and "Login Succeeded!" in login.stdout, login.stderr
        with open(husk.extra_env["REGISTRY_AUTH_FILE"]) as stream:
            assert registry.host in json.load(stream)["auths"]
    result = husk("run", "--rm", reference, "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"
    assert f"Trying to pull {reference}..." in result.stderr
    if registry.auth != "none":
        assert husk("logout", registry.host).stdout == f"Removed login credentials for {registry.host}\n"
        assert husk("logout", registry.host).returncode == 125


def test_pull_agrees_with_skopeo_and_shares_layers(husk, registry):
    registry.trust(husk)
    digest = seed(husk, registry)
    local_id = husk("images", "-q", "--no-trunc", IMAGE, check=True).stdout.split()[0].removeprefix("sha256:")
    layers_before = _store_listing(husk)
    pulled = husk("pull", "-q", f"{registry.host}/busybox", check=True)
    assert pulled.stdout == local_id + "\n" and pulled.stderr == ""  # the same config: the same image id
    assert _store_listing(husk) == layers_before  # its layer was stored already: shared, not fetched again
    inspect = json.loads(husk("image", "inspect", f"{registry.host}/busybox", check=True).stdout)[0]
    assert inspect["Digest"] == digest
    assert f"{registry.host}/busybox@{digest}" in inspect["RepoDigests"]
    listed = husk("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", check=True)
    assert f"{registry.host}/busybox latest {digest}" in listed.stdout.splitlines()
    by_digest = husk("pull", "-q", f"{registry.host}/busybox@{digest}", check=True)
    assert by_digest.stdout == local_id + "\n"
    assert f"{registry.host}/busybox <none>" in husk("images", "--format", "{{.Repository}} {{.Tag}}").stdout
    husk("push", "-q", IMAGE, f"{registry.host}/busybox:two", check=True)
    every = husk("pull", "-q", "--all-tags", f"{registry.host}/busybox", check=True)
    assert every.stdout.splitlines() == [local_id, local_id]  # latest and two
    assert husk("image", "exists", f"{registry.host}/busybox:two").returncode == 0
    refused = husk("pull", "-a", f"{registry.host}/busybox:latest")
    assert refused.returncode == 125 and "--all-tags" in refused.stderr


def test_concurrent_pulls_and_pull_policies(husk_envs, registry):
    seeding = registry.trust(husk_envs())
    seed(seeding, registry)
    husk = registry.trust(husk_envs())
    husk("rmi", IMAGE, check=True)
    reference = f"{registry.host}/busybox:latest"
    pulls = [husk.popen("pull", "-q", reference, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in pulls]
    assert [p.returncode for p in pulls] == [0, 0, 0], outputs
    assert len({out for out, _ in outputs}) == 1
    assert [d for d in _store_listing(husk) if not d.startswith(".")] and \
        not [d for d in _store_listing(husk) if d.startswith(".stage")]
    never = husk("run", "--rm", "--pull", "never", f"{registry.host}/absent:1", "true")
    assert never.returncode == 125 and "image not known" in never.stderr, never.stderr
    always = husk("create", "--pull", "always", "-q", reference)
    assert always.returncode == 0 and "Trying to pull" not in always.stderr, always.stderr
    newer = husk("create", "--pull=newer", reference)
    assert newer.returncode == 0 and "Trying to pull" not in newer.stderr, newer.stderr
    changed = seeding("commit", "-q", seeding("create", "-q", IMAGE, "touch", "/x", check=True).stdout.strip(),
                      check=True).stdout.strip()
    seeding("push", "-q", changed, reference, check=True)  # the tag moves to another manifest
    newer = husk("create", "--pull=newer", reference)
    assert newer.returncode == 0 and "Trying to pull" in newer.stderr, newer.stderr
    assert husk("images", "-q", "--no-trunc", reference, check=True).stdout.strip().endswith(changed)
    short = husk("create", "busybox")  # the registry is the env's unqualified-search registry
    assert short.returncode == 0, short.stderr
    missing = husk("pull", f"{registry.host}/absent:1")
    assert missing.returncode == 125
    assert missing.stderr.splitlines()[-1] == (f"Error: initializing source docker://{registry.host}/absent:1: "
                                               f"reading manifest 1 in {registry.host}/absent: manifest unknown")


def test_progress_on_a_terminal(husk, registry):
    """On a terminal a pull draws a line per layer, redrawn in place; the id goes last."""
    registry.trust(husk)
    seed(husk, registry)
    husk("rmi", IMAGE, check=True)  # its layer goes with it: the pull fetches it
    terminal = PtyTerminal([HUSK, *husk.global_args, "pull", f"{registry.host}/busybox"], husk.env())
    try:
        terminal.expect(rb"Trying to pull ")
        terminal.expect(rb"Copying blob [0-9a-f]{12} done")
        terminal.expect(rb"\x1b\[1A")  # the bar was redrawn in place
        terminal.expect(rb"[0-9a-f]{64}")
        assert terminal.wait() == 0
    finally:
        terminal.close()


def test_tls_is_verified(husk, registry):
    seed(husk, registry)  # husk has not been told of the registry's CA
    refused = husk("pull", f"{registry.host}/busybox")
    assert refused.returncode == 125 and "failed to verify certificate" in refused.stderr, refused.stderr
    assert husk("pull", "-q", "--cert-dir", registry.cert_dir, f"{registry.host}/busybox").returncode == 0
    assert husk("pull", "-q", "--tls-verify=false", f"{registry.host}/busybox").returncode == 0


def _podman(root, *args, **kwargs):
    """podman on roots of its own (short: its run root may not pass 50 characters)."""
    return subprocess.run(["podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
                           "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args],
                          capture_output=True, text=True, timeout=120, **kwargs)


def _host_ulimits() -> list[str]:
    """podman's default limits (and the host's own hard ones) may be more than this
    host lets a container's root raise to; lower ones can always be set."""
    return ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def test_push_then_podman_pulls_and_runs(husk, registry, tmp_path):
    registry.trust(husk)
    target = f"{registry.host}/pushed/bb:1"
    digest_file = tmp_path / "digest"
    pushed = husk("push", "--digestfile", str(digest_file), IMAGE, f"docker://{target}")
    assert pushed.returncode == 0, pushed.stderr
    again = husk("push", IMAGE, target, check=True)  # every blob is there already
    assert "skipped: already exists" in again.stderr
    digest = digest_file.read_text()
    podman_root = tempfile.mkdtemp(prefix="podman-", dir="/tmp")
    try:
        pull = _podman(podman_root, "pull", "--cert-dir", registry.cert_dir, target)
        assert pull.returncode == 0, pull.stderr
        inspect = _podman(podman_root, "image", "inspect", "--format", "{{.Digest}}", target)
        assert inspect.stdout.strip() == digest
        run = _podman(podman_root, "run", "--rm", "--network", "none", *_host_ulimits(), target,
                      "echo", "hi")
        assert run.stdout == "hi\n", run.stderr
        # and back: podman pushes what it pulled under another name, husk pulls and runs it
        back = f"{registry.host}/from-podman:2"
        podman_digest = tmp_path / "podman-digest"
        push = _podman(podman_root, "push", "--cert-dir", registry.cert_dir, "--digestfile", str(podman_digest),
                       target, f"docker://{back}")
        assert push.returncode == 0, push.stderr
        husk("rmi", "-f", IMAGE, check=True)
        assert husk("run", "--rm", back, "echo", "back").stdout == "back\n"
        inspect = json.loads(husk("image", "inspect", back, check=True).stdout)[0]
        assert inspect["Digest"] == podman_digest.read_text().strip()
    finally:
        _podman(podman_root, "system", "reset", "--force")
        shutil.rmtree(podman_root, ignore_errors=True)
    search = husk("search", "--format", "{{.Name}}", f"{registry.host}/push", check=True)
    assert search.stdout == f"{registry.host}/pushed/bb\n"


def test_oci_archive_round_trip(husk, tmp_path):
    archive = tmp_path / "bb.tar"
    husk("push", IMAGE, f"oci-archive:{archive}:v1", check=True)
    inspect = subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}:v1"], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    other = husk("pull", "-q", f"oci-archive:{archive}:v1")
    assert other.returncode == 0, other.stderr
    saved = tmp_path / "saved.tar"
    husk("save", "--format", "oci-archive", "-o", str(saved), IMAGE, check=True)
    assert subprocess.run(["skopeo", "inspect", f"oci-archive:{saved}"], capture_output=True).returncode == 0
    husk("rmi", "-f", IMAGE, check=True)
    with open(saved, "rb") as stream:
        loaded = husk("load", input=stream.read())
    assert loaded.returncode == 0 and loaded.stdout == f"Loaded image: {IMAGE}\n".encode(), loaded.stderr
    husk("push", IMAGE, f"dir:{tmp_path / 'dir'}", check=True)
    assert subprocess.run(["skopeo", "inspect", f"dir:{tmp_path / 'dir'}"], capture_output=True).returncode == 0


@contextlib.contextmanager
def _service_of(husk, registry):
    """`husk system service` for an env that trusts `registry`, which holds busybox."""
    registry.trust(husk)
    seed(husk, registry)
    base = tempfile.mkdtemp(prefix="hreg-")
    service = ApiService(husk, os.path.join(base, "s.sock"))
    try:
        yield service
    finally:
        assert "Traceback" not in service.stop()
        shutil.rmtree(base, ignore_errors=True)


@needs_docker_cli
def test_docker_cli_pulls_pushes_and_logs_in_through_the_api(husk_envs, registry_any_auth):
    registry = registry_any_auth
    with _service_of(husk_envs(), registry) as service:
        reference = f"{registry.host}/busybox:latest"
        if registry.auth != "none":
            login = service.docker("login", "-u", registry.user, "--password-stdin", registry.host,
                                   input=registry.password.encode())
            assert login.returncode == 0 and b"Login Succeeded" in login.stdout, login.stderr
        pulled = service.docker("pull", reference)
        assert pulled.returncode == 0, pulled.stderr
        assert b"Pull complete" in pulled.stdout or b"Already exists" in pulled.stdout, pulled.stdout
        missing = service.docker("pull", f"{registry.host}/absent:1")
        assert missing.returncode == 1 and b"manifest unknown" in missing.stderr, missing.stderr
        assert service.docker("tag", reference, f"{registry.host}/via-docker:1").returncode == 0
        pushed = service.docker("push", f"{registry.host}/via-docker:1")
        assert pushed.returncode == 0 and b"1: digest: sha256:" in pushed.stdout, pushed.stderr
        connection = UnixHTTP(service.socket_path)
        credentials = json.dumps({"username": registry.user, "password": registry.password}).encode()
        connection.request("POST", f"/v4.3.0/libpod/images/pull?reference={reference}",
                           headers={"X-Registry-Auth": base64.urlsafe_b64encode(credentials).decode()})
        response = connection.getresponse()
        lines = [json.loads(line) for line in response.read().splitlines()]
        connection.close()
        assert response.status == 200 and lines[0] == {"stream": f"Trying to pull {reference}...\n"}
        assert len(lines[-1]["id"]) == 64 and lines[-1]["images"] == [lines[-1]["id"]]


def test_sdks_pull_and_push(husk_envs, registry):
    """podman-py's images.pull/push and the docker SDK's images.pull/push against the service."""
    import docker
    import podman

    with _service_of(husk_envs(), registry) as service:
        client = podman.PodmanClient(base_url=f"unix://{service.socket_path}", timeout=300)  # pull/push under load
        image = client.images.pull(f"{registry.host}/busybox", tag="latest")
        assert f"{registry.host}/busybox:latest" in image.tags
        assert image.tag(f"{registry.host}/from-podman-py", "1")
        pushed = client.images.push(f"{registry.host}/from-podman-py", tag="1")
        assert "error" not in str(pushed).lower(), pushed
        sdk = docker.DockerClient(base_url=f"unix://{service.socket_path}", timeout=300)
        pulled = sdk.images.pull(f"{registry.host}/from-podman-py", tag="1")
        assert pulled.id == "sha256:" + image.id.removeprefix("sha256:")
        output = sdk.images.push(f"{registry.host}/from-podman-py", tag="1")
        assert "digest: sha256:" in output, output


# -- hostile registries ------------------------------------------------------------------------
def _image(layer: bytes):
    """(manifest, config, blob) of an image of one gzipped layer."""
    blob = gzip.compress(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}
                        ).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "size": len(blob)}]}
    return manifest, config, blob


def _hello_layer() -> bytes:
    info = tarfile.TarInfo("hello")
    info.size = 2
    return build_tar((info, b"hi"))


class HostileRegistry:
    """A TLS server that answers /v2/ paths as `routes` say: bytes, or a callable
    writing the answer itself (for cut and endless streams)."""

    def __init__(self, tmp_path, routes: dict) -> None:
        os.makedirs(tmp_path, exist_ok=True)
        cert, key = self_signed_certificate(str(tmp_path), "hostile")
        self.cert_dir = str(tmp_path / "hostile-ca")
        os.makedirs(self.cert_dir)
        os.link(cert, os.path.join(self.cert_dir, "ca.crt"))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                answer = routes.get(self.path.split("?")[0])
                if answer is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif callable(answer):
                    answer(self)
                else:
                    self.send_response(200)
                    if b'"schemaVersion"' in answer[:40]:
                        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

        self.server = serve_https(Handler, cert, key)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _truncated(data: bytes):
    def answer(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.close_connection = True
    return answer


def _endless(handler) -> None:
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"\0" * 65536
    try:
        while True:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass


def _routes(manifest: dict, config: bytes, blob: bytes, blob_answer=None) -> dict:
    body = json.dumps(manifest).encode()
    return {"/v2/": b"{}", "/v2/evil/manifests/latest": body,
            f"/v2/evil/blobs/{manifest['config']['digest']}": config,
            f"/v2/evil/blobs/{manifest['layers'][0]['digest']}": blob_answer or blob}


def _hostile_cases():
    manifest, config, blob = _image(_hello_layer())
    outside = json.loads(json.dumps(manifest))
    outside["layers"][0]["digest"] = "sha256:../../../../etc"
    escape = tarfile.TarInfo("../escaped")
    escape.size = 1
    dotdot_manifest, dotdot_config, dotdot_blob = _image(build_tar((escape, b"x")))
    return {
        "bad digest": (_routes(manifest, config, blob, blob_answer=bytes(len(blob))), "digest mismatch"),
        "truncated": (_routes(manifest, config, blob, blob_answer=_truncated(blob)), "truncated stream"),
        "outside the store": (_routes(outside, config, blob), "invalid layer digest"),
        "dotdot layer": (_routes(dotdot_manifest, dotdot_config, dotdot_blob), "invalid layer"),
        "endless blob": (_routes(manifest, config, blob, blob_answer=_endless), "larger than"),
        "endless manifest": ({"/v2/evil/manifests/latest": _endless}, "larger than"),
    }


def test_interrupted_pull_leaves_nothing(husk, tmp_path):
    """^C in the middle of a layer: no image, no staging directory; the next pull works."""
    import signal
    import time

    manifest, config, blob = _image(_hello_layer())
    release = threading.Event()

    def slow(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(blob)))
        handler.end_headers()
        handler.wfile.write(blob[:10])
        handler.wfile.flush()
        release.wait(30)
        handler.wfile.write(blob[10:])

    server = HostileRegistry(tmp_path, _routes(manifest, config, blob, blob_answer=slow))
    try:
        before = _store_listing(husk)
        # SIGINT as at a terminal: a background job's or an xdist worker's children inherit
        # it ignored, and Python then leaves it ignored (the pull went on, under -n 2)
        pull = husk.popen("pull", "--cert-dir", server.cert_dir, f"{server.host}/evil",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 20
        while not any(d.startswith(".stage") for d in _store_listing(husk)):
            assert time.monotonic() < deadline and pull.poll() is None
            time.sleep(0.05)
        pull.send_signal(signal.SIGINT)
        _, err = pull.communicate(timeout=30)
        assert pull.returncode != 0 and b"Traceback" not in err, err
        assert _store_listing(husk) == before
        release.set()
        again = husk("pull", "-q", "--cert-dir", server.cert_dir, f"{server.host}/evil", timeout=60)
        assert again.returncode == 0, again.stderr
    finally:
        release.set()
        server.stop()


def test_flaky_registry_is_retried_resumed_and_redirected(husk, tmp_path):
    """A 503 is retried, a blob cut mid-stream resumes with Range, a redirect to
    another host is followed without the registry's credentials."""
    manifest, config, blob = _image(_hello_layer())
    seen = {"manifest": 0, "ranges": [], "elsewhere": []}
    expected = "Basic " + base64.b64encode(b"u:p").decode()

    def with_auth(answer):
        def check(handler) -> None:
            if handler.headers.get("Authorization") != expected:
                handler.send_response(401)
                handler.send_header("WWW-Authenticate", 'Basic realm="test"')
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            answer(handler)
        return check

    def flaky_manifest(handler) -> None:
        seen["manifest"] += 1
        body = json.dumps(manifest).encode()
        handler.send_response(503 if seen["manifest"] == 1 else 200)
        handler.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def cut_then_resume(handler) -> None:
        wanted = handler.headers.get("Range", "")
        seen["ranges"].append(wanted)
        if not wanted:
            _truncated(blob)(handler)
            return
        start = int(wanted.removeprefix("bytes=").rstrip("-"))
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
        handler.send_header("Content-Length", str(len(blob) - start))
        handler.end_headers()
        handler.wfile.write(blob[start:])

    def elsewhere(handler) -> None:
        seen["elsewhere"].append(handler.headers.get("Authorization"))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(config)))
        handler.end_headers()
        handler.wfile.write(config)

    storage = HostileRegistry(tmp_path / "storage", {"/config": elsewhere})

    def redirect(handler) -> None:
        handler.send_response(307)
        handler.send_header("Location", f"https://{storage.host}/config")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    routes = {"/v2/evil/manifests/latest": with_auth(flaky_manifest),
              f"/v2/evil/blobs/{manifest['config']['digest']}": with_auth(redirect),
              f"/v2/evil/blobs/{manifest['layers'][0]['digest']}": with_auth(cut_then_resume)}
    server = HostileRegistry(tmp_path / "registry", routes)
    shutil.copy(os.path.join(storage.cert_dir, "ca.crt"), os.path.join(server.cert_dir, "storage.crt"))
    try:
        result = husk("pull", "-q", "--creds", "u:p", "--cert-dir", server.cert_dir, f"{server.host}/evil")
    finally:
        server.stop()
        storage.stop()
    assert result.returncode == 0, result.stderr
    assert seen["manifest"] >= 2 and seen["ranges"][0] == "" and seen["ranges"][1].startswith("bytes=")
    assert seen["elsewhere"] == [None]  # the registry's credentials stayed with the registry


@pytest.mark.parametrize("case", list(_hostile_cases()))
def test_hostile_registry(husk, tmp_path, case):
    routes, message = _hostile_cases()[case]
    server = HostileRegistry(tmp_path, routes)
    try:
        before = _store_listing(husk)
        images = husk("images", "-q", check=True).stdout
        result = husk("pull", "--cert-dir", server.cert_dir, f"{server.host}/evil", timeout=120)
    finally:
        server.stop()
    assert result.returncode == 125, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and message in error[0], result.stderr
    assert "Traceback" not in result.stderr
    assert _store_listing(husk) == before  # nothing half-stored, no staging left
    assert husk("images", "-q", check=True).stdout == images
    assert not os.path.exists("/etc/escaped") and not os.path.exists(os.path.join(husk.root, "escaped"))


def test_run_and_create_pull_with_creds_authfile_and_tls_flags(husk_rt, tmp_path):
    """run/create pull a missing image with --creds, --authfile, --tls-verify
    and --cert-dir, from a registry with htpasswd auth whose CA husk was not told of."""
    husk = husk_rt
    registry = start_registry(str(tmp_path / "registry"), "basic")
    try:
        seed(husk, registry)
        before = _store_listing(husk)
        reference = f"{registry.host}/busybox:latest"
        creds = f"{registry.user}:{registry.password}"
        untrusted = husk("run", "--rm", "--creds", creds, reference, "echo", "hi")
        assert untrusted.returncode == 125 and "failed to verify certificate" in untrusted.stderr, untrusted.stderr
        anonymous = husk("create", "--tls-verify=false", reference)
        assert anonymous.returncode == 125 and "authentication required" in anonymous.stderr, anonymous.stderr
        wrong = husk("run", "--rm", "--tls-verify=false", "--creds", f"{registry.user}:nope", reference, "true")
        assert wrong.returncode == 125 and wrong.stderr.count("Error: ") == 1, wrong.stderr
        assert "authentication required" in wrong.stderr and "Traceback" not in wrong.stderr
        assert _store_listing(husk) == before  # nothing stored by the refused pulls
        ran = husk("run", "--rm", "-q", "--tls-verify=false", "--creds", creds, reference, "echo", "hi")
        assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
        husk("rmi", reference, check=True)
        authfile = tmp_path / "auth.json"
        token = base64.b64encode(creds.encode()).decode()
        authfile.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
        created = husk("create", "-q", "--cert-dir", registry.cert_dir, "--authfile", str(authfile), reference,
                       "echo", "made")
        assert created.returncode == 0, created.stderr
        assert husk("start", "-a", created.stdout.strip(), check=True).stdout == "made\n"
    finally:
        registry.stop()


def test_push_zstd_then_podman_and_husk_pull_and_run(husk_envs, registry, tmp_path):
    """push --compression-format zstd: every layer (the stored plain one and a
    gzip one pulled back) goes as tar+zstd in an OCI manifest; podman pulls and
    runs it, and so does a second husk (runc) that pulls it fresh."""
    husk = registry.trust(husk_envs("crun"))
    gzip_target, target = f"{registry.host}/gz/bb:1", f"{registry.host}/zstd/bb:1"
    husk("push", "-q", IMAGE, gzip_target, check=True)
    layout = tmp_path / "layout"
    husk("push", "-q", "--compression-format", "zstd", IMAGE, f"oci:{layout}:z", check=True)  # the plain layer
    index = json.loads((layout / "index.json").read_text())
    oci_manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    blob = oci_manifest["layers"][0]
    assert blob["mediaType"].endswith("tar+zstd")
    assert (layout / "blobs" / "sha256" / blob["digest"][7:]).read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    husk("rmi", "-f", IMAGE, check=True)
    husk("pull", "-q", gzip_target, check=True)  # its layer is stored gzip-compressed now
    refused = husk("push", "--compression-format", "zstd", "--format", "v2s2", gzip_target, target)
    assert refused.returncode == 125 and "--format oci" in refused.stderr, refused.stderr
    assert husk("push", "--compression-format", "xz", gzip_target, target).returncode == 125
    pushed = husk("push", "--compression-format", "zstd", gzip_target, target)
    assert pushed.returncode == 0, pushed.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir, f"docker://{target}"],
                         check=True, capture_output=True, timeout=60)
    manifest = json.loads(raw.stdout)
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"]
    podman_root = tempfile.mkdtemp(prefix="podman-", dir="/tmp")
    try:
        pull = _podman(podman_root, "pull", "--cert-dir", registry.cert_dir, target)
        assert pull.returncode == 0, pull.stderr
        run = _podman(podman_root, "run", "--rm", "--network", "none", *_host_ulimits(), target, "echo", "zstd")
        assert run.stdout == "zstd\n", run.stderr
    finally:
        _podman(podman_root, "system", "reset", "--force")
        shutil.rmtree(podman_root, ignore_errors=True)
    other = registry.trust(husk_envs("runc"))
    ran = other("run", "--rm", "-q", target, "echo", "fresh")
    assert (ran.returncode, ran.stdout) == (0, "fresh\n"), ran.stderr
