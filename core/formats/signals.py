"""Signal names and numbers as users write them: `TERM`, `SIGTERM`, `sigkill`, `9`.

Names and numbers are read from ``_signal``, the C module the signal module
wraps (a built-in, loaded with the interpreter), not from the signal module,
whose import builds its enums (~2.7M instructions: inspect reads a stop
signal's number on every call, issue 20): signal.Signals' members are exactly
``_signal``'s ``SIG*`` names but the ``SIG_*`` constants."""

from __future__ import annotations

import _signal

from ..define import InvalidArgument


def parse_signal(value: str | int) -> int:
    """The signal number for a name or number; InvalidArgument for anything else
    (ASCII digits only: str.isdigit() is also true of '²', which int() refuses)."""
    text = str(value).strip().upper()
    if text.isascii() and text.isdigit():
        number = int(text) if len(text) <= 3 else 0
        if 0 < number < _signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        base, sign, offset = name.partition("+") if "+" in name else name.partition("-")
        if base in ("SIGRTMIN", "SIGRTMAX") and sign and offset.isascii() and offset.isdigit():
            number = (_signal.SIGRTMIN + int(offset)) if sign == "+" else (_signal.SIGRTMAX - int(offset))
            if _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:  # RTMIN+3: systemd's stop signal
                return int(number)
        number = getattr(_signal, name, None) if name.isidentifier() and not name.startswith("SIG_") else None
        if type(number) is int:
            return number
    raise InvalidArgument(f"invalid signal: {value}")


def signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
