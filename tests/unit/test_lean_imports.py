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


#: every text click cleans with inspect.cleandoc in husk's CLI (each option's help as written, each
#: command's help, short help and epilog), as JSON: click is imported before husk.cli, so it has the real
#: inspect, whose cleandoc records what it is given
HELP_TEXTS = """
import inspect, json
texts = []
real = inspect.cleandoc
inspect.cleandoc = lambda doc: texts.append(doc) or real(doc)
import click
from husk.cli import MODULES, cli, load
load(MODULES)

def walk(command):
    texts.extend(text for text in (command.help, command.short_help, command.epilog) if text)
    for sub in dict.values(getattr(command, "commands", {})):
        walk(sub)

walk(cli)
print(json.dumps(texts))
"""
#: what help text can hold beyond husk's own
ODD = ["", "one line", "  indented one line  ", "\tTabbed\n\tbody", "First\n\n    body\n\n      deeper\n    ",
       "\n\n  Leading blank lines\n  and body\n\n\n", "x\n \t mixed\n\t\ttabs", "\n", "   \n   \n   ",
       "first\n    a\n  \n    b", "Summary.\n\n    Details\n    \f\n    hidden", "a\r\n    b\r\n",
       "\u3000wide space first\n\u3000\u3000body", "first\n\tx\n        y", "  lead\n    trailing   \n  "]


def test_its_cleandoc_is_inspect_s_over_every_help_text_and_odd_ones():
    import inspect
    import json

    from husk.cli.lean_imports import cleandoc

    result = subprocess.run([sys.executable, "-c", HELP_TEXTS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    texts = json.loads(result.stdout)
    assert len(texts) > 500, len(texts)  # husk's verbs were walked
    for text in texts + ODD:
        assert cleandoc(text) == inspect.cleandoc(text), repr(text)


STAND_IN = """
import sys
from husk.cli import lean_imports
lean_imports.install()
import click, click.core, click.decorators, click.termui
heavy = [name for name in ("inspect", "ast", "dis", "tokenize") if name in sys.modules]
assert heavy == [], heavy
assert click.core.inspect is click.decorators.inspect is click.termui.inspect is lean_imports.LEAN_INSPECT
assert click.Option(["--x"], help="  a\\n    b").help == "a\\nb"
import inspect  # anybody else imports the real module
assert inspect is not lean_imports.LEAN_INSPECT and inspect.cleandoc is not lean_imports.cleandoc
assert click.core.inspect.isfunction(print) is False and click.core.inspect.signature is inspect.signature
from inspect import Parameter
assert Parameter is inspect.Parameter
lean_imports.uninstall()  # the API service: click's modules take the real module
assert click.core.inspect is click.decorators.inspect is click.termui.inspect is sys.modules["inspect"] is inspect
print("ok")
"""


def test_click_s_modules_alone_get_a_stand_in_inspect():
    result = subprocess.run([sys.executable, "-c", STAND_IN], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
