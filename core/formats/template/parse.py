"""Scanning and parsing of Go templates into the nodes of :mod:`husk.formats.template.nodes`.

The parser checks what Go checks at parse time (variables in scope, known
functions and their argument counts), so a bad ``--format`` fails before any
output is printed.
"""

from __future__ import annotations

from husk.formats.gofmt import go_quote

from .nodes import (_FUNCTIONS, _Action, _Break, _Call, _Continue, _Dot, _Field, _Func, _If, _Lit, _Pipe, _raise,
                    _Range, _Sub, _Text, _Var, _With)

_WHITESPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


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
