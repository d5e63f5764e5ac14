"""Time stamps as husk reads and prints them, in integer nanoseconds.

Events and log records carry nanosecond times; a float of epoch seconds cannot
hold them exactly, so everything here works on `int` nanoseconds and converts
to float only at the edge.  `parse_time` is the single parser behind every
`--since` / `--until` flag (events and logs), accepting what podman accepts.
The module avoids `datetime` and `re` to stay cheap to import: the CLI loads it
on every lifecycle command through `husk.state.events`.
"""

from __future__ import annotations

import time

from ..define import InvalidArgument

NS_PER_SECOND = 1_000_000_000
#: Go's int64: Unix seconds and durations (in nanoseconds) past it are errors there, and here
#: (a 400-digit number would otherwise overflow the float of `parse_time`)
_INT64_MAX = 2**63 - 1

# Go's time.ParseDuration units, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
}


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _digits(text: str, start: int, count: int) -> int:
    part = text[start : start + count]
    if len(part) != count or not part.isascii() or not part.isdigit():
        raise ValueError(f"expected {count} digits at {start} in {text!r}")
    return int(part)


def _zone_offset_seconds(text: str, pos: int) -> int:
    """Parse `Z`, `+hh:mm` or `-hh:mm` that must end the text at `pos`."""
    rest = text[pos:]
    if rest in ("Z", "z"):
        return 0
    if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
        raise ValueError(f"bad time zone in {text!r}")
    offset = _digits(rest, 1, 2) * 3600 + _digits(rest, 4, 2) * 60
    return -offset if rest[0] == "-" else offset


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of `2006-01-02[T15:04:05[.999999999]][Z07:00]`.

    A missing zone means UTC, as Go's time.Parse (and so podman) reads it.
    Raises ValueError for anything else.
    """
    year, month, day = _digits(text, 0, 4), _digits(text, 5, 2), _digits(text, 8, 2)
    if text[4:5] != "-" or text[7:8] != "-" or not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"bad date in {text!r}")
    seconds = _days_from_civil(year, month, day) * 86400
    fraction_ns = 0
    pos = 10
    if text[pos : pos + 1] in ("T", "t"):
        hour, minute, second = _digits(text, 11, 2), _digits(text, 14, 2), _digits(text, 17, 2)
        if text[13:14] != ":" or text[16:17] != ":" or hour > 23 or minute > 59 or second > 60:
            raise ValueError(f"bad time of day in {text!r}")
        seconds += hour * 3600 + minute * 60 + second
        pos = 19
        if text[pos : pos + 1] == ".":
            end = pos + 1
            while end < len(text) and text[end].isascii() and text[end].isdigit():
                end += 1
            digits = text[pos + 1 : end]
            if not 1 <= len(digits) <= 9:
                raise ValueError(f"bad fraction of a second in {text!r}")
            fraction_ns = int(digits.ljust(9, "0"))
            pos = end
    if pos < len(text):
        seconds -= _zone_offset_seconds(text, pos)
    return seconds * NS_PER_SECOND + fraction_ns


def parse_duration_ns(text: str) -> int:
    """Nanoseconds in a Go duration such as `10m`, `1h30m`, `1.5s`, `-5s`; ValueError otherwise."""
    sign = 1
    rest = text
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"empty duration {text!r}")
    total = 0
    pos = 0
    while pos < len(rest):
        start = pos
        while pos < len(rest) and (rest[pos].isdigit() or rest[pos] == ".") and rest[pos].isascii():
            pos += 1
        number = rest[start:pos]
        unit_start = pos
        while pos < len(rest) and not (rest[pos].isascii() and (rest[pos].isdigit() or rest[pos] == ".")):
            pos += 1
        unit = rest[unit_start:pos]
        if number in ("", ".") or number.count(".") > 1 or unit not in _DURATION_UNITS:
            raise ValueError(f"bad duration {text!r}")
        whole, _, fraction = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction[:18]) * scale // 10 ** len(fraction[:18])
        if total > _INT64_MAX:
            raise ValueError(f"duration {text!r} out of range")
    return sign * total


def parse_time_ns(value: str, *, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch meant by a `--since` / `--until` value.

    Accepts, in podman's order: an RFC 3339 time (fraction and zone optional, a
    bare date too), Unix seconds (integer or fractional), or a Go duration
    meaning that long before now.  Anything else is InvalidArgument.
    """
    text = value.strip()
    try:
        return parse_rfc3339_ns(text)
    except ValueError:
        pass
    whole, dot, fraction = text.partition(".")
    if whole.isascii() and whole.lstrip("-").isdigit() and (not dot or (fraction.isascii() and fraction.isdigit() and len(fraction) <= 9)):
        sign = -1 if whole.startswith("-") else 1
        if len(whole) > 20 or abs(int(whole)) > _INT64_MAX:
            raise InvalidArgument(f'invalid time "{value}": Unix seconds out of range')
        return int(whole) * NS_PER_SECOND + sign * int(fraction.ljust(9, "0") or "0")
    try:
        duration_ns = parse_duration_ns(text)
    except ValueError:
        raise InvalidArgument(f'invalid time "{value}": want an RFC 3339 time, Unix seconds or a duration like 10m') from None
    return (time.time_ns() if now_ns is None else now_ns) - duration_ns


def parse_time(value: str) -> float:
    """`parse_time_ns` in float epoch seconds, for callers that compare with `time.time()`."""
    return parse_time_ns(value) / NS_PER_SECOND


def _trimmed_fraction(nanos: int) -> str:
    """Go's `.999999999` layout: the fraction without trailing zeros, nothing when zero."""
    return "." + f"{nanos:09d}".rstrip("0") if nanos else ""


def format_rfc3339_nano(time_ns: int) -> str:
    """Go's RFC3339Nano in UTC, e.g. `2026-11-28T22:06:43.1234Z` (what `logs -t` prints)."""
    seconds, nanos = divmod(time_ns, NS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + _trimmed_fraction(nanos) + "Z"


def format_go_time(time_ns: int) -> str:
    """Go's time.Time String() in local time: `2026-11-28 22:06:43.123456789 +0000 UTC`."""
    seconds, nanos = divmod(time_ns, NS_PER_SECOND)
    local = time.localtime(seconds)
    return _go_string(local, nanos, local.tm_gmtoff, local.tm_zone)


def _go_string(when: time.struct_time, nanos: int, offset_seconds: int, zone: str | None) -> str:
    """Go's String() layout of the wall time `when` at `offset_seconds` east of
    UTC; `zone` its name (the numeric offset when None, as Go prints a zone it
    has no name for)."""
    sign = "-" if offset_seconds < 0 else "+"
    hours, minutes = divmod(abs(offset_seconds) // 60, 60)
    offset = f"{sign}{hours:02d}{minutes:02d}"
    return (f"{when.tm_year:04d}-{when.tm_mon:02d}-{when.tm_mday:02d} {when.tm_hour:02d}:{when.tm_min:02d}:"
            f"{when.tm_sec:02d}{_trimmed_fraction(nanos)} {offset} {zone or offset}")  # year 1 is 0001 (strftime: 1)


def parse_until(value: str) -> float:
    """An `--until` value in epoch seconds.  As in podman, a duration there means
    that long *after* now (`events --until 10s` streams for ten seconds), where
    `--since 10s` means before; times and Unix seconds mean themselves."""
    text = value.strip()
    try:
        duration_ns = parse_duration_ns(text)
    except ValueError:
        duration_ns = None
    if duration_ns is None or text.replace(".", "", 1).lstrip("-").isdigit():
        return parse_time(value)
    return (time.time_ns() + duration_ns) / NS_PER_SECOND


def human_duration(seconds: float) -> str:
    """Docker's HumanDuration: `Less than a second`, `5 seconds`, `About a minute`, `3 hours`..."""
    seconds = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(epoch: float) -> str:
    """Go's RFC3339Nano in UTC; Go's zero time for 0 (never happened)."""
    return format_rfc3339_nano(int(epoch * 1e9)) if epoch else ZERO_TIME


class GoTime(str):
    """A field that is a Go time.Time in podman's documents (inspect's Created,
    State.StartedAt, a volume's CreatedAt...), held as its JSON text (RFC 3339).

    Go prints such a field two ways: encoding/json writes RFC 3339, and a
    template (fmt's %v, %s) calls String().  Being a str, a GoTime is that JSON
    text wherever a document is encoded (json.dumps; msgspec through an
    enc_hook of str); the template printer (husk.formats.gofmt.go_str) asks it
    for `go_string()`.  A str subclass costs no import: read-only verbs stay cheap."""

    __slots__ = ()

    def go_string(self) -> str:
        """Go's time.Time String(): `2026-12-05 09:57:09.040398 +0000 UTC`, in the
        text's own zone (UTC for `Z`, as a time Go parsed from JSON)."""
        text = str.__str__(self)
        try:
            seconds, nanos = divmod(parse_rfc3339_ns(text), NS_PER_SECOND)
        except ValueError:  # not a time after all (a hand-written network file): its text
            return text
        offset = 0 if text[-1:] in ("Z", "z") or text[-6:-5] not in ("+", "-") else _zone_offset_seconds(text, len(text) - 6)
        return _go_string(time.gmtime(seconds + offset), nanos, offset, "UTC" if offset == 0 else None)


def go_time(epoch: float) -> GoTime:
    """`rfc3339(epoch)` as a GoTime: a document's time.Time field."""
    return GoTime(rfc3339(epoch))
