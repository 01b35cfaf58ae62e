"""Find the file and line of the error in a MicroPython traceback, so the editor can jump there.

MicroPython prints::

    Traceback (most recent call last):
      File "main.py", line 12, in <module>
      File "lib/sensor.py", line 4, in read
    OSError: [Errno 19] ENODEV
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME_RE = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (\S+))?')
_HEADER = "Traceback (most recent call last):"


@dataclass(frozen=True)
class TraceFrame:
    """One ``File "...", line N, in f`` entry (``path`` as the board printed it)."""

    path: str
    line: int
    function: str = ""


@dataclass(frozen=True)
class DeviceTraceback:
    """A parsed traceback: ``frames`` outermost first; ``message`` the final "OSError: ..." line."""

    frames: tuple[TraceFrame, ...]
    message: str

    @property
    def innermost(self) -> TraceFrame | None:
        """The frame where the error happened (the one to jump to)."""
        return self.frames[-1] if self.frames else None


def parse_traceback(text: str) -> DeviceTraceback | None:
    """The last traceback in ``text`` (console output), or None when there is none."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = None
    for i, line in enumerate(lines):
        if line.strip() == _HEADER:
            start = i
    if start is None:
        return None
    frames = []
    message = ""
    for line in lines[start + 1:]:
        match = _FRAME_RE.match(line)
        if match:
            frames.append(TraceFrame(match.group(1), int(match.group(2)), match.group(3) or ""))
        elif line.strip():
            message = line.strip()
            break
    return DeviceTraceback(tuple(frames), message)
