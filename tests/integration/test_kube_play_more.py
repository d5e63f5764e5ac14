"""`kube play` beyond the round trip: --build (a Containerfile beside the YAML), configMap and
secret volumes, Secret documents stored as husk secrets, Deployment replicas (podman 4.3 makes
one pod a replica), and an image pulled when it is missing."""

from __future__ import annotations

import yaml

from husk.testing import needs_registry

IMAGE = "localhost/busybox:latest"


def _pod(name: str, containers: list, volumes: list | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": containers, **({"volumes": volumes} if volumes else {})}}


def test_build_an_image_beside_the_yaml(husk, tmp_path):
    (tmp_path / "greeter").mkdir()
    (tmp_path / "greeter" / "Containerfile").write_text(f"FROM {IMAGE}\nRUN echo built > /built\n")
    pod = _pod("bp", [{"name": "c", "image": "greeter", "command": ["sleep", "600"]}])
    path = tmp_path / "bp.yaml"
    path.write_text(yaml.safe_dump(pod))
    played = husk("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert "STEP 2/2: RUN echo built > /built" in played.stderr  # the build's progress is on stderr
    assert played.stdout.startswith("Pod:\n")
    assert husk("exec", "bp-c", "cat", "/built", check=True).stdout == "built\n"
    first = husk("image", "inspect", "--format", "{{.Id}}", "greeter", check=True).stdout
    husk("kube", "down", str(path), check=True)
    # stored now: played again without a build, and rebuilt with --build
    (tmp_path / "greeter" / "Containerfile").write_text(f"FROM {IMAGE}\nRUN echo again > /built\n")
    husk("kube", "play", str(path), check=True)
    assert husk("exec", "bp-c", "cat", "/built", check=True).stdout == "built\n"
    husk("kube", "play", "--replace", "--build", str(path), check=True)
    assert husk("exec", "bp-c", "cat", "/built", check=True).stdout == "again\n"
    assert husk("image", "inspect", "--format", "{{.Id}}", "greeter", check=True).stdout != first
    husk("kube", "down", str(path), check=True)
    never = husk("kube", "play", "--build=false", str(path))
    assert never.returncode == 0, never.stderr  # stored: --build=false only stops builds
    husk("kube", "down", str(path), check=True)


def test_configmap_and_secret_volumes_and_stored_secrets(husk, tmp_path):
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "webconf"},
              "data": {"index.html": "<p>hi</p>\n", "other": "x"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dbpass"},
              "data": {"password": "czNjcjN0"}}
    pod = _pod("vols", [{"name": "c", "image": IMAGE, "command": ["sleep", "600"],
                         "volumeMounts": [{"name": "conf", "mountPath": "/conf", "readOnly": True},
                                          {"name": "pick", "mountPath": "/pick"},
                                          {"name": "sec", "mountPath": "/sec", "readOnly": True}]}],
               [{"name": "conf", "configMap": {"name": "webconf"}},
                {"name": "pick", "configMap": {"name": "webconf", "items": [{"key": "other", "path": "renamed"}]}},
                {"name": "sec", "secret": {"secretName": "dbpass"}}])
    path = tmp_path / "vols.yaml"
    path.write_text(yaml.safe_dump_all([config, secret, pod]))
    played = husk("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert played.stdout.startswith("Pod:\n")
    assert husk("secret", "inspect", "--format", "{{.Spec.Name}}", "dbpass", check=True).stdout == "dbpass\n"
    assert husk("exec", "vols-c", "cat", "/conf/index.html", "/sec/password", check=True).stdout == "<p>hi</p>\ns3cr3t"
    assert husk("exec", "vols-c", "ls", "/pick", check=True).stdout.split() == ["renamed"]
    assert husk("exec", "vols-c", "touch", "/conf/x").returncode != 0  # readOnly
    husk("kube", "down", str(path), check=True)
    # a Secret the YAML no longer holds is read from the husk secret an earlier play stored
    later = _pod("later", [{"name": "c", "image": IMAGE, "command": ["sleep", "600"], "env": [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "dbpass", "key": "password"}}}]}])
    (tmp_path / "later.yaml").write_text(yaml.safe_dump(later))
    husk("kube", "play", "--start=false", str(tmp_path / "later.yaml"), check=True)
    env = husk("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", "later-c", check=True).stdout
    assert "PW=s3cr3t" in env.splitlines()
    husk("kube", "down", str(tmp_path / "later.yaml"), check=True)
    bad = _pod("bad", [{"name": "c", "image": IMAGE, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
               [{"name": "v", "configMap": {"name": "webconf", "items": [{"key": "other", "path": "../escape"}]}}])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump_all([config, bad]))
    refused = husk("kube", "play", str(tmp_path / "bad.yaml"))
    assert refused.returncode == 125 and "invalid file name '../escape'" in refused.stderr
    assert husk("pod", "exists", "bad").returncode == 1
    # a volume of the same name that kube play did not make keeps its files
    husk("volume", "create", "mine", check=True)
    theirs = _pod("theirs", [{"name": "c", "image": IMAGE, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                  [{"name": "v", "configMap": {"name": "mine"}}])
    (tmp_path / "theirs.yaml").write_text(yaml.safe_dump_all([{**config, "metadata": {"name": "mine"}}, theirs]))
    refused = husk("kube", "play", str(tmp_path / "theirs.yaml"))
    assert refused.returncode == 125 and "volume mine exists and kube play did not make it" in refused.stderr


def test_deployment_replicas_make_one_pod_each(husk, tmp_path):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                               {"name": "c", "image": IMAGE, "command": ["sleep", "600"]}]}}}}
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump(deployment))
    played = husk("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert husk("pod", "ps", "--format", "{{.Name}}", "--sort", "name", check=True).stdout.split() == \
        ["web-pod-0", "web-pod-1", "web-pod-2"]
    names = husk("ps", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(name for name in names if not name.endswith("-infra")) == ["web-pod-0-c", "web-pod-1-c",
                                                                           "web-pod-2-c"]
    down = husk("kube", "down", str(path), check=True).stdout
    assert down.count("\n") == 2 + 2 * 3
    assert husk("pod", "ps", "-q", check=True).stdout == ""


@needs_registry
def test_a_missing_image_is_pulled(husk, registry, tmp_path):
    registry.trust(husk)
    target = f"{registry.host}/kube/bb:1"
    husk("push", IMAGE, f"docker://{target}", check=True)
    pod = _pod("pulled", [{"name": "c", "image": target, "command": ["sleep", "600"]}])
    path = tmp_path / "pulled.yaml"
    path.write_text(yaml.safe_dump(pod))
    played = husk("kube", "play", str(path))
    assert played.returncode == 0, played.stderr
    assert husk("image", "exists", target).returncode == 0
    assert husk("inspect", "--format", "{{.State.Status}}", "pulled-c", check=True).stdout == "running\n"
    husk("kube", "down", str(path), check=True)
