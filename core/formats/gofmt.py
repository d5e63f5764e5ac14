"""Go's fmt, as far as templates print values: %v, Printf verbs, JSON, quoting.

husk's --format output must be byte-for-byte what podman prints, and podman
prints through Go's fmt and encoding/json: ``true``, ``<nil>``, ``[a b]``,
``map[k:v]``, ``1e+06``, ``%!d(string=x)``.  This module reproduces that for
the plain Python values husk hands to templates (dicts, lists, str, int,
float, bool, None).  Standard library only; json is imported on first use.
"""

from __future__ import annotations

from .timestamps import GoTime

__all__ = ["MISSING", "GoStruct", "as_struct", "go_str", "go_float", "go_type", "go_quote", "go_sprintf", "to_json", "sorted_keys"]


class _Missing:
    """A missing map key or field: Go prints it as ``<no value>`` and it is false."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class GoStruct(dict):
    """A dict that stands for a Go struct: podman's rows and documents are structs.

    Templates see the difference in two places, as with podman: a field the
    struct does not have is an error (``can't evaluate field Nope in type
    ...``), not ``<no value>``; and ``{{.}}`` prints ``{v1 v2 ...}`` in field
    order, not ``map[...]``.  JSON output is unchanged (it is still a dict).
    """

    __slots__ = ("type_name",)

    def __init__(self, fields: dict, type_name: str) -> None:
        super().__init__(fields)
        self.type_name = type_name


def as_struct(document: dict, type_name: str, maps: frozenset = frozenset()) -> GoStruct:
    """`document` with its nested dicts (also inside lists) as GoStructs, except the
    values of the keys in `maps` (podman's map fields: Labels, Annotations, ...)."""

    def convert(value: object, name: str) -> object:
        if isinstance(value, dict) and name not in maps:
            return GoStruct({k: convert(v, k) for k, v in value.items()}, name)
        if isinstance(value, list):
            return [convert(item, name) for item in value]
        return value

    return GoStruct({key: convert(value, key) for key, value in document.items()}, type_name)


def go_str(value: object) -> str:
    """Print a value as Go's fmt %v does (text/template's way of printing)."""
    if isinstance(value, GoTime):
        return value.go_string()
    if isinstance(value, str):
        return str.__str__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join([go_str(item) for item in value]) + "]"
    if isinstance(value, GoStruct):
        return "{" + " ".join([go_str(item) for item in value.values()]) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join([f"{go_str(k)}:{go_str(value[k])}" for k in sorted_keys(value)]) + "]"
    fields = getattr(value, "__struct_fields__", None)
    if fields is not None:
        return "{" + " ".join(go_str(getattr(value, name)) for name in fields) + "}"
    return str(value)


def sorted_keys(mapping: dict) -> list:
    try:
        return sorted(mapping)
    except TypeError:
        return sorted(mapping, key=str)


def _float_digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits of abs(value) and the decimal point: 0.DIGITS x 10**point."""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    return stripped.rstrip("0"), point - (len(digits) - len(stripped))


def _float_text(value: float, use_exponent, exponent_width: int) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if repr(value).startswith("-") else ""
    digits, point = _float_digits(value)
    if not digits:
        return sign + "0"
    exponent = point - 1
    if use_exponent(exponent):
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exponent < 0 else '+'}{abs(exponent):0{exponent_width}d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 or from 1e6."""
    return _float_text(value, lambda exponent: exponent < -4 or exponent >= 6, 2)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): `0s`, `750ms`, `1.5µs`, `1.5207s`, `2m0s`, `1h0m5s`."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size, width in (("ms", 1_000_000, 6), ("µs", 1_000, 3), ("ns", 1, 0)):
            if ns >= size:
                whole, fraction = divmod(ns, size)
                return f"{sign}{whole}{_fraction(fraction, width)}{unit}"
    seconds, fraction = divmod(ns, 1_000_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{seconds}{_fraction(fraction, 9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def _fraction(value: int, width: int) -> str:
    return "." + f"{value:0{width}d}".rstrip("0") if value else ""


def go_type(value: object) -> str:
    """The Go type name a value would have after decoding JSON (for messages)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, GoTime):
        return "time.Time"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, dict):
        return "map[string]interface {}"
    if value is None or value is MISSING:
        return "<nil>"
    return type(value).__name__


def go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8, from argv (surrogateescape): Go's %q says \xff
            out.append(f"\\x{ord(ch) - 0xdc00:02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def to_json(value: object) -> str:
    """Compact JSON as Go's encoder writes it (no HTML escaping, dict order kept)."""
    from json.encoder import encode_basestring

    parts: list[str] = []

    def encode(item: object) -> None:
        if isinstance(item, str):
            text = encode_basestring(item)
            parts.append(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
        elif item is None or item is MISSING:
            parts.append("null")
        elif item is True or item is False:
            parts.append("true" if item else "false")
        elif isinstance(item, int):
            parts.append(int.__repr__(item))
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise ValueError(f"json: unsupported value: {go_float(item)}")
            parts.append(_float_text(item, lambda e: item != 0 and (e < -6 or e >= 21), 1))
        elif isinstance(item, dict):
            parts.append("{")
            for index, (key, member) in enumerate(item.items()):
                parts.append(("," if index else "") + encode_basestring(str(key)) + ":")
                encode(member)
            parts.append("}")
        elif isinstance(item, (list, tuple)):
            parts.append("[")
            for index, member in enumerate(item):
                if index:
                    parts.append(",")
                encode(member)
            parts.append("]")
        elif hasattr(item, "__struct_fields__"):
            encode({name: getattr(item, name) for name in item.__struct_fields__})
        else:
            encode(str(item))

    encode(value)
    return "".join(parts)


# ---------------------------------------------------------------- printf


_PRINTF_CACHE: dict[str, list] = {}


def _parse_printf(fmt: str) -> list:
    """Split a Go format into literal strings and (flags, width, precision, verb) tuples."""
    pieces: list = []
    i, end = 0, len(fmt)
    while i < end:
        j = fmt.find("%", i)
        if j < 0:
            pieces.append(fmt[i:])
            break
        if j > i:
            pieces.append(fmt[i:j])
        i = j + 1
        flags = ""
        while i < end and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width, i = _printf_number(fmt, i)
        precision = None
        if i < end and fmt[i] == ".":
            precision, i = _printf_number(fmt, i + 1)
            precision = precision if precision is not None else 0
        if i >= end:
            pieces.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        pieces.append("%" if verb == "%" else (flags, width, precision, verb))
    return pieces


def _printf_number(fmt: str, i: int) -> tuple[int | str | None, int]:
    if fmt[i:i + 1] == "*":
        return "*", i + 1
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i


def go_sprintf(fmt: str, *args: object) -> str:
    """fmt.Sprintf for the verbs templates use: v s q d t x X o b c e f g (and E F G)."""
    if not isinstance(fmt, str):
        raise ValueError(f"wrong type for value; expected string; got {go_type(fmt)}")
    pieces = _PRINTF_CACHE.get(fmt)
    if pieces is None:
        if len(_PRINTF_CACHE) >= 256:
            _PRINTF_CACHE.clear()
        pieces = _PRINTF_CACHE[fmt] = _parse_printf(fmt)
    out = []
    next_arg = 0
    for piece in pieces:
        if type(piece) is str:
            out.append(piece)
            continue
        flags, width, precision, verb = piece
        if width == "*" or precision == "*":
            stars = [width, precision]
            for slot in (0, 1):
                if stars[slot] == "*":
                    star = args[next_arg] if next_arg < len(args) else None
                    next_arg += 1
                    if type(star) is not int:
                        out.append("%!(BADWIDTH)" if slot == 0 else "%!(BADPREC)")
                        star = None
                    elif slot == 0 and star < 0:
                        flags, star = flags + "-", -star
                    stars[slot] = star
            width, precision = stars
        if next_arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_arg(flags, width, precision, verb, args[next_arg]))
        next_arg += 1
    if next_arg < len(args):
        extra = ", ".join(f"{go_type(arg)}={go_str(arg)}" for arg in args[next_arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_arg(flags: str, width: int | None, precision: int | None, verb: str, arg: object) -> str:
    if isinstance(arg, GoTime) and verb in "vsq":
        arg = arg.go_string()  # a Stringer: %v, %s and %q print its String()
    if verb != "v" and isinstance(arg, (list, tuple)):
        return "[" + " ".join(_format_arg(flags, width, precision, verb, item) for item in arg) + "]"
    if verb != "v" and isinstance(arg, dict):
        return "map[" + " ".join(
            _format_arg(flags, width, precision, verb, key) + ":" + _format_arg(flags, width, precision, verb, arg[key])
            for key in sorted_keys(arg)
        ) + "]"
    if verb == "s" and not isinstance(arg, (str, int, float)) and arg is not None and arg is not MISSING:
        # Go prints a Stringer with %s
        return _pad(go_str(arg), flags, width)
    numeric = False
    if verb == "v":
        if type(arg) is float or (isinstance(arg, int) and not isinstance(arg, bool)):
            verb = "g" if type(arg) is float else "d"
        else:
            text = go_str(arg)
            return _pad(text, flags, width)
    if verb in "sq" and isinstance(arg, str):
        text = str.__str__(arg)
        if precision is not None:
            text = text[:precision]
        return _pad(go_quote(text) if verb == "q" else text, flags, width)
    if verb == "t" and isinstance(arg, bool):
        return _pad("true" if arg else "false", flags, width)
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "dxXobcqU":
        text, numeric = _format_int(arg, verb, flags, precision), verb not in "cq"
    elif type(arg) is float and verb in "eEfFgG":
        text, numeric = _format_float(arg, verb, flags, precision), arg == arg and abs(arg) != float("inf")
    elif isinstance(arg, str) and verb in "xX":
        data = arg.encode()[:precision] if precision is not None else arg.encode()
        text = data.hex() if verb == "x" else data.hex().upper()
        if "#" in flags and text:
            text = ("0x" if verb == "x" else "0X") + text
    elif arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    else:
        return f"%!{verb}({go_type(arg)}={go_str(arg)})"
    if numeric and width and "0" in flags and "-" not in flags and len(text) < width:
        sign = text[0] if text[0] in "+- " else ""
        return sign + text[len(sign):].rjust(width - len(sign), "0")
    return _pad(text, flags, width)


def _pad(text: str, flags: str, width: int | None) -> str:
    if not width or len(text) >= width:
        return text
    return text.ljust(width) if "-" in flags else text.rjust(width)


def _format_int(number: int, verb: str, flags: str, precision: int | None) -> str:
    if verb == "c":
        return chr(number)
    if verb == "q":
        return "'" + go_quote(chr(number))[1:-1].replace("\\\"", '"').replace("'", "\\'") + "'"
    if verb == "U":
        return f"U+{number:04X}"
    digits = format(abs(number), {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
    if precision is not None:
        digits = "" if precision == 0 and number == 0 else digits.zfill(precision)
    prefix = ""
    if "#" in flags:
        prefix = {"x": "0x", "X": "0X", "b": "0b", "o": "0" if not digits.startswith("0") else ""}.get(verb, "")
    sign = "-" if number < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + prefix + digits


def _format_float(number: float, verb: str, flags: str, precision: int | None) -> str:
    sign = "+" if "+" in flags else " " if " " in flags else ""
    if number != number or number in (float("inf"), float("-inf")):
        text = _float_text(number, None, 2)
        return text if text[0] in "+-" or not sign else sign + text
    if verb in "gG" and precision is None:
        text = go_float(number)
        text = text.upper() if verb == "G" else text
    else:
        spec = "f" if verb == "F" else verb
        text = format(number, f".{6 if precision is None else precision}{spec}")
    return text if text.startswith("-") or not sign else sign + text
