"""`kube play` / `play kube` / `kube down` on real runtimes: the round trip
generate -> down -> play runs the same containers with the same
configuration, and bad YAML makes nothing."""

from __future__ import annotations

import json
import socket

import kubernetes_validate
import yaml

from husk.presentation.kube import KUBERNETES_VERSION
from husk.testing import http_body

IMAGE = "busybox"
HTTPD = "cat /conf/greeting > /tmp/i; exec httpd -f -p 8080 -h /tmp"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settings(husk, name: str) -> dict:
    document = json.loads(husk("inspect", name, check=True).stdout)[0]
    config, host = document["Config"], document["HostConfig"]
    return {"cmd": config["Cmd"], "env": sorted(e for e in config["Env"] if e.startswith("MODE=")),
            "workdir": config["WorkingDir"], "memory": host["Memory"], "caps": host["CapAdd"],
            "mounts": sorted((m["Destination"], m["Type"], m.get("Name", ""), m["RW"]) for m in document["Mounts"]),
            "image": document["ImageName"]}


def test_generate_down_play_runs_the_same_pod_again(husk_rt, tmp_path):
    port = _free_port()
    (tmp_path / "greeting").write_text("hello from the pod\n")
    husk_rt("volume", "create", "state", check=True)
    husk_rt("pod", "create", "--name", "trip", "-p", f"127.0.0.1:{port}:8080", "--add-host", "db.test:10.9.8.7",
            check=True)
    husk_rt("run", "-d", "--pod", "trip", "--name", "srv", "-e", "MODE=prod", "-w", "/tmp", "--memory", "64m",
            "--cap-add", "NET_ADMIN", "-v", f"{tmp_path}:/conf:ro", "-v", "state:/state", IMAGE, "sh", "-c", HTTPD,
            check=True)
    assert http_body("127.0.0.1", port, timeout=60) == b"hello from the pod\n"
    before = _settings(husk_rt, "srv")
    text = husk_rt("generate", "kube", "state", "trip", check=True).stdout
    for document in yaml.safe_load_all(text):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    path = tmp_path / "trip.yaml"
    path.write_text(text)

    down = husk_rt("kube", "down", str(path), check=True).stdout
    assert down.startswith("Pods stopped:\n") and husk_rt("pod", "exists", "trip").returncode == 1
    assert husk_rt("volume", "exists", "state").returncode == 0  # volumes stay

    played = husk_rt("kube", "play", str(path), check=True).stdout
    assert played.startswith("Pod:\n") and "\nContainer:\n" in played  # podman's: singular for one
    assert http_body("127.0.0.1", port, timeout=60) == b"hello from the pod\n"
    assert _settings(husk_rt, "trip-srv") == before
    hosts = husk_rt("exec", "trip-srv", "cat", "/etc/hosts", check=True).stdout
    assert "10.9.8.7\tdb.test" in hosts

    again = husk_rt("play", "kube", str(path))
    assert again.returncode == 125 and 'name "trip" is in use' in again.stderr
    husk_rt("play", "kube", "--replace", str(path), check=True)
    assert http_body("127.0.0.1", port, timeout=60) == b"hello from the pod\n"
    husk_rt("kube", "play", "--down", str(path), check=True)
    assert husk_rt("ps", "-aq", check=True).stdout == ""


def test_play_without_start_and_refusals(husk, tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "idle"},
           "spec": {"restartPolicy": "Never", "containers": [
               {"name": "one", "image": "localhost/busybox:latest", "command": ["sleep"], "args": ["600"],
                "resources": {"limits": {"memory": "32Mi", "cpu": "250m"}}}]}}
    path = tmp_path / "idle.yaml"
    path.write_text(yaml.safe_dump(pod))
    assert husk("kube", "play", "--log-driver", "journald", str(path)).returncode == 125
    husk("kube", "play", "--start=false", "--log-driver", "none", str(path), check=True)
    template = "{{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.LogConfig.Type}}"
    assert husk("inspect", "-f", template, "idle-one", check=True).stdout.split() == [
        "created", str(32 * 1024 * 1024), "250000000", "none"]
    husk("kube", "down", str(path), check=True)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([pod, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}}]))
    refused = husk("kube", "play", str(bad))
    assert refused.returncode == 125 and "kind 'Job' is not supported" in refused.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\n  spec: [\n")
    assert husk("kube", "play", str(broken)).returncode == 125
    missing_volume = dict(pod, spec={"containers": [dict(pod["spec"]["containers"][0],
                                                         volumeMounts=[{"name": "nope", "mountPath": "/x"}])]})
    path.write_text(yaml.safe_dump(missing_volume))
    refused = husk("kube", "play", str(path))
    assert refused.returncode == 125 and "'nope' of pod idle is not defined" in refused.stderr
    assert husk("pod", "ps", "-q", check=True).stdout == "" and husk("ps", "-aq", check=True).stdout == ""


def test_configmaps_and_secrets_give_the_environment(husk, tmp_path):
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                "data": {"MODE": "prod", "LEVEL": "3"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
              "data": {"password": "czNjcjN0"}, "stringData": {"user": "app"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "envs"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "show", "image": "localhost/busybox:latest", "command": ["sleep"], "args": ["600"],
               "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
               "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                       {"name": "USER_NAME", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
                       {"name": "EXTRA", "valueFrom": {"configMapKeyRef": {"name": "more", "key": "extra"}}},
                       {"name": "PLAIN", "value": "x"}]}]}}
    for document in (settings, secret, pod):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    path, extra = tmp_path / "envs.yaml", tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump_all([settings, secret, pod]))
    extra.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "more"},
                                     "data": {"extra": "from-file"}}))
    missing = husk("kube", "play", "--start=false", str(path))
    assert missing.returncode == 125 and "ConfigMap 'more' is not defined" in missing.stderr
    assert husk("pod", "exists", "envs").returncode == 1  # nothing left behind
    husk("kube", "play", "--start=false", "--configmap", str(extra), str(path), check=True)
    env = json.loads(husk("inspect", "-f", "{{json .Config.Env}}", "envs-show", check=True).stdout)
    for entry in ("CFG_MODE=prod", "CFG_LEVEL=3", "PASSWORD=s3cr3t", "USER_NAME=app", "EXTRA=from-file", "PLAIN=x"):
        assert entry in env
    husk("kube", "down", str(path), check=True)
