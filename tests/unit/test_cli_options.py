"""Parsing of CLI values (env, volumes, labels, entrypoints, --until) and podman's
struct semantics in --format templates."""

from __future__ import annotations

import time

import pytest

from husk.cli.options import parse_entrypoint, parse_env, parse_labels
from husk.formats.timestamps import human_duration
from husk.presentation.mounts import parse_tmpfs, parse_volume
from husk.define import InvalidArgument, State
from husk.formats.timestamps import parse_until
from husk.formats.gofmt import GoStruct, as_struct
from husk.formats.template import format_rows, render


def test_env_files_first_then_flags_and_host_lookups(tmp_path, monkeypatch):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nA=1\n  B=two words  \nFROM_HOST\n")
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    assert parse_env(("C=3", "UNSET_HERE", "A=override"), (str(env_file),)) == \
        ["A=1", "B=two words", "FROM_HOST=yes", "C=3", "A=override"]


@pytest.mark.parametrize("values, expected", [
    # what podman 4.3.1 run and exec do with each (checked by hand against podman)
    (("FOO=",), ["FOO="]),  # an empty value is a value
    (("UNSET_HERE",), []),  # from the host's environment: unset there, left out
    (("FROM_HOST*",), ["FROM_HOST=yes", "FROM_HOST_TOO=also"]),  # every host variable with the prefix
    ((" \tLEAD=1",), ["LEAD=1"]),  # leading blanks are not the name's
    (("A B=1",), ["A B=1"]),
    (("",), []),  # create and run ignore a lone `-e ''` (`--env=`): exec refuses it, below
])
def test_env_entries_as_podman_reads_them(values, expected, monkeypatch):
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.setenv("FROM_HOST_TOO", "also")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    assert parse_env(values, ()) == expected


@pytest.mark.parametrize("values, message", [
    (("=x",), 'invalid environment variable: "=x"'),
    (("=",), 'invalid environment variable: "="'),  # `-e=`, which cobra reads as the value "="
    (('="',), 'invalid environment variable: "=\\""'),
    (("", "A=1"), 'invalid environment variable: ""'),  # an empty one beside others is refused
])
def test_bad_env_entries_with_podman_s_message(values, message):
    with pytest.raises(InvalidArgument) as caught:
        parse_env(values, ())
    assert str(caught.value) == message
    with pytest.raises(InvalidArgument) as caught:
        parse_env(values, (), exec_=True)
    assert str(caught.value) == f"parsing environment variables: {message}"


def test_exec_refuses_a_lone_empty_env():
    with pytest.raises(InvalidArgument, match='^parsing environment variables: invalid environment variable: ""$'):
        parse_env(("",), (), exec_=True)


def test_missing_env_file_names_it(tmp_path):
    with pytest.raises(InvalidArgument, match="missing.env"):
        parse_env((), (str(tmp_path / "missing.env"),))


def test_volumes(tmp_path):
    mount = parse_volume(f"{tmp_path}/:/data/:ro,Z")
    assert (mount.source, mount.destination, mount.type, mount.options) == (str(tmp_path), "/data", "bind", ["ro"])
    for bad, words in [(f"{tmp_path}:x", "must be absolute"), ("-bad:/x", "names must match"),
                       ("/nonexistent-husk-dir:/x", "/nonexistent-husk-dir"), (f"{tmp_path}:/x:bogus", "bogus"),
                       (":/x", "cannot be empty"), ("only", "must be absolute"), ("a:b:c:d", "expected")]:
        with pytest.raises(InvalidArgument, match=words):
            parse_volume(bad)


def test_named_and_anonymous_volumes():
    named = parse_volume("data:/var/lib/db/:ro,nocopy")
    assert (named.type, named.source, named.destination, named.options) == ("volume", "data", "/var/lib/db",
                                                                              ["ro", "nocopy"])
    anonymous = parse_volume("/scratch")
    assert (anonymous.type, anonymous.source, anonymous.destination) == ("volume", "", "/scratch")


def test_tmpfs_labels_entrypoint():
    assert parse_tmpfs("/run:size=1m,noexec").options == ["size=1m", "noexec"]
    with pytest.raises(InvalidArgument):
        parse_tmpfs("run")
    assert parse_labels(("a=1", "b", "c=x=y")) == {"a": "1", "b": "", "c": "x=y"}
    with pytest.raises(InvalidArgument):
        parse_labels(("=1",))
    assert parse_entrypoint(None) is None
    assert parse_entrypoint("") == []
    assert parse_entrypoint("/bin/echo") == ["/bin/echo"]
    assert parse_entrypoint('["/bin/sh", "-c"]') == ["/bin/sh", "-c"]
    for bad in ("[broken", '["a", 1]', '[{}]'):
        with pytest.raises(InvalidArgument):
            parse_entrypoint(bad)


def test_until_durations_are_after_now_as_in_podman():
    now = time.time()
    assert now + 9 < parse_until("10s") < now + 11
    assert parse_until("1700000000") == 1700000000
    assert parse_until("1700000000.5") == 1700000000.5
    assert parse_until("2023-11-14T22:13:20Z") == 1700000000
    with pytest.raises(InvalidArgument, match="garbage"):
        parse_until("garbage")


def test_podman_state_names_and_human_durations():
    assert [str(s) for s in State] == \
        ["created", "initialized", "running", "paused", "stopped", "exited", "removing"]
    assert [human_duration(s) for s in (0.5, 1, 59, 60, 150, 3600, 7200, 86400 * 3)] == \
        ["Less than a second", "1 second", "59 seconds", "About a minute", "2 minutes", "About an hour",
         "2 hours", "3 days"]


def test_struct_fields_are_errors_and_print_as_go_structs():
    row = GoStruct({"ID": "abc", "Labels": {"b": "2", "a": "1"}}, "psReporter")
    assert render("{{.ID}} {{.Labels}} {{.Labels.zz}} {{index .Labels \"a\"}}", row) == "abc map[a:1 b:2] <no value> 1"
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope in type psReporter"):
        render("{{.Nope}}", row)
    assert render("{{.}}", GoStruct({"A": 1, "B": "x"}, "T")) == "{1 x}"
    assert render("{{.Nope}}", {"ID": 1}) == "<no value>"  # a plain dict is a Go map
    assert format_rows("table {{.ID}}", [row]) == "ID\nabc\n"


def test_as_struct_keeps_map_fields_maps():
    document = as_struct({"State": {"Status": "running"}, "Config": {"Labels": {"k": "v"}},
                          "Mounts": [{"Source": "/a"}]}, "Inspect", frozenset({"Labels"}))
    assert render("{{.State.Status}} {{.Config.Labels.k}} {{.Config.Labels.other}} {{(index .Mounts 0).Source}}",
                  document) == "running v <no value> /a"
    for missing in ("{{.Nope}}", "{{.State.Nope}}", "{{.Config.Nope}}", "{{(index .Mounts 0).Nope}}"):
        with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
            render(missing, document)
    assert render("{{json .State}}", document) == '{"Status":"running"}'
