"""husk.formats.signals reads names and numbers from the C module _signal, not
the signal module (its enums: ~2.7M instructions of every inspect, issue 20):
what it accepts and answers is exactly what signal.Signals would give."""

import signal
import subprocess
import sys

import pytest

from husk.define import InvalidArgument
from husk.formats.signals import parse_signal, signal_name


@pytest.mark.parametrize("name", sorted(signal.Signals.__members__))
def test_every_signal_name_with_and_without_sig(name):
    assert parse_signal(name) == parse_signal(name.lower()) == int(signal.Signals[name])
    assert parse_signal(name[3:]) == int(signal.Signals[name])
    assert type(parse_signal(name)) is int


@pytest.mark.parametrize("text", ["SIG_DFL", "DFL", "_IGN", "SIG_BLOCK", "NSIG", "SIGNSIG", "ITIMER_REAL", "signal",
                                  "SIGsignal", "0", "65", "1a", "²", "", "RTMIN+", "RTMIN+99", "SIGFOO"])
def test_what_is_not_a_signal(text):
    with pytest.raises(InvalidArgument):
        parse_signal(text)


def test_numbers_and_real_time_signals():
    assert parse_signal("9") == 9 and parse_signal(" term ") == 15
    assert parse_signal("RTMIN+3") == signal.SIGRTMIN + 3 and parse_signal("sigrtmax-2") == signal.SIGRTMAX - 2
    assert signal_name(15) == "SIGTERM" and signal_name(6) == "SIGABRT" and signal_name(99) == "99"


def test_parsing_does_not_import_the_signal_module():
    code = ("import sys; from husk.formats.signals import parse_signal; parse_signal('TERM'); parse_signal('RTMIN+1');"
            " print('signal' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout == "False\n", result.stderr
