"""Go text/template, the subset that husk's ``--format`` flags need.

podman and docker let users shape output with Go templates
(``{{.State.Status}}``, ``table {{.ID}}\\t{{.Names}}``); husk accepts the same
strings and prints the same text.  No maintained Python implementation fits
(DESIGN.md), so this is a focused one: fields, variables, pipelines,
if/else/with/range, the functions podman's and docker's documentation use, Go's
way of printing values, and the ``table`` prefix aligned like Go's
text/tabwriter with podman's settings.

Data is plain Python: ``.Foo`` looks up the dict key ``"Foo"`` exactly, or the
attribute of any other object.  A ``husk.formats.gofmt.GoStruct`` (a dict standing for
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

from ..gofmt import MISSING, GoStruct, go_str
from .nodes import _Action, _ExecError, _Field, _HeaderRow, _raise, _render_nodes, _State, _Text
from .parse import _WHITESPACE, _Parser

__all__ = ["Template", "compile", "render", "format_rows", "align_columns"]

# podman's report.NewWriterDefault: tabwriter minwidth 12, padding 2, pad with spaces.
TABLE_MIN_WIDTH = 12
TABLE_PADDING = 2



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
    uniform = _align_uniform(lines, min_width, padding)
    if uniform is not None:
        return uniform
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


def _align_uniform(lines: list[list[str]], min_width: int, padding: int) -> str | None:
    """:func:`align_columns` of a table whose lines all have as many cells (but
    for the empty one after the last newline), as every `ps` and `images`
    table has: then each column spans every line, and one pass over the
    columns' widths gives the elastic layout's text (a `ps -a` of 200
    containers spent most of its formatting in the general walk).  None for
    any other table."""
    body = lines[:-1] if len(lines) > 1 and lines[-1] == [""] else lines
    count = len(body[0])
    if any(len(cells) != count for cells in body):
        return None
    widths = [max(min_width, max(len(cells[column]) for cells in body) + padding) for column in range(count - 1)]
    out = ["".join([cell.ljust(width) for cell, width in zip(cells, widths)]) + cells[-1] for cells in body]
    return "\n".join(out + [""] * (len(lines) - len(body)))


class Template:
    """A parsed template; ``render`` may be called any number of times."""

    __slots__ = ("source", "_nodes", "_plain")

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _Parser(source).parse()
        self._plain = _plain_fields(self._nodes)

    def render(self, data: object) -> str:
        if self._plain is not None and type(data) in (GoStruct, dict):
            text = _render_plain(self._plain, data)
            if text is not None:
                return text
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


def _plain_fields(nodes: list) -> tuple | None:
    """A template that is only text and single fields (``{{.ID}}\\t{{.Names}}``,
    every default table) as (text, field name or None) pairs; None for any other."""
    plain = []
    for node in nodes:
        if type(node) is _Text:
            plain.append((node.text, None))
        elif (type(node) is _Action and not node.pipe.decls and len(node.pipe.commands) == 1
              and type(node.pipe.commands[0]) is _Field and len(node.pipe.commands[0].names) == 1):
            plain.append(("", node.pipe.commands[0].names[0]))
        else:
            return None
    return tuple(plain)


def _render_plain(plain: tuple, data: dict) -> str | None:
    """What the nodes print for a row, without walking them: a `ps` of 200
    containers renders 1400 fields, and the node walk was a tenth of its time.
    The same text as the walk: a dict's missing field prints ``<no value>``;
    None for a GoStruct's missing one, whose error the walk then raises."""
    out = []
    for text, name in plain:
        if name is None:
            out.append(text)
            continue
        value = data.get(name, MISSING)
        if value is MISSING and type(data) is GoStruct:
            return None
        out.append(value if type(value) is str else go_str(value))
    return "".join(out)


_CACHE: dict[str, Template] = {}
