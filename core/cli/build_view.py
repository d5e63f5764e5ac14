"""`husk build` on a terminal: a compact progress view.

podman's step lines stay (`STEP 2/7: RUN ...`, `--> id`, `COMMIT`), but a
step's output is not poured onto the screen: its last few lines show in a
small window under the step line, redrawn as they come and erased when the
next line comes.  A step that fails has its whole output printed, so nothing
needed to understand a failure is lost.  Piped or redirected, the build
prints podman's plain stream instead (husk.cli.build)."""

from __future__ import annotations

import os
import time

#: how many of a step's last output lines the window shows
WINDOW = 5
#: at most this many redraws a second (a chatty RUN must not flood the terminal)
REDRAWS = 10
_UP_AND_CLEAR = "\x1b[1A\x1b[2K"
_DIM, _PLAIN = "\x1b[2m", "\x1b[0m"


class CompactView:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.output = bytearray()  # the current step's whole output
        self.drawn = 0  # window lines on the screen now
        self.last_draw = 0.0

    def line(self, text: str) -> None:
        """A step line: the window of the step before goes, the line stays."""
        self._erase()
        self.output.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def raw(self, data: bytes) -> None:
        self.output += data
        now = time.monotonic()
        if now - self.last_draw >= 1 / REDRAWS:
            self.last_draw = now
            self._draw()

    def failed(self) -> None:
        """The build failed: the failing step's whole output, in place of its window."""
        self._erase()
        if self.output:
            text = self.output.decode(errors="replace")
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.output.clear()
        self.stream.flush()

    def _draw(self) -> None:
        try:
            width = max(os.get_terminal_size(self.stream.fileno()).columns - 3, 10)
        except OSError:
            width = 77
        lines = self.output.decode(errors="replace").replace("\r", "\n").split("\n")
        shown = [line for line in lines if line.strip()][-WINDOW:]
        self._erase()
        for line in shown:
            self.stream.write(f"{_DIM}│ {line.expandtabs()[:width]}{_PLAIN}\n")
        self.drawn = len(shown)
        self.stream.flush()

    def _erase(self) -> None:
        if self.drawn:
            self.stream.write(_UP_AND_CLEAR * self.drawn)
            self.drawn = 0
