"""Find the last MicroPython traceback in console output (the friendly REPL prints them inline), so the editor
can jump to its file and line. The traceback itself is parsed by the board core, once, for both paths."""

from __future__ import annotations

from ide.board.repl import parse_traceback
from ide.errors import DeviceTraceback

_HEADER = "Traceback (most recent call last):"


def find_traceback(text: str) -> DeviceTraceback | None:
    """The last traceback in ``text``, or None when there is none."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    starts = [index for index, line in enumerate(lines) if line.strip() == _HEADER]
    if not starts:
        return None
    block = []
    for line in lines[starts[-1]:]:
        block.append(line)
        if line.strip() and not line.startswith((" ", _HEADER)):
            break  # the "OSError: ..." line ends the traceback
    return parse_traceback("\n".join(block))
