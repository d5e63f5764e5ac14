"""Signal names and numbers as users write them: `TERM`, `SIGTERM`, `sigkill`, `9`."""

from __future__ import annotations

import signal

from ..define import InvalidArgument


def parse_signal(value: str | int) -> int:
    """The signal number for a name or number; InvalidArgument for anything else
    (ASCII digits only: str.isdigit() is also true of '²', which int() refuses)."""
    text = str(value).strip().upper()
    if text.isascii() and text.isdigit():
        number = int(text) if len(text) <= 3 else 0
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        base, sign, offset = name.partition("+") if "+" in name else name.partition("-")
        if base in ("SIGRTMIN", "SIGRTMAX") and sign and offset.isascii() and offset.isdigit():
            number = (signal.SIGRTMIN + int(offset)) if sign == "+" else (signal.SIGRTMAX - int(offset))
            if signal.SIGRTMIN <= number <= signal.SIGRTMAX:  # RTMIN+3: systemd's stop signal
                return int(number)
        number = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if isinstance(number, signal.Signals):
            return int(number)
    raise InvalidArgument(f"invalid signal: {value}")


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
