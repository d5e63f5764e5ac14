"""`--network slirp4netns:OPTIONS` (root here, where /dev/net/tun opens): the
options reach slirp4netns, and a bad one is refused at create with the same
line by the CLI, the libpod API (podman-remote's network_options) and the
Docker API (NetworkMode)."""

from __future__ import annotations

from husk.testing import IMAGE


def test_options_reach_slirp4netns(husk):
    ran = husk("run", "--rm", "--network", "slirp4netns:mtu=1500,cidr=10.9.0.0/24", "busybox",
               "sh", "-c", "cat /sys/class/net/tap0/mtu; ip -4 -o addr show tap0")
    assert ran.returncode == 0, ran.stderr
    mtu, address = ran.stdout.splitlines()
    assert mtu == "1500" and "inet 10.9.0.100/24" in address, ran.stdout


def test_a_bad_option_is_refused_at_create_by_the_cli_and_the_apis(api_crun):
    cli = api_crun.env("create", "--network", "slirp4netns:mtu=1500,foo", "busybox", "true")
    assert (cli.returncode, cli.stdout, cli.stderr) == (125, "", 'Error: unknown option for slirp4netns: "foo"\n')
    status, _, document = api_crun.request("POST", "/v4.3.1/libpod/containers/create", {
        "image": "busybox", "command": ["true"], "netns": {"nsmode": "slirp4netns"},
        "network_options": {"slirp4netns": ["mtu=abc"]}})
    assert (status, document["message"]) == (400, 'invalid mtu "abc"')
    status, _, document = api_crun.request("POST", "/v1.41/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "slirp4netns:allow_host_loopback=x"}})
    assert (status, document["message"]) == (400, 'invalid value of allow_host_loopback for slirp4netns: "x"')
    assert api_crun.env("ps", "-aq").stdout == ""


def test_podman_s_client_sends_the_options_the_service_checks(api_crun):
    """podman 4.3's client sends `--network slirp4netns:OPTIONS` as network_options, which the
    service dropped: now a bad one is refused with the CLI's line, a good one is kept."""
    import shutil
    import subprocess

    import pytest

    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman (the reference) is in contrib/test-packages.txt")

    def remote(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", *args],
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())

    bad = remote("create", "--network", "slirp4netns:mtu=abc", IMAGE, "true")
    assert bad.returncode != 0 and 'invalid mtu "abc"' in bad.stderr, bad.stderr
    good = remote("create", "--name", "slirp-remote", "--network", "slirp4netns:mtu=1500,enable_ipv6=true",
                  IMAGE, "true")
    assert good.returncode == 0, good.stderr
    assert api_crun.env.runtime().container("slirp-remote").config.network == "slirp4netns:mtu=1500,enable_ipv6=true"
