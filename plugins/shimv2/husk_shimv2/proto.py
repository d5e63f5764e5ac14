"""The protobuf wire format, as much of it as the shim protocol needs.

Messages are dicts keyed by field number.  Encoding takes a list of
(field, value) pairs: ``int`` and ``bool`` become varints, ``bytes`` and
``str`` length-delimited fields, a nested list of pairs an embedded message;
``None``, zero, empty and ``False`` values are left out, as proto3 does.
Decoding gives ``{field: [values]}``: varints as ``int``, length-delimited
fields as ``bytes`` (the caller knows which are strings or messages).

Written by hand so that the waiter, which lives as long as its container,
imports nothing but the standard library's C modules.
"""

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    """An unsigned varint; a negative int is its 64-bit two's complement, as protobuf does."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple:
    """(value, next position); ValueError when the data ends inside it or it is over 10 bytes."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def encode(fields: list) -> bytes:
    """A message from (field number, value) pairs; see the module's docstring."""
    out = bytearray()
    for number, value in fields:
        if value is None or value is False or value == 0 and type(value) is int:
            continue
        if isinstance(value, (bool, int)):
            out += varint(number << 3 | VARINT) + varint(int(value))
            continue
        if isinstance(value, str):
            value = value.encode()
        elif isinstance(value, list):
            value = encode(value)
        if not value:
            continue
        out += varint(number << 3 | LENGTH) + varint(len(value)) + value
    return bytes(out)


def decode(data: bytes) -> dict:
    """{field number: [values]}; fixed-width fields as int.  ValueError when malformed."""
    fields: dict = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == VARINT:
            value, pos = read_varint(data, pos)
        elif kind == LENGTH:
            size, pos = read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("length-delimited field past the end of the message")
            value, pos = bytes(data[pos:pos + size]), pos + size
        elif kind in (FIXED64, FIXED32):
            width = 8 if kind == FIXED64 else 4
            if pos + width > len(data):
                raise ValueError("fixed-width field past the end of the message")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            raise ValueError("unsupported wire type %d" % kind)
        if number == 0:
            raise ValueError("field number 0")
        fields.setdefault(number, []).append(value)
    return fields


def first(fields: dict, number: int, default=0):
    """The last value of a scalar field (protobuf's rule for repeats), or ``default``."""
    values = fields.get(number)
    return values[-1] if values else default


def text(fields: dict, number: int) -> str:
    return first(fields, number, b"").decode(errors="replace")


def any_message(type_url: str, value: bytes) -> list:
    """A google.protobuf.Any (type_url = 1, value = 2) as pairs for :func:`encode`."""
    return [(1, type_url), (2, value)]
