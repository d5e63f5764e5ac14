"""Data integrity end to end (issue 22 item 5): megabytes of random binary
data through every stdin and stdout path come out with the same SHA-256:
CLI run/exec/attach, the API's attach and exec (the docker CLI on husk's
service), logs, cp, export/import, commit + save/load, and checkpoint
export/restore of a process that holds the data only in memory."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from husk.testing import ApiService, HUSK, needs_docker_cli, wait_until

SIZE = 4 << 20


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(SIZE)


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _raw(env, *args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`husk args...` with bytes in and out."""
    result = subprocess.run([HUSK, *env.global_args, *args], input=input, capture_output=True, timeout=timeout,
                            env=env.env())
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def _put(env, container: str, blob: bytes, tmp_path, path: str = "/data") -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(blob)
    env("cp", str(source), f"{container}:{path}", check=True)


def test_cli_run_exec_and_logs(husk, data):
    result = _raw(husk, "run", "-i", "--name", "r", "--network", "none", "busybox", "cat", input=data)
    assert _sha(result.stdout) == _sha(data)
    assert _sha(_raw(husk, "logs", "r").stdout) == _sha(data)  # the k8s-file log, binary and all
    husk("rm", "r", check=True)
    husk("run", "-d", "--name", "x", "--network", "none", "busybox", "sleep", "1000", check=True)
    assert _sha(_raw(husk, "exec", "-i", "x", "cat", input=data).stdout) == _sha(data)
    # stdout and stderr apart, each whole
    result = _raw(husk, "exec", "-i", "x", "sh", "-c", "tee /dev/stderr", input=data)
    assert (_sha(result.stdout), _sha(result.stderr)) == (_sha(data), _sha(data))


def test_cli_attach(husk, data):
    husk("create", "-i", "--name", "a", "--network", "none", "busybox", "cat", check=True)
    result = _raw(husk, "start", "-a", "-i", "a", input=data)
    assert _sha(result.stdout) == _sha(data)
    husk("run", "-d", "-i", "--name", "b", "--network", "none", "busybox", "cat", check=True)
    result = _raw(husk, "attach", "b", input=data)
    assert _sha(result.stdout) == _sha(data)
    assert _sha(_raw(husk, "logs", "b").stdout) == _sha(data)


def test_cp_both_ways(husk, data, tmp_path):
    husk("create", "--name", "c", "busybox", "true", check=True)
    _put(husk, "c", data, tmp_path)
    out = tmp_path / "out.bin"
    husk("cp", "c:/data", str(out), check=True)
    assert _sha(out.read_bytes()) == _sha(data)
    stream = _raw(husk, "cp", "c:/data", "-").stdout  # a tar stream on stdout
    with tarfile.open(fileobj=io.BytesIO(stream)) as archive:
        assert _sha(archive.extractfile("data").read()) == _sha(data)


def test_export_import_commit_save_load(husk, data, tmp_path):
    husk("create", "--name", "e", "busybox", "true", check=True)
    _put(husk, "e", data, tmp_path)
    exported = tmp_path / "rootfs.tar"
    husk("export", "-o", str(exported), "e", check=True)
    with tarfile.open(exported) as archive:
        assert _sha(archive.extractfile("data").read()) == _sha(data)
    husk("import", str(exported), "localhost/imported:1", check=True)
    result = _raw(husk, "run", "--rm", "--network", "none", "localhost/imported:1", "cat", "/data")
    assert _sha(result.stdout) == _sha(data)
    husk("commit", "e", "localhost/committed:1", check=True)
    saved = tmp_path / "saved.tar"
    husk("save", "-o", str(saved), "localhost/committed:1", check=True)
    husk("rm", "e", check=True)
    husk("rmi", "localhost/committed:1", check=True)
    husk("load", "-i", str(saved), check=True)
    result = _raw(husk, "run", "--rm", "--network", "none", "localhost/committed:1", "cat", "/data")
    assert _sha(result.stdout) == _sha(data)


#: holds /data only in memory (base64 in a shell variable, the file removed),
#: and writes it back to /out once /go exists
HOLDER = ("x=$(base64 /data) && rm /data && touch /held && "
          "while [ ! -e /go ]; do sleep 0.1; done && echo \"$x\" | base64 -d > /out.tmp && mv /out.tmp /out; "
          "sleep 1000")


def test_checkpoint_export_and_restore_of_data_in_memory(husk_envs, data, tmp_path):
    source, target = husk_envs("runc"), husk_envs("runc")
    source("create", "--name", "m", "--network", "none", "busybox", "sh", "-c", HOLDER, check=True)
    _put(source, "m", data, tmp_path)
    source("start", "m", check=True)
    assert wait_until(lambda: source("exec", "m", "test", "-e", "/held").returncode == 0)
    archive = tmp_path / "checkpoint.tar.gz"
    source("container", "checkpoint", "--export", str(archive), "m", check=True)
    source("rm", "m", check=True)
    target("container", "restore", "--import", str(archive), check=True)
    target("exec", "m", "touch", "/go", check=True)
    assert wait_until(lambda: target("exec", "m", "test", "-e", "/out").returncode == 0)
    out = tmp_path / "out.bin"
    target("cp", "m:/out", str(out), check=True)
    assert _sha(out.read_bytes()) == _sha(data)
    target("rm", "-f", "-t", "0", "m", check=True)


@needs_docker_cli
def test_api_attach_and_exec(husk, data, tmp_path):
    """The docker CLI on husk's service: `run -i` is create, attach (hijacked,
    framed) and start; `exec -i` an exec's hijacked start."""
    service = ApiService(husk, str(tmp_path / "api.sock"))
    try:
        result = service.docker("run", "-i", "--rm", "--network", "none", "busybox", "cat", input=data, timeout=120)
        assert result.returncode == 0, result.stderr
        assert _sha(result.stdout) == _sha(data)
        husk("run", "-d", "--name", "s", "--network", "none", "busybox", "sleep", "1000", check=True)
        result = service.docker("exec", "-i", "s", "cat", input=data, timeout=120)
        assert result.returncode == 0, result.stderr
        assert _sha(result.stdout) == _sha(data)
        result = service.docker("exec", "-i", "s", "sh", "-c", "cat >&2", input=data, timeout=120)
        assert _sha(result.stderr) == _sha(data)
        husk("run", "-i", "--name", "l", "--network", "none", "busybox", "cat", input=data)
        result = service.docker("logs", "l", timeout=120)
        assert result.returncode == 0, result.stderr
        assert _sha(result.stdout) == _sha(data)
    finally:
        assert "Traceback" not in service.stop()
