"""Networks on real runtimes: the default bridge, published ports, DNS between
containers, the network verbs, crashes and reboots.  Traffic goes only to
loopback and to namespaces and bridges the test made; each installation has
its own subnets and bridges (husk.testing), and the `husk_envs` fixture fails
a test that leaves a namespace, bridge, rule or network behind."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time

from husk.testing import http_body

IMAGE = "busybox"
HTTPD = "echo served > /tmp/i; exec httpd -f -p 80 -h /tmp"


def _inspect(husk, name: str, template: str) -> str:
    return husk("inspect", "-f", template, name, check=True).stdout.strip()


def test_default_network_files_as_podman_writes_them(husk_rt):
    result = husk_rt("run", "--rm", "--network", "bridge", "--hostname", "box", "--name", "named", IMAGE,
                     "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; ip addr show eth0")
    assert result.returncode == 0, result.stderr
    hosts, resolv, addr = result.stdout.split("---\n")
    gateway = husk_rt.subnet(0).replace(".0/24", ".1")
    address = husk_rt.subnet(0).replace(".0/24", ".2")
    with open("/etc/hosts") as host_file:
        assert hosts == host_file.read().rstrip("\n") + f"\n{gateway}\thost.containers.internal\n{address}\tbox named\n"
    assert "nameserver 127." not in resolv
    assert f"inet {address}/24" in addr


def test_ps_inspect_and_port_show_published_ports(husk_rt):
    husk_rt("run", "-d", "--name", "web", "-p", "127.0.0.1::80", IMAGE, "sh", "-c", HTTPD, check=True)
    mapped = husk_rt("port", "web", check=True).stdout.strip()
    assert mapped.startswith("80/tcp -> 127.0.0.1:")
    port = int(mapped.rsplit(":", 1)[1])
    assert http_body("127.0.0.1", port) == b"served\n"
    assert husk_rt("ps", "--format", "{{.Ports}}", check=True).stdout.strip() == f"127.0.0.1:{port}->80/tcp"
    settings = json.loads(_inspect(husk_rt, "web", "{{json .NetworkSettings}}"))
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert settings["IPAddress"] == husk_rt.subnet(0).replace(".0/24", ".2")
    assert list(settings["Networks"]) == [husk_rt.default_network]
    assert os.path.exists(settings["SandboxKey"])
    husk_rt("rm", "-f", "-t", "0", "web", check=True)
    assert not os.path.exists(settings["SandboxKey"])


def test_published_port_reaches_from_a_namespace_the_test_made(husk, tmp_path):
    """-p on every address: reachable on the host side of a veth into a test namespace."""
    host_ip, peer_ip = husk.subnet(3).replace(".0/24", ".1"), husk.subnet(3).replace(".0/24", ".2")
    name = f"hkv{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth9", "netns", name], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_ip}/24", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", f"{peer_ip}/24", "dev", "eth9"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "eth9", "up"], check=True)
        husk("run", "-d", "--name", "web", "-p", "18980:80", IMAGE, "sh", "-c", HTTPD, check=True)
        fetch = ("import socket,sys,time\n"
                 "for _ in range(100):\n"
                 "    try:\n"
                 f"        c=socket.create_connection(('{host_ip}',18980),timeout=2); break\n"
                 "    except OSError: time.sleep(0.1)\n"
                 "c.sendall(b'GET /i HTTP/1.0\\r\\n\\r\\n'); d=b''\n"
                 "while (x:=c.recv(4096)): d+=x\n"
                 "sys.stdout.write(d.split(b'\\r\\n\\r\\n',1)[-1].decode())\n")
        done = subprocess.run(["ip", "netns", "exec", name, "python3", "-c", fetch], capture_output=True, text=True,
                              timeout=60)
        assert done.stdout == "served\n", done.stderr
    finally:
        husk("rm", "-f", "-t", "0", "web")
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_a_taken_port_is_refused_at_start_and_the_container_stays(husk):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        husk("create", "--name", "web", "-p", f"127.0.0.1:{port}:80", IMAGE, "true", check=True)
        result = husk("start", "web")
        assert result.returncode == 125
        assert (f"cannot listen on the TCP port: listen tcp4 127.0.0.1:{port}: bind: address already in use"
                in result.stderr)
    assert _inspect(husk, "web", "{{.State.Status}}") == "created"
    assert husk("start", "web").returncode == 0


def test_dns_between_containers_on_a_named_network(husk_rt):
    named = husk_rt.net_name("named")
    husk_rt("network", "create", *husk_rt.network_args(1), named, check=True)
    try:
        husk_rt("run", "-d", "--name", "server", "--network", named, "--network-alias", "web", IMAGE,
                "sh", "-c", HTTPD, check=True)
        for name in ("server", "web"):
            result = husk_rt("run", "--rm", "--network", named, IMAGE, "wget", "-qO-", f"http://{name}/i")
            assert result.stdout == "served\n", result.stderr
    finally:
        husk_rt("rm", "-af", "-t", "0")
        husk_rt("network", "rm", named)


def test_static_ip_and_a_taken_one(husk):
    wanted = husk.subnet(0).replace(".0/24", ".9")
    husk("run", "-d", "--name", "one", "--ip", wanted, IMAGE, "sleep", "100", check=True)
    assert _inspect(husk, "one", "{{.NetworkSettings.IPAddress}}") == wanted
    husk("create", "--name", "two", "--ip", wanted, IMAGE, "true", check=True)
    result = husk("start", "two")
    assert result.returncode == 125
    assert f"requested ip address {wanted} is already allocated to container ID" in result.stderr
    husk("rm", "-f", "-t", "0", "one", check=True)
    assert husk("start", "two").returncode == 0  # the address was freed with its container


def test_killed_monitor_and_container_leave_nothing_behind(husk_rt):
    husk_rt("run", "-d", "--name", "k", "-p", "127.0.0.1::80", IMAGE, "sleep", "1000", check=True)
    pid, monitor = (int(_inspect(husk_rt, "k", t)) for t in ("{{.State.Pid}}", "{{.State.ConmonPid}}"))
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert "Exited" in husk_rt("ps", "-a", "--format", "{{.Status}}", check=True).stdout
    assert os.listdir(os.path.join(husk_rt.runroot, "netns")) == []
    assert not os.path.exists(f"/sys/class/net/{husk_rt.bridge(0)}")


def test_a_reboot_tears_down_networks(husk):
    from husk.testing import _kill_monitors, _unmount_under

    husk("run", "-d", "--name", "r", "-p", "127.0.0.1::80", IMAGE, "sleep", "1000", check=True)
    pid = int(_inspect(husk, "r", "{{.State.Pid}}"))
    _kill_monitors(husk.runroot)
    os.kill(pid, signal.SIGKILL)
    _unmount_under(husk.runroot)
    subprocess.run(["rm", "-rf", husk.runroot], check=True)
    assert husk("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout == "r created\n"
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert husk.subnet(0).rsplit(".", 1)[0] + "." not in rules
    assert not os.path.exists(f"/sys/class/net/{husk.bridge(0)}")
    husk("start", "r", check=True)  # and it comes back with a network
    assert _inspect(husk, "r", "{{.NetworkSettings.IPAddress}}") == husk.subnet(0).replace(".0/24", ".2")


def test_network_verbs_as_podman(husk):
    n1, n3 = husk.net_name("n1"), husk.net_name("n3")
    created = husk("network", "create", *husk.network_args(1), "--label", "a=b", n1)
    assert (created.returncode, created.stdout) == (0, f"{n1}\n")
    again = husk("network", "create", *husk.network_args(2), n1)
    assert (again.returncode, again.stderr) == (125, f"Error: network name {n1} already used: network already exists\n")
    ipvlan = husk("network", "create", "--driver", "ipvlan", "n2")
    assert (ipvlan.returncode, ipvlan.stderr) == (125, "Error: unsupported driver ipvlan: invalid argument\n")
    assert husk("network", "ls", "-q").stdout == "".join(f"{n}\n" for n in sorted([n1, husk.default_network]))
    table = husk("network", "ls", check=True).stdout.splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER"]
    assert husk("network", "ls", "--filter", "label=a=b", "--format", "{{.Name}}").stdout == f"{n1}\n"
    document = json.loads(husk("network", "inspect", n1, check=True).stdout)[0]
    assert document["subnets"] == [{"subnet": husk.subnet(1), "gateway": husk.subnet(1).replace(".0/24", ".1")}]
    assert (document["network_interface"], document["dns_enabled"], document["labels"]) == (
        husk.bridge(1), True, {"a": "b"})
    # templates name podman's Go fields (types.Network, types.Subnet), not the JSON keys
    shown = husk("network", "inspect", "--format", "{{.Name}} {{.NetworkInterface}} {{range .Subnets}}{{.Gateway}}"
                 "{{end}} {{.Labels}} {{.DNSEnabled}} {{.IPAMOptions}}", n1, check=True).stdout
    assert shown == f"{n1} {husk.bridge(1)} {husk.subnet(1).replace('.0/24', '.1')} map[a:b] true " \
                    "map[driver:host-local]\n"
    assert husk("network", "exists", n1).returncode == 0
    assert husk("network", "exists", "nope").returncode == 1
    missing = husk("network", "inspect", "nope")
    assert missing.returncode == 125 and "unable to find network with name or ID nope" in missing.stderr
    husk("run", "-d", "--name", "user", "--network", n1, IMAGE, "sleep", "100", check=True)
    busy = husk("network", "rm", n1)
    assert busy.returncode != 0 and "has associated containers with it" in busy.stderr
    assert husk("network", "rm", "-f", "-t", "0", n1).stdout == f"{n1}\n"
    assert husk("ps", "-aq").stdout == ""
    gone = husk("network", "rm", n1)
    assert gone.returncode == 1
    husk("network", "create", *husk.network_args(2), n3, check=True)
    assert husk("network", "prune", "-f").stdout == f"{n3}\n"


def test_network_inspect_missing_names_as_podman(husk):
    """podman 4.3: the array ([] when nothing is found), then each missing name but the
    first as an `error` line and the first as the `Error:` line (exit 125)."""
    prefix = "inspecting object: network {0}: unable to find network with name or ID {0}: network not found"
    missing = husk("network", "inspect", "nope", "nope2")
    assert (missing.returncode, missing.stdout) == (125, "[]\n")
    assert missing.stderr.splitlines() == ["error " + prefix.format("nope2"), "Error: " + prefix.format("nope")]
    found = husk("network", "inspect", "--format", "{{.Name}}", "nope", husk.default_network)
    assert (found.returncode, found.stdout) == (125, f"{husk.default_network}\n")
    assert found.stderr == "Error: " + prefix.format("nope") + "\n"


def test_connect_and_disconnect_a_running_container(husk):
    extra = husk.net_name("extra")
    husk("network", "create", *husk.network_args(1), extra, check=True)
    try:
        husk("run", "-d", "--name", "c", IMAGE, "sleep", "100", check=True)
        husk("network", "connect", extra, "c", check=True)
        assert "eth1" in husk("exec", "c", "ip", "addr", "show", "eth1", check=True).stdout
        networks = json.loads(_inspect(husk, "c", "{{json .NetworkSettings.Networks}}"))
        assert sorted(networks) == sorted([extra, husk.default_network])
        assert networks[extra]["IPAddress"] == husk.subnet(1).replace(".0/24", ".2")
        husk("network", "disconnect", extra, "c", check=True)
        assert husk("exec", "c", "ip", "addr", "show", "eth1").returncode != 0
    finally:
        husk("rm", "-af", "-t", "0")
        husk("network", "rm", extra)


def test_network_none_and_host_are_unchanged(husk):
    assert husk("run", "--rm", "--network", "none", IMAGE, "ls", "/sys/class/net").stdout == "lo\n"
    refused = husk("run", "--rm", "--network", "none", "-p", "80", IMAGE, "true")
    assert refused.returncode == 125 and "need bridge networking" in refused.stderr


def test_reload_brings_back_flushed_port_rules(husk):
    husk("run", "-d", "--name", "web", "-p", "127.0.0.1::80", IMAGE, "sh", "-c", HTTPD, check=True)
    port = int(husk("port", "web", check=True).stdout.strip().rsplit(":", 1)[1])
    assert http_body("127.0.0.1", port) == b"served\n"
    rules = [line for line in subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True,
                                             text=True).stdout.splitlines() if f"{port}" in line]
    assert rules
    for rule in rules:  # only this container's port rules: what a firewall reload would lose
        subprocess.run(["iptables", "-t", "nat", *shlex.split("-D" + rule[2:])], check=True)
    assert husk("network", "reload", "web", check=True).stdout.strip() == _inspect(husk, "web", "{{.Id}}")
    assert http_body("127.0.0.1", port) == b"served\n"
    husk("rm", "-f", "-t", "0", "web", check=True)


def test_restore_keeps_the_address_and_mac_unless_told(husk_envs):
    runc = husk_envs("runc")
    runc("run", "-d", "--name", "c", IMAGE, "sleep", "1000", check=True)
    addresses = _inspect(runc, "c", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}")
    runc("container", "checkpoint", "c", check=True)
    assert os.listdir(os.path.join(runc.runroot, "netns")) == []
    runc("container", "restore", "c", check=True)
    assert _inspect(runc, "c", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}") == addresses
    runc("container", "checkpoint", "c", check=True)
    runc("container", "restore", "--ignore-static-mac", "c", check=True)
    ip, mac = _inspect(runc, "c", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}").split()
    assert ip == addresses.split()[0] and mac != addresses.split()[1]
    runc("rm", "-f", "-t", "0", "c", check=True)


def test_twenty_containers_started_at_once_get_twenty_addresses(husk):
    starting = [husk.popen("run", "-d", "--name", f"p{i}", IMAGE, "sleep", "1000", stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE) for i in range(20)]
    errors = [p.communicate(timeout=180)[1] for p in starting]
    assert [p.returncode for p in starting] == [0] * 20, errors
    addresses = husk("inspect", "-f", "{{.NetworkSettings.IPAddress}}", *[f"p{i}" for i in range(20)],
                     check=True).stdout.split()
    assert len(set(addresses)) == 20 and all(a.startswith(husk.subnet(0).rsplit(".", 1)[0]) for a in addresses)
    husk("rm", "-af", "-t", "0", check=True)


def test_dns_flags_and_add_host_as_podman_writes_them(husk):
    result = husk("run", "--rm", "--dns", "10.1.2.3", "--dns-search", "example.test", "--dns-option", "ndots:2",
                  "--add-host", "db:10.9.9.9", IMAGE, "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts")
    assert result.returncode == 0, result.stderr
    resolv, hosts = result.stdout.split("---\n")
    assert resolv == "search example.test\nnameserver 10.1.2.3\noptions ndots:2\n"
    assert "10.9.9.9\tdb\n" in hosts and hosts.index("db") < hosts.index("host.containers.internal")
    own = husk("run", "--rm", "--no-hosts", IMAGE, "cat", "/etc/hosts")
    assert "host.containers.internal" not in own.stdout
    bad = husk("run", "--rm", "--add-host", "db", IMAGE, "true")
    assert (bad.returncode, bad.stderr) == (125, 'Error: invalid IP address in add-host: "db"\n')
    refused = husk("run", "--rm", "--network", "none", "--dns", "10.1.2.3", IMAGE, "true")
    assert refused.returncode == 125 and "need bridge networking" in refused.stderr
