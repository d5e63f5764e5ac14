"""husk.formats.gofmt.go_quote is Go's strconv.Quote (%q), which podman's messages use."""

from husk.formats.gofmt import go_quote


def test_a_byte_that_is_not_utf8_is_quoted_as_go_quotes_it():
    """argv's byte 0xff reaches husk as the surrogate U+DCFF (surrogateescape); podman
    4.3.1 says `invalid environment variable: "=a\\xff"`, husk said `"=a\\udcff"`."""
    assert go_quote("=a\udcff") == '"=a\\xff"'
    assert go_quote("\udc80\udcfe") == '"\\x80\\xfe"'


def test_go_quote_escapes_as_strconv_quote():
    assert go_quote('a"b\\c\n\x01\u00e9\u200b\U0001f600') == '"a\\"b\\\\c\\n\\x01\u00e9\\u200b\U0001f600"'
