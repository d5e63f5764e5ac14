"""The /networks routes and networking at create, through the docker CLI, the
docker SDK and podman-py.  Only loopback and the installation's own subnets."""

from __future__ import annotations

import json
import socket

import pytest

from husk.testing import http_body, needs_docker_cli

docker = pytest.importorskip("docker")
podman = pytest.importorskip("podman")

HTTPD = "echo served > /tmp/i; exec httpd -f -p 80 -h /tmp"


@needs_docker_cli
def test_docker_cli_networks_and_published_port(api):
    env = api.env
    listing = api.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert listing.stdout.decode() == "bridge bridge\n", listing.stderr
    web = env.net_name("web")
    made = api.docker("network", "create", "--subnet", env.subnet(1), "-o",
                      f"com.docker.network.bridge.name={env.bridge(1)}", web)
    assert made.returncode == 0, made.stderr
    run = api.docker("run", "-d", "--name", "w", "--network", web, "-p", "127.0.0.1::80", "busybox",
                     "sh", "-c", HTTPD)
    assert run.returncode == 0, run.stderr
    port = int(api.docker("port", "w", "80/tcp").stdout.decode().strip().rsplit(":", 1)[1])
    assert http_body("127.0.0.1", port) == b"served\n"
    document = json.loads(api.docker("network", "inspect", web).stdout)[0]
    assert document["IPAM"]["Config"] == [{"Subnet": env.subnet(1), "Gateway": env.subnet(1).replace(".0/24", ".1")}]
    assert [c["Name"] for c in document["Containers"].values()] == ["w"]
    assert api.docker("network", "connect", "bridge", "w").returncode == 0
    networks = json.loads(api.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "w").stdout)
    assert sorted(networks) == sorted(["bridge", web])
    assert api.docker("network", "disconnect", web, "w").returncode == 0
    assert api.docker("rm", "-f", "w").returncode == 0
    assert api.docker("network", "rm", web).returncode == 0
    assert api.docker("network", "ls", "-q").stdout.decode().count("\n") == 1


def test_docker_sdk_network_and_ports(api_crun):
    env = api_crun.env
    client = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=env.subnet(2))])
    name = env.net_name("sdknet")
    network = client.networks.create(name, driver="bridge", ipam=ipam,
                                     options={"com.docker.network.bridge.name": env.bridge(2)})
    try:
        container = client.containers.run("busybox", ["sh", "-c", HTTPD], detach=True, network=name,
                                          ports={"80/tcp": ("127.0.0.1", None)})
        container.reload()
        binding = container.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1"
        assert http_body("127.0.0.1", int(binding["HostPort"])) == b"served\n"
        assert container.attrs["NetworkSettings"]["Networks"][name]["IPAddress"] == env.subnet(2).replace(
            ".0/24", ".2")
        network.reload()
        assert [c.name for c in network.containers] == [container.name]
        container.remove(force=True)
    finally:
        network.remove()
    assert [n.name for n in client.networks.list()] == ["bridge"]


def test_podman_py_networks(api_crun):
    env = api_crun.env
    client = podman.PodmanClient(base_url=f"http+unix://{api_crun.socket_path}", timeout=120)
    name = env.net_name("pynet")
    response = api_crun.request("POST", "/v4.0.0/libpod/networks/create",
                                {"name": name, "network_interface": env.bridge(1),
                                 "subnets": [{"subnet": env.subnet(1)}]})
    assert response[0] == 200, response[2]
    assert client.networks.exists(name)
    assert sorted(n.name for n in client.networks.list()) == sorted([env.default_network, name])
    assert client.networks.get(name).attrs["subnets"][0]["subnet"] == env.subnet(1)
    client.networks.get(name).remove()
    assert not client.networks.exists(name)


def test_podman_py_run_with_a_published_port(api_crun):
    client = podman.PodmanClient(base_url=f"http+unix://{api_crun.socket_path}", timeout=120)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    container = client.containers.run("busybox", ["sh", "-c", HTTPD], detach=True, ports={"80/tcp": ("127.0.0.1", port)})
    try:
        container.reload()
        assert container.attrs["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert http_body("127.0.0.1", port) == b"served\n"
    finally:
        container.remove(force=True)


@needs_docker_cli
def test_docker_run_dns_and_extra_hosts(api_crun):
    done = api_crun.docker("run", "--rm", "--dns", "10.1.2.3", "--add-host", "db:10.9.9.9", "busybox",
                           "sh", "-c", "cat /etc/resolv.conf /etc/hosts")
    assert done.returncode == 0, done.stderr
    assert b"nameserver 10.1.2.3\n" in done.stdout and b"10.9.9.9\tdb\n" in done.stdout
