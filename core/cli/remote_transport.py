"""Reaching an API service: `unix://PATH`, `tcp://HOST:PORT` and
`ssh://USER@HOST[:PORT]/PATH/TO/SOCKET`.

ssh runs the `ssh` binary (the user's own keys, agent and config apply) with
BatchMode (never a password prompt), StrictHostKeyChecking=yes (an unknown or
changed host key is refused, as podman does) and OpenSSH's stream-local
forwarding of a private local socket to the remote one (`-L LOCAL:REMOTE`).
One ssh process serves the whole command, however many requests it makes;
nothing is needed on the remote host beyond sshd and the service's socket.
$XDG_CONFIG_HOME/husk/ssh_config, when present, is ssh's config file for
husk's destinations (instead of ~/.ssh/config).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..define import HuskError, InvalidArgument

#: how long ssh has to log in and set up the forwarding
SSH_SETUP_SECONDS = 30.0


class RemoteError(HuskError):
    """The service cannot be reached (podman's `unable to connect to Podman socket`)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0
    user: str = ""


def parse(uri: str) -> Target:
    """A destination URI, checked (one line for anything else)."""
    parts = urlsplit(uri)
    try:
        port = parts.port or 0
    except ValueError:
        raise InvalidArgument(f"invalid port in connection URI {uri!r}") from None
    if parts.scheme == "unix" and parts.path:
        return Target("unix", path=unquote(parts.path))
    if parts.scheme == "tcp" and parts.hostname and port:
        return Target("tcp", host=parts.hostname, port=port)
    if parts.scheme == "ssh" and parts.hostname and parts.path:
        return Target("ssh", path=unquote(parts.path), host=parts.hostname, port=port or 22,
                      user=unquote(parts.username or ""))
    raise InvalidArgument(f"invalid connection URI {uri!r}: use unix:///PATH, tcp://HOST:PORT or "
                          "ssh://USER@HOST[:PORT]/PATH/TO/SOCKET")


class Channel:
    """Opens connections to one target; ssh's tunnel lives until :meth:`close`."""

    def __init__(self, uri: str, identity: str = "") -> None:
        self.uri, self.target, self.identity = uri, parse(uri), identity
        self._ssh: subprocess.Popen | None = None
        self._tmp = ""
        self._socket = self.target.path if self.target.scheme == "unix" else ""

    def connect(self, timeout: float | None) -> socket.socket:
        if self.target.scheme == "tcp":
            try:
                return socket.create_connection((self.target.host, self.target.port), timeout=timeout)
            except OSError as exc:
                raise RemoteError(f"unable to connect to {self.uri}: {exc.strerror or exc}") from None
        if self.target.scheme == "ssh" and self._ssh is None:
            self._tunnel()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self._socket)
        except OSError as exc:
            sock.close()
            raise RemoteError(f"unable to connect to {self.uri}: {exc.strerror or exc}") from None
        return sock

    def _tunnel(self) -> None:
        """ssh forwarding a private local socket to the remote one; waits until it listens."""
        t = self.target
        self._tmp = tempfile.mkdtemp(prefix="husk-ssh-")  # 0700: only we reach the forwarded socket
        self._socket = os.path.join(self._tmp, "s")
        argv = ["ssh", "-N", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes", "-p", str(t.port),
                "-L", f"{self._socket}:{t.path}"]
        own_config = os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"),
                                  "husk", "ssh_config")
        if os.path.exists(own_config):
            argv += ["-F", own_config]
        if self.identity:
            argv += ["-o", "IdentitiesOnly=yes", "-i", self.identity]
        argv += ["--", f"{t.user}@{t.host}" if t.user else t.host]
        try:
            self._ssh = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise RemoteError("ssh:// needs the ssh client (Debian's openssh-client)") from None
        deadline = time.monotonic() + SSH_SETUP_SECONDS
        while not os.path.exists(self._socket):
            if self._ssh.poll() is not None:
                err = self._ssh.stderr.read().decode(errors="replace").strip().splitlines()
                self.close()
                raise RemoteError(f"unable to connect to {self.uri}: ssh: {err[-1] if err else 'failed'}")
            if time.monotonic() > deadline:
                self.close()
                raise RemoteError(f"unable to connect to {self.uri}: ssh did not connect in "
                                  f"{SSH_SETUP_SECONDS:.0f} seconds")
            time.sleep(0.05)

    def close(self) -> None:
        if self._ssh is not None:
            if self._ssh.poll() is None:
                self._ssh.terminate()
            try:
                self._ssh.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._ssh.kill()
                self._ssh.wait()
            self._ssh.stderr.close()
            self._ssh = None
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = ""


class Connection(http.client.HTTPConnection):
    """http.client over a :class:`Channel`'s socket."""

    def __init__(self, channel: Channel, timeout: float | None = None) -> None:
        super().__init__("d", timeout=timeout)
        self.channel = channel

    def connect(self) -> None:
        self.sock = self.channel.connect(self.timeout)
