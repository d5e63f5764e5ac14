"""husk.build's pure parts: Docker's word expansion, .dockerignore rules, Containerfile checks."""

import pytest

from husk.build.ignore import excluded, parse_patterns
from husk.build.parsing import SyntaxProblem, parse
from husk.build.words import expand, expand_words
from husk.define import InvalidArgument

ENV = {"SET": "x", "EMPTY": ""}


@pytest.mark.parametrize("word, expected", [
    ("$SET", "x"), ("${SET}", "x"), ("${SET}y", "xy"), ("$UNSET", ""),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${SET:-d}", "x"),
    ("${SET:+alt}", "alt"), ("${UNSET:+alt}", ""), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"),
    ("${UNSET:-${SET}z}", "xz"), ("'$SET'", "$SET"), ('"$SET b"', "x b"), ("a\\ b", "a b"),
    ("\\$SET", "$SET"), ('"a\\"b"', 'a"b'), ("$", "$"),
])
def test_expand_as_docker_does(word, expected):
    assert expand(word, ENV) == expected


def test_words_split_on_unquoted_whitespace_only():
    assert expand_words('a "b c" $SET \'d e\'', ENV) == ["a", "b c", "x", "d e"]
    assert expand_words("${NONE:-one two}", ENV) == ["one two"]  # an expansion is never split


def test_the_escape_directive_character():
    assert expand("a`$SET", ENV, escape="`") == "a$SET"


@pytest.mark.parametrize("word", ["${UNSET:?must be set}", "${SET", "'open", "${SET%x}"])
def test_bad_substitutions_are_one_line_errors(word):
    with pytest.raises(InvalidArgument):
        expand(word, ENV)


# Docker's documented .dockerignore examples (docs.docker.com, "Build context", .dockerignore)
@pytest.mark.parametrize("patterns, path, out", [
    ("*/temp*", "somedir/temporary.txt", True), ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp.txt", False), ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("temp?", "tempa", True), ("temp?", "tempab", False),
    ("**/*.go", "a/b/c.go", True), ("**/*.go", "c.go", True),
    ("*.md\n!README.md", "README.md", False), ("*.md\n!README.md", "CHANGES.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", False),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
    ("build", "build/out/x.o", True), ("/build/", "build/x", True), ("# comment\n\n", "x", False),
    ("a/../b", "b", True), ("[a-c]x", "bx", True), ("[a-c]x", "dx", False),
])
def test_dockerignore_rules(patterns, path, out):
    assert excluded(path, parse_patterns(patterns)) is out


def test_a_syntax_error_names_the_file_the_line_and_the_problem():
    with pytest.raises(SyntaxProblem, match=r"^Dockerfile:2: unknown instruction: FOO$"):
        parse("FROM busybox\nFOO bar\n", "Dockerfile")
    with pytest.raises(SyntaxProblem, match=r"^f:2: RUN requires at least one argument$"):
        parse("FROM busybox\nRUN\n", "f")
    with pytest.raises(SyntaxProblem, match=r"^f:1: .*FROM"):
        parse("RUN true\n", "f")
    with pytest.raises(SyntaxProblem, match=r"^f:2: unknown flag: --nope$"):
        parse("FROM busybox\nCOPY --nope=1 a b\n", "f")


def test_continuations_comments_json_arg_before_from_and_heredocs():
    parsed = parse('# escape=`\nARG V=1\nFROM busybox AS b\nRUN echo a `\n  b\n# c\nCMD ["x", "y"]\n'
                   "RUN <<EOF\necho hi\nEOF\n", "f")
    cmds = [(i.cmd, i.args, i.json, i.line) for i in parsed.instructions]
    assert cmds[0] == ("ARG", ("V=1",), False, 2)
    assert cmds[2][0] == "RUN" and cmds[2][1][0].split() == ["echo", "a", "b"]
    assert cmds[3] == ("CMD", ("x", "y"), True, 7)
    assert parsed.instructions[4].heredocs[0].content == "echo hi\n"
    assert parsed.escape == "`"
