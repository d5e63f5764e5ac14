"""Environment entries through the API: one reader (husk.formats.environment)
for the CLI, the API and the stored configuration, with the messages podman
4.3's service gives for the same bad entries (checked against `podman system
service`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("entry", ["=x", "=", ""])
def test_create_refuses_an_entry_without_a_name_with_podman_s_message(api_crun, entry):
    status, _, document = api_crun.request("POST", "/v1.41/containers/create",
                                           {"Image": "busybox", "Cmd": ["true"], "Env": ["A=1", entry]})
    quoted = '"' + entry + '"'
    assert (status, document["message"]) == (400, f"invalid environment variable: {quoted}")
    assert api_crun.request("GET", "/v1.41/containers/json?all=1")[2] == []


def test_exec_create_wants_key_value_entries_as_podman_s_service(api_crun):
    created = api_crun.request("POST", "/v1.41/containers/create?name=envbox",
                               {"Image": "busybox", "Cmd": ["sleep", "300"]})
    assert created[0] == 201, created[2]
    assert api_crun.request("POST", "/v1.41/containers/envbox/start")[0] == 204
    for prefix in ("/v1.41", "/v4.3.1/libpod"):
        for entry, message in [("HOME", 'environment variable "HOME" badly formed, must be key=value'),
                               ("", 'environment variable "" badly formed, must be key=value'),
                               ("=x", 'invalid environment variable: "=x"')]:
            status, _, document = api_crun.request("POST", f"{prefix}/containers/envbox/exec",
                                                   {"Cmd": ["true"], "Env": [entry]})
            assert (status, document["message"]) == (400, message), (prefix, entry)
    status, _, document = api_crun.request("POST", "/v1.41/containers/envbox/exec",
                                           {"Cmd": ["true"], "Env": ["K=v"]})
    assert status == 201, document


def test_libpod_create_refuses_a_variable_without_a_name(api_crun):
    """podman 4.3 takes {"": "x"} and makes a container whose environment has
    "=x"; husk refuses it at create, with the line of every other route."""
    status, _, document = api_crun.request("POST", "/v4.3.1/libpod/containers/create",
                                           {"image": "busybox", "command": ["true"], "env": {"": "x"}})
    assert (status, document["message"]) == (400, 'invalid environment variable: "=x"')
    assert api_crun.request("GET", "/v1.41/containers/json?all=1")[2] == []


def test_text_that_is_not_utf8_in_a_body_is_read_as_podman_s_service_reads_it(api_crun):
    """podman 4.3.1's service reads an unpaired surrogate escape ("\\udcff") and a raw
    byte that is not UTF-8 as U+FFFD and stores that (201); husk answered 400 'invalid
    utf-16 surrogate pair' and 'Invalid UTF-8 encoded string'.  A valid pair stays."""
    assert api_crun.request("POST", "/v1.41/containers/create?name=surrogates",
                            {"Image": "busybox", "Cmd": ["echo", "\udcff"],
                             "Labels": {"a": "\udcff", "b": "\ud800x", "c": "\U0001f600"}})[0] == 201
    raw = b'{"image": "busybox", "command": ["true"], "labels": {"a": "\xff\xed\xb3\xbf"}, "name": "rawbytes"}'
    status, _, document = api_crun.request("POST", "/v4.3.1/libpod/containers/create", raw,
                                           {"Content-Type": "application/json"})
    assert status == 201, document
    status, _, document = api_crun.request("POST", "/v1.41/volumes/create", {"Name": "survol", "Labels": {"a": "\udcff"}})
    assert status == 201, document
    first = api_crun.request("GET", "/v4.3.1/libpod/containers/surrogates/json")[2]
    assert first["Config"]["Labels"] == {"a": "\ufffd", "b": "\ufffdx", "c": "\U0001f600"}
    assert first["Config"]["Cmd"] == ["echo", "\ufffd"]
    second = api_crun.request("GET", "/v4.3.1/libpod/containers/rawbytes/json")[2]
    assert second["Config"]["Labels"] == {"a": "\ufffd" * 4}
    assert api_crun.request("GET", "/v1.41/volumes/survol")[2]["Labels"] == {"a": "\ufffd"}
    status, _, document = api_crun.request("POST", "/v1.41/containers/create", b'{"Image": "\xff',
                                           {"Content-Type": "application/json"})
    assert status == 400 and document["message"].startswith("invalid JSON in request body"), document
