"""`generate kube` on real containers and pods: every document it writes is
valid Kubernetes (kubernetes-validate, strict: an unknown field is an error)
for the version husk names, and carries podman's mapping of the pod's and
its containers' settings."""

from __future__ import annotations

import kubernetes_validate
import yaml

from husk.presentation.kube import KUBERNETES_VERSION

IMAGE = "busybox"


def _documents(text: str) -> list[dict]:
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    return documents


def test_a_pod_with_ports_hosts_limits_and_volumes_is_a_valid_pod_and_service(husk, tmp_path):
    husk("volume", "create", "data", check=True)
    husk("pod", "create", "--name", "Web_1", "-p", "127.0.0.1:18082:80", "--add-host", "db.test:10.1.2.3",
         "--dns", "10.0.0.53", "--label", "tier=front", check=True)
    husk("create", "--pod", "Web_1", "--name", "srv", "-e", "MODE=prod", "-w", "/srv", "--cap-add", "NET_ADMIN",
         "--cap-drop", "CAP_MKNOD", "--memory", "64m", "--cpus", "0.5", "-u", "1000:1000", "--read-only",
         "-v", f"{tmp_path}:/conf:ro", "-v", "data:/data", "--tmpfs", "/scratch", "--restart", "always",
         IMAGE, "httpd", "-f", "-p", "80", check=True)
    husk("create", "--pod", "Web_1", "--name", "side", "--entrypoint", "sleep", IMAGE, "600", check=True)
    out_file = tmp_path / "web.yaml"
    husk("kube", "generate", "--service", "-f", str(out_file), "Web_1", check=True)
    text = out_file.read_text()
    assert text.startswith("# Save the output of this file and use kubectl create -f to import\n")
    pod, service = _documents(text)
    assert (pod["kind"], pod["metadata"]["name"]) == ("Pod", "web-1")
    assert pod["metadata"]["labels"] == {"app": "web-1", "tier": "front"}
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["hostAliases"] == [{"ip": "10.1.2.3", "hostnames": ["db.test"]}]
    assert spec["dnsConfig"] == {"nameservers": ["10.0.0.53"]}
    srv, side = spec["containers"]
    assert srv["name"] == "srv" and srv["image"] == "localhost/busybox:latest"
    assert "command" not in srv and srv["args"] == ["httpd", "-f", "-p", "80"]
    assert {"name": "MODE", "value": "prod"} in srv["env"] and srv["workingDir"] == "/srv"
    assert srv["ports"] == [{"containerPort": 80, "hostPort": 18082, "hostIP": "127.0.0.1"}]
    assert srv["resources"] == {"limits": {"memory": str(64 * 1024 * 1024), "cpu": "500m"}}
    assert srv["securityContext"] == {"readOnlyRootFilesystem": True, "runAsUser": 1000, "runAsGroup": 1000,
                                      "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in srv["volumeMounts"]}
    assert volumes[mounts["/conf"]["name"]]["hostPath"] == {"path": str(tmp_path), "type": "Directory"}
    assert mounts["/conf"]["readOnly"] is True
    assert volumes[mounts["/data"]["name"]]["persistentVolumeClaim"] == {"claimName": "data"}
    assert volumes[mounts["/scratch"]["name"]]["emptyDir"] == {"medium": "Memory"}
    assert side["command"] == ["sleep"] and side["args"] == ["600"] and "ports" not in side
    assert service["kind"] == "Service" and service["spec"]["selector"] == {"app": "web-1"}
    assert service["spec"]["ports"] == [{"name": "18082-tcp", "port": 18082, "protocol": "TCP", "targetPort": 80}]
    husk("pod", "rm", "-f", "-t", "0", "Web_1", check=True)


def test_containers_outside_pods_become_one_pod(husk):
    husk("create", "--name", "alone", "--network", "none", IMAGE, "true", check=True)
    husk("create", "--name", "other", "--network", "none", "--restart", "on-failure", IMAGE, check=True)
    (pod,) = _documents(husk("generate", "kube", "alone", "other", check=True).stdout)
    assert pod["metadata"]["name"] == "alone-pod"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["alone", "other"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "args" not in pod["spec"]["containers"][1]  # the image's CMD: nothing to say
    missing = husk("generate", "kube", "nope")
    assert missing.returncode == 125 and "nope does not refer to a container, pod or volume" in missing.stderr
    assert husk("generate", "kube").returncode == 125


def test_volumes_become_claims_and_deployments_wrap_the_pod(husk):
    husk("volume", "create", "--label", "k=v", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "cache",
         check=True)
    (claim,) = _documents(husk("generate", "kube", "cache", check=True).stdout)
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["name"] == "cache"
    assert claim["metadata"]["labels"] == {"k": "v"}
    assert claim["metadata"]["annotations"] == {"volume.podman.io/driver": "local", "volume.podman.io/type": "tmpfs",
                                                "volume.podman.io/device": "tmpfs",
                                                "volume.podman.io/mount-options": "size=1m"}
    husk("pod", "create", "--name", "dep", "--network", "none", check=True)
    husk("create", "--pod", "dep", "--name", "worker", "-v", "cache:/cache", IMAGE, "sleep", "600", check=True)
    claim, deployment = _documents(husk("generate", "kube", "--type", "deployment", "cache", "dep", check=True).stdout)
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["name"] == "dep-deployment"
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "dep"}}
    template = deployment["spec"]["template"]
    assert template["spec"]["restartPolicy"] == "Always"
    assert template["spec"]["containers"][0]["name"] == "worker"
    assert husk("generate", "kube", "--type", "job", "dep").returncode == 125
    husk("pod", "rm", "-f", "-t", "0", "dep", check=True)
