"""The service's doors that need no running service: a request that is not HTTP/1.x."""

import asyncio
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.http import HttpVersion
from aiohttp.test_utils import make_mocked_request

from husk.api.guards import http_1_only


def test_a_request_that_is_not_http_1_is_closed_unanswered():
    transport = mock.Mock()
    request = make_mocked_request("GET", "/_ping", version=HttpVersion(0, 9), transport=transport)
    handler = mock.AsyncMock()
    with pytest.raises(web.HTTPBadRequest):
        asyncio.run(http_1_only(request, handler))
    transport.close.assert_called_once()
    handler.assert_not_called()


@pytest.mark.parametrize("minor", [0, 1])
def test_http_1_requests_reach_the_handler(minor):
    request = make_mocked_request("GET", "/_ping", version=HttpVersion(1, minor))
    handler = mock.AsyncMock(return_value="answered")
    assert asyncio.run(http_1_only(request, handler)) == "answered"
