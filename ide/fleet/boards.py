"""Which boards a many-board job runs on, and opening one.

A board is named as ``--port`` names one: a device (``/dev/ttyUSB0``, ``COM3``), a pyserial URL, ``virtual`` (the
default virtual board), or ``virtual:NAME``, a virtual board of its own with its files in the user data folder
(``virtual-boards/NAME``), so a classroom can be rehearsed without hardware.
"""

from __future__ import annotations

import re
from pathlib import Path

import platformdirs

from ide.board import ports as port_discovery
from ide.board import virtual
from ide.board.board import Board
from ide.board.serial_link import DEFAULT_LINES, LineSettings
from ide.errors import UsageError
from ide.fleet.errors import DuplicateBoard, NoBoardsFound

VIRTUAL_PREFIX = virtual.VIRTUAL_PORT_NAME + ":"
VIRTUAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# USB bridges we know sit on ESP boards (ide.board.ports gives them likelihood 3).
LIKELY_BOARD = 3


def named_virtual_boards_dir() -> Path:
    return Path(platformdirs.user_data_dir("mipy-studio")) / "virtual-boards"


def virtual_board_dir(port: str) -> Path | None:
    """The files folder of a ``virtual:NAME`` board; None for any other port."""
    if not port.startswith(VIRTUAL_PREFIX):
        return None
    name = port[len(VIRTUAL_PREFIX):]
    if not VIRTUAL_NAME.match(name):
        raise UsageError("--port", f"{port!r}: a virtual board name has up to 32 letters, digits, '-' or '_'")
    return named_virtual_boards_dir() / name


def check_ports(ports: list[str]) -> list[str]:
    """The ports, each once; naming one twice is an error (two workers would fight over it)."""
    seen: set[str] = set()
    for port in ports:
        if port in seen:
            raise DuplicateBoard(port)
        seen.add(port)
    if not ports:
        raise NoBoardsFound()
    return list(ports)


def all_boards() -> list[str]:
    """Every port that looks like an ESP board, then every named virtual board that exists."""
    found = [info.device for info in port_discovery.list_board_ports(include_unlikely=False)
             if info.likelihood >= LIKELY_BOARD and not info.is_virtual]
    folder = named_virtual_boards_dir()
    if folder.is_dir() and virtual.unavailable_reason() is None:
        found += [VIRTUAL_PREFIX + path.name for path in sorted(folder.iterdir())
                  if path.is_dir() and VIRTUAL_NAME.match(path.name)]
    if not found:
        raise NoBoardsFound()
    return found


def open_board(port: str, baud: int = 115200, timeout: float = 10.0, lines: LineSettings = DEFAULT_LINES,
               interrupt: bool = True) -> Board:
    """Open one board of a many-board job (``virtual:NAME`` starts that virtual board)."""
    folder = virtual_board_dir(port)
    if folder is None:
        return Board.open(port, baud=baud, lines=lines, timeout=timeout, interrupt=interrupt)
    folder.mkdir(parents=True, exist_ok=True)
    board = Board.open(virtual.VIRTUAL_PORT_NAME, baud=baud, lines=lines, timeout=timeout, interrupt=interrupt,
                       virtual_config=virtual.VirtualBoardConfig(root_dir=folder))
    board.port_name = port
    return board
