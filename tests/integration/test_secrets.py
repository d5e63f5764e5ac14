"""Secrets: the verbs, `run --secret` as a file and as an environment variable,
and the value kept out of inspect, events, the state store, the API's
documents and a checkpoint archive."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tarfile

import podman
import pytest

VALUE = "s3cret-value-7f1c"


def _files_holding(directory: str, value: bytes, skip: str) -> list[str]:
    found = []
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            if path.startswith(skip) or not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                if value in handle.read():
                    found.append(path)
    return found


def test_secret_verbs(husk, tmp_path):
    source = tmp_path / "pw"
    source.write_text(VALUE)
    secret_id = husk("secret", "create", "--label", "a=b", "pw", str(source), check=True).stdout.strip()
    assert len(secret_id) == 25 and all(c in "0123456789abcdef" for c in secret_id)
    assert husk("secret", "create", "pw", "-", input=VALUE).stderr == "Error: pw: secret name in use\n"
    husk.extra_env["FROM_ENV"] = "env-value"
    husk("secret", "create", "--env", "fromenv", "FROM_ENV", check=True)
    listed = husk("secret", "ls", check=True).stdout
    assert listed.splitlines()[0].split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]
    assert "pw" in listed and VALUE not in listed
    document = json.loads(husk("secret", "inspect", "pw", check=True).stdout)[0]
    assert (document["ID"], document["Spec"]["Name"], document["Spec"]["Labels"]) == (secret_id, "pw", {"a": "b"})
    assert VALUE not in json.dumps(document)
    assert husk("secret", "exists", "pw").returncode == 0 and husk("secret", "exists", "nope").returncode == 1
    missing = husk("secret", "inspect", "nope")
    assert missing.returncode == 125 and 'no secret with name or id "nope"' in missing.stderr
    assert husk("secret", "create", "../bad", str(source)).returncode == 125
    assert husk("secret", "create", "empty", "-", input="").returncode == 125
    assert husk("secret", "rm", "pw", check=True).stdout.strip() == secret_id
    assert husk("secret", "rm", "pw").returncode == 125
    assert os.listdir(os.path.join(husk.root, "secrets", "filedriver")) == [
        json.loads(husk("secret", "inspect", "fromenv", check=True).stdout)[0]["ID"]]


def test_run_with_secrets_as_file_and_env(husk_rt):
    husk = husk_rt
    husk("secret", "create", "pw", "-", input=VALUE, check=True)
    out = husk("run", "--name", "c", "--secret", "pw", "--secret", "pw,type=mount,target=/etc/app.key,uid=1,mode=0400",
               "--secret", "pw,type=env,target=APP_PW", "busybox", "sh", "-c",
               'cat /run/secrets/pw; echo; stat -c "%u %a" /etc/app.key; printf %s "$APP_PW" | md5sum',
               check=True).stdout
    assert out == f"{VALUE}\n1 400\n{hashlib.md5(VALUE.encode()).hexdigest()}  -\n"
    inspect = husk("inspect", "c", check=True).stdout
    assert VALUE not in inspect
    assert VALUE not in open(os.path.join(husk.runroot, "events", "events.log")).read()
    assert VALUE not in husk("ps", "-a", "--format", "json", check=True).stdout
    # no copy in the state store; the run directory's copies went at cleanup
    for path in os.listdir(os.path.join(husk.root, "state")):
        assert VALUE.encode() not in open(os.path.join(husk.root, "state", path), "rb").read()
    assert _files_holding(husk.runroot, VALUE.encode(), skip="//") == []
    refused = husk("run", "--rm", "--secret", "nope", "busybox", "true")
    assert refused.returncode == 125 and "no such secret" in refused.stderr
    assert husk("run", "--rm", "--secret", "pw,type=env,mode=0400", "busybox", "true").returncode == 125


def test_mounted_secret_stays_out_of_the_storage_root_and_a_checkpoint(husk_envs, tmp_path):
    husk = husk_envs("runc")
    husk("secret", "create", "pw", "-", input=VALUE, check=True)
    husk("run", "-d", "--name", "ck", "--secret", "pw", "busybox", "sh", "-c",
         "cp /run/secrets/pw /dev/null; sleep 100", check=True)
    skip = os.path.join(husk.root, "secrets")
    assert _files_holding(husk.root, VALUE.encode(), skip=skip) == []
    archive = tmp_path / "ck.tar.gz"
    result = husk("container", "checkpoint", "--export", str(archive), "ck")
    if result.returncode != 0 and "criu" in result.stderr.lower():
        pytest.skip(f"no checkpointing here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile():
                assert VALUE.encode() not in tar.extractfile(member).read(), member.name
    husk("container", "restore", "ck", check=True)
    assert husk("exec", "ck", "cat", "/run/secrets/pw", check=True).stdout == VALUE


def test_secrets_api(api_crun):
    data = base64.b64encode(VALUE.encode()).decode()
    status, _, body = api_crun.request("POST", "/secrets/create", {"Name": "apisecret", "Data": data})
    assert status == 201 and len(body["ID"]) == 25
    listed = api_crun.request("GET", "/secrets")[2]
    assert [s["Spec"]["Name"] for s in listed] == ["apisecret"] and VALUE not in json.dumps(listed)
    assert api_crun.request("GET", "/secrets/apisecret")[2]["ID"] == body["ID"]
    assert api_crun.request("GET", "/secrets/nope")[0] == 404
    client = podman.PodmanClient(base_url=f"http+unix://{api_crun.socket_path}", timeout=120)
    created = client.secrets.create("podsecret", b"from-podman-py")
    assert client.secrets.get("podsecret").id == created.id
    assert sorted(s.name for s in client.secrets.list()) == ["apisecret", "podsecret"]
    assert api_crun.request("GET", "/v4.3.1/libpod/secrets/podsecret/exists")[0] == 204
    client.secrets.remove("podsecret")
    assert api_crun.request("GET", "/v4.3.1/libpod/secrets/podsecret/exists")[0] == 404
    assert api_crun.request("DELETE", "/secrets/apisecret")[0] == 204
    status, _, body = api_crun.request("POST", "/secrets/create", {"Name": "x", "Data": "not base64!"})
    assert status == 400


def test_podman_py_container_with_secrets(api_crun):
    client = podman.PodmanClient(base_url=f"http+unix://{api_crun.socket_path}", timeout=120)
    client.secrets.create("pp", VALUE.encode())
    container = client.containers.create(
        "busybox", ["sh", "-c", 'cat /etc/pp.key; echo; printf %s "$PP" | md5sum'], name="pps",
        secrets=[{"source": "pp", "target": "/etc/pp.key", "mode": 0o400}], secret_env={"PP": "pp"})
    container.start()
    assert container.wait() == 0
    logs = b"".join(container.logs()).decode()
    assert logs == f"{VALUE}\n{hashlib.md5(VALUE.encode()).hexdigest()}  -\n"
    assert VALUE not in json.dumps(client.containers.get("pps").attrs)
