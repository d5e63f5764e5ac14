"""Property tests of what the API service reads from clients.

Every parser that sees client input -- query flags, integers, filters, signals,
times, detach keys, JSON bodies, the create body's fields -- must either return
a value of the promised type or raise a HuskError whose HTTP status is 4xx (or
aiohttp's 413 for an oversized body).  Any other exception would reach the
error middleware as a 500 "internal error" with a traceback in the log: that is
what these tests are for.  The gaps they once found (unicode digits, deep
JSON, wide detach keys, numbers past a float) have regression cases at the end.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from husk.api import requests
from husk.api.docker import _create_arguments
from husk.api.documents import docker_state
from husk.api.keys import BODY_TIMEOUT
from husk.api.requests import CreateBody
from husk.define import HuskError
from husk.presentation.filters import container_filter

settings.register_profile("api-fuzz", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile("api-fuzz")

#: JSON values of any shape, nested a little
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
#: integers past every machine size, as text
huge_numbers = st.integers(min_value=-(10 ** 400), max_value=10 ** 400).map(str)


def client_error(exc: BaseException) -> bool:
    if isinstance(exc, HuskError):
        return 400 <= exc.http_status < 500
    return isinstance(exc, web.HTTPException) and 400 <= exc.status < 500


def parsed_or_client_error(parse, *args):
    """parse(*args), or None when it refused the input with a 4xx error."""
    try:
        return parse(*args)
    except Exception as exc:  # noqa: BLE001 -- the point is to see which
        assert client_error(exc), f"{parse.__name__}{args!r} raised {type(exc).__name__}: {exc}"
        return None


def query_request(**params: str) -> web.Request:
    """A request whose query string carries `params` (percent-encoded as a client would)."""
    return make_mocked_request("GET", "/containers/json?" + urlencode(params))


class BufferedBody:
    """A request's content stream with the whole body already received."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, n: int = -1) -> bytes:
        chunk, self.body = (self.body, b"") if n < 0 else (self.body[:n], self.body[n:])
        return chunk


def body_request(body: bytes):
    """What decode_body uses of a request: its content stream, its (absent)
    Content-Type, and the service's body timeout."""
    return type("Request", (), {"content": BufferedBody(body), "headers": {}, "app": {BODY_TIMEOUT: 60.0}})()


def decode(body: bytes, kind=CreateBody):
    def run():
        return asyncio.run(requests.decode_body(body_request(body), kind))

    run.__name__ = "decode_body"
    return parsed_or_client_error(run)


# -- query parameters -------------------------------------------------------------------------
@FUZZ
@given(st.text() | huge_numbers)
@example("")
@example("TRUE")
@example("tRuE")
@example("1\x00")
def test_flag_is_go_parsebool(value):
    result = parsed_or_client_error(requests.flag, query_request(all=value), "all")
    assert result is None or result is (value in {"1", "t", "T", "true", "TRUE", "True"})
    assert result is not None or value not in {"", "0", "f", "F", "false", "FALSE", "False"}


@FUZZ
@given(st.text() | huge_numbers)
@example("9" * 5000)
@example("1e999")
@example("0x10")
@example("-")
@example("\u0661\u0662")
def test_integer_is_an_int_or_a_400(value):
    result = parsed_or_client_error(requests.integer, query_request(limit=value), "limit", -1)
    assert result is None or isinstance(result, int)


@FUZZ
@given(st.text() | json_values.map(json.dumps))
@example("{bad")
@example("[]")
@example('{"status": [1]}')
@example('{"label": {"a": 1, "b": 0}}')
def test_filters_are_a_dict_of_string_lists_or_a_400(raw):
    result = parsed_or_client_error(requests.filters, query_request(filters=raw))
    if result is not None:
        assert all(isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
                   for k, v in result.items())
        parsed_or_client_error(container_filter, result, docker_state)


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 100_000])
def test_deeply_nested_filters_are_a_400(raw):
    assert parsed_or_client_error(requests.filters, query_request(filters=raw)) is None


@FUZZ
@given(st.dictionaries(st.sampled_from(["id", "name", "status", "exited", "label", "ancestor", "other"]),
                       st.lists(st.text() | huge_numbers, max_size=3), max_size=3))
@example({"name": ["("]})
@example({"status": ["running", "zzz"]})
def test_container_filters_accept_only_what_they_can_match(wanted):
    """A filter set that is accepted must not fail later, while containers are
    matched (where an error would be a 500): `exited` values must be integers."""
    if parsed_or_client_error(container_filter, wanted, docker_state) is not None:
        for value in wanted.get("exited", []):
            int(value)


@FUZZ
@given(st.text() | huge_numbers)
@example("SIGKILL")
@example("9")
@example("0")
@example("65")
@example("sigterm")
@example("RTMIN+3")
def test_signals_are_a_number_or_a_400(value):
    from husk.formats.signals import parse_signal

    result = parsed_or_client_error(parse_signal, value)
    assert result is None or (isinstance(result, int) and 0 < result < 128)


@FUZZ
@given(st.text() | huge_numbers | st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(lambda n: f"{n}h"))
@example("1e400")
@example("99999999999999999999h")
@example("2026-13-45T99:99:99Z")
@example("-1s")
@example("1.5")
def test_times_are_a_number_or_a_400(value):
    from husk.formats.timestamps import parse_time, parse_until

    for parse in (parse_time, parse_until):
        result = parsed_or_client_error(parse, value)
        assert result is None or isinstance(result, (int, float))


@FUZZ
@given(st.text())
@example("ctrl-p,ctrl-q")
@example("ctrl-")
@example("ctrl-\u00e9")
@example(",,,")
def test_detach_keys_are_bytes_or_a_400(value):
    from husk.api.streams import parse_detach_keys

    result = parsed_or_client_error(parse_detach_keys, value)
    assert result is None or isinstance(result, bytes)


@FUZZ
@given(st.dictionaries(st.sampled_from(["container", "event", "image", "label", "type", "since", "bogus"]),
                       st.lists(st.text(), max_size=3), max_size=3))
def test_event_filters_compile_or_are_a_400(wanted):
    from husk.state.events import compile_filters

    parsed_or_client_error(compile_filters, wanted)


# -- JSON bodies -------------------------------------------------------------------------------
CREATE_FIELDS = ["Image", "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Hostname", "Labels", "StopSignal",
                 "StopTimeout", "Tty", "OpenStdin", "HostConfig"]
HOST_FIELDS = ["Binds", "Tmpfs", "AutoRemove", "RestartPolicy", "NetworkMode", "ReadonlyRootfs", "Privileged",
               "CapAdd", "CapDrop", "Runtime", "ConsoleSize"]
wrong_typed_bodies = st.fixed_dictionaries({}, optional={
    **{name: json_values for name in CREATE_FIELDS},
    "HostConfig": st.fixed_dictionaries({}, optional={name: json_values for name in HOST_FIELDS}) | json_values,
})
strs = st.lists(st.text(), max_size=3)
well_typed_bodies = st.fixed_dictionaries({"Image": st.text(min_size=1)}, optional={
    "Cmd": strs | st.text(), "Entrypoint": strs | st.text(), "Env": strs, "WorkingDir": st.text(),
    "User": st.text(), "Labels": st.dictionaries(st.text(), st.text(), max_size=3),
    "StopTimeout": st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    "HostConfig": st.fixed_dictionaries({}, optional={
        "Binds": strs, "Tmpfs": st.dictionaries(st.text(), st.text(), max_size=3), "AutoRemove": st.booleans(),
        "RestartPolicy": st.fixed_dictionaries({"Name": st.text() | st.sampled_from(["no", "always", "on-failure"]),
                                                "MaximumRetryCount": st.integers()}),
        "NetworkMode": st.text() | st.sampled_from(["host", "none", "bridge"]), "CapAdd": strs, "CapDrop": strs,
        "ConsoleSize": st.lists(st.integers(), max_size=3)}),
})


@FUZZ
@given(st.text().map(str.encode) | json_values.map(lambda v: json.dumps(v).encode())
       | wrong_typed_bodies.map(lambda v: json.dumps(v).encode()))
@example(b"{")
@example(b"[" * 100_000)
@example(b'{"Cmd": 5}')
@example(b'{"StopTimeout": 1' + b"0" * 5000 + b"}")
@example(b'{"HostConfig": {"ConsoleSize": [1e400]}}')
@example(b'{"Image": "\\ud800"}')
@example(b"\xef\xbb\xbf{}")
def test_any_body_decodes_or_is_a_400(body):
    result = decode(body)
    assert result is None or isinstance(result, CreateBody)


@FUZZ
@given(well_typed_bodies)
@example({"Image": "x", "HostConfig": {"Binds": [":"]}})
@example({"Image": "x", "Env": ["=v"]})
@example({"Image": "x", "HostConfig": {"Tmpfs": {"": ""}}})
def test_create_arguments_are_built_or_a_400(document):
    body = decode(json.dumps(document).encode())
    if body is not None:
        arguments = parsed_or_client_error(_create_arguments, body)
        assert arguments is None or isinstance(arguments, dict)


def test_an_oversized_body_is_a_413():
    assert decode(b" " * (requests.MAX_JSON_BODY + 1)) is None
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        asyncio.run(requests.decode_body(body_request(b" " * (requests.MAX_JSON_BODY + 1)), CreateBody))


def test_text_that_is_not_utf8_in_a_body_is_read_as_podman_reads_it():
    """podman 4.3.1's service reads a byte that is not UTF-8, and an unpaired
    surrogate escape, as U+FFFD (201); outside a string it is still a 400."""
    assert decode(b'{"Image": "\xff"}').image == "\ufffd"
    assert decode(b'{"Image": "a\\udcff\\ud83d\\ude00"}').image == "a\ufffd\U0001f600"
    assert decode(b'{"Image": 1\xff}') is None


def _exited_filter_then_match(value: str) -> None:
    """Accepting the filter, then matching it against a container that exited 0."""
    from types import SimpleNamespace

    from husk.define import State

    ctr = SimpleNamespace(config=SimpleNamespace(), state=SimpleNamespace(state=State.EXITED, exit_code=0))
    return container_filter({"exited": [value]}, docker_state)(ctr)


def _signal(value: str):
    from husk.formats.signals import parse_signal

    return parse_signal(value)


def _detach_keys(value: str):
    from husk.api.streams import parse_detach_keys

    return parse_detach_keys(value)


def _time(value: str):
    from husk.formats.timestamps import parse_time

    return parse_time(value)


def _time_until(value: str):
    from husk.formats.timestamps import parse_until

    return parse_until(value)


#: inputs that once got past the parsers (each was a 500 with a traceback): now refused with a 400
FORMER_GAPS = [
    pytest.param(_exited_filter_then_match, "\u00b2", id="exited=² (isdigit() passed it, int() did not)"),
    pytest.param(_exited_filter_then_match, "--5", id="exited=--5"),
    pytest.param(_exited_filter_then_match, "9" * 5000, id="exited=<5000 digits>"),
    pytest.param(_signal, "\u00b2", id="signal=²"),
    pytest.param(_signal, "\u0661\u0665", id="signal=<arabic-indic 15>"),
    pytest.param(_signal, "9" * 5000, id="signal=<5000 digits>"),
    pytest.param(_detach_keys, "\U0001f600", id="detachKeys with a character over U+00FF"),
    pytest.param(_detach_keys, "\u00e9", id="detachKeys with a character of two UTF-8 bytes"),
    pytest.param(_time, "9" * 400, id="since=<400 digits> (overflowed the float)"),
    pytest.param(_time, "-" + "9" * 400, id="since=-<400 digits>"),
    pytest.param(_time, "9" * 400 + "h", id="since=<400-digit duration>"),
    pytest.param(_time_until, "9" * 400 + "s", id="until=<400-digit duration>"),
    pytest.param(_time_until, "9" * 400, id="until=<400 digits>"),
]


@pytest.mark.parametrize("parse, value", FORMER_GAPS)
def test_former_gaps_are_a_400(parse, value):
    assert parsed_or_client_error(parse, value) is None
