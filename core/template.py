"""Go text/template, the subset that husk's ``--format`` flags need.

podman and docker let users shape output with Go templates
(``{{.State.Status}}``, ``table {{.ID}}\\t{{.Names}}``); husk accepts the same
strings and prints the same text.  No maintained Python implementation fits
(DESIGN.md), so this is a focused one: fields, variables, pipelines,
if/else/with/range, the functions podman's and docker's documentation use, Go's
way of printing values, and the ``table`` prefix aligned like Go's
text/tabwriter with podman's settings.

Data is plain Python: ``.Foo`` looks up the dict key ``"Foo"`` exactly, or the
attribute of any other object.  A ``husk.gofmt.GoStruct`` (a dict standing for
one of podman's structs) makes an unknown field an error, as Go does.  Only the standard library is used (json
lazily), so ``husk ps`` pays almost nothing to import this; compiled templates
are cached, so rendering many rows parses once.

Deliberate differences from Go, all towards leniency: a field of a missing
value or of ``None`` is missing (``<no value>``) rather than an error;
``index`` of a missing map key is ``""`` (Go gives the map's zero value, which
is ``""`` for podman's label maps); numbers of different types compare by
value; ``len`` counts characters, not bytes.
"""

from __future__ import annotations

from husk.gofmt import MISSING, GoStruct, go_quote, go_sprintf, go_str, go_type, sorted_keys, to_json

__all__ = ["Template", "compile", "render", "format_rows", "align_columns"]

# podman's report.NewWriterDefault: tabwriter minwidth 12, padding 2, pad with spaces.
TABLE_MIN_WIDTH = 12
TABLE_PADDING = 2

_WHITESPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


def render(template: str, data: object) -> str:
    """Render one value with a template (compiled once and cached)."""
    return compile(template).render(data)


def compile(template: str) -> "Template":  # noqa: A001 - the name the callers expect
    """Parse a template, or return the cached parse of the same text.

    ``\\t`` and ``\\n`` written as two characters in the template's text are
    turned into a tab and a newline first, as podman does for command lines.
    Raises husk.define.InvalidArgument (``template: parse error: ...``).
    """
    cached = _CACHE.get(template)
    if cached is None:
        if len(_CACHE) >= 256:
            _CACHE.clear()
        cached = _CACHE[template] = Template(template)
    return cached


def format_rows(fmt: str, rows: list, headers: dict[str, str] | None = None, *, heading: bool = True) -> str:
    """Render a list of values for a ``--format`` flag; returns the whole output.

    Without the ``table`` prefix each row is rendered and ends with a newline
    (unless the format already ends with one).  With ``table``, a heading line
    comes first (unless ``heading`` is false) and the tab-separated columns are
    aligned like podman's.  A field's heading is ``headers[name]`` or the field
    name split at capitals and upper-cased (``CreatedAt`` -> ``CREATED AT``).
    The caller replaces a bare ``table`` with its default table format.
    """
    is_table = fmt.startswith("table") and (len(fmt) == 5 or fmt[5] in _WHITESPACE)
    body = fmt[5:].strip(" ") if is_table else fmt
    if is_table and not body:
        _raise("template: a table format needs fields after \"table\"")
    template = compile(body)
    if not is_table:
        newline = "" if body.endswith(("\n", "\\n")) else "\n"
        return "".join([template.render(row) + newline for row in rows])
    lines = [template.render_header(headers or {})] if heading else []
    lines.extend(template.render(row) for row in rows)
    return align_columns("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def align_columns(text: str, min_width: int = TABLE_MIN_WIDTH, padding: int = TABLE_PADDING) -> str:
    """Align tab-terminated cells into columns like Go's text/tabwriter.

    Elastic tabstops: a column spans consecutive lines that have a cell in it;
    its width is the widest cell plus ``padding``, at least ``min_width``.  The
    last cell of a line is not part of any column and is never padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(first: int, stop: int) -> None:
        for index in range(first, stop):
            cells = lines[index]
            last = len(cells) - 1
            out.append("".join(cell.ljust(widths[j]) if j < last else cell for j, cell in enumerate(cells)))

    def layout(first: int, stop: int) -> None:
        column = len(widths)
        index = first
        while index < stop:
            if column >= len(lines[index]) - 1:
                index += 1
                continue
            write_lines(first, index)
            first = index
            width = min_width
            while index < stop and column < len(lines[index]) - 1:
                width = max(width, len(lines[index][column]) + padding)
                index += 1
            widths.append(width)
            layout(first, index)
            widths.pop()
            first = index
        write_lines(first, stop)

    layout(0, len(lines))
    return "\n".join(out)


class Template:
    """A parsed template; ``render`` may be called any number of times."""

    __slots__ = ("source", "_nodes")

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _Parser(source).parse()

    def render(self, data: object) -> str:
        state = _State(data)
        out: list[str] = []
        try:
            _render_nodes(self._nodes, state, data, out)
        except _ExecError as error:
            where = (error.where or "{{...}}").replace("\n", " ")
            _raise(f"template: executing {where}: {error}")
        return "".join(out)

    def render_header(self, headers: dict[str, str]) -> str:
        """Render the heading line of a table: each field shows its heading.

        Data is a stand-in whose every field is its heading text, so widths in
        ``printf "%-12s" .Name`` still apply; an action or block that does not
        produce text shows the heading of the first field it names.
        """
        row = _HeaderRow(headers)
        state = _State(row)
        out: list[str] = []
        for node in self._nodes:
            if type(node) is _Text:
                out.append(node.text)
                continue
            value = None
            if type(node) is _Action:
                try:
                    value = node.pipe.eval(state, row)
                except _ExecError:
                    pass
                if node.pipe.decls:
                    continue
            if not isinstance(value, str):
                name = node.pipe.first_field()
                value = row.heading(name) if name else ""
            out.append(value)
        return "".join(out)


_CACHE: dict[str, Template] = {}


# ---------------------------------------------------------------- errors


class _ExecError(Exception):
    """A failure while rendering; Template.render turns it into InvalidArgument."""

    where = ""


def _raise(message: str):
    from husk.define import InvalidArgument

    raise InvalidArgument(message) from None


# ---------------------------------------------------------------- lexing


def _unescape_text(text: str) -> str:
    return text.replace("\\t", "\t").replace("\\n", "\n") if "\\" in text else text


def _unquote(body: str, source: str, pos: int) -> str:
    """Decode a Go double-quoted string body (escapes as strconv.Unquote)."""
    if "\\" not in body:
        return body
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", "'": "'", '"': '"'}
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        code = body[i + 1:i + 2]
        if code in simple:
            out.append(simple[code])
            i += 2
            continue
        size = {"x": 2, "u": 4, "U": 8}.get(code)
        try:
            if size:
                out.append(chr(int(body[i + 2:i + 2 + size], 16)))
                i += 2 + size
            else:
                out.append(chr(int(body[i + 1:i + 4], 8)))
                i += 4
        except ValueError:
            _parse_error(source, pos, f"invalid escape in quoted string {go_quote(body)}")
    return "".join(out)


def _parse_number(text: str, source: str, pos: int) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        pass
    digits = text.lstrip("+-")
    try:
        if digits[:1] == "0" and digits.isdigit():
            return int(text, 8)
        return float(text)
    except ValueError:
        _parse_error(source, pos, f"bad number syntax: {go_quote(text)}")


def _parse_error(source: str, pos: int, message: str):
    line = source.count("\n", 0, pos) + 1
    column = pos - source.rfind("\n", 0, pos)
    _raise(f"template: parse error: {message} (line {line}, column {column})")


def _scan(source: str) -> list:
    """Split the source into text strings and actions (token lists); drop comments."""
    items: list = []
    pos = 0
    trim_next = False
    end = len(source)
    while True:
        start = source.find("{{", pos)
        text = _unescape_text(source[pos:] if start < 0 else source[pos:start])
        if trim_next:
            text = text.lstrip(_WHITESPACE)
        if start < 0:
            if text:
                items.append(text)
            return items
        inner = start + 2
        if source.startswith("-", inner) and inner + 1 < end and source[inner + 1] in _WHITESPACE:
            text = text.rstrip(_WHITESPACE)
            inner += 2
        if text:
            items.append(text)
        if source.startswith("/*", inner):
            close = source.find("*/", inner + 2)
            if close < 0:
                _parse_error(source, start, "unclosed comment")
            pos = close + 2
            if pos + 1 < end and source[pos] in _WHITESPACE and source.startswith("-}}", pos + 1):
                pos, trim_next = pos + 4, True
            elif source.startswith("}}", pos):
                pos, trim_next = pos + 2, False
            else:
                _parse_error(source, start, "comment ends before closing delimiter")
            continue
        tokens, pos, trim_next = _lex_action(source, inner, start)
        items.append((tokens, start, source[start:pos]))


def _lex_action(source: str, pos: int, action_start: int) -> tuple[list, int, bool]:
    """Tokens of one action as (kind, value, position, preceded_by_space)."""
    tokens: list = []
    end = len(source)
    spaced = True
    depth = 0
    while True:
        if pos >= end:
            _parse_error(source, action_start, "unclosed action")
        ch = source[pos]
        start = pos
        if ch in _WHITESPACE:
            if depth == 0 and source.startswith("-}}", pos + 1):
                return tokens, pos + 4, True
            spaced = True
            pos += 1
            continue
        if ch == "}" and source.startswith("}}", pos):
            if depth:
                _parse_error(source, pos, "unclosed left paren")
            return tokens, pos + 2, False
        if ch == '"':
            pos += 1
            while pos < end and source[pos] not in '"\n':
                pos += 2 if source[pos] == "\\" else 1
            if pos >= end or source[pos] != '"':
                _parse_error(source, start, "unterminated quoted string")
            pos += 1
            token = ("lit", _unquote(source[start + 1:pos - 1], source, start))
        elif ch == "`":
            close = source.find("`", pos + 1)
            if close < 0:
                _parse_error(source, start, "unterminated raw quoted string")
            pos = close + 1
            token = ("lit", source[start + 1:close])
        elif ch == "'":
            pos += 1
            while pos < end and source[pos] not in "'\n":
                pos += 2 if source[pos] == "\\" else 1
            char = _unquote(source[start + 1:pos], source, start) if pos < end else ""
            if len(char) != 1:
                _parse_error(source, start, "malformed character constant")
            pos += 1
            token = ("lit", ord(char))
        elif ch == "$":
            pos += 1
            while pos < end and (source[pos].isalnum() or source[pos] == "_"):
                pos += 1
            token = ("var", source[start:pos])
        elif ch == "." and not source[pos + 1:pos + 2].isdigit():
            pos += 1
            while pos < end and (source[pos].isalnum() or source[pos] == "_"):
                pos += 1
            token = ("field", source[start + 1:pos]) if pos > start + 1 else ("dot", ".")
        elif ch.isdigit() or ch == "." or (ch in "+-" and source[pos + 1:pos + 2].isdigit()):
            pos += 1
            while pos < end and (source[pos].isalnum() or source[pos] in "_."
                                 or (source[pos] in "+-" and source[pos - 1] in "eEpP")):
                pos += 1
            token = ("lit", _parse_number(source[start:pos], source, start))
        elif ch.isalpha() or ch == "_":
            while pos < end and (source[pos].isalnum() or source[pos] == "_"):
                pos += 1
            word = source[start:pos]
            if word in ("true", "false"):
                token = ("lit", word == "true")
            elif word == "nil":
                token = ("nil", None)
            else:
                token = ("kw" if word in _KEYWORDS else "ident", word)
        elif ch == ":" and source.startswith(":=", pos):
            pos += 2
            token = ("declare", ":=")
        elif ch in "|(),=":
            pos += 1
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                _parse_error(source, start, "unexpected right paren")
            token = (ch, ch)
        else:
            _parse_error(source, start, f"unrecognized character in action: {go_quote(ch)}")
        tokens.append((token[0], token[1], start, spaced))
        spaced = False


# ---------------------------------------------------------------- parsing


class _Parser:
    """Recursive descent over the scanned items; checks variables and functions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items = _scan(source)
        self.at = 0
        self.variables = ["$"]
        self.loops = 0
        self.tokens: list = []
        self.k = 0
        self.pos = 0

    def parse(self) -> list:
        nodes, _, _, _ = self.parse_list(())
        return nodes

    def error(self, message: str, pos: int | None = None):
        _parse_error(self.source, self.pos if pos is None else pos, message)

    def parse_list(self, closers: tuple) -> tuple[list, str | None, list, int]:
        nodes: list = []
        while self.at < len(self.items):
            item = self.items[self.at]
            self.at += 1
            if isinstance(item, str):
                nodes.append(_Text(item))
                continue
            tokens, pos, text = item
            self.pos = pos
            if not tokens:
                self.error("missing value for command")
            kind, word = tokens[0][0], tokens[0][1]
            if kind != "kw":
                nodes.append(_Action(self.pipeline(tokens, "command"), text))
            elif word in ("end", "else"):
                if word not in closers:
                    self.error(f"unexpected {{{{{word}}}}}")
                if word == "end" and len(tokens) > 1:
                    self.error("unexpected tokens after end")
                return nodes, word, tokens[1:], pos
            elif word in ("if", "with", "range"):
                nodes.append(self.control(word, tokens[1:], text))
            elif word in ("break", "continue"):
                if not self.loops:
                    self.error(f"{{{{{word}}}}} outside {{{{range}}}}")
                if len(tokens) > 1:
                    self.error(f"unexpected tokens after {word}")
                nodes.append(_Break() if word == "break" else _Continue())
            else:
                self.error(f"{{{{{word}}}}} is not supported")
        if closers:
            self.error("unexpected end of template: missing {{end}}", len(self.source))
        return nodes, None, [], len(self.source)

    def control(self, word: str, tokens: list, text: str):
        mark = len(self.variables)
        pipe = self.pipeline(tokens, word)
        if word == "range":
            self.loops += 1
        body, closer, rest, pos = self.parse_list(("end", "else"))
        if word == "range":
            self.loops -= 1
        orelse = None
        if closer == "else":
            if rest and word != "range" and rest[0][:2] == ("kw", word):
                self.pos = pos
                orelse = [self.control(word, rest[1:], text)]
            elif rest:
                self.error("unexpected tokens after else", pos)
            else:
                orelse, _, _, _ = self.parse_list(("end",))
        del self.variables[mark:]
        if word == "range":  # the declared variables take each element, not the value
            node = _Range(pipe, body, orelse, text)
            node.decls, pipe.decls = pipe.decls, ()
            return node
        return (_If if word == "if" else _With)(pipe, body, orelse, text)

    # -- pipelines, over self.tokens with cursor self.k

    def peek(self, ahead: int = 0):
        index = self.k + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def pipeline(self, tokens: list, context: str) -> "_Pipe":
        self.tokens, self.k = tokens, 0
        decls: list[str] = []
        assign = False
        first, second = self.peek(), self.peek(1)
        if first and first[0] == "var" and second and second[0] in ("declare", "="):
            decls, assign = [first[1]], second[0] == "="
            self.k = 2
        elif first and first[0] == "var" and second and second[0] == ",":
            third, fourth = self.peek(2), self.peek(3)
            if not (third and third[0] == "var" and fourth and fourth[0] == "declare"):
                self.error(f"bad declaration in {context}", first[2])
            if context != "range":
                self.error(f"too many declarations in {context}")
            decls = [first[1], third[1]]
            self.k = 4
        pipe = self.commands(context, closing=False)
        if assign and decls[0] not in self.variables:
            self.error(f"undefined variable {go_quote(decls[0])}")
        elif not assign:
            self.variables.extend(decls)
        pipe.decls, pipe.assign = decls, assign
        return pipe

    def commands(self, context: str, closing: bool) -> "_Pipe":
        commands = []
        while True:
            commands.append(self.command(context, piped=bool(commands)))
            token = self.peek()
            if token is None:
                if closing:
                    self.error("unclosed left paren")
                break
            self.k += 1
            if token[0] == ")" and closing:
                break
            if token[0] != "|":
                self.error(f"unexpected {go_quote(str(token[1]))} in {context}")
        return _Pipe(commands)

    def command(self, context: str, piped: bool):
        operands = []
        while (token := self.peek()) is not None and token[0] not in ("|", ")"):
            operands.append(self.operand(head=not operands))
        if not operands:
            self.error(f"missing value for {context}")
        head = operands[0]
        if type(head) is _Func:
            call = _Call(head.name, operands[1:])
            _check_arity(self, head.name, len(operands) - 1 + piped)
            return call
        if type(head) is _Lit and head.is_nil:
            self.error("nil is not a command")
        if len(operands) > 1 or piped:
            self.error(f"can't give argument to non-function {head}")
        return head

    def operand(self, head: bool):
        kind, value, self.pos, _ = self.peek()
        self.k += 1
        if kind == "field":
            node = _Field([value])
        elif kind == "dot":
            node = _Dot()
        elif kind == "var":
            if value not in self.variables:
                self.error(f"undefined variable {go_quote(value)}")
            node = _Var(value, [])
        elif kind == "ident":
            if value not in _FUNCTIONS:
                self.error(f"function {go_quote(value)} not defined")
            node = _Func(value)
            if not head:  # an argument: called with no arguments of its own
                _check_arity(self, value, 0)
        elif kind in ("lit", "nil"):
            node = _Lit(value, kind == "nil")
        elif kind == "(":
            node = _Sub(self.commands("parenthesized pipeline", closing=True), [])
        else:
            self.error(f"unexpected {go_quote(str(value))} in operand")
        while (token := self.peek()) is not None and token[0] == "field" and not token[3]:
            if type(node) in (_Func, _Lit, _Dot):
                self.error(f"unexpected .{token[1]} after {node}")
            node.names.append(token[1])
            self.k += 1
        return node


def _check_arity(parser: _Parser, name: str, count: int) -> None:
    low, high = _FUNCTIONS[name][1:]
    if count < low or (high is not None and count > high):
        want = str(low) if low == high else f"at least {low}"
        parser.error(f"wrong number of args for {name}: want {want} got {count}")


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
