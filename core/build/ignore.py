"""`.containerignore` / `.dockerignore`, with Docker's rules (moby's patternmatcher).

Each line is a pattern; `#` starts a comment line, blank lines are skipped,
a leading `!` makes an exception, the pattern is cleaned like Go's
filepath.Clean and a leading `/` dropped.  `*` matches within one path
component, `?` one character, `[...]` a class, `**` any number of components.
A path is excluded when the last pattern matching it, or one of its parent
directories, is not an exception."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re

IGNORE_FILES = (".containerignore", ".dockerignore")


@dataclasses.dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: "re.Pattern[str]"


def _regex(pattern: str) -> "re.Pattern[str]":
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 1
                if pattern.startswith("/", i + 1):  # `**/`: zero or more directories
                    out.append("(.*/)?")
                    i += 1
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body.replace("\\", "\\\\")) + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.S)


def parse_patterns(text: str) -> list[Pattern]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        line = line[1:].strip() if exclusion else line
        line = posixpath.normpath(line).lstrip("/") if line else line
        if not line or line == ".":
            continue
        patterns.append(Pattern(line, exclusion, _regex(line)))
    return patterns


def read_patterns(context_dir: str, dockerfile_name: str = "") -> list[Pattern]:
    """The context's ignore file (`<Containerfile>.containerignore` or
    `.dockerignore` next to it first, then .containerignore, then .dockerignore)."""
    candidates = [f"{dockerfile_name}.containerignore", f"{dockerfile_name}.dockerignore"] if dockerfile_name else []
    for name in [*candidates, *IGNORE_FILES]:
        path = os.path.join(context_dir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as file:
                return parse_patterns(file.read())
    return []


def excluded(path: str, patterns: list[Pattern]) -> bool:
    """Whether `path` (relative to the context, `/`-separated) is left out."""
    if not patterns:
        return False
    parents = [path]
    while "/" in parents[-1]:
        parents.append(parents[-1].rsplit("/", 1)[0])
    result = False
    for pattern in patterns:
        if any(pattern.regex.match(candidate) for candidate in parents):
            result = not pattern.exclusion
    return result


def has_exceptions(patterns: list[Pattern]) -> bool:
    """Whether an excluded directory must still be walked (an exception may re-include inside it)."""
    return any(pattern.exclusion for pattern in patterns)
