"""Issue 13's leftovers on real runtimes: `-P` with the image's EXPOSE and
`--expose`, and the network modes that join another namespace (`container:NAME`,
`ns:PATH`).  Traffic goes only to loopback and to namespaces the test made; the
`husk_envs` fixture fails a test that leaves a namespace, bridge, rule or network
behind."""

from __future__ import annotations

import json

from husk.testing import http_body

IMAGE = "busybox"
HTTPD = "echo served > /tmp/i; exec httpd -f -p 80 -h /tmp"


def _inspect(husk, name: str, template: str) -> str:
    return husk("inspect", "-f", template, name, check=True).stdout.strip()


def _exposing_image(husk) -> str:
    """An image whose config exposes 80/tcp (EXPOSE through commit --change)."""
    husk("create", "--name", "base", IMAGE, "true", check=True)
    husk("commit", "-q", "--change", "EXPOSE 80", "base", "exposing:1", check=True)
    husk("rm", "base", check=True)
    return "exposing:1"


def test_publish_all_publishes_the_images_and_expose_ports_on_free_host_ports(husk_rt):
    image = _exposing_image(husk_rt)
    exposed = json.loads(husk_rt("image", "inspect", "-f", "{{json .Config.ExposedPorts}}", image,
                                 check=True).stdout)
    assert exposed == {"80/tcp": {}}
    husk_rt("run", "-d", "--name", "web", "-P", "--expose", "90-91/udp", image, "sh", "-c", HTTPD, check=True)
    lines = husk_rt("port", "web", check=True).stdout.split("\n")
    mapped = dict(line.split(" -> ") for line in lines if line)
    assert sorted(mapped) == ["80/tcp", "90/udp", "91/udp"]
    assert all(address.startswith("0.0.0.0:") for address in mapped.values())
    ports = {int(address.rsplit(":", 1)[1]) for address in mapped.values()}
    assert len(ports) == 3 and all(port > 1024 for port in ports)
    assert http_body("127.0.0.1", int(mapped["80/tcp"].rsplit(":", 1)[1]), timeout=60) == b"served\n"
    husk_rt("rm", "-f", "-t", "0", "web", check=True)


def test_expose_without_publish_all_only_shows_in_inspect(husk_rt):
    image = _exposing_image(husk_rt)
    husk_rt("create", "--name", "quiet", "--expose", "8080", "-p", "127.0.0.1::90", image, "true", check=True)
    ports = json.loads(_inspect(husk_rt, "quiet", "{{json .NetworkSettings.Ports}}"))
    assert ports["80/tcp"] is None and ports["8080/tcp"] is None
    assert [binding["HostIp"] for binding in ports["90/tcp"]] == ["127.0.0.1"]
    assert husk_rt("port", "quiet", check=True).stdout.count("\n") == 1
    refused = husk_rt("create", "--expose", "80/icmp", IMAGE, "true")
    assert refused.returncode == 125 and 'invalid protocol "icmp"' in refused.stderr
    husk_rt("rm", "quiet", check=True)


def test_network_container_joins_its_namespace_and_files(husk_rt):
    husk_rt("run", "-d", "--name", "web", IMAGE, "sh", "-c", HTTPD, check=True)
    address = _inspect(husk_rt, "web", "{{.NetworkSettings.IPAddress}}")
    joined = husk_rt("run", "--rm", "--network", "container:web", IMAGE, "sh", "-c",
                     "for i in $(seq 300); do wget -qO- http://127.0.0.1/i && break; sleep 0.2; done; "
                     "ip -4 addr show eth0; echo ---; cat /etc/hosts")
    assert joined.returncode == 0, joined.stderr
    served, _, hosts = joined.stdout.partition("---\n")
    assert served.startswith("served\n") and f"inet {address}/24" in served
    assert hosts.endswith(f"{address}\t{_inspect(husk_rt, 'web', '{{.Id}}')[:12]} web\n")
    husk_rt("create", "--name", "follower", "--network", "container:web", IMAGE, "true", check=True)
    assert _inspect(husk_rt, "follower", "{{.HostConfig.NetworkMode}}").startswith("container:")
    husk_rt("stop", "-t", "0", "web", check=True)
    refused = husk_rt("rm", "web")
    assert refused.returncode == 125 and "has dependent containers" in refused.stderr
    stopped = husk_rt("start", "follower")  # its namespace's owner is started first, as podman does
    assert stopped.returncode == 0, stopped.stderr
    assert _inspect(husk_rt, "web", "{{.State.Status}}") == "running"
    husk_rt("rm", "-f", "-t", "0", "follower", "web", check=True)
    missing = husk_rt("create", "--network", "container:nosuch", IMAGE, "true")
    assert missing.returncode == 125 and "nosuch" in missing.stderr


def test_network_ns_path_joins_a_namespace_the_test_made(husk_rt):
    import os
    import subprocess

    name = f"hkns{os.getpid() % 100000}{husk_rt.runtime_name}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "hka0", "type", "veth", "peer", "name", "hkb0"], check=True)
        result = husk_rt("run", "--rm", "--network", f"ns:/run/netns/{name}", IMAGE, "ls", "/sys/class/net")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["hka0", "hkb0", "lo"]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
    refused = husk_rt("create", "--network", "ns:/run/netns/hk-none-such", IMAGE, "true")
    assert refused.returncode == 125 and "cannot find specified network namespace path" in refused.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_restore_publish_replaces_the_ports(husk_envs):
    """restore --publish (issue 13 item 7), on runc (crun here cannot checkpoint)."""
    import socket

    runc = husk_envs("runc")
    old, new = _free_port(), _free_port()
    runc("run", "-d", "--name", "c", "-p", f"127.0.0.1:{old}:80", IMAGE, "sleep", "1000", check=True)
    runc("container", "checkpoint", "c", check=True)
    runc("container", "restore", "--publish", f"127.0.0.1:{new}:80", "c", check=True)
    assert runc("port", "c", check=True).stdout == f"80/tcp -> 127.0.0.1:{new}\n"
    runc("exec", "-d", "c", "sh", "-c", HTTPD, check=True)
    assert http_body("127.0.0.1", new, timeout=60) == b"served\n"
    with socket.socket() as probe:  # the old port's forwarding went with the old set-up
        probe.settimeout(5)
        assert probe.connect_ex(("127.0.0.1", old)) != 0
    runc("rm", "-f", "-t", "0", "c", check=True)
    runc("run", "-d", "--name", "none", "--network", "none", IMAGE, "sleep", "1000", check=True)
    runc("container", "checkpoint", "none", check=True)
    refused = runc("container", "restore", "--publish", "8080:80", "none")
    assert refused.returncode == 125 and "--publish needs bridge networking" in refused.stderr
    runc("rm", "-f", "-t", "0", "none", check=True)


def test_a_dump_failing_where_criu_cannot_dump_tcp_says_why(husk_envs):
    """On Linux >= 6.16 with CRIU < 4.2, CRIU fails on every TCP socket
    (SO_PASSCRED is refused on them): a dump that fails on a socket says why,
    with or without --tcp-established, and the container runs on."""
    import pytest
    from husk_criu.checkpoint import inet_sockets_blocked

    if not inet_sockets_blocked():
        pytest.skip("CRIU can dump TCP sockets on this host")
    runc = husk_envs("runc")
    runc("run", "-d", "--name", "web", IMAGE, "sh", "-c", HTTPD, check=True)
    for _ in range(600):  # httpd listening: its socket is what CRIU cannot read
        if runc("exec", "web", "sh", "-c", "netstat -ltn | grep -q ':80 '").returncode == 0:
            break
    for flags in (["--tcp-established"], []):
        failed = runc("container", "checkpoint", *flags, "web")
        assert failed.returncode != 0 and "criu#2718" in failed.stderr, flags
        assert _inspect(runc, "web", "{{.State.Status}}") == "running"
    runc("rm", "-f", "-t", "0", "web", check=True)


def test_docker_sdk_publish_all_ports_publishes_the_images_exposed_ports(api_crun):
    """HostConfig.PublishAllPorts: the image's EXPOSE and Config.ExposedPorts, as Docker publishes them."""
    import docker

    env = api_crun.env
    _exposing_image(env)
    client = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    container = client.containers.run("exposing:1", ["sh", "-c", HTTPD], detach=True, publish_all_ports=True,
                                      ports={"90/udp": None})
    try:
        container.reload()
        ports = container.attrs["NetworkSettings"]["Ports"]
        assert sorted(ports) == ["80/tcp", "90/udp"]
        assert container.attrs["Config"]["ExposedPorts"] == {"80/tcp": {}, "90/udp": {}}
        host_port = int(ports["80/tcp"][0]["HostPort"])
        assert http_body("127.0.0.1", host_port, timeout=60) == b"served\n"
    finally:
        container.remove(force=True)
