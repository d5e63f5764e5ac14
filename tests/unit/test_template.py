"""husk.formats.template (and husk.formats.gofmt under it) render --format strings as podman and docker do.

Golden strings come from podman's and docker's documentation; expected output
is what Go's text/template (with docker's extra functions) prints for the same
data decoded from JSON.
"""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from husk.formats import template
from husk.define import InvalidArgument
from husk.formats.gofmt import GoStruct, go_sprintf
from husk.formats.template import align_columns, format_rows, render

INSPECT = {
    "Id": "3f1a2b",
    "Name": "web",
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
    "Config": {
        "Labels": {"com.example": "blue", "a.version": "1"},
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Env": ["PATH=/usr/bin", "TERM=xterm"],
        "Image": "docker.io/library/nginx:latest",
    },
    "Mounts": [{"Destination": "/data", "Source": "/srv"}, {"Destination": "/logs", "Source": "/var/log"}],
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
    "HostConfig": {"Memory": 0, "CpuShares": None},
}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("{{.State.Status}}", "running"),
        ("{{.State.Pid}}", "4242"),
        ("{{json .Config.Labels}}", '{"com.example":"blue","a.version":"1"}'),
        ("{{range .Mounts}}{{.Destination}} {{end}}", "/data /logs "),
        ('{{index .Config.Labels "com.example"}}', "blue"),
        ('{{printf "%-12s" .Name}}|', "web         |"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ('{{join .Config.Cmd " "}}', "nginx -g daemon off;"),
        ("{{.Config.Cmd}}", "[nginx -g daemon off;]"),
        ("{{.Config.Labels}}", "map[a.version:1 com.example:blue]"),
        ("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}", "80/tcp -> 8080"),
        ("{{json .Mounts}}", '[{"Destination":"/data","Source":"/srv"},{"Destination":"/logs","Source":"/var/log"}]'),
        ("{{range .Config.Env}}{{println .}}{{end}}", "PATH=/usr/bin\nTERM=xterm\n"),
        ('{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{index (split $e "=") 0}}{{end}}', "PATH,TERM"),
        ("{{.Name | upper}} {{lower .State.Status}} {{title .Name}}", "WEB running Web"),
        ("{{with .State}}{{.Status}} pid {{.Pid}}{{end}}", "running pid 4242"),
        ("{{.HostConfig.Memory}} {{.HostConfig.CpuShares}}", "0 <nil>"),
        ("{{len .Mounts}} {{len .Config.Labels}}", "2 2"),
        ('{{if eq .State.Status "running" "paused"}}active{{end}}', "active"),
        ("{{truncate .Id 3}}|{{pad .Name 1 2}}|", "3f1| web  |"),
        ("{{$.Name}}{{range .Mounts}}:{{$.Name}}{{end}}", "web:web:web"),
    ],
)
def test_documented_format_strings(fmt, expected):
    assert render(fmt, INSPECT) == expected


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        (7, "7"),
        (1.5, "1.5"),
        (3.0, "3"),
        (123456.0, "123456"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (["a", 1, None], "[a 1 <nil>]"),
        ({"b": 2, "a": [1, 2]}, "map[a:[1 2] b:2]"),
        ([], "[]"),
        ({}, "map[]"),
    ],
)
def test_values_print_as_go_prints_them(value, printed):
    assert render("{{.}}", value) == printed


def test_missing_fields_print_no_value():
    assert render("{{.Nope}}", INSPECT) == "<no value>"
    assert render("{{.Nope.Deeper}}", INSPECT) == "<no value>"
    assert render("{{.HostConfig.CpuShares.X}}", INSPECT) == "<no value>"
    assert render("{{if .Nope}}yes{{else}}no{{end}}", INSPECT) == "no"
    assert render('{{index .Config.Labels "absent"}}', INSPECT) == ""
    assert render("{{$.Nope}} {{$x := .State}}{{$x.Nope}} {{(.State).Nope}}", INSPECT) == "<no value> <no value> <no value>"


def test_field_names_are_case_sensitive():
    assert render("{{.name}}", INSPECT) == "<no value>"


def test_objects_are_read_by_attribute_and_niladic_methods_are_called():
    class Container:
        Name = "obj"
        Labels = {"k": "v"}

        def Short(self):
            return self.Name[:2]

    assert render("{{.Name}} {{.Labels.k}} {{.Short}} {{.Nope}}", Container()) == "obj v ob <no value>"


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s|%5s|%-5s|%.2s", ["a", "b", "c", "long"], "a|    b|c    |lo"),
        ("%d|%5d|%-5d|%05d|%+d", [1, 2, 3, -4, 5], "1|    2|3    |-0004|+5"),
        ("%v %v %v %v", [1.5, [1, "a"], {"k": True}, None], "1.5 [1 a] map[k:true] <nil>"),
        ("%.2f|%8.3f|%e|%g", [3.14159, 2.5, 1234.5678, 0.5], "3.14|   2.500|1.234568e+03|0.5"),
        ("%q %q", ["a\"b\n", 65], "\"a\\\"b\\n\" 'A'"),
        ("%t %x %X %#x %o %c", [True, 255, 255, 255, 8, 9731], "true ff FF 0xff 10 \u2603"),
        ("%x", ["hi"], "6869"),
        ("100%%", [], "100%"),
        ("%d", ["x"], "%!d(string=x)"),
        ("%s", [1], "%!s(int=1)"),
        ("%s %s", ["a"], "a %!s(MISSING)"),
        ("%s", ["a", 2], "a%!(EXTRA int=2)"),
        ("%*d|%-*d|", [4, 7, 3, 8], "   7|8  |"),
    ],
)
def test_printf_follows_go_fmt(fmt, args, expected):
    assert go_sprintf(fmt, *args) == expected


def test_printf_from_a_template():
    assert render('{{printf "%s=%d" .Name .State.Pid}}', INSPECT) == "web=4242"
    assert render('{{.Name | printf "[%s]"}}', INSPECT) == "[web]"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ({"b": 1, "a": 2}, '{"b":1,"a":2}'),
        ([1.0, 1.5, 1e21, 1e-7, 0.000025], "[1,1.5,1e+21,1e-7,0.000025]"),
        ("<&> é \u2028", '"<&> é \\u2028"'),
        (None, "null"),
        ([True, False], "[true,false]"),
    ],
)
def test_json_is_compact_like_go(value, encoded):
    assert render("{{json .}}", value) == encoded


def test_range_forms():
    data = {"L": ["a", "b", "c"], "M": {"z": 1, "a": 2}, "E": []}
    assert render("{{range .L}}[{{.}}]{{end}}", data) == "[a][b][c]"
    assert render("{{range $i, $e := .L}}{{$i}}={{$e}} {{end}}", data) == "0=a 1=b 2=c "
    assert render("{{range $e := .L}}{{$e}}{{end}}", data) == "abc"
    assert render("{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}", data) == "a:2 z:1 "
    assert render("{{range .M}}{{.}}{{end}}", data) == "21"
    assert render("{{range .E}}x{{else}}empty{{end}}", data) == "empty"
    assert render("{{range .Nope}}x{{else}}none{{end}}", data) == "none"
    assert render("{{range 3}}{{.}}{{end}}", data) == "012"
    loop = "{{range $i, $e := .L}}{{if eq $i 1}}{{continue}}{{end}}{{$e}}{{if eq $e \"c\"}}{{break}}{{end}}{{end}}"
    assert render(loop, data) == "ac"


def test_conditionals_and_logic():
    data = {"A": 0, "B": "bee", "C": None}
    fmt = "{{if .A}}a{{else if .B}}b{{else}}c{{end}}"
    assert render(fmt, data) == "b"
    assert render("{{with .A}}a{{else with .B}}{{.}}{{else}}none{{end}}", data) == "bee"
    assert render('{{or .A .C "fallback"}}', data) == "fallback"
    assert render("{{and .B .A .Nope.Deep}}", data) == "0"
    assert render("{{not .A}} {{not .B}}", data) == "true false"
    assert render('{{if and (ne .B "x") (lt .A 1) (le 1 1) (gt 2 1) (ge "b" "a")}}ok{{end}}', data) == "ok"
    assert render("{{if eq .C nil}}nil{{end}}", data) == "nil"


def test_variables_and_scope():
    assert render("{{$x := .Name}}{{$x}}-{{$x}}", INSPECT) == "web-web"
    assert render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", {}) == "2"
    assert render("{{range .Mounts}}{{$d := .Destination}}{{$d}};{{end}}", INSPECT) == "/data;/logs;"


def test_literals():
    assert render("{{'a'}} {{0x1F}} {{-3}} {{1e3}} {{1.25}} {{`r\\n`}} {{\"q\\t\\u00e9\"}} {{true}}", None) == (
        "97 31 -3 1000 1.25 r\\n q\té true"
    )


def test_trim_markers_and_comments():
    assert render("a  {{- .Name -}}  b", INSPECT) == "awebb"
    assert render("a\n\t{{- .Name}} \n", INSPECT) == "aweb \n"
    assert render("{{.Name -}}\n\n  x", INSPECT) == "webx"
    assert render("x{{/* a comment */}}y", INSPECT) == "xy"
    assert render("x {{- /* trimmed */ -}} y", INSPECT) == "xy"
    assert render("{{-3}}", None) == "-3"


def test_backslash_escapes_in_text_become_tabs_and_newlines():
    assert render("{{.Name}}\\t{{.Id}}\\n", INSPECT) == "web\t3f1a2b\n"


@given(st.text(alphabet=st.characters(blacklist_characters="\\")).filter(lambda text: "{{" not in text))
def test_text_without_actions_is_unchanged(text):
    assert render(text, {"x": 1}) == text


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{{.Name", "unclosed action"),
        ("{{nosuchfunc .Name}}", 'function "nosuchfunc" not defined'),
        ("{{if .A}}x", "missing {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{len}}", "wrong number of args for len"),
        ("{{join .A}}", "wrong number of args for join"),
        ("{{$undefined}}", 'undefined variable "$undefined"'),
        ('{{"open}}', "unterminated quoted string"),
        ("{{.A | .B}}", "can't give argument to non-function .B"),
        ("{{.A .B}}", "can't give argument to non-function .A"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ("{{template \"x\"}}", "{{template}} is not supported"),
        ("{{/* open", "unclosed comment"),
        ("{{(.A}}", "unclosed left paren"),
        ("{{.A)}}", "unexpected right paren"),
        ("{{}}", "missing value for command"),
        ("{{nil}}", "nil is not a command"),
        ("{{$a, $b := .X}}", "too many declarations"),
        ("{{.A # x}}", "unrecognized character"),
        ("line one\n{{.A}} {{bad}}", "line 2, column"),
    ],
)
def test_parse_errors_are_one_line_invalid_argument(fmt, message):
    with pytest.raises(InvalidArgument) as caught:
        template.compile(fmt)
    text = str(caught.value)
    assert text.startswith("template: parse error: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{{.Name.First}}", "can't evaluate field First in type string"),
        ("{{index .Config.Cmd 9}}", "index out of range: 9"),
        ("{{range .Name}}{{end}}", "range can't iterate over web"),
        ('{{if lt .Name 3}}{{end}}', "incompatible types for comparison"),
        ("{{len .State.Pid}}", "len of type int"),
        ("{{json .Bad}}", "json: unsupported value: NaN"),
    ],
)
def test_execution_errors_are_one_line_invalid_argument(fmt, message):
    with pytest.raises(InvalidArgument) as caught:
        render(fmt, dict(INSPECT, Bad=float("nan")))
    text = str(caught.value)
    assert text.startswith("template: executing {{")
    assert message in text
    assert "\n" not in text


def test_compile_is_cached():
    assert template.compile("{{.A}} cached") is template.compile("{{.A}} cached")


ROWS = [
    {"ID": "3f1a2b3c4d5e", "Image": "docker.io/library/nginx:latest", "Status": "Up 2 hours", "Names": "web"},
    {"ID": "9e8d7c6b5a40", "Image": "busybox", "Status": "Exited (0) 3 seconds ago", "Names": "a-much-longer-name"},
]


def test_table_aligns_columns_like_podman():
    out = format_rows("table {{.ID}}\\t{{.Image}}\\t{{.Status}}\\t{{.Names}}", ROWS, {"ID": "CONTAINER ID"})
    assert out == (
        "CONTAINER ID  IMAGE                           STATUS                    NAMES\n"
        "3f1a2b3c4d5e  docker.io/library/nginx:latest  Up 2 hours                web\n"
        "9e8d7c6b5a40  busybox                         Exited (0) 3 seconds ago  a-much-longer-name\n"
    )


def test_table_columns_are_at_least_twelve_wide_and_headings_default_to_split_upper_case():
    rows = [{"ID": "1", "CreatedAt": "now", "ExitCode": 0, "Names": "x"}]
    out = format_rows("table {{.ID}}\t{{.CreatedAt}}\t{{.ExitCode}}\t{{.Names}}", rows)
    assert out == "ID          CREATED AT  EXIT CODE   NAMES\n1           now         0           x\n"


def test_table_heading_of_expressions():
    rows = [{"Name": "n", "State": {"Status": "up", "Running": True}, "Labels": {"a": "b"}}]
    fmt = 'table {{printf "%-14s" .Name}}\t{{.State.Status}}\t{{json .Labels}}\t{{if .State.Running}}yes{{end}}'
    lines = format_rows(fmt, rows).splitlines()
    assert lines[0] == "NAME            STATUS      LABELS      RUNNING"
    assert lines[1] == 'n               up          {"a":"b"}   yes'


def test_table_without_heading_and_with_no_rows():
    assert format_rows("table {{.Names}}", [], {"Names": "NAMES"}) == "NAMES\n"
    assert format_rows("table {{.ID}}\t{{.Names}}", ROWS[:1], heading=False) == "3f1a2b3c4d5e  web\n"


def test_bare_table_needs_the_callers_default():
    with pytest.raises(InvalidArgument):
        format_rows("table", ROWS)


def test_rows_without_table_keep_tabs_and_end_each_row_with_one_newline():
    assert format_rows("{{.ID}}\\t{{.Names}}", ROWS) == "3f1a2b3c4d5e\tweb\n9e8d7c6b5a40\ta-much-longer-name\n"
    assert format_rows("{{.Names}}\\n", ROWS) == "web\na-much-longer-name\n"
    assert format_rows("tables {{.Names}}", ROWS[:1]) == "tables web\n"


def test_align_columns_uses_elastic_tabstops():
    # Go: the second column exists only on the first line, so it does not widen the second line.
    assert align_columns("a\tb\tc\naa\tbb\n", min_width=0, padding=1) == "a  b c\naa bb\n"
    assert align_columns("x\ty\nlonger line without tabs\nz\tw\n", min_width=0, padding=1) == (
        "x y\nlonger line without tabs\nz w\n"
    )
    assert align_columns("a\t\tc\n", min_width=0, padding=1) == "a  c\n"


def test_two_hundred_rows_render_as_one_aligned_table():
    """The shape `ps -a` renders (its speed is measured by bench/run.py, not here)."""
    rows = [
        {"ID": f"{i:012x}", "Image": "busybox", "Command": "sh", "CreatedAt": "now", "Status": "Up", "Names": f"c{i}"}
        for i in range(200)
    ]
    fmt = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Names}}"
    lines = format_rows(fmt, rows, {"ID": "CONTAINER ID"}).splitlines()
    assert len(lines) == 201
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "AT", "STATUS", "NAMES"]
    assert {line.index("busybox") for line in lines[1:]} == {lines[0].index("IMAGE")}
    assert lines[-1].split() == ["0000000000c7", "busybox", "sh", "now", "Up", "c199"]


def test_import_pulls_in_nothing_heavy():
    code = (
        "import sys; before = set(sys.modules); import husk.formats.template; "
        "print(sorted(m for m in set(sys.modules) - before if not m.startswith('husk')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (10_000_000, "10ms"), (750_000_000, "750ms"),
    (1_520_700_018, "1.520700018s"), (120 * 10**9, "2m0s"), (3605 * 10**9, "1h0m5s"),
    (90061 * 10**9, "25h1m1s"), (-1500, "-1.5µs"),
])
def test_go_duration_prints_as_go_does(ns, text):
    """podman top's ELAPSED and TIME columns are Go durations."""
    from husk.formats.gofmt import go_duration

    assert go_duration(ns) == text


@pytest.mark.parametrize("row", [
    GoStruct({"ID": "abc", "N": 3, "On": True, "L": ["x", 1], "Nil": None, "M": {"k": "v"}, "F": 1.5}, "psReporter"),
    {"ID": "abc", "N": 3, "On": False, "L": [], "Nil": None, "M": {}, "F": 0.25},
])
def test_plain_field_templates_print_what_the_node_walk_prints(row):
    """Template._plain (text and single fields, every default table) renders without
    walking the nodes: the same text, and a GoStruct's unknown field the same error."""
    source = "{{.ID}}\t{{.N}} {{.On}}|{{.L}}|{{.Nil}}|{{.M}}|{{.F}}|\n"
    fast, walked = template.Template(source), template.Template(source)
    walked._plain = None
    assert fast._plain is not None
    assert fast.render(row) == walked.render(row)
    missing = template.Template("{{.ID}} {{.Nope}}")
    if isinstance(row, GoStruct):
        with pytest.raises(InvalidArgument, match="can't evaluate field Nope in type psReporter"):
            missing.render(row)
    else:
        assert missing.render(row) == "abc <no value>"
    assert template.Template("{{.ID}} {{upper .ID}}")._plain is None


@given(st.lists(st.lists(st.text(alphabet="ab c\u00e9", max_size=15), min_size=1, max_size=5), min_size=1, max_size=8),
       st.booleans(), st.booleans())
def test_uniform_tables_align_as_the_elastic_layout(cells, uniform, trailing_newline):
    """template._align_uniform (every line with as many cells) gives the general
    elastic layout's text; a table it does not take goes the general way."""
    if uniform:
        cells = [(row * 5)[:len(cells[0])] for row in cells]
    text = "\n".join("\t".join(row) for row in cells) + ("\n" if trailing_newline else "")
    lines = [line.split("\t") for line in text.split("\n")]
    fast = template._align_uniform(lines, 12, 2)
    original = template._align_uniform
    try:
        template._align_uniform = lambda *args: None
        elastic = align_columns(text)
    finally:
        template._align_uniform = original
    if uniform:
        assert fast is not None
    assert fast is None or fast == elastic
    assert align_columns(text) == elastic


@pytest.mark.parametrize(("json_text", "printed"), [
    # what podman 4.3.1 printed for {{.State.StartedAt}}, {{.State.FinishedAt}} and the like
    ("2026-12-05T10:36:38.364693463Z", "2026-12-05 10:36:38.364693463 +0000 UTC"),
    ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00 +0000 UTC"),
    ("2026-12-05T10:36:38.1Z", "2026-12-05 10:36:38.1 +0000 UTC"),
    ("2026-12-05T10:36:38Z", "2026-12-05 10:36:38 +0000 UTC"),
    ("2026-12-05T11:36:38.5+01:00", "2026-12-05 11:36:38.5 +0100 +0100"),  # a zone without a name
])
def test_a_time_prints_as_go_time_string_in_templates_and_as_rfc3339_in_json(json_text, printed):
    """A time.Time field: String() for {{.}}, %v, %s, %q and in a struct; RFC 3339 for json."""
    import json

    import msgspec

    from husk.formats.timestamps import GoTime

    doc = GoStruct({"State": GoStruct({"StartedAt": GoTime(json_text), "Pid": 1}, "State")}, "Doc")
    assert render("{{.State.StartedAt}}", doc) == printed
    assert render('{{printf "%s|%v|%q" .State.StartedAt .State.StartedAt .State.StartedAt}}', doc) == (
        f'{printed}|{printed}|"{printed}"')
    assert render("{{.State}}", doc) == "{" + printed + " 1}"
    assert render("{{json .State.StartedAt}}", doc) == f'"{json_text}"'
    assert json.loads(json.dumps(doc)) == json.loads(msgspec.json.encode(doc, enc_hook=str)) == {
        "State": {"StartedAt": json_text, "Pid": 1}}


def test_go_time_of_epoch_seconds_and_of_never():
    from husk.formats.timestamps import go_time

    assert go_time(0).go_string() == "0001-01-01 00:00:00 +0000 UTC"
    assert go_time(1796466998.5).go_string() == "2026-12-05 10:36:38.5 +0000 UTC"
    assert go_time(1796466998.5) == "2026-12-05T10:36:38.5Z"
