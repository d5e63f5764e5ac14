"""The error middleware and a broken connection: whose connection it was decides
the answer (the client's: nothing to say; another's: an internal error)."""

import asyncio
import logging
from unittest import mock

import pytest
from aiohttp import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request

from husk.api.errors import error_middleware


def _answer(error: Exception, client_connection_closing: bool):
    transport = mock.Mock()
    transport.is_closing.return_value = client_connection_closing
    request = make_mocked_request("GET", "/containers/box/stats", transport=transport)
    return asyncio.run(error_middleware(request, mock.AsyncMock(side_effect=error)))


@pytest.mark.parametrize("error", [ClientConnectionResetError("Cannot write to closing transport"),
                                   BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")])
def test_a_client_that_left_mid_answer_is_not_logged(error, caplog):
    # it was re-raised to aiohttp, which logged it with a traceback (a stats
    # stream's client that hung up failed the service's clean-stderr check)
    with caplog.at_level(logging.DEBUG):
        _answer(error, client_connection_closing=True)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_broken_connection_that_is_not_the_clients_is_an_internal_error(caplog):
    response = _answer(BrokenPipeError(32, "Broken pipe"), client_connection_closing=False)
    assert response.status == 500 and "BrokenPipeError" in response.text
    assert [record.getMessage() for record in caplog.records] == ["internal error in GET /containers/box/stats"]
