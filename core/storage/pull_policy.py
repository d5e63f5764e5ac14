"""Whether `run`, `create` and a pull with a policy need the registry at all.

Apart from :mod:`husk.storage.pull` because that module imports the registry
client (http.client and ssl, about a fifth of a `run`'s start-up): a stored
image under the default policy (`missing`) is found without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..define import InvalidArgument, NoSuchImage

if TYPE_CHECKING:
    from ..state.records import ImageRecord
    from .pull import PullOptions

#: podman's pull policies (`--pull`, the libpod pull's `policy`)
PULL_POLICIES = ("always", "missing", "never", "newer")


def stored_for_policy(runtime, reference: str, policy: str,
                      options: "Callable[[], PullOptions]") -> "ImageRecord | None":
    """The stored image that makes a pull under `policy` unneeded, or None (pull);
    `never` with nothing stored is NoSuchImage.  ``options`` makes the pull's
    options, called only when `newer` has to ask the registry."""
    from .images import resolve_image

    if policy not in PULL_POLICIES:
        raise InvalidArgument(f"invalid pull policy {policy!r}: expected one of {', '.join(PULL_POLICIES)}")
    if policy == "always":
        return None
    try:
        local = resolve_image(runtime, reference)
    except NoSuchImage:
        if policy == "never":
            raise
        return None
    if policy == "newer":
        from .pull import newer_available

        return None if newer_available(local, options()) else local
    return local
