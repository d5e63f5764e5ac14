"""Variable expansion and quote removal in Containerfile words, as Docker's
shell lexer does them (not a shell: no command substitution, no globbing).

`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
`${VAR+alt}` and `${VAR:?message}`; single quotes are literal, double quotes
expand variables, the escape character (`\\` or the `# escape=` directive's)
makes the next character literal.  An unset variable expands to nothing."""

from __future__ import annotations

from ..define import InvalidArgument


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, split: bool, stop: str = "") -> list[str]:
        """The text as words (one word unless `split`: unquoted whitespace separates),
        up to an unquoted `stop` character (consumed)."""
        words: list[str] = []
        current: list[str] = []
        started = False
        while self.pos < len(self.text):
            ch = self.take()
            if stop and ch == stop:
                break
            if split and ch in " \t\r\n":
                if started:
                    words.append("".join(current))
                    current, started = [], False
                continue
            started = True
            if ch == self.escape:
                current.append(self.take())
            elif ch == "'":
                end = self.text.find("'", self.pos)
                if end < 0:
                    raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
                current.append(self.text[self.pos:end])
                self.pos = end + 1
            elif ch == '"':
                current.append(self._double_quoted())
            elif ch == "$":
                current.append(self._variable())
            else:
                current.append(ch)
        else:
            if stop:
                raise InvalidArgument(f"missing '{stop}' in substitution")
        if started or not split:
            words.append("".join(current))
        return words

    def _double_quoted(self) -> str:
        out = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            ch = self.take()
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self._variable())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def _variable(self) -> str:
        if self.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.take()
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}")
        op = self.take()
        if op == "}":
            return self.env.get(name, "")
        if op == ":":
            op += self.take()
        if op not in (":-", "-", ":+", "+", ":?", "?"):
            raise InvalidArgument(f"unsupported modifier ({op}) in substitution {self.text!r}")
        word = "".join(self.words(split=False, stop="}"))
        value = self.env.get(name)
        set_ = value is not None and (value != "" or not op.startswith(":"))
        if op.endswith("-"):
            return value if set_ else word
        if op.endswith("+"):
            return word if set_ else ""
        if not set_:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value


def expand(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word: variables expanded, quotes removed."""
    return _Lexer(text, env, escape).words(split=False)[0]


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Several words split on unquoted whitespace (what a variable expands to is never split)."""
    return _Lexer(text, env, escape).words(split=True)
