"""Names, labels and annotations at the door (issue 10 item 9): a name is
matched whole (a trailing newline is no longer let in by `$`), any length is
stored as podman stores it (LMDB keys stop at 511 bytes), and bad labels and
annotations get podman's messages."""

from __future__ import annotations

import urllib.parse

LONG = "n" * 600


def _refused(result, *words: str) -> None:
    assert result.returncode == 125, (result.returncode, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_name_with_a_trailing_newline_is_refused(husk):
    _refused(husk("create", "--name", "nl\n", "busybox", "true"), 'container name "nl\\n" is invalid')
    husk("create", "--name", "ok", "busybox", "true", check=True)
    _refused(husk("rename", "ok", "nl\n"), "names must match")
    assert husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout == "ok\n"


def test_a_long_name_is_stored_and_used(husk):
    cid = husk("run", "-d", "--name", LONG, "busybox", "sleep", "1000", check=True).stdout.strip()
    assert husk("ps", "--format", "{{.Names}}", check=True).stdout == LONG + "\n"
    assert husk("inspect", "--format", "{{.Id}}", LONG, check=True).stdout.strip() == cid
    _refused(husk("create", "--name", LONG, "busybox", "true"), "already in use")
    husk("rename", LONG, LONG + "x", check=True)
    assert husk("exec", LONG + "x", "true").returncode == 0
    assert husk("inspect", LONG).returncode == 125
    husk("rm", "-f", "-t", "0", LONG + "x", check=True)
    husk("create", "--name", LONG, "busybox", "true", check=True)  # the name is free again
    missing = husk("rm", "m" * 600)  # podman's rm: exit 1 for no such container
    assert missing.returncode == 1 and "no container with name or ID" in missing.stderr, missing.stderr


def test_labels_and_annotations_get_podmans_messages(husk):
    _refused(husk("create", "--label", "=v", "busybox", "true"), 'invalid label format: "=v"')
    _refused(husk("create", "--annotation", "novalue", "busybox", "true"),
             "annotations must be formatted KEY=VALUE")
    husk("create", "--name", "l", "--label", "k", "--annotation", "a=", "busybox", "true", check=True)
    assert husk("inspect", "--format", "{{.Config.Labels.k}}|{{.Config.Annotations.a}}|", "l",
                check=True).stdout == "||\n"
    assert husk("ps", "-aq").stdout.count("\n") == 1


def test_api_refuses_a_name_with_a_newline_and_stores_a_long_one(api):
    body = {"Image": "busybox", "Cmd": ["true"]}
    status, _, answer = api.request("POST", "/v1.41/containers/create?name=" + urllib.parse.quote("nl\n"), body)
    assert status == 400 and "names must match" in answer["message"], (status, answer)
    status, _, answer = api.request("POST", f"/v1.41/containers/create?name={LONG}", body)
    assert status == 201, (status, answer)
    status, _, answer = api.request("GET", f"/v1.41/containers/{LONG}/json")
    assert status == 200 and answer["Name"] == "/" + LONG, (status, answer)
