"""Image references, checked against the OCI distribution grammar (what
docker's and podman's reference parsers accept):

    reference  := name [":" tag] ["@" digest]
    name       := [domain "/"] component ("/" component)*     (255 characters at most)
    domain     := host [":" port], host a DNS name (letters of any case, digits,
                  inner "-", "." between labels) or "[" IPv6 "]"
    component  := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex{32,}, algorithm [A-Za-z][A-Za-z0-9]* joined by "+._-"

So no `..`, `$`, quote, space or extra colon gets into a stored name, an
event or an archive's tags.  Everything else is refused with podman's
"invalid reference format".
"""

from __future__ import annotations

import re

from ..define import InvalidArgument

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII)
_NAME_LIMIT = 255


def check_reference(reference: str) -> str:
    """`reference` when the grammar allows it; InvalidArgument otherwise
    (an upper-case repository gets podman's own reason)."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        if _REFERENCE.fullmatch(reference.lower()):  # only the case is wrong
            raise InvalidArgument(f"invalid reference format: repository name must be lowercase: {reference!r}")
        raise InvalidArgument(f"invalid reference format: {reference!r}")
    if len(match["name"]) > _NAME_LIMIT:
        raise InvalidArgument(f"invalid reference format: repository name must not be more than "
                              f"{_NAME_LIMIT} characters: {reference!r}")
    return reference
