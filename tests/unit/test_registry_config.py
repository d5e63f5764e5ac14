"""registries.conf, auth.json, references and challenges: the pure logic of the registry client."""

import json
import os

import pytest

from husk.define import HuskError, InvalidArgument, NoSuchImage
from husk.storage import registry_config as rc
from husk.storage.pull import Descriptor, Platform, _choose
from husk.storage.registry import is_qualified, parse_challenge, parse_remote


def test_parse_remote():
    assert str(parse_remote("127.0.0.1:5000/busybox")) == "127.0.0.1:5000/busybox:latest"
    ref = parse_remote("docker.io/alpine:3")
    assert (ref.registry, ref.repository, ref.tag) == ("docker.io", "library/alpine", "3")
    digest = "sha256:" + "a" * 64
    ref = parse_remote(f"quay.io/x/y@{digest}")
    assert (ref.reference, ref.tag) == (digest, "")
    for bad in ("busybox", "quay.io/x/Y", "quay.io/../x", "quay.io/x@sha256:abc"):
        with pytest.raises(InvalidArgument):
            parse_remote(bad)
    assert is_qualified("localhost/x") and is_qualified("a.b/x") and not is_qualified("library/x")


def test_parse_challenge():
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                     'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def _conf(tmp_path, text, dropin=""):
    path = tmp_path / "registries.conf"
    path.write_text(text)
    if dropin:
        (tmp_path / "registries.conf.d").mkdir()
        (tmp_path / "registries.conf.d" / "50-x.conf").write_text(dropin)
    return rc.load_registries_conf(str(path))


def test_short_names(tmp_path):
    conf = _conf(tmp_path, 'unqualified-search-registries = ["r1.io", "r2.io:5000"]\n',
                 '[aliases]\n"bb" = "quay.io/x/busybox"\n')
    assert rc.resolve_short_name("bb:1.36", conf) == ["quay.io/x/busybox:1.36"]
    assert rc.resolve_short_name("nginx", conf) == ["r1.io/nginx", "r2.io:5000/nginx"]
    assert rc.resolve_short_name("quay.io/a/b", conf) == ["quay.io/a/b"]
    (tmp_path / "empty").mkdir()
    empty = _conf(tmp_path / "empty", "")
    with pytest.raises(InvalidArgument, match='short-name "nginx" did not resolve to an alias'):
        rc.resolve_short_name("nginx", empty)


def test_registry_tables(tmp_path):
    conf = _conf(tmp_path, '''
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"
insecure = true
[[registry.mirror]]
location = "mirror.local/cache"

[[registry]]
location = "blocked.io"
blocked = true
''')
    assert rc.pull_sources(conf, "example.com/foo/img") == [("mirror.local/cache/img", False),
                                                            ("internal.example.com/bar/img", True)]
    assert rc.pull_sources(conf, "other.io/img") == [("other.io/img", False)]
    with pytest.raises(HuskError, match="blocked"):
        rc.pull_sources(conf, "blocked.io/img")


def test_bad_registries_conf(tmp_path):
    with pytest.raises(HuskError, match="registries configuration"):
        _conf(tmp_path, "unqualified-search-registries = [")


def test_auth_json(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    authfile = str(tmp_path / "run" / "auth.json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", authfile)
    assert rc.credentials_for("reg.io/a/b") is None
    rc.store_credentials("reg.io", "u", "p:w")
    rc.store_credentials("reg.io/a", "u2", "x")
    assert oct(os.stat(authfile).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(authfile)).st_mode & 0o777) == "0o700"
    assert rc.credentials_for("reg.io/a/b") == ("u2", "x")  # the most specific key wins
    assert rc.credentials_for("reg.io/c") == ("u", "p:w")
    assert rc.remove_credentials("reg.io/a") and not rc.remove_credentials("reg.io/a")
    assert rc.credentials_for("reg.io/a/b") == ("u", "p:w")
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    docker = tmp_path / ".docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": "ZDpo"}}}))
    assert rc.credentials_for("docker.io/library/x") == ("d", "h")


def test_platform_choice():
    digest = "sha256:" + "1" * 64
    other = "sha256:" + "2" * 64
    entries = [Descriptor(digest=other, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
               Descriptor(digest=digest, platform={"os": "linux", "architecture": "amd64"})]
    assert _choose(entries, Platform("linux", "amd64"), "x") == digest
    assert _choose(entries, Platform.parse("linux/arm64/v8"), "x") == other
    with pytest.raises(NoSuchImage, match="no image found in manifest list for architecture s390x"):
        _choose(entries, Platform("linux", "s390x"), "x")
    with pytest.raises(InvalidArgument):
        Platform.parse("linux")
    bad = [Descriptor(digest="sha256:../../etc", platform={"os": "linux", "architecture": "amd64"})]
    with pytest.raises(HuskError):
        _choose(bad, Platform("linux", "amd64"), "x")
