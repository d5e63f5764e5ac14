"""The containers ecosystem's own configuration, read as podman reads it, so a
user's podman or docker set-up works unchanged:

- registries.conf v2 (`CONTAINERS_REGISTRIES_CONF`, else
  ~/.config/containers/registries.conf for a non-root user, else
  /etc/containers/registries.conf; then the `registries.conf.d/*.conf` drop-ins
  beside it, in name order, later ones winning key by key):
  `unqualified-search-registries`, `[aliases]` (short names), and
  `[[registry]]` tables with `prefix`/`location`, `insecure`, `blocked` and
  `[[registry.mirror]]`;
- auth.json: `--authfile`, `REGISTRY_AUTH_FILE`,
  `$XDG_RUNTIME_DIR/containers/auth.json` (root: /run/containers/0/auth.json),
  then ~/.docker/config.json, read only; `login` writes the first of these.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os

from ..define import HuskError, InvalidArgument


@dataclasses.dataclass
class RegistryEntry:
    """One `[[registry]]` table: where a prefix's images come from, and how."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # (location, insecure)


@dataclasses.dataclass
class RegistriesConf:
    search: list[str] = dataclasses.field(default_factory=list)
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    registries: list[RegistryEntry] = dataclasses.field(default_factory=list)
    path: str = "/etc/containers/registries.conf"

    def entry_for(self, name: str) -> RegistryEntry | None:
        """The `[[registry]]` whose prefix matches `name` (host/repo) longest, as podman picks it."""
        best = None
        for entry in self.registries:
            prefix = entry.prefix
            if name == prefix or name.startswith(prefix.rstrip("/") + "/") or \
                    (prefix.startswith("*.") and name.split("/", 1)[0].endswith(prefix[1:])):
                if best is None or len(prefix) > len(best.prefix):
                    best = entry
        return best


def registries_conf_path() -> str:
    env = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if env:
        return env
    if os.geteuid() != 0:
        user = os.path.expanduser("~/.config/containers/registries.conf")
        if os.path.exists(user):
            return user
    return "/etc/containers/registries.conf"


def load_registries_conf(path: str | None = None) -> RegistriesConf:
    """The merged configuration (main file, then drop-ins); a file that is not
    TOML is a HuskError naming it."""
    import tomllib

    path = path or registries_conf_path()
    files = [path] if os.path.exists(path) else []
    dropins = os.path.join(os.path.dirname(path), "registries.conf.d")
    if os.path.isdir(dropins):
        files += [os.path.join(dropins, f) for f in sorted(os.listdir(dropins)) if f.endswith(".conf")]
    conf = RegistriesConf(path=path)
    for file in files:
        try:
            with open(file, "rb") as stream:
                document = tomllib.load(stream)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise HuskError(f"loading registries configuration {file!r}: {exc}") from None
        if "unqualified-search-registries" in document:
            conf.search = [str(r) for r in document["unqualified-search-registries"]]
        conf.aliases.update({str(k): str(v) for k, v in (document.get("aliases") or {}).items()})
        for table in document.get("registry") or []:
            location = str(table.get("location", ""))
            prefix = str(table.get("prefix", "") or location)
            if not prefix:
                raise HuskError(f"loading registries configuration {file!r}: a [[registry]] has no location")
            mirrors = [(str(m.get("location", "")), bool(m.get("insecure", False)))
                       for m in table.get("mirror") or [] if m.get("location")]
            conf.registries = [e for e in conf.registries if e.prefix != prefix]
            conf.registries.append(RegistryEntry(prefix, location, bool(table.get("insecure", False)),
                                                 bool(table.get("blocked", False)), mirrors))
    return conf


def resolve_short_name(name: str, conf: RegistriesConf) -> list[str]:
    """The fully qualified candidates for a reference, in the order a pull tries them:
    a qualified one is itself; a short one its alias, else one per search registry.
    None to try is podman's error."""
    from .registry import is_qualified

    if is_qualified(name):
        return [name]
    repository, tag_digest = _split_tag(name)
    if repository in conf.aliases:
        return [conf.aliases[repository] + tag_digest]
    if not conf.search:
        raise InvalidArgument(f'short-name "{name}" did not resolve to an alias and no unqualified-search '
                              f'registries are defined in "{conf.path}"')
    return [f"{registry}/{name}" for registry in conf.search]


def _split_tag(name: str) -> tuple[str, str]:
    """`busybox:1.36` -> ("busybox", ":1.36"); `x@sha256:...` -> ("x", "@sha256:...")."""
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, "@" + digest
    repository, sep, tag = name.rpartition(":")
    return (repository, ":" + tag) if sep and "/" not in tag else (name, "")


def pull_sources(conf: RegistriesConf, name: str) -> list[tuple[str, bool]]:
    """Where an image `host/repo` is fetched from: (`host/repo` rewritten, insecure)
    for each mirror first, then the location; a blocked registry is refused."""
    entry = conf.entry_for(name)
    if entry is None:
        return [(name, False)]
    if entry.blocked:
        raise HuskError(f"registry {name.split('/', 1)[0]} is blocked in {conf.path} or registries.conf.d")
    rest = name[len(entry.prefix):] if not entry.prefix.startswith("*.") else name[len(name.split("/", 1)[0]):]
    base = entry.location or (name.split("/", 1)[0] if entry.prefix.startswith("*.") else entry.prefix)
    return [(m.rstrip("/") + rest, insecure) for m, insecure in entry.mirrors] + [(base.rstrip("/") + rest,
                                                                                     entry.insecure)]


# -- auth.json ---------------------------------------------------------------------------------
def auth_file_path(authfile: str | None = None) -> str:
    """The auth.json that `login` writes and that is read first."""
    if authfile:
        return authfile
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return os.environ["REGISTRY_AUTH_FILE"]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or \
        ("/run/containers/0" if os.geteuid() == 0 else f"/run/user/{os.geteuid()}")
    if runtime_dir == "/run/containers/0":
        return os.path.join(runtime_dir, "auth.json")
    return os.path.join(runtime_dir, "containers", "auth.json")


def _auth_files(authfile: str | None) -> list[str]:
    files = [auth_file_path(authfile)]
    if not authfile and not os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.path.expanduser("~/.docker/config.json"))
    return files


def normalize_key(key: str) -> str:
    """`https://index.docker.io/v1/` -> `docker.io`, as Docker's config names Docker Hub."""
    key = key.removeprefix("https://").removeprefix("http://")
    if key.split("/", 1)[0] in ("index.docker.io", "registry-1.docker.io"):
        key = "docker.io" + (key.partition("/")[1] + key.partition("/")[2] if "/" in key else "")
    key = key.removesuffix("/v1/").removesuffix("/v1").removesuffix("/v2/").removesuffix("/v2").rstrip("/")
    return key


def _read_auths(path: str) -> dict[str, dict]:
    auths = _whole(path).get("auths")
    return auths if isinstance(auths, dict) else {}


def credentials_for(name: str, authfile: str | None = None) -> tuple[str, str] | None:
    """(user, password) for an image `host/repo`: the most specific key wins
    (`host/ns/repo`, then `host/ns`, then `host`), the first file that has one."""
    for path in _auth_files(authfile):
        auths = {normalize_key(k): v for k, v in _read_auths(path).items() if isinstance(v, dict)}
        parts = name.split("/")
        for end in range(len(parts), 0, -1):
            entry = auths.get("/".join(parts[:end]))
            if entry and entry.get("auth"):
                try:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise HuskError(f"reading auth file {path!r}: bad auth entry for {name!r}") from None
                if sep:
                    return user, password
    return None


def store_credentials(key: str, user: str, password: str, authfile: str | None = None) -> str:
    """Write `key`'s credentials into auth.json (0600, its directory 0700), as `podman login` does."""
    path = auth_file_path(authfile)
    document = _whole(path)
    document.setdefault("auths", {})[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, document)
    return path


def remove_credentials(key: str | None, authfile: str | None = None) -> bool:
    """Drop `key` (every key when None); False when it was not there."""
    path = auth_file_path(authfile)
    document = _whole(path)
    auths = document.get("auths") or {}
    if key is None:
        found = bool(auths)
        document["auths"] = {}
    else:
        found = any(normalize_key(k) == key for k in auths)
        document["auths"] = {k: v for k, v in auths.items() if normalize_key(k) != key}
    if found:
        _write(path, document)
    return found


def _whole(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            document = json.load(stream)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HuskError(f"reading auth file {path!r}: {exc}") from None
    return document if isinstance(document, dict) else {}


def _write(path: str, document: dict) -> None:
    from ..state.atomic import replace_file

    replace_file(path, json.dumps(document, indent="\t") + "\n", durable=True, make_parent=True)
