"""Values that once reached int() or float() unchecked (unicode digits, numbers
past a float or past Python's 4300-digit limit, JSON nested past the
recursion limit, detach keys wider than a byte): through the API each is a
400 with a JSON {"message"}, through the CLI one `Error:` line and exit 125,
and nothing is left behind either way.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

SUPERSCRIPT_TWO = "\u00b2"
HUGE = "9" * 400


def _running(service, name: str = "box", **extra) -> str:
    created = service.request("POST", f"/containers/create?name={name}",
                              {"Image": "busybox", "Cmd": ["sleep", "300"], **extra})
    assert created[0] == 201, created[2]
    assert service.request("POST", f"/containers/{name}/start")[0] == 204
    return created[2]["Id"]


@pytest.mark.parametrize("method, path", [
    ("POST", "/containers/box/kill?signal=" + quote(SUPERSCRIPT_TWO)),
    ("POST", "/containers/box/kill?signal=" + "9" * 5000),
    ("GET", "/containers/json?filters=" + quote('{"exited":["%s"]}' % SUPERSCRIPT_TWO)),
    ("GET", "/containers/json?filters=" + quote('{"exited":["--5"]}')),
    ("GET", "/containers/json?filters=" + "%5B" * 2000),
    ("POST", "/containers/box/attach?stream=1&stdin=1&detachKeys=" + quote("\U0001f600")),
    ("POST", "/containers/box/attach?stream=1&stdin=1&detachKeys=" + quote("\u00e9")),
    ("GET", "/containers/box/logs?stdout=1&since=" + HUGE),
    ("GET", "/containers/box/logs?stdout=1&until=" + HUGE + "h"),
    ("GET", "/containers/box/logs?stdout=1&tail=" + quote(SUPERSCRIPT_TWO)),
    ("GET", "/events?since=" + HUGE),
])
def test_bad_values_are_a_400_with_a_message(api_crun, method, path):
    _running(api_crun, OpenStdin=True)
    status, response, body = api_crun.request(method, path)
    assert status == 400, (status, body)
    assert isinstance(body, dict) and body["message"], body
    assert api_crun.request("GET", "/containers/box/json")[2]["State"]["Running"] is True


def test_bad_values_in_bodies_are_a_400(api_crun):
    _running(api_crun)
    exec_create = api_crun.request("POST", "/containers/box/exec", {"Cmd": ["true"], "DetachKeys": "\U0001f600"})
    assert exec_create[0] == 400 and exec_create[2]["message"], exec_create[2]
    for user in (SUPERSCRIPT_TWO, "0:" + SUPERSCRIPT_TWO, "9" * 5000):
        created = api_crun.request("POST", "/containers/create?name=u", {"Image": "busybox", "User": user})
        assert created[0] == 201, created[2]
        started = api_crun.request("POST", "/containers/u/start")
        assert started[0] in (400, 500) and started[2]["message"], started[2]
        assert "Traceback" not in started[2]["message"]
        assert api_crun.request("DELETE", "/containers/u?force=1")[0] == 204


@pytest.mark.parametrize("args", [
    ("kill", "-s", SUPERSCRIPT_TWO, "box"),
    ("kill", "-s", "9" * 5000, "box"),
    ("ps", "-a", "--filter", f"exited={SUPERSCRIPT_TWO}"),
    ("ps", "-a", "--filter", "exited=--5"),
    ("attach", "--detach-keys", "\U0001f600", "box"),
    ("run", "--detach-keys", "\u00e9", "busybox", "true"),
    ("events", "--since", HUGE),
    ("events", "--until", HUGE + "h"),
    ("logs", "--since", HUGE, "box"),
    ("create", "--restart", f"on-failure:{SUPERSCRIPT_TWO}", "busybox", "true"),
])
def test_bad_values_are_one_error_line_in_the_cli(husk, args):
    husk("run", "-d", "--name", "box", "busybox", "sleep", "300", check=True)
    result = husk(*args, timeout=30)
    assert result.returncode == 125, result
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert husk("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout == "box running\n"
