"""netavark, podman's network tool, as husk's network backend.

netavark wires a network namespace to bridge or macvlan networks, writes the
firewall rules (masquerade, port forwarding) and starts aardvark-dns for
networks with DNS.  It reads one JSON document on stdin (the container, its
networks' definitions and its addresses: husk does the IPAM) and answers the
status of each network.  Debian installs it in /usr/lib/podman, off PATH, so
it is found as podman finds its helper binaries: the `helper_binaries_dir`
list of containers.conf, else podman's default list.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess

from husk.define import HOST_DIR, HuskError
from husk.hooks import hookimpl
from husk.network.backend import NetworkBackend

#: podman's default helper_binaries_dir (containers.conf)
DEFAULT_HELPER_DIRS = ("/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman")


def containers_conf_files() -> list[str]:
    """containers.conf in the order podman reads it (later keys win)."""
    files = ["/usr/share/containers/containers.conf", "/etc/containers/containers.conf",
             *sorted(glob.glob("/etc/containers/containers.conf.d/*.conf"))]
    if os.environ.get("CONTAINERS_CONF"):
        files.append(os.environ["CONTAINERS_CONF"])
    return files


@functools.cache
def helper_dirs() -> tuple[str, ...]:
    """The last `[engine] helper_binaries_dir` set in containers.conf, else podman's default."""
    import tomllib

    found = None
    for path in containers_conf_files():
        try:
            with open(path, "rb") as handle:
                dirs = tomllib.load(handle).get("engine", {}).get("helper_binaries_dir")
        except (OSError, ValueError):
            continue
        if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs):
            found = tuple(dirs)
    return found or DEFAULT_HELPER_DIRS


def find_helper(name: str) -> str | None:
    """The first executable `name` in the helper directories."""
    for directory in helper_dirs():
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


#: serialises every netavark run on the host (see Netavark._run); in husk's
#: host directory, which only root can write (not /run/lock, where anyone may
#: plant a symlink, nor a run root, which other installations do not share)
HOST_LOCK_DIR = HOST_DIR


class Netavark(NetworkBackend):
    name = "netavark"

    def __init__(self, run_dir: str) -> None:
        super().__init__(run_dir)
        self.binary = find_helper("netavark") or ""
        self.aardvark = find_helper("aardvark-dns") or ""

    def _run(self, verb: str, netns: str, options: dict) -> str:
        if not self.binary:
            raise HuskError("netavark was not found in the helper binary directories "
                            f"({', '.join(helper_dirs())}): install the netavark package")
        argv = [self.binary, "--config", self.run_dir, "--rootless", "false"]
        if self.aardvark:
            argv += ["--aardvark-binary", self.aardvark]
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        # One netavark at a time on the host: a teardown decides whether it was
        # the bridge's last user from what it sees, and two at once both keep (or
        # both drop) the network's firewall rules; and netavarks of different
        # installations (other run roots) edit the one firewall of the host, where
        # concurrent edits left network rules behind under load.  flock(1) holds
        # the lock until netavark ends, even when this husk is killed mid-run (an
        # orphaned setup beside the next teardown re-added rules it had removed),
        # and -o keeps it from aardvark-dns, which netavark leaves running.
        os.makedirs(HOST_LOCK_DIR, mode=0o700, exist_ok=True)
        done = subprocess.run(["flock", "-o", os.path.join(HOST_LOCK_DIR, "netavark.lock"), *argv, verb, netns],
                              input=json.dumps(options).encode(), capture_output=True, timeout=120)
        if done.returncode != 0:
            raise HuskError(f"netavark {verb}: {_error_text(done.stdout, done.stderr)}")
        return done.stdout.decode()

    def setup(self, netns: str, options: dict) -> dict:
        return json.loads(self._run("setup", netns, options))

    def teardown(self, netns: str, options: dict) -> None:
        """netavark stops at an interface that is gone (a namespace made again
        empty after a reboot or a crash, a bridge removed with the previous
        container) before it removes the firewall rules; placeholders with the
        interfaces' names let it go on (veths go with the namespace, and
        netavark removes a bridge left empty)."""
        try:
            self._run("teardown", netns, options)
        except HuskError as exc:
            if "No such device" not in str(exc):
                raise
            for index, (name, per_network) in enumerate(options["networks"].items()):
                subprocess.run(["nsenter", f"--net={netns}", "ip", "link", "add", per_network["interface_name"],
                                "type", "veth", "peer", "name", f"husk-gone{index}"], capture_output=True, timeout=30)
                bridge = options["network_info"][name].get("network_interface")
                if options["network_info"][name].get("driver") == "bridge" and bridge and not os.path.exists(
                        f"/sys/class/net/{bridge}"):
                    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], capture_output=True, timeout=30)
            self._run("teardown", netns, options)


def _error_text(stdout: bytes, stderr: bytes) -> str:
    """netavark's error: a JSON {"error": ...} on stdout, else its stderr's last line."""
    try:
        return json.loads(stdout)["error"]
    except (ValueError, KeyError, TypeError):
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "failed"


@hookimpl
def husk_register_network_backends(register):
    register(Netavark.name, Netavark)
