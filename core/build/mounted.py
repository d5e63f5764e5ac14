"""An image's layers mounted read-only-in-effect (overlay over a throwaway upper) at a
private temporary directory under the storage root: what COPY --from, RUN
--mount from= and the destination checks of COPY read."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.runtime import Runtime


class Mounted:
    """An image's layers mounted (overlay) at a private temporary directory, for reading."""

    def __init__(self, runtime: "Runtime", layers: list[str]) -> None:
        self.runtime, self.layers, self.directory = runtime, layers, ""

    def __enter__(self) -> str:
        import tempfile

        from ..storage.rootfs import mount_overlay

        parent = os.path.join(self.runtime.paths.root, "build-tmp")
        os.makedirs(parent, mode=0o700, exist_ok=True)
        self.directory = tempfile.mkdtemp(dir=parent)
        if not self.layers:
            os.mkdir(os.path.join(self.directory, "merged"), 0o755)
            return os.path.join(self.directory, "merged")
        lowers = [self.runtime.paths.layer_diff(layer) for layer in reversed(self.layers)]
        return mount_overlay(lowers, self.directory)

    def __exit__(self, *exc_info) -> None:
        import shutil

        from ..storage.rootfs import unmount

        merged = os.path.join(self.directory, "merged")
        unmount(merged)
        shutil.rmtree(self.directory, ignore_errors=True)
