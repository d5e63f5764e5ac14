"""The API over TCP with TLS (issue 18 item 5): `system service --tls-cert
--tls-key [--tls-client-ca]`, driven by the docker CLI (--tlsverify) and the
docker SDK's TLSConfig, with certificates that openssl makes for each test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from husk.testing import DOCKER, ApiService

OPENSSL = shutil.which("openssl")


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(directory: str, name: str, ca: str, usage: str) -> None:
    """name.key and name.pem, signed by the CA `ca` (ca.key, ca.pem)."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
    with open(os.path.join(directory, f"{name}.ext"), "w") as handle:
        handle.write(f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=directory)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server and a client certificate it signed, and a client signed by another CA."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed (contrib/test-packages.txt)")
    directory = str(tmp_path_factory.mktemp("tls"))
    for ca in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=husk test {ca}",
                 cwd=directory)
    _signed(directory, "server", "ca", "serverAuth")
    _signed(directory, "client", "ca", "clientAuth")
    _signed(directory, "rogue", "rogue-ca", "clientAuth")
    return lambda name: os.path.join(directory, name)


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def tls_service(husk_envs, certs):
    """tls_service(host, *flags) -> port: a service on tcp://host:port with those flags."""
    started = []

    def start(host: str, *flags: str) -> int:
        port = _free_port()
        base = tempfile.mkdtemp(prefix="htls-")
        service = ApiService(husk_envs("crun"), os.path.join(base, "unused"), uri=f"tcp://{host}:{port}",
                             wait=False, options=flags)
        started.append((service, base))
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return port
            except OSError:
                assert service.process.poll() is None, service.process.stderr.read().decode()
                assert time.monotonic() < deadline, "the service did not start listening"
                time.sleep(0.05)

    yield start
    for service, base in started:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert "Traceback" not in err, err


def _docker(certs, port: int, *args: str, client: str = "client") -> subprocess.CompletedProcess:
    config = tempfile.mkdtemp(prefix="hdcfg-")
    try:
        return subprocess.run([DOCKER, "--tlsverify", "--tlscacert", certs("ca.pem"), "--tlscert",
                               certs(f"{client}.pem"), "--tlskey", certs(f"{client}.key"), "-H",
                               f"tcp://127.0.0.1:{port}", *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DOCKER_CONFIG": config})
    finally:
        shutil.rmtree(config, ignore_errors=True)


def _mutual(certs) -> tuple[str, ...]:
    return ("--tls-cert", certs("server.pem"), "--tls-key", certs("server.key"),
            "--tls-client-ca", certs("ca.pem"))


def test_docker_cli_over_mutual_tls(tls_service, certs):
    port = tls_service("127.0.0.1", *_mutual(certs))
    version = _docker(certs, port, "version", "--format", "{{.Server.APIVersion}}")
    assert version.returncode == 0 and version.stdout.strip(), version.stderr
    ran = _docker(certs, port, "run", "--rm", "--network", "none", "busybox", "echo", "over tls")
    assert (ran.returncode, ran.stdout) == (0, "over tls\n"), ran.stderr
    # a client certificate from another CA is turned away
    rogue = _docker(certs, port, "version", "--format", "{{.Server.APIVersion}}", client="rogue")
    assert rogue.returncode != 0 and not rogue.stdout.strip()


def test_docker_sdk_over_mutual_tls_beyond_loopback(tls_service, certs, monkeypatch):
    import docker
    import requests

    # requests lets these override the client's own CA file (psf/requests#3829)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)

    port = tls_service("0.0.0.0", *_mutual(certs))  # client certificates: no --insecure-tcp needed
    url = f"https://127.0.0.1:{port}"
    tls = docker.tls.TLSConfig(client_cert=(certs("client.pem"), certs("client.key")), ca_cert=certs("ca.pem"),
                               verify=True)
    client = docker.DockerClient(base_url=url, tls=tls, timeout=120)
    try:
        assert client.version()["ApiVersion"]
        assert client.containers.run("busybox", ["echo", "sdk"], remove=True, network_mode="none") == b"sdk\n"
    finally:
        client.close()
    # without a client certificate: turned away (the client asks for the version as it starts)
    with pytest.raises((requests.exceptions.RequestException, docker.errors.DockerException)):
        docker.DockerClient(base_url=url, tls=docker.tls.TLSConfig(ca_cert=certs("ca.pem"), verify=True),
                            timeout=30).version()


def test_server_tls_only_is_still_refused_beyond_loopback(husk, certs):
    server = ("--tls-cert", certs("server.pem"), "--tls-key", certs("server.key"))
    result = husk("system", "service", "--time", "1", *server, f"tcp://0.0.0.0:{_free_port()}")
    assert result.returncode == 125
    assert "pass --insecure-tcp if that is meant" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, message", [
    (("--tls-cert", "/nonexistent.pem"), "--tls-cert and --tls-key go together"),
    (("--tls-client-ca", "/nonexistent.pem"), "--tls-client-ca needs --tls-cert and --tls-key"),
    (("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"), "cannot load the TLS files"),
])
def test_bad_tls_flags(husk, flags, message):
    result = husk("system", "service", "--time", "1", *flags, f"tcp://127.0.0.1:{_free_port()}")
    assert result.returncode == 125
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_tls_needs_tcp(husk, certs):
    result = husk("system", "service", "--time", "1", "--tls-cert", certs("server.pem"), "--tls-key",
                  certs("server.key"), "unix:///nonexistent/s.sock")
    assert result.returncode == 125 and "--tls-cert needs a tcp:// listener" in result.stderr
