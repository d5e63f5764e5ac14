"""husk.cli.lean_imports: msgspec's unused modules deferred, still usable; decimal and uuid stand-ins (issue 20).

Each check runs in a fresh interpreter: the finder is process-wide, and this
test process has imported msgspec already."""

import subprocess
import sys

CHECK = """
import sys
from husk.cli import lean_imports
lean_imports.install()
import click
import msgspec

def ran(name):
    module = sys.modules.get(name)
    return module is not None and type(module).__name__ != "_LazyModule"

deferred = [name for name in sorted(lean_imports.DEFERRED) if ran(name)]
assert deferred == [], deferred
assert not ran("typing_extensions")
real = ("_decimal", "_uuid", "platform")  # msgspec and click took the stand-ins' Decimal and UUID
assert not [name for name in real if name in sys.modules], [name for name in real if name in sys.modules]
assert msgspec.json.decode(msgspec.json.encode({"a": [1]})) == {"a": [1]}
assert msgspec.yaml.__name__ == "msgspec.yaml" and ran("msgspec.yaml")  # a use runs it
assert msgspec.json.schema(int) == {"type": "integer"}
assert msgspec.inspect.type_info(int) == msgspec.inspect.IntType()
import textwrap
assert textwrap.dedent("  x") == "x"
import typing_extensions  # anybody but msgspec._utils finds it
assert typing_extensions.Literal is not None
import decimal, uuid  # anybody's use loads the real modules
assert decimal.Decimal("1.5") + 1 == decimal.Decimal("2.5")
assert msgspec.json.encode(decimal.Decimal("1.5"), enc_hook=str) == b'"1.5"'  # as husk's JSON output encodes
value = uuid.uuid4()
assert isinstance(value, uuid.UUID) and sys.modules["uuid"].UUID is uuid.UUID
assert click.UUID.convert(str(value), None, None) == value
assert msgspec.json.encode(value, enc_hook=str) == f'"{value}"'.encode()
from uuid import UUID
assert UUID is uuid.UUID and "platform" in sys.modules
print("ok")
"""


def test_msgspec_s_unused_modules_wait_for_their_first_use():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
