"""`husk build`: images from a Containerfile (the build room).

It sits above the engine (each RUN is a real husk container on the configured
runtime) and below the front ends (the CLI's `build` and the API's `POST
/build`).  `parsing` reads the Containerfile with moby's own parser, `words`
expands variables as Docker's shell lexer does, `ignore` holds Docker's
.dockerignore rules, `context` reads the build context without ever leaving
it, `files` writes COPY/ADD layers, `cache` keeps the layer cache, and
`builder` runs the stages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from .builder import Options, Output


def build(runtime: "Runtime", location: str, options: "Options", output: "Output", *,
          containerfile: str = "", stdin: BinaryIO | None = None, outside_ok: bool = True,
          fallback: bool = False) -> str:
    """Build the image of `location` (a context directory, a tar file, or `-`: a tar
    on `stdin`) and return its id; what the CLI and the API both call (see
    :func:`husk.build.context.read_containerfile` for `outside_ok` and `fallback`)."""
    import os

    from .builder import Builder
    from .context import open_context, read_containerfile
    from .parsing import parse

    if options.format not in ("oci", "docker"):
        from ..define import InvalidArgument

        raise InvalidArgument(f"unrecognized image type {options.format!r}: oci or docker")
    scratch = os.path.join(runtime.paths.root, "build-tmp")
    with open_context(location, stdin, scratch, containerfile) as context:
        text, name = read_containerfile(context, containerfile, outside_ok, fallback)
        parsed = parse(text, name)
        return Builder(runtime, parsed, name, context, options, output).build()
