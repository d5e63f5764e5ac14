"""Evaluation of parsed Go templates: the nodes, Go's field lookup, the heading
stand-in for tables, and the template functions podman and docker document."""

from __future__ import annotations

from husk.formats.gofmt import MISSING, GoStruct, go_quote, go_sprintf, go_str, go_type, sorted_keys, to_json


# ---------------------------------------------------------------- errors


class _ExecError(Exception):
    """A failure while rendering; Template.render turns it into InvalidArgument."""

    where = ""


def _raise(message: str):
    from husk.define import InvalidArgument

    raise InvalidArgument(message) from None


# ---------------------------------------------------------------- nodes and execution


class _State:
    """What one rendering changes: the variables in scope, innermost last."""

    __slots__ = ("variables",)

    def __init__(self, data: object) -> None:
        self.variables = [["$", data]]


class _Break(Exception):
    def render(self, state, dot, out):
        raise _Break()


class _Continue(Exception):
    def render(self, state, dot, out):
        raise _Continue()


def _render_nodes(nodes: list, state: _State, dot: object, out: list) -> None:
    for node in nodes:
        node.render(state, dot, out)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, state, dot, out):
        out.append(self.text)


class _Action:
    __slots__ = ("pipe", "text")

    def __init__(self, pipe: "_Pipe", text: str) -> None:
        self.pipe, self.text = pipe, text

    def render(self, state, dot, out):
        try:
            value = self.pipe.eval(state, dot)
        except _ExecError as error:
            error.where = error.where or self.text
            raise
        if not self.pipe.decls:
            out.append(value if type(value) is str else go_str(value))


class _Block:
    __slots__ = ("pipe", "body", "orelse", "text")

    def __init__(self, pipe, body, orelse, text) -> None:
        self.pipe, self.body, self.orelse, self.text = pipe, body, orelse, text

    def value(self, state, dot):
        try:
            return self.pipe.eval(state, dot)
        except _ExecError as error:
            error.where = error.where or self.text
            raise


class _If(_Block):
    __slots__ = ()

    def render(self, state, dot, out):
        mark = len(state.variables)
        if self.value(state, dot):
            _render_nodes(self.body, state, dot, out)
        elif self.orelse is not None:
            _render_nodes(self.orelse, state, dot, out)
        del state.variables[mark:]


class _With(_Block):
    __slots__ = ()

    def render(self, state, dot, out):
        mark = len(state.variables)
        value = self.value(state, dot)
        if value:
            _render_nodes(self.body, state, value, out)
        elif self.orelse is not None:
            _render_nodes(self.orelse, state, dot, out)
        del state.variables[mark:]


class _Range(_Block):
    __slots__ = ("decls",)

    def render(self, state, dot, out):
        variables = state.variables
        mark = len(variables)
        decls = self.decls
        value = self.value(state, dot)
        if isinstance(value, dict):
            pairs = [(key, value[key]) for key in sorted_keys(value)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif type(value) is int:
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            pairs = []
        elif isinstance(value, _HeaderText):
            pairs = [(0, value)]
        else:
            error = _ExecError(f"range can't iterate over {go_str(value)}")
            error.where = self.text
            raise error
        if not pairs:
            if self.orelse is not None:
                _render_nodes(self.orelse, state, dot, out)
            return
        for key, element in pairs:
            del variables[mark:]
            if len(decls) == 1:
                variables.append([decls[0], element])
            elif decls:
                variables.append([decls[0], key])
                variables.append([decls[1], element])
            try:
                _render_nodes(self.body, state, element, out)
            except _Break:
                break
            except _Continue:
                continue
        del variables[mark:]


class _Pipe:
    __slots__ = ("commands", "decls", "assign")

    def __init__(self, commands: list) -> None:
        self.commands = commands
        self.decls: list | tuple = ()
        self.assign = False

    def eval(self, state, dot):
        commands = self.commands
        value = commands[0].eval(state, dot)
        for command in commands[1:]:
            value = command.call(state, dot, value)
        if self.decls:
            name = self.decls[0]
            variables = state.variables
            if self.assign:
                for index in range(len(variables) - 1, -1, -1):
                    if variables[index][0] == name:
                        variables[index][1] = value
                        break
            else:
                variables.append([name, value])
        return value

    def first_field(self) -> str | None:
        """The last name of the first field this pipeline reads: its table heading."""
        for command in self.commands:
            for node in command.args if type(command) is _Call else [command]:
                if type(node) is _Sub:
                    name = node.pipe.first_field()
                else:
                    name = getattr(node, "names", None) and node.names[-1]
                if name:
                    return name
        return None

    def __str__(self) -> str:
        return " | ".join(str(command) for command in self.commands)


class _Field:
    __slots__ = ("names",)

    def __init__(self, names: list) -> None:
        self.names = names

    def eval(self, state, dot):
        for name in self.names:
            dot = dot.get(name, MISSING) if type(dot) is dict else _field(dot, name)
        return dot

    def __str__(self) -> str:
        return "." + ".".join(self.names)


class _Var:
    __slots__ = ("name", "names")

    def __init__(self, name: str, names: list) -> None:
        self.name, self.names = name, names

    def eval(self, state, dot):
        variables = state.variables
        value = MISSING
        for index in range(len(variables) - 1, -1, -1):
            if variables[index][0] == self.name:
                value = variables[index][1]
                break
        for name in self.names:
            value = _field(value, name)
        return value

    def __str__(self) -> str:
        return "".join([self.name] + ["." + name for name in self.names])


class _Sub:
    __slots__ = ("pipe", "names")

    def __init__(self, pipe: _Pipe, names: list) -> None:
        self.pipe, self.names = pipe, names

    def eval(self, state, dot):
        value = self.pipe.eval(state, dot)
        for name in self.names:
            value = _field(value, name)
        return value

    def __str__(self) -> str:
        return f"({self.pipe})" + "".join("." + name for name in self.names)


class _Dot:
    __slots__ = ()

    def eval(self, state, dot):
        return dot

    def __str__(self) -> str:
        return "."


class _Lit:
    __slots__ = ("value", "is_nil")

    def __init__(self, value: object, is_nil: bool) -> None:
        self.value, self.is_nil = value, is_nil

    def eval(self, state, dot):
        return self.value

    def __str__(self) -> str:
        return "nil" if self.is_nil else go_quote(self.value) if type(self.value) is str else go_str(self.value)


class _Func:
    """A function name used as an argument: Go calls it with no arguments."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def eval(self, state, dot):
        return _FUNCTIONS[self.name][0]()

    def __str__(self) -> str:
        return self.name


class _Call:
    __slots__ = ("name", "args", "function")

    def __init__(self, name: str, args: list) -> None:
        self.name, self.args, self.function = name, args, _FUNCTIONS[name][0]

    def eval(self, state, dot):
        return self.call(state, dot, _NO_ARG)

    def call(self, state, dot, final):
        if self.function is None:  # and / or: evaluate lazily, return the deciding value
            want = self.name == "or"
            value = None
            for arg in self.args:
                value = arg.eval(state, dot)
                if bool(value) is want:
                    return value
            return final if final is not _NO_ARG else value
        args = [arg.eval(state, dot) for arg in self.args]
        if final is not _NO_ARG:
            args.append(final)
        try:
            return self.function(*args)
        except (_ExecError, TypeError, ValueError, OverflowError) as error:
            raise _ExecError(f"error calling {self.name}: {error}") from None

    def __str__(self) -> str:
        return " ".join([self.name] + [str(arg) for arg in self.args])


_NO_ARG = object()


def _field(value: object, name: str) -> object:
    """``value.name`` as Go's template evaluates it, for dicts and objects."""
    if isinstance(value, dict):
        result = value.get(name, MISSING)
        if result is MISSING and isinstance(value, GoStruct):
            raise _ExecError(f"can't evaluate field {name} in type {value.type_name}")
        return result
    if value is None or value is MISSING:
        return MISSING
    if isinstance(value, (_HeaderRow, _HeaderText)):
        return value.heading_of(name)
    if isinstance(value, (str, int, float, list, tuple)):
        raise _ExecError(f"can't evaluate field {name} in type {go_type(value)}")
    result = getattr(value, name, MISSING)
    if callable(result) and hasattr(result, "__self__"):  # Go calls niladic methods
        result = result()
    return result


class _HeaderRow:
    """Data for a table's heading line: every field is its heading."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def heading(self, name: str) -> "_HeaderText":
        text = self.headers.get(name)
        if text is None:
            text = _split_camel(name).upper()
        heading = _HeaderText(text)
        heading.row = self
        return heading

    heading_of = heading

    def __str__(self) -> str:
        return ""


class _HeaderText(str):
    """A heading; its fields are headings too, so ``.State.Status`` heads STATUS."""

    def heading_of(self, name: str) -> "_HeaderText":
        return self.row.heading(name)


def _split_camel(name: str) -> str:
    """Words of a Go field name: ``CreatedAt`` -> ``Created At``, ``HTTPPort`` -> ``HTTP Port``."""
    words = []
    start = 0
    for i in range(1, len(name)):
        previous, char, following = name[i - 1], name[i], name[i + 1:i + 2]
        if (
            (char.isupper() and not previous.isupper())
            or (char.isupper() and previous.isupper() and following.islower())
            or char.isdigit() != previous.isdigit()
        ):
            words.append(name[start:i])
            start = i
    words.append(name[start:])
    return " ".join(words)


# ---------------------------------------------------------------- functions


def _string_arg(value: object) -> str:
    return str.__str__(value) if isinstance(value, str) else go_str(value)


def _int_arg(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise _ExecError(f"{name}: expected an integer; got {go_type(value)}")
    return int(value)


def _fn_index(item: object, *indices: object) -> object:
    for index in indices:
        if isinstance(item, (_HeaderRow, _HeaderText)):
            return item.heading_of(str(index)) if isinstance(item, _HeaderRow) else item
        if isinstance(item, dict):
            item = item.get(index, "")
        elif isinstance(item, (list, tuple, str)):
            position = _int_arg(index, "index")
            sequence = item.encode() if isinstance(item, str) else item
            if not 0 <= position < len(sequence):
                raise _ExecError(f"index out of range: {position}")
            item = sequence[position]
        elif item is None or item is MISSING:
            raise _ExecError("index of untyped nil")
        else:
            raise _ExecError(f"can't index item of type {go_type(item)}")
    return item


def _fn_len(item: object) -> int:
    if isinstance(item, (str, list, tuple, dict)):
        return len(item)
    if item is None or item is MISSING:
        raise _ExecError("len of nil pointer")
    raise _ExecError(f"len of type {go_type(item)}")


def _fn_join(items: object, separator: object) -> str:
    if isinstance(items, _HeaderText):
        return items
    if not isinstance(items, (list, tuple)):
        if items is None or items is MISSING:
            return ""
        raise _ExecError(f"wrong type for value; expected []string; got {go_type(items)}")
    return _string_arg(separator).join(_string_arg(item) for item in items)


def _fn_split(text: object, separator: object) -> list[str]:
    text, separator = _string_arg(text), _string_arg(separator)
    return text.split(separator) if separator else list(text)


def _fn_title(text: object) -> str:
    """strings.Title: upper-case the first letter of each word, leave the rest alone."""
    out = []
    previous = " "
    for ch in _string_arg(text):
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _fn_pad(text: object, left: object, right: object) -> str:
    text = _string_arg(text)
    return text and " " * _int_arg(left, "pad") + text + " " * _int_arg(right, "pad")


def _fn_truncate(text: object, length: object) -> str:
    return _string_arg(text)[:_int_arg(length, "truncate")]


def _fn_print(*args: object) -> str:
    out = []
    for index, arg in enumerate(args):
        if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(_string_arg(arg))
    return "".join(out)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None or value is MISSING:
        return "nil"
    return "other"


def _fn_eq(first: object, *others: object) -> bool:
    first_kind = _kind(first)
    for other in others:
        other_kind = _kind(other)
        if first_kind != other_kind and "nil" not in (first_kind, other_kind) and "other" not in (first_kind, other_kind):
            raise _ExecError("incompatible types for comparison")
        if first_kind == other_kind == "nil" or (first == other and first_kind == other_kind):
            return True
    return False


def _fn_lt(first: object, second: object) -> bool:
    kinds = (_kind(first), _kind(second))
    if kinds[0] != kinds[1]:
        raise _ExecError("incompatible types for comparison")
    if kinds[0] not in ("number", "string"):
        raise _ExecError("invalid type for comparison")
    return first < second


_FUNCTIONS: dict[str, tuple] = {
    # name: (implementation, fewest arguments, most arguments or None)
    "and": (None, 1, None),
    "or": (None, 1, None),
    "not": (lambda value: not value, 1, 1),
    "eq": (_fn_eq, 2, None),
    "ne": (lambda a, b: not _fn_eq(a, b), 2, 2),
    "lt": (_fn_lt, 2, 2),
    "le": (lambda a, b: _fn_lt(a, b) or _fn_eq(a, b), 2, 2),
    "gt": (lambda a, b: not (_fn_lt(a, b) or _fn_eq(a, b)), 2, 2),
    "ge": (lambda a, b: not _fn_lt(a, b), 2, 2),
    "index": (_fn_index, 1, None),
    "len": (_fn_len, 1, 1),
    "printf": (go_sprintf, 1, None),
    "print": (_fn_print, 0, None),
    "println": (lambda *args: " ".join(_string_arg(arg) for arg in args) + "\n", 0, None),
    "json": (lambda value: value if isinstance(value, _HeaderText) else to_json(value), 1, 1),
    "join": (_fn_join, 2, 2),
    "split": (_fn_split, 2, 2),
    "lower": (lambda text: _string_arg(text).lower(), 1, 1),
    "upper": (lambda text: _string_arg(text).upper(), 1, 1),
    "title": (_fn_title, 1, 1),
    "pad": (_fn_pad, 3, 3),
    "truncate": (_fn_truncate, 2, 2),
}
