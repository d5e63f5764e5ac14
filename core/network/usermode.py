"""User-mode networking: `--network slirp4netns` and `--network pasta` (issue 18).

A rootless user cannot make veths or bridges, so podman connects a rootless
container's network namespace to the host through a program in user space:
slirp4netns (podman 4.3's default) or pasta (Debian's passt).  Either opens a
tap device in the namespace and forwards its traffic through ordinary sockets
of the host.  husk starts it at init, in a session of its own so that it
outlives the command, with the namespace husk made (husk.network.netns), and
keeps its pid (and its output) in the container's run directory; cleanup kills it.

Both need /dev/net/tun.  On hosts that deny it to unprivileged users (mode
0600, as on these machines) they fail with `open("/dev/net/tun"): Permission
denied`; the error then says that this is the cause and what works instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument

if TYPE_CHECKING:
    from ..state.records import PortMapping

PID_FILE = "usermode-net.pid"
API_SOCKET = "slirp4netns.sock"


def start(mode: str, netns_path: str, run_dir: str, ports: "list[PortMapping]" = ()) -> None:
    """Connect the namespace at `netns_path` with the program `mode` names (its options after a colon
    are not supported yet) and forward the published `ports` (slirp4netns only); returns once the tap
    device is up and the ports forwarded."""
    kind, _, options = mode.partition(":")
    if options and kind == "pasta":
        raise HuskError(f"--network {kind}: options ({options}) are not supported yet")
    if ports and kind == "pasta":
        raise HuskError("--network pasta: published ports are not supported yet (use slirp4netns)")
    program = shutil.which(kind)
    if program is None:
        package = "slirp4netns" if kind == "slirp4netns" else "passt"
        raise HuskError(f"--network {kind}: {kind} is not installed (Debian's {package} package)")
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    log = os.path.join(run_dir, "usermode-net.log")
    pid_file = os.path.join(run_dir, PID_FILE)
    with open(log, "wb") as out:
        if kind == "pasta":  # pasta forks itself into the background once the namespace is configured
            argv = [program, "--config-net", "--quiet", "--pid", pid_file, "--netns", netns_path]
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  start_new_session=True).returncode
            if code == 0:
                return
        else:
            ready_r, ready_w = os.pipe()
            argv = [program, "--configure", *slirp4netns_flags(options), "--enable-sandbox",
                    "--enable-seccomp", f"--ready-fd={ready_w}", "--netns-type=path", netns_path, "tap0"]
            if ports:  # relative: the run directory's path may be too long for a unix socket's
                argv[1:1] = [f"--api-socket={API_SOCKET}"]
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, pass_fds=(ready_w,),
                                       start_new_session=True, cwd=run_dir)
            os.close(ready_w)
            with os.fdopen(ready_r, "rb") as ready:
                answered = ready.read(1) == b"1"  # EOF: it exited before configuring the device
            if answered:
                with open(pid_file, "w") as handle:
                    handle.write(str(process.pid))
                try:
                    _forward(run_dir, ports)
                except BaseException:
                    stop(run_dir)
                    raise
                return
            process.kill()
            process.wait()
    raise HuskError(_failure(kind, log))


def slirp4netns_flags(options: str) -> list[str]:
    """`--network slirp4netns:OPTIONS` (podman's names, comma-separated) as
    slirp4netns's flags, with podman 4.3's messages for a bad one.  create
    checks them (the CLI's and the APIs' alike, through
    husk.network.networks.parse_mode), so a bad option is refused there, not
    only at start as podman refuses it.  husk forwards ports through
    slirp4netns itself: `port_handler=rootlesskit` is refused."""
    from ..formats.gofmt import go_quote

    mtu, loopback, extra = "65520", False, []
    for option in options.split(",") if options else []:
        name, sep, value = option.partition("=")
        quoted = go_quote(value)
        if not sep or name not in _SLIRP4NETNS_OPTIONS:
            raise InvalidArgument(f"unknown option for slirp4netns: {go_quote(option)}")
        if name == "mtu":
            digits = value[1:] if value[:1] in ("+", "-") else value
            if not (digits.isascii() and digits.isdigit()) or int(value) < 68:
                raise InvalidArgument(f"invalid mtu {quoted}")
            mtu = str(int(value))
        elif name in ("allow_host_loopback", "enable_ipv6"):
            if value not in ("true", "false"):
                raise InvalidArgument(f"invalid value of {name} for slirp4netns: {quoted}")
            if name == "allow_host_loopback":
                loopback = value == "true"
            elif value == "true":
                extra.append("--enable-ipv6")
        elif name == "port_handler":
            if value == "rootlesskit":
                raise InvalidArgument("port_handler=rootlesskit is not supported: husk forwards ports through slirp4netns")
            if value != "slirp4netns":
                raise InvalidArgument(f"unknown port_handler for slirp4netns: {quoted}")
        elif name == "cidr":
            if "/" not in value or _address(value, network=True) != 4:
                raise InvalidArgument(f"invalid cidr {quoted}")
            extra.append(f"--cidr={value}")
        else:  # outbound_addr (an IPv4 address) or outbound_addr6 (IPv6), or a host interface's name
            version = 4 if name == "outbound_addr" else 6
            if _address(value) != version and not _interface(value):
                raise InvalidArgument(f"invalid outbound_addr {quoted}" if version == 4 else f"invalid outbound_addr6: {quoted}")
            extra.append(f"--{name.replace('_', '-')}={value}")
    return [f"--mtu={mtu}", *([] if loopback else ["--disable-host-loopback"]), *extra]


_SLIRP4NETNS_OPTIONS = ("mtu", "allow_host_loopback", "enable_ipv6", "port_handler", "cidr",
                        "outbound_addr", "outbound_addr6")


def _address(text: str, network: bool = False) -> int | None:
    """The IP version of an address (or, with `network`, an address/prefix), None if it is neither."""
    import ipaddress

    try:
        return (ipaddress.ip_network(text, strict=False) if network else ipaddress.ip_address(text)).version
    except ValueError:
        return None


def _interface(name: str) -> bool:
    """Whether the host has a network interface of that name."""
    import socket

    try:
        socket.if_nametoindex(name)
    except (OSError, ValueError):
        return False
    return True


def _forward(run_dir: str, ports: "list[PortMapping]") -> None:
    """Ask slirp4netns (its API socket, one JSON request a connection) to forward each published port
    from the host to the container's address."""
    import json
    import socket

    directory = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for mapping in ports:
            if mapping.protocol not in ("tcp", "udp"):
                raise HuskError(f"--network slirp4netns: cannot publish {mapping.protocol} ports")
            for offset in range(mapping.range):
                request = {"execute": "add_hostfwd", "arguments": {
                    "proto": mapping.protocol, "host_addr": mapping.host_ip or "0.0.0.0",
                    "host_port": mapping.host_port + offset, "guest_port": mapping.container_port + offset}}
                with socket.socket(socket.AF_UNIX) as connection:
                    connection.settimeout(30)
                    connection.connect(f"/proc/self/fd/{directory}/{API_SOCKET}")
                    connection.sendall(json.dumps(request).encode())
                    connection.shutdown(socket.SHUT_WR)
                    answer = json.loads(connection.makefile("rb").read() or b"{}")
                if "error" in answer or "return" not in answer:
                    raise HuskError(f"slirp4netns: publishing port {mapping.host_port + offset}: "
                                    f"{answer.get('error', {}).get('desc', 'no answer')}")
    finally:
        os.close(directory)


def _failure(kind: str, log: str) -> str:
    """One line: what the program said, and the cause when it is the tun device."""
    with open(log, errors="replace") as handle:
        said = "; ".join(line.strip() for line in handle  # less the noise: warnings, pasta's lost syslog lines
                         if line.strip() and not line.startswith(("WARNING", "Failed to send")))
    message = f"{kind} failed: {said or 'no reason given'}"
    if "/dev/net/tun" in said or "open tun" in said:  # slirp4netns's words, pasta's
        message += (" (this user may not open /dev/net/tun, which user-mode networking needs: "
                    "use --network none or --network host)")
    return message


def stop(run_dir: str) -> None:
    """Kill the program that serves the container's namespace, if one does."""
    pid_file = os.path.join(run_dir, PID_FILE)
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        os.unlink(pid_file)
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/comm") as handle:
            if handle.read().strip() not in ("slirp4netns", "pasta", "passt"):
                return  # gone, and its pid reused
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ProcessLookupError):
        pass
