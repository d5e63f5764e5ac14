"""Bad input on the real CLI: one clear `Error: ...` line, podman's exit code, no
traceback, and nothing changed (no image, no container, no file outside the roots)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from husk.testing import IMAGE


def _one_error(result, code: int = 125, *words: str) -> str:
    if isinstance(result.stderr, bytes):
        result.stderr = result.stderr.decode(errors="surrogateescape")  # an argument's bytes, printed as given
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    return result.stderr


def _tar(path, members) -> str:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def test_bad_flags_templates_filters_and_times(husk):
    husk("run", "-d", "--name", "keep", "busybox", "sleep", "1000", check=True)
    _one_error(husk("ps", "--bogus"), 125, "--bogus")
    _one_error(husk("ps", "--format", "{{.ID"), 125, "template")
    _one_error(husk("ps", "--format", "{{.Nope}}"), 125, "Nope")
    _one_error(husk("inspect", "--format", "{{.State.Nope}}", "keep"), 125, "Nope")
    _one_error(husk("inspect", "--format", "{{if}}", "keep"), 125, "template")
    _one_error(husk("images", "--format", "{{.Nope}}"), 125, "Nope")
    _one_error(husk("ps", "--filter", "nope=1"), 125, "nope")
    _one_error(husk("ps", "--filter", "status=sleepy"), 125, "sleepy")
    _one_error(husk("ps", "--filter", "exited=abc"), 125, "abc")
    _one_error(husk("ps", "--sort", "bogus"), 125, "bogus")
    _one_error(husk("events", "--stream=false", "--filter", "bogus=1"), 125, "bogus")
    _one_error(husk("events", "--stream=false", "--filter", "novalue"), 125, "novalue")
    _one_error(husk("events", "--stream=false", "--since", "garbage"), 125, "garbage")
    _one_error(husk("events", "--stream=false", "--until", "garbage"), 125, "garbage")
    _one_error(husk("logs", "--since", "garbage", "keep"), 125, "garbage")
    _one_error(husk("logs", "nope"), 125, "nope")
    # state intact
    assert husk("ps", "--format", "{{.Names}} {{.State}}", check=True).stdout == "keep running\n"


def test_bad_run_input_creates_nothing(husk, tmp_path):
    _one_error(husk("run", "--env-file", str(tmp_path / "missing.env"), "busybox", "true"), 125, "missing.env")
    _one_error(husk("run", "-v", "bad/name:/x", "busybox", "true"), 125, "names must match")
    _one_error(husk("run", "-v", "/nonexistent-husk-dir:/x", "busybox", "true"), 125, "/nonexistent-husk-dir")
    _one_error(husk("run", "-v", f"{tmp_path}:relative", "busybox", "true"), 125, "relative")
    _one_error(husk("run", "--entrypoint", "[broken", "busybox"), 125, "entrypoint")
    _one_error(husk("run", "-e", "=x", "busybox", "true"), 125)
    _one_error(husk("run", "-e=", "busybox", "true"), 125, 'invalid environment variable: "="')  # pflag: the value "="
    _one_error(husk("run", "nosuchimage", "true"), 125, "nosuchimage")
    assert husk("ps", "-aq", check=True).stdout == ""


def test_config_file_with_a_syntax_error(husk, tmp_path):
    config = tmp_path / "husk.conf"
    config.write_text('[engine\nruntime = "runc"\n')
    husk.extra_env["HUSK_CONFIG"] = str(config)
    _one_error(husk("ps"), 125, str(config))
    config.write_text('[engine]\nruntime = 5\n')
    _one_error(husk("ps"), 125)
    del husk.extra_env["HUSK_CONFIG"]
    assert husk("ps", check=True).returncode == 0


@pytest.mark.parametrize("kind", ["dotdot", "absolute-symlink", "truncated", "not-a-tar", "empty"])
def test_bad_import_tar_makes_no_image_and_writes_nothing_outside(husk, busybox_tar, tmp_path, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    if kind == "dotdot":
        source = _tar(tmp_path / "t.tar", [(tarfile.TarInfo("ok.txt"), b"ok"),
                                           (tarfile.TarInfo(f"../../../../..{outside}/dotdot.txt"), b"pwned")])
    elif kind == "absolute-symlink":
        source = _tar(tmp_path / "t.tar", [(_symlink("link", str(outside)), None),
                                           (tarfile.TarInfo("link/pwned.txt"), b"pwned")])
    elif kind == "truncated":
        source = str(tmp_path / "t.tar")
        with open(busybox_tar, "rb") as full, open(source, "wb") as cut:
            cut.write(full.read(150_000))
    elif kind == "not-a-tar":
        source = str(tmp_path / "t.tar")
        with open(source, "wb") as handle:
            handle.write(b"this is not a tar archive\n" * 100)
    else:
        source = str(tmp_path / "t.tar")
        open(source, "wb").close()
    images_before = husk("images", "-q", check=True).stdout
    layers_before = sorted(os.listdir(os.path.join(husk.root, "layers")))
    if kind == "empty":
        result = husk("import", source, "bad")
        if result.returncode == 0:  # podman imports an empty tar as an empty image; it must at least be a clean one
            assert husk("image", "exists", "bad").returncode == 0
            return
        _one_error(result)
    else:
        _one_error(husk("import", source, "bad"))
    assert husk("image", "exists", "bad").returncode == 1
    assert husk("images", "-q", check=True).stdout == images_before
    assert sorted(os.listdir(os.path.join(husk.root, "layers"))) == layers_before
    assert os.listdir(outside) == []
    # and the same bytes from stdin
    with open(source, "rb") as handle:
        data = handle.read()
    result = husk("import", "-", "bad", input=data)
    if kind != "empty":
        _one_error(result)
        assert husk("image", "exists", "bad").returncode == 1
    assert os.listdir(outside) == []
    assert husk("run", "--rm", "busybox", "echo", "ok", check=True).stdout == "ok\n"


def _corrupt_state(husk, container_id: str) -> None:
    import lmdb

    env = lmdb.open(os.path.join(husk.root, "state"), max_dbs=16)
    try:
        db = env.open_db(b"states")
        with env.begin(write=True, db=db) as txn:
            assert txn.get(container_id.encode()) is not None
            txn.put(container_id.encode(), b"\x00garbage{")
    finally:
        env.close()


def test_corrupt_state_record_is_one_clear_error_naming_the_container(husk):
    bad = husk("create", "--name", "bad", "busybox", "true", check=True).stdout.strip()
    husk("create", "--name", "good", "busybox", "true", check=True)
    _corrupt_state(husk, bad)
    _one_error(husk("inspect", "bad"), 125, bad, "corrupt")
    _one_error(husk("inspect", "--format", "{{.Name}}", bad[:12]), 125, bad)
    assert husk("inspect", "--format", "{{.Name}}", "good", check=True).stdout == "good\n"
    result = husk("inspect", "--format", "{{.Name}}", "good", "bad")
    assert result.returncode == 125 and result.stdout == "good\n" and bad in result.stderr
    husk("start", "good", check=True)
    assert husk("wait", "good", check=True).stdout == "0\n"
    assert husk("image", "exists", "busybox").returncode == 0


def test_corrupt_state_record_does_not_hide_the_other_containers(husk):
    bad = husk("create", "--name", "bad", "busybox", "true", check=True).stdout.strip()
    husk("create", "--name", "good", "busybox", "true", check=True)
    _corrupt_state(husk, bad)
    result = husk("ps", "-a", "--format", "{{.Names}}")
    assert "good\n" in result.stdout and bad in result.stderr
    assert husk("info", "--format", "{{.Store.GraphRoot}}").returncode == 0
    husk("rm", "-f", "bad", check=True)
    assert husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout == "good\n"


def test_bytes_that_are_not_utf8_are_stored_as_podman_stores_them(husk):
    """podman 4.3.1 keeps a label's, env value's, annotation's or command's bytes that
    are not UTF-8 until its JSON, which writes U+FFFD for each (`--label a=$'\\xff'` is
    `{"a":"\ufffd"}` in its inspect); a name so written fails its pattern, exit 125.
    Before, husk failed with "internal error: UnicodeEncodeError" (the store's JSON)."""
    bad = "\udcff"  # the byte 0xff as Python hands it over (subprocess writes the byte back)
    name = "badutf8"
    husk.extra_env["HUSK_TEST_BAD"] = "x" + bad
    husk("create", "--name", name, "--label", f"a={bad}", "--env", f"E={bad}\udce2\udc82", "-e", "HUSK_TEST_BAD",
         "--annotation", f"n={bad}", IMAGE, "echo", bad, check=True)
    try:
        [document] = json.loads(husk("inspect", name, check=True).stdout)
        assert document["Config"]["Labels"]["a"] == "\ufffd"
        assert {"E=\ufffd\ufffd\ufffd", "HUSK_TEST_BAD=x\ufffd"} <= set(document["Config"]["Env"])
        assert document["Config"]["Annotations"]["n"] == "\ufffd"
        assert document["Config"]["Cmd"] == ["echo", "\ufffd"]
        for args in (("create", "--name", f"x{bad}", IMAGE, "true"), ("volume", "create", f"v{bad}"),
                     ("pod", "create", "--name", f"p{bad}")):
            _one_error(husk(*args, input=b""), 125, "names must match")  # bytes: the message has the 0xff
        assert husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout == f"{name}\n"  # the store is intact
    finally:
        husk("rm", "-f", name)


def test_host_paths_that_are_not_utf8_keep_their_bytes(husk, tmp_path):
    """A path husk opens on the host keeps its bytes, as podman 4.3.1's does (`cp`,
    `import`, `save -o`, `load -i`, build's context): before, main() read all of argv
    with U+FFFD and each named another file ('no such file or directory'); a bind
    mount's source goes through the spec, U+FFFD in both (no such path)."""
    bad = "\udcff"  # the byte 0xff as Python hands it over (subprocess writes the byte back)
    source = tmp_path / f"x{bad}"
    source.write_bytes(b"hello\n")
    name = "utf8paths"
    husk("create", "--name", name, IMAGE, "true", check=True)
    try:
        husk("cp", str(source), f"{name}:/x", check=True)
        husk("cp", f"{name}:/x", str(tmp_path / f"y{bad}"), check=True)
        assert (tmp_path / f"y{bad}").read_bytes() == b"hello\n"
        archive = tmp_path / f"s{bad}.tar"
        husk("save", "-o", str(archive), IMAGE, check=True)
        assert "Loaded image" in husk("load", "-i", str(archive), check=True).stdout
        layer = tmp_path / f"t{bad}.tar"
        with tarfile.open(layer, "w") as tar:
            tar.add(source, arcname="f")
        husk("import", str(layer), "localhost/utf8paths:1", check=True)
        context = tmp_path / f"c{bad}"
        context.mkdir()
        (context / "f").write_text("context\n")
        (context / "Containerfile").write_text(f"FROM {IMAGE}\nCOPY f /f\n")
        husk("build", "-q", "-t", "localhost/utf8paths:2", str(context), check=True)
        out = husk("run", "--rm", "localhost/utf8paths:2", "cat", "/f", check=True).stdout
        assert out == "context\n"
        _one_error(husk("run", "--rm", "-v", f"{context}:/data", IMAGE, "true"), 125, "no such file or directory")
        # a name so given is found nowhere, as podman's: not 'internal error: UnicodeEncodeError'
        for args in (("rm", f"x{bad}"), ("inspect", f"x{bad}"), ("network", "inspect", f"x{bad}"),
                     ("volume", "inspect", f"x{bad}"), ("pod", "inspect", f"x{bad}"), ("image", "inspect", f"x{bad}"),
                     ("secret", "inspect", f"x{bad}")):
            result = husk(*args, input=b"")  # bytes: the message has the 0xff
            assert "internal error" not in _one_error(result, 1 if args[0] == "rm" else 125), args
    finally:
        husk("rm", "-f", name)
        husk("rmi", "-f", "localhost/utf8paths:1", "localhost/utf8paths:2")


def test_every_writer_stores_bytes_that_are_not_utf8_as_u_fffd(husk, tmp_path):
    """What keeps an argument's bytes to the store (argv is not converted in main())
    writes U+FFFD for each byte that is not UTF-8, as podman 4.3.1 does: an exec's
    process (json.dumps's escaped surrogate reached the process as ED B3 BF), a
    network's label, commit's and build's image configs (their reader refused the
    escape: 'malformed image config'), a build ARG a RUN sees."""
    bad = "\udcff"
    name = "utf8writers"
    husk("run", "-d", "--name", name, IMAGE, "sleep", "1000", check=True)
    try:
        assert husk("exec", "-e", f"E={bad}", name, "sh", "-c", "echo $E", input=b"", check=True).stdout == b"\xef\xbf\xbd\n"
        assert husk("exec", name, "echo", bad, input=b"", check=True).stdout == b"\xef\xbf\xbd\n"
        husk("network", "create", "--label", f"a={bad}", "utf8net", check=True)
        assert husk("network", "inspect", "utf8net", "--format", "{{.Labels}}", check=True).stdout == "map[a:\ufffd]\n"
        husk("commit", "-q", "-f", "docker", "-m", f"m{bad}", "-c", f"LABEL a={bad}", name, "localhost/utf8w:1", check=True)
        out = husk("image", "inspect", "localhost/utf8w:1", "--format", "{{.Labels}} {{.Comment}}", check=True).stdout
        assert out == "map[a:\ufffd] m\ufffd\n"
        (tmp_path / "Containerfile").write_text(f"FROM {IMAGE}\nARG X\nRUN echo \"$X\" > /x\n")
        husk("build", "-q", "--label", f"a={bad}", "--build-arg", f"X={bad}", "-t", "localhost/utf8w:2", str(tmp_path),
             check=True)
        assert husk("image", "inspect", "localhost/utf8w:2", "--format", "{{.Labels}}", check=True).stdout == "map[a:\ufffd]\n"
        assert husk("run", "--rm", "localhost/utf8w:2", "cat", "/x", input=b"", check=True).stdout == b"\xef\xbf\xbd\n"
    finally:
        husk("rm", "-f", "-t", "0", name)
        husk("network", "rm", "utf8net")
        husk("rmi", "-f", "localhost/utf8w:1", "localhost/utf8w:2")


def test_a_message_prints_bytes_that_are_not_utf8_as_given(husk):
    """podman 4.3.1 prints an argument's bytes as given (`Error: open /nope\\xff...`
    with the byte 0xff itself); husk printed Python's escape of it, `\\udcff`."""
    for argv in (("load", "-i", "/nope\udcff"), ("import", "/nope\udcff"),
                 ("create", "--stop-signal", "\udcff", IMAGE)):
        result = husk(*argv, input=b"")
        assert result.returncode == 125 and b"\xff" in result.stderr and b"udcff" not in result.stderr, result.stderr
        assert result.stderr.startswith(b"Error: ") and result.stderr.count(b"\n") == 1
