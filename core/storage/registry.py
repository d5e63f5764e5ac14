"""A client of the OCI distribution API (what Docker Hub, quay.io and Debian's
`docker-registry` speak), on the standard library's http.client.

Why http.client and not a library: it is always there, imports in a few
milliseconds (the CLI's start-up matters), and the few things a registry
needs on top of it are the ones a client must decide itself anyway:

- authentication: anonymous, then whatever the registry's 401 challenge asks
  for, Basic with the stored credentials or the Bearer token flow (a token
  fetched from the challenge's realm for its service and the request's scope,
  cached per scope);
- redirects (blobs are often served from object storage): followed, and the
  registry's Authorization header is never sent to another host;
- retries of GET and HEAD on cut connections, 429 and 5xx, and a blob cut
  mid-stream resumes with a Range request (:class:`BlobReader`);
- limits everywhere: manifests, configs and token answers are read up to a
  size, a blob up to the size its descriptor gives, every socket has a timeout;
  a registry that sends an endless body gets an error, not our memory.

Every digest a registry names is checked (``sha256:`` and 64 hex digits) by
:func:`husk.state.paths.check_digest` before it is used, and blobs are hashed
while they stream: the caller gets bytes that are what the digest says, or an
error.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Callable

from ..define import HuskError, InvalidArgument, NoSuchImage
from ..state.paths import check_digest

#: manifests, configs and token answers are read into memory up to this
JSON_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
_TIMEOUT = 60
_RETRIES = 3
_REDIRECTS = 8
_CHUNK = 1 << 20

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (OCI_INDEX, MANIFEST_LIST, OCI_MANIFEST, MANIFEST_V2)

DOCKER_HUB = "docker.io"
_HUB_API = "registry-1.docker.io"


class RegistryError(HuskError):
    """A registry refused, failed or lied; the message names the registry and what went wrong."""


@dataclasses.dataclass(frozen=True)
class RemoteRef:
    """A fully qualified image reference: registry, repository, and a tag or a digest."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        return self.name + (f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}")

    def with_tag(self, tag: str) -> "RemoteRef":
        return dataclasses.replace(self, tag=tag, digest="")


def is_qualified(reference: str) -> bool:
    """Whether the first component of `reference` names a registry (has a dot or
    a port, or is localhost), as podman tells a qualified name from a short one."""
    first, sep, _ = reference.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def parse_remote(reference: str) -> RemoteRef:
    """A RemoteRef for a qualified reference (`host[:port]/repo[:tag][@digest]`);
    InvalidArgument for anything the reference grammar refuses or a short name."""
    from .reference import check_reference

    check_reference(reference)
    if not is_qualified(reference):
        raise InvalidArgument(f"invalid reference {reference!r}: not a fully qualified name")
    registry, _, rest = reference.partition("/")
    rest, _, digest = rest.partition("@")
    repository, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if digest:
        check_digest(digest)
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return RemoteRef(registry, repository, tag or ("" if digest else "latest"), digest)


@dataclasses.dataclass
class TLSOptions:
    """How to reach a registry: `verify` false (--tls-verify=false or `insecure`
    in registries.conf) also allows plain HTTP; `cert_dir` holds `*.crt` CAs and
    `*.cert`/`*.key` client pairs, as /etc/containers/certs.d/<host>/ does."""

    verify: bool = True
    cert_dir: str | None = None


def certs_dir_for(registry: str, override: str | None = None) -> str | None:
    """--cert-dir when given, else the first of podman's per-registry directories that exists."""
    if override:
        return override
    home = os.path.expanduser("~")
    for base in (os.path.join(home, ".config/containers/certs.d"), "/etc/containers/certs.d", "/etc/docker/certs.d"):
        path = os.path.join(base, registry)
        if os.path.isdir(path):
            return path
    return None


def _ssl_context(tls: TLSOptions) -> tuple[ssl.SSLContext, bool]:
    """The TLS settings for one registry: the system's CAs (none when not
    verifying) plus the cert dir's CAs and client pairs; and whether the
    system's CAs are all loaded (see :func:`_load_system_cas`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname checked, certificate required
    complete = True
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        complete = _load_system_cas(context)
    if tls.cert_dir and os.path.isdir(tls.cert_dir):
        for entry in sorted(os.listdir(tls.cert_dir)):
            path = os.path.join(tls.cert_dir, entry)
            try:
                if entry.endswith(".crt"):
                    context.load_verify_locations(cafile=path)
                elif entry.endswith(".cert"):
                    context.load_cert_chain(path, path[:-len(".cert")] + ".key")
            except (OSError, ssl.SSLError) as exc:
                raise RegistryError(f"loading certificate {path}: {exc}") from None
    return context, complete


def _load_system_cas(context: ssl.SSLContext) -> bool:
    """OpenSSL's hashed CA directory (/etc/ssl/certs, or SSL_CERT_DIR), where a
    CA is read only when a chain needs it; True when that is all of the
    system's CAs.  OpenSSL's defaults add the bundle file (SSL_CERT_FILE), but
    parsing it took 0.1-0.18 s here, a fifth of a push: it is loaded only after
    a chain fails against the directory (:meth:`RegistryClient._retrying`)."""
    paths = ssl.get_default_verify_paths()
    if paths.capath and os.path.isdir(paths.capath):
        context.load_verify_locations(capath=paths.capath)
        return False
    context.load_default_certs()
    return True


# -- challenges and tokens --------------------------------------------------------------------
_CHALLENGE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _CHALLENGE.finditer(rest)}
    return scheme.lower(), params


@dataclasses.dataclass
class Response:
    """A response whose body has not been read yet (`body` reads it, to a limit)."""

    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    url: str
    sock: socket.socket | None = None  # the connection's, to interrupt a read blocked in another thread

    def body(self, limit: int = JSON_LIMIT) -> bytes:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            self.raw.close()
            raise RegistryError(f"{self.url}: answer of {length} bytes is larger than {limit}")
        data = self.raw.read(limit + 1)
        if len(data) > limit:
            self.raw.close()
            raise RegistryError(f"{self.url}: answer is larger than {limit} bytes")
        return data

    def drain(self) -> None:
        """Read a body that is not wanted (a HEAD's is empty), so the connection can be reused."""
        if self.raw.read(JSON_LIMIT + 1) and not self.raw.isclosed():
            self.raw.close()

    def close(self) -> None:
        self.raw.close()

    def interrupt(self) -> None:
        """Wake a read of this body blocked in another thread (it sees the end)."""
        try:
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RegistryClient:
    """One registry, used by any number of threads (each keeps its own connections)."""

    def __init__(self, registry: str, *, credentials: tuple[str, str] | None = None,
                 tls: TLSOptions | None = None, timeout: float = _TIMEOUT) -> None:
        self.registry = registry
        self.host = _HUB_API if registry == DOCKER_HUB else registry
        self.credentials = credentials
        self.tls = tls or TLSOptions(cert_dir=certs_dir_for(registry))
        self.timeout = timeout
        self.scheme = "https"
        self._context, self._all_cas = _ssl_context(self.tls)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False  # the registry asked for Basic

    # -- connections ------------------------------------------------------------------------
    def _connection(self, scheme: str, host: str) -> http.client.HTTPConnection:
        pool = self._local.__dict__.setdefault("pool", {})
        connection = pool.get((scheme, host))
        if connection is None:
            if scheme == "https":
                # the registry's TLS settings hold for its token realm and redirects too, as podman's do
                connection = http.client.HTTPSConnection(host, timeout=self.timeout, context=self._context)
            else:
                connection = http.client.HTTPConnection(host, timeout=self.timeout)
            pool[(scheme, host)] = connection
        return connection

    def _drop(self, scheme: str, host: str) -> None:
        connection = self._local.__dict__.get("pool", {}).pop((scheme, host), None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for connection in self._local.__dict__.pop("pool", {}).values():
            connection.close()

    # -- requests ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scope: str = "", headers: dict | None = None,
                body: bytes | Callable | None = None, ok: tuple[int, ...] = (200,)) -> Response:
        """Send a request to the registry (`path` from /v2/ on, or an absolute URL
        that an upload's Location gave), authenticating and following redirects;
        a status not in `ok` is a RegistryError (404 of a manifest: NoSuchImage)."""
        response = self._authenticated(method, path, scope, dict(headers or {}), body)
        if response.status not in ok:
            raise self._failure(method, response)
        return response

    def _authenticated(self, method, path, scope, headers, body) -> Response:
        for attempt in range(2):
            auth = self._authorization(scope)
            if auth:
                headers["Authorization"] = auth
            response = self._send(method, path, headers, body)
            if response.status != 401 or attempt:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.drain()
            if not self._answer(challenge, scope):
                return response
        raise AssertionError("unreachable")

    def _authorization(self, scope: str) -> str:
        with self._lock:
            token = self._tokens.get(scope)
            if token:
                return f"Bearer {token}"
            if self._basic and self.credentials:
                user, password = self.credentials
                return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return ""

    def _answer(self, challenge: str, scope: str) -> bool:
        """Take up a 401's challenge; False when there is nothing more to try."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":  # (another thread may have set _basic meanwhile: still worth the retry)
            if not self.credentials:
                return False
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        token = self._fetch_token(params, scope)
        with self._lock:
            self._tokens[scope] = token
        return True

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = urllib.parse.urlsplit(params["realm"])
        if realm.scheme not in ("https", "http") or not realm.netloc:
            raise RegistryError(f"{self.registry}: bad token realm {params['realm']!r}")
        query = [("service", params["service"])] if params.get("service") else []
        for item in filter(None, (scope or params.get("scope", "")).split(" ")):
            query.append(("scope", item))
        if self.credentials:
            query.append(("account", self.credentials[0]))
        url = urllib.parse.urlunsplit((realm.scheme, realm.netloc, realm.path or "/",
                                       "&".join(filter(None, [realm.query, urllib.parse.urlencode(query)])), ""))
        headers = {}
        if self.credentials:
            user, password = self.credentials
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        response = self._send("GET", url, headers, None, keep_auth=True)
        if response.status in (401, 403):
            response.body()
            raise RegistryError(f"{self.registry}: authentication required: the token server refused "
                                f"{'the credentials' if self.credentials else 'anonymous access'}",
                                exit_code=125)
        if response.status != 200:
            raise self._failure("GET", response)
        try:
            document = json.loads(response.body(1 << 20))
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
            raise RegistryError(f"{self.registry}: the token server sent no token")
        return token

    def _send(self, method: str, path: str, headers: dict, body, keep_auth: bool = False) -> Response:
        """One request with redirects and retries; Authorization goes to the registry's host only."""
        url = path if "://" in path else f"{self.scheme}://{self.host}{path}"
        idempotent = method in ("GET", "HEAD")
        for hop in range(_REDIRECTS + 1):
            split = urllib.parse.urlsplit(url)
            sent = dict(headers)
            if split.netloc != self.host and not keep_auth:
                sent.pop("Authorization", None)
            response = self._retrying(method, split, sent, body, idempotent)
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                response.drain()
                url = urllib.parse.urljoin(url, response.headers["Location"])
                if response.status == 303:
                    method, body = "GET", None
                continue
            return response
        raise RegistryError(f"{self.registry}: too many redirects")

    def _retrying(self, method, split, headers, body, idempotent) -> Response:
        target = split.path + (f"?{split.query}" if split.query else "")
        for attempt in range(_RETRIES + 1):
            connection = self._connection(split.scheme, split.netloc)
            reused = connection.sock is not None  # an idle keep-alive the server may have closed
            try:
                data = body() if callable(body) else body
                connection.request(method, target, body=data, headers={"User-Agent": "husk", **headers})
                sock = connection.sock  # before getresponse, which drops it when the server will close
                raw = connection.getresponse()
            except ssl.SSLError as exc:
                self._drop(split.scheme, split.netloc)
                if isinstance(exc, ssl.SSLCertVerificationError) and not self._all_cas:
                    with self._lock:  # the bundle too, as OpenSSL's defaults have it; then once more
                        if not self._all_cas:
                            self._context.load_default_certs()
                            self._all_cas = True
                    continue
                if not self.tls.verify and split.scheme == "https" and split.netloc == self.host \
                        and "WRONG_VERSION_NUMBER" in str(exc):
                    self.scheme = "http"  # an insecure registry that speaks plain HTTP
                    split = split._replace(scheme="http")
                    continue
                raise RegistryError(f"pinging container registry {split.netloc}: {_tls_reason(exc)}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(split.scheme, split.netloc)
                if attempt < _RETRIES and (idempotent or (reused and attempt == 0)) \
                        and not isinstance(exc, socket.gaierror):  # an unknown host stays unknown
                    time.sleep(0.2 * 2 ** attempt)
                    continue
                raise RegistryError(f"pinging container registry {split.netloc}: {exc or type(exc).__name__}") \
                    from None
            response = Response(raw.status, raw.headers, raw, urllib.parse.urlunsplit(split), sock)
            if idempotent and attempt < _RETRIES and (raw.status == 429 or raw.status >= 500):
                raw.close()
                self._drop(split.scheme, split.netloc)
                time.sleep(min(float(raw.headers.get("Retry-After", "0") or 0) if
                               (raw.headers.get("Retry-After") or "").isdigit() else 0.0, 5.0) or 0.2 * 2 ** attempt)
                continue
            if raw.will_close:
                self._local.__dict__.get("pool", {}).pop((split.scheme, split.netloc), None)
            return response
        raise AssertionError("unreachable")

    def _failure(self, method: str, response: Response) -> HuskError:
        """A registry's error answer as one line (its `errors[0].message` when it sent one)."""
        try:
            detail = json.loads(response.body(64 << 10))["errors"][0]
            code, message = str(detail.get("code", "")), str(detail.get("message", ""))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, HuskError):
            code, message = "", ""
        reason = " ".join((message or http.client.responses.get(response.status, "")).split())[:200]
        where = f"{self.registry}: {method} {urllib.parse.urlsplit(response.url).path}"
        if response.status == 404 and code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", ""):
            return NoSuchImage(f"{where}: manifest unknown")
        if response.status in (401, 403):
            return RegistryError(f"{where}: authentication required ({response.status} {reason})")
        return RegistryError(f"{where}: {response.status} {code + ': ' if code else ''}{reason}")

    # -- the distribution API ---------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest by tag or digest; when fetched by
        digest, its bytes must hash to it, and a Docker-Content-Digest header must agree."""
        try:
            response = self.request("GET", f"/v2/{repository}/manifests/{reference}", scope=pull_scope(repository),
                                    headers={"Accept": ", ".join(MANIFEST_TYPES)})
        except NoSuchImage:
            name = f"{self.registry}/{repository}"
            raise NoSuchImage(f"initializing source docker://{name}{'@' if ':' in reference else ':'}{reference}: "
                              f"reading manifest {reference} in {name}: manifest unknown") from None
        data = response.body(JSON_LIMIT)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        claimed = response.headers.get("Docker-Content-Digest", "")
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"{self.registry}/{repository}: manifest {reference} has digest {digest}")
        if claimed.startswith("sha256:") and claimed != digest:
            raise RegistryError(f"{self.registry}/{repository}: manifest digest {digest} does not match "
                                f"Docker-Content-Digest {claimed}")
        media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        return data, media_type, digest

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest of a manifest by HEAD (`--pull newer`), None when unknown."""
        try:
            response = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=pull_scope(repository),
                                    headers={"Accept": ", ".join(MANIFEST_TYPES)}, ok=(200,))
        except NoSuchImage:
            return None
        response.drain()
        digest = response.headers.get("Docker-Content-Digest", "")
        return check_digest(digest) if digest else None

    def get_blob(self, repository: str, digest: str, limit: int = CONFIG_LIMIT) -> bytes:
        """A small blob (a config) whole, verified."""
        reader = BlobReader(self, repository, digest, -1, limit=limit)
        data = reader.read()
        reader.finish()
        return data

    def blob_reader(self, repository: str, digest: str, size: int,
                    progress: Callable[[int], None] | None = None) -> "BlobReader":
        return BlobReader(self, repository, digest, size, progress=progress)

    def tags(self, repository: str) -> list[str]:
        """Every tag of a repository (following the Link header's pages)."""
        path, found = f"/v2/{repository}/tags/list?n=1000", []
        while path:
            response = self.request("GET", path, scope=pull_scope(repository))
            try:
                found += [t for t in json.loads(response.body()).get("tags") or [] if isinstance(t, str)]
            except (ValueError, AttributeError):
                raise RegistryError(f"{self.registry}/{repository}: malformed tag list") from None
            path = _next_link(response.headers.get("Link", ""))
        return found

    def catalog(self, limit: int = 1000) -> list[str]:
        response = self.request("GET", f"/v2/_catalog?n={limit}", scope="registry:catalog:*")
        try:
            return [r for r in json.loads(response.body()).get("repositories") or [] if isinstance(r, str)]
        except (ValueError, AttributeError):
            raise RegistryError(f"{self.registry}: malformed catalog") from None

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{check_digest(digest)}",
                                scope=push_scope(repository), ok=(200, 404))
        response.drain()
        return response.status == 200

    def upload_blob(self, repository: str, digest: str, opener: Callable, size: int,
                    mount_from: str = "") -> None:
        """Upload a blob (POST then one PUT of the whole body, as the spec's monolithic
        upload); with `mount_from`, a cross-repository mount is asked first."""
        check_digest(digest)
        scope = push_scope(repository) + (f" {pull_scope(mount_from)}" if mount_from else "")
        query = f"?mount={digest}&from={urllib.parse.quote(mount_from)}" if mount_from else ""
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/{query}", scope=scope, ok=(201, 202),
                                headers={"Content-Length": "0"}, body=b"")
        response.body(JSON_LIMIT)
        if response.status == 201:
            return  # mounted
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.registry}: upload started without a Location")
        url = urllib.parse.urljoin(f"{self.scheme}://{self.host}/", location)
        if urllib.parse.urlsplit(url).netloc != self.host:
            raise RegistryError(f"{self.registry}: upload Location points to another host")
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        response = self.request("PUT", url, scope=scope, body=opener, ok=(201, 204),
                                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        response.body(JSON_LIMIT)

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        response = self.request("PUT", f"/v2/{repository}/manifests/{reference}", scope=push_scope(repository),
                                body=data, headers={"Content-Type": media_type}, ok=(200, 201, 202))
        response.body(JSON_LIMIT)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def check_login(self) -> None:
        """GET /v2/ with the credentials (what `login` checks)."""
        response = self._authenticated("GET", "/v2/", "", {}, None)
        if response.status == 401:
            response.body()
            raise RegistryError(f"logging in to {self.registry}: invalid username/password", exit_code=125)
        if response.status != 200:
            raise self._failure("GET", response)
        response.body()


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _next_link(header: str) -> str:
    match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', header)
    return match[1] if match and match[1].startswith("/v2/") else ""


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"tls: failed to verify certificate: {exc.verify_message} "
                "(use --tls-verify=false or put the registry's CA in /etc/containers/certs.d/HOST/)")
    return str(exc)


class BlobReader:
    """A blob read as a stream: hashed as it streams, held to its size, resumed
    with a Range request where a connection is cut (from the start, discarding
    what was read, where the registry ignores Range).  :meth:`finish` reads
    what is left and raises unless the bytes are what the digest says."""

    def __init__(self, client: RegistryClient, repository: str, digest: str, size: int,
                 limit: int | None = None, progress: Callable[[int], None] | None = None) -> None:
        self.client, self.repository = client, repository
        self.digest = check_digest(digest, "blob digest")
        self.size = size
        self.limit = size if size >= 0 else (limit if limit is not None else CONFIG_LIMIT)
        self.progress = progress
        self.offset = 0
        self._hash = hashlib.sha256()
        self._response: Response | None = None
        self._resumes = 0
        self._interrupted = False

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        response = self.client.request("GET", f"/v2/{self.repository}/blobs/{self.digest}",
                                       scope=pull_scope(self.repository), headers=headers, ok=(200, 206))
        if self.offset and response.status == 200:  # Range ignored: skip what we have
            skip = self.offset
            while skip:
                data = response.raw.read(min(skip, _CHUNK))
                if not data:
                    raise RegistryError(f"blob {self.digest}: stream ended early")
                skip -= len(data)
        self._response = response

    def read(self, size: int = -1) -> bytes:
        if self.offset > self.limit:
            raise RegistryError(f"blob {self.digest}: larger than its {self.limit} bytes")
        want = self.limit + 1 - self.offset if size < 0 else min(size, self.limit + 1 - self.offset)
        chunks = []
        while want > 0:
            if self._interrupted:
                raise HuskError("pull aborted")
            if self._response is None:
                self._open()
                if self._interrupted:  # interrupted while opening: interrupt() had no socket to wake
                    self.close()
                    raise HuskError("pull aborted")
            try:
                data = self._response.raw.read(min(want, _CHUNK))
            except (OSError, http.client.HTTPException) as exc:
                self._cut(exc)
                continue
            if not data:
                if self.size >= 0 and self.offset < self.size:
                    self._cut(None)
                    continue
                break
            self._hash.update(data)
            self.offset += len(data)
            want -= len(data)
            chunks.append(data)
            if self.progress:
                self.progress(len(data))
            if size >= 0:
                break
        if self.offset > self.limit:
            self.close()
            raise RegistryError(f"blob {self.digest}: larger than "
                                f"{'its descriptor says' if self.size >= 0 else f'{self.limit} bytes'}")
        return b"".join(chunks)

    def interrupt(self) -> None:
        """Stop the stream from another thread (a pull aborted): a read blocked on a
        stalled registry returns, and this read and every later one raise."""
        self._interrupted = True
        response = self._response
        if response is not None:
            response.interrupt()

    def _cut(self, exc: BaseException | None) -> None:
        """The stream broke (or ended before the size): reopen from the offset, a few times."""
        self.close()
        if self._interrupted:
            raise HuskError("pull aborted")
        self._resumes += 1
        if self._resumes > _RETRIES:
            reason = f": {exc}" if exc else f" after {self.offset} of {self.size} bytes"
            raise RegistryError(f"blob {self.digest}: truncated stream{reason}")
        time.sleep(0.1 * self._resumes)

    def finish(self) -> None:
        while self.read(_CHUNK):
            pass
        self.close()
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self.digest:
            raise RegistryError(f"blob {self.digest}: digest mismatch: the registry sent {actual}")
        if self.size >= 0 and self.offset != self.size:
            raise RegistryError(f"blob {self.digest}: {self.offset} bytes, its descriptor says {self.size}")

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
