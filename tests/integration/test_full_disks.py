"""Full disks and descriptor limits (issue 22, section 3).

Each installation here has its storage root and run root on small file
systems of their own (`husk_envs(sizes=...)`): tmpfs mounts, and again on
loop-mounted ext4 images.  A test fills one with a filler file, runs
the operation, and checks that it fails with one line (exit 125, no
traceback), that the store stays readable and unchanged where the operation
would have added to it, and that the operation works again once the filler
is gone.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from husk.testing import ApiService, needs_registry, wait_until

SIZES = ("32m", "8m")


@pytest.fixture(params=["tmpfs", "ext4"])
def small(request, husk_envs):
    """An installation on a 32 MiB storage root and an 8 MiB run root, each a
    tmpfs or a loop-mounted ext4 image."""
    return husk_envs("crun", SIZES, request.param)


def fill(directory: str) -> str:
    """Fill the file system of `directory` to the last block; the filler's path."""
    path = os.path.join(directory, "filler")
    with open(path, "ab", buffering=0) as out:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return path


def fails_in_one_line(result) -> None:
    assert result.returncode == 125, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: ") and "Traceback" not in result.stderr, result.stderr
    assert "no space left on device" in result.stderr.lower() and "internal error" not in result.stderr, result.stderr


def readable(husk) -> None:
    """`ps -a`, `images` and `volume ls` answer (the store is readable), and
    each container directory in the storage root has its record and back."""
    for verb in (["ps", "-a"], ["images"], ["volume", "ls"]):
        result = husk(*verb)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (verb, result.stderr)
    directory = os.path.join(husk.root, "containers")
    on_disk = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    assert on_disk == sorted(husk("ps", "-aq", "--no-trunc", check=True).stdout.split())


def layers(husk) -> list[str]:
    """The storage root's entries and its layers (a half-written layer or spool would show)."""
    top = [name for name in os.listdir(husk.root) if name != "filler"]
    return sorted(top) + sorted(os.listdir(os.path.join(husk.root, "layers")))


@pytest.mark.parametrize("full", ["root", "runroot"])
def test_run_on_a_full_root(small, full):
    filler = fill(getattr(small, full))
    fails_in_one_line(small("run", "--rm", "localhost/busybox", "true"))
    readable(small)
    os.unlink(filler)
    assert small("run", "--rm", "localhost/busybox", "echo", "ok", check=True).stdout == "ok\n"


def test_a_container_that_fills_its_upper_layer(small):
    """The container's own writes fill the storage root (its upper layer is
    there): the container gets ENOSPC, husk records its exit, and `rm` frees
    the space."""
    result = small("run", "--name", "filler", "localhost/busybox", "sh", "-c",
                   "dd if=/dev/zero of=/fill bs=1M; echo done")
    assert result.returncode == 0 and "No space left on device" in result.stderr, result.stderr
    assert small("inspect", "-f", "{{.State.Status}}", "filler", check=True).stdout.strip() == "exited"
    readable(small)
    small("rm", "filler", check=True)
    assert small("run", "--rm", "localhost/busybox", "echo", "ok", check=True).stdout == "ok\n"


def test_rm_and_rmi_free_a_full_storage_root(small):
    """The way out of a full disk is husk's own: `rm` and `rmi` work on it."""
    small("run", "--name", "big", "localhost/busybox", "sh", "-c", "head -c 4000000 /dev/urandom > /data",
          check=True)
    small("commit", "big", "localhost/big", check=True)
    filler = fill(small.root)
    try:
        small("rm", "big", check=True)
        small("rmi", "localhost/big", check=True)
        readable(small)
        assert small("run", "--rm", "localhost/busybox", "echo", "ok", check=True).stdout == "ok\n"
    finally:
        os.unlink(filler)


def test_a_chatty_containers_log_on_a_full_storage_root(small):
    """The log (userdata/ctr.log, in the storage root) stops growing while the
    disk is full; the container and its monitor go on, and logging resumes."""
    name = "chatty"
    small("run", "-d", "--name", name, "localhost/busybox", "sh", "-c",
          "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.01; done", check=True)
    assert wait_until(lambda: "line 3" in small("logs", name).stdout)
    filler = fill(small.root)
    time.sleep(1)  # lines written while the disk is full are lost, as with podman's k8s-file
    assert small("inspect", "-f", "{{.State.Running}}", name, check=True).stdout.strip() == "true"
    readable(small)
    os.unlink(filler)
    seen = small("logs", name, check=True).stdout.count("\n")
    assert wait_until(lambda: small("logs", name).stdout.count("\n") > seen + 5)
    small("stop", "-t", "0", name, check=True)


def test_commit_on_a_full_storage_root(small):
    small("run", "--name", "c", "localhost/busybox", "sh", "-c", "head -c 2000000 /dev/urandom > /data",
          check=True)
    before = layers(small)
    filler = fill(small.root)
    fails_in_one_line(small("commit", "c", "localhost/committed"))
    readable(small)
    assert layers(small) == before
    assert small("image", "exists", "localhost/committed").returncode == 1
    os.unlink(filler)
    small("commit", "c", "localhost/committed", check=True)
    assert small("run", "--rm", "localhost/committed", "wc", "-c", "/data", check=True).stdout.split()[0] == \
        "2000000"


def test_load_on_a_full_storage_root(small, tmp_path):
    small("run", "--name", "c", "localhost/busybox", "sh", "-c", "head -c 2000000 /dev/urandom > /data",
          check=True)
    small("commit", "c", "localhost/saved", check=True)
    archive = str(tmp_path / "saved.tar")
    small("save", "-o", archive, "localhost/saved", check=True)
    small("rm", "c", check=True)
    small("rmi", "localhost/saved", check=True)
    before = layers(small)
    filler = fill(small.root)
    fails_in_one_line(small("load", "-i", archive))
    readable(small)
    assert layers(small) == before
    os.unlink(filler)
    small("load", "-i", archive, check=True)
    assert small("run", "--rm", "localhost/saved", "wc", "-c", "/data", check=True).stdout.split()[0] == "2000000"


def test_build_on_a_full_storage_root(small, tmp_path):
    (tmp_path / "Containerfile").write_text("FROM localhost/busybox\nRUN head -c 2000000 /dev/urandom > /data\n"
                                            "COPY f /f\n")
    (tmp_path / "f").write_bytes(os.urandom(100000))
    before = layers(small)
    filler = fill(small.root)
    fails_in_one_line(small("build", "-q", "-t", "localhost/built", str(tmp_path)))
    readable(small)
    assert layers(small) == before and small("image", "exists", "localhost/built").returncode == 1
    os.unlink(filler)
    small("build", "-q", "-t", "localhost/built", str(tmp_path), check=True)
    assert small("run", "--rm", "localhost/built", "wc", "-c", "/data", check=True).stdout.split()[0] == "2000000"


@needs_registry
def test_pull_on_a_full_storage_root(small, registry, tmp_path):
    registry.trust(small)
    small("run", "--name", "c", "localhost/busybox", "sh", "-c", "head -c 2000000 /dev/urandom > /data",
          check=True)
    small("commit", "c", "localhost/pushed", check=True)
    reference = f"{registry.host}/pushed:latest"
    small("push", "--cert-dir", registry.cert_dir, "localhost/pushed", reference, check=True)
    small("rm", "c", check=True)
    small("rmi", "localhost/pushed", check=True)
    before = layers(small)
    filler = fill(small.root)
    fails_in_one_line(small("pull", "-q", reference))
    readable(small)
    assert layers(small) == before
    os.unlink(filler)
    small("pull", "-q", reference, check=True)
    assert small("run", "--rm", reference, "wc", "-c", "/data", check=True).stdout.split()[0] == "2000000"


def test_checkpoint_export_to_a_full_target(husk_envs, tmp_path):
    husk = husk_envs("runc")
    target = str(tmp_path / "target")
    os.makedirs(target)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", target], check=True)
    try:
        husk("run", "-d", "--name", "ck", "localhost/busybox", "sh", "-c",
             "head -c 3000000 /dev/urandom > /tmp/x; sleep 1000", check=True)
        assert wait_until(lambda: husk("exec", "ck", "test", "-s", "/tmp/x").returncode == 0)
        archive = os.path.join(target, "ck.tar.gz")
        fails_in_one_line(husk("container", "checkpoint", "--export", archive, "ck"))
        assert not os.path.exists(archive)
        readable(husk)
        subprocess.run(["umount", target], check=True)
        # the dump was taken before the export failed: the container is checkpointed, and restores
        husk("container", "restore", "ck", check=True)
        assert husk("exec", "ck", "test", "-s", "/tmp/x").returncode == 0
        husk("container", "checkpoint", "--export", archive, "ck", check=True)
        assert os.path.getsize(archive) > 0
    finally:
        subprocess.run(["umount", "-l", target], capture_output=True)


def test_the_state_store_on_a_full_disk_fails_cleanly(tmp_path):
    """A state write on a full file system is one OSError (ENOSPC), and the
    records committed before it are all there, then and once space is freed."""
    script = r"""
import errno, os, sys
import husk.state.store as store_module
store_module._INITIAL_MAP_SIZE = 64 * 1024  # full after a few records: the map grows on the way
from husk.state.records import SecretRecord
from husk.state.store import Store
store = Store(sys.argv[1])
done = 0
try:
    while True:
        store.add_secret(SecretRecord(id=f"{done:064x}", name=f"s{done}", created=0.0, labels={"pad": "x" * 4000}))
        done += 1
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
print(done)
"""
    mount = str(tmp_path / "small")
    os.makedirs(mount)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mount], check=True)
    try:
        import sys

        result = subprocess.run([sys.executable, "-c", script, os.path.join(mount, "state")], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        written = int(result.stdout)
        assert written > 50
        check = r"""
import sys
from husk.state.store import Store
store = Store(sys.argv[1])
print(len(store.secrets()))
"""
        count = subprocess.run([sys.executable, "-c", check, os.path.join(mount, "state")], capture_output=True,
                               text=True, timeout=60)
        assert count.returncode == 0 and int(count.stdout) == written, count.stderr
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True)


def test_the_service_on_a_full_storage_root(small):
    """The API answers a full disk with a 500 naming it (not an internal error,
    no traceback in the service's log) and serves on once space is freed.  (A
    create may still succeed: its record fits in the state store's reserve; a
    commit's layer does not.)"""
    base = tempfile.mkdtemp(prefix="hfd-")
    service = ApiService(small, os.path.join(base, "s.sock"))
    try:
        status, _, body = service.request("POST", "/v1.41/containers/create?name=api",
                                          {"Image": "localhost/busybox", "Cmd": ["true"]})
        assert status == 201, body
        filler = fill(small.root)
        status, _, body = service.request("POST", "/v1.41/commit?container=api&repo=localhost/full")
        assert status == 500 and "no space left on device" in body["message"].lower(), body
        assert "internal error" not in body["message"], body
        assert service.request("GET", "/v1.41/containers/json?all=1")[0] == 200
        os.unlink(filler)
        status, _, body = service.request("POST", "/v1.41/commit?container=api&repo=localhost/full")
        assert status == 201, body
    finally:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert "Traceback" not in err and service.process.returncode == 0, err


# -- RLIMIT_NOFILE at 1024 ------------------------------------------------------------------------
LIMIT = ["prlimit", "--nofile=1024:1024"]


def test_run_and_exec_with_1024_descriptors(husk):
    run = subprocess.run([*LIMIT, "--", *_cli(husk), "run", "-d", "--name", "lim", "localhost/busybox", "sleep",
                          "1000"], capture_output=True, text=True, env=husk.env(), timeout=60)
    assert run.returncode == 0, run.stderr
    execd = subprocess.run([*LIMIT, "--", *_cli(husk), "exec", "lim", "echo", "ok"], capture_output=True, text=True,
                           env=husk.env(), timeout=60)
    assert execd.returncode == 0 and execd.stdout == "ok\n", execd.stderr
    husk("stop", "-t", "0", "lim", check=True)


def _cli(husk) -> list[str]:
    from husk.testing import HUSK

    return [HUSK, *husk.global_args]


@pytest.fixture
def limited_service(husk):
    """`system service` under a hard descriptor limit of 1024, stopped (and
    checked for tracebacks) after the test."""
    base = tempfile.mkdtemp(prefix="hfd-")  # short: AF_UNIX paths are limited to 108 bytes
    service = ApiService(husk, os.path.join(base, "s.sock"), argv_prefix=[*LIMIT, "--"],
                         options=("--header-timeout", "600"))  # idle connections are held, not timed out
    yield service
    err = service.stop()
    shutil.rmtree(base, ignore_errors=True)
    assert "Traceback" not in err and service.process.returncode == 0, err


def test_the_service_with_1024_descriptors_answers_503_past_its_cap(limited_service):
    """The default cap (4096) does not fit 1024 descriptors: the service lowers
    it, serves up to it, answers 503 past it, and serves again once freed."""
    service = limited_service
    assert service.request("GET", "/_ping")[0] == 200
    status, _, created = service.request("POST", "/v1.41/containers/create?name=svc",
                                         {"Image": "localhost/busybox", "Cmd": ["echo", "hi"]})
    assert status == 201, created
    held = []
    try:
        while True:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(30)
            conn.connect(service.socket_path)
            held.append(conn)
            if len(held) % 50 == 0 or len(held) > 240:
                answer = _ask(conn)
                if answer.startswith(b"HTTP/1.1 503"):
                    break
                assert answer.startswith(b"HTTP/1.1 200"), answer
            assert len(held) < 1000, "no 503 before 1000 connections"
        assert service.process.poll() is None
        assert 200 < len(held) <= 257  # (1024 - 256 spare) / 3 descriptors a connection, then the 503
    finally:
        for conn in held:
            conn.close()
    assert wait_until(lambda: service.request("GET", "/_ping")[0] == 200, timeout=30)
    assert service.request("POST", "/v1.41/containers/svc/start")[0] == 204


def _ask(conn: socket.socket) -> bytes:
    conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: husk\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
