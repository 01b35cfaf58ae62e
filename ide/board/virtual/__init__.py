"""The virtual board: the real MicroPython unix port, made to behave like an ESP32 on a serial port.

A package of rooms, one job each:

- ``board.py``: ``VirtualBoard`` and its bridge thread, the board's life cycle (power on, resets, deep sleep);
- ``links.py``: the two ends of the bridge, the host's port (a pty, or a callback) and the interpreter's stdio;
- ``wire.py``: the wire model (baud-rate pacing, latency, the UART's receive buffer and its overruns);
- ``console.py``: what a chip prints around resets (the boot filter: ROM text, banners, raw-mode tracking);
- ``output.py``: text cooked to "\\r\\n" as a chip's UART sends it, framed binary passed as it is;
- ``process.py``: which MicroPython runs the board, how it is started, interrupted (SIGINT) and compiled shims;
- ``faults.py``: faults a test injects on either direction of the line;
- ``profiles.py`` and ``heap.py``: the chips and firmware releases it plays, and their free RAM;
- ``side_channel.py`` and ``wifi.py``: pin states and inputs beside the serial line, and the Wi-Fi it offers.

The start-up script (``virtual_shims/_vb_start.py``) confines the board's file system to its folder and gives it an
ESP32's capacity and, optionally, its flash write speed.

The names below are the package's public face, imported from here by the rest of the IDE.
"""

from __future__ import annotations

from pathlib import Path  # noqa: F401  (tests patch process.PROC_STATUS with a Path)

from ide.board.virtual import profiles
from ide.board.virtual.board import (SIGINT_SPACING_S, VirtualBoard,
                                     VirtualBoardConfig)
from ide.board.virtual.console import (BOOT_SENTINEL, FRIENDLY_PROMPT, MACHINE_RESET_CAUSE, RAW_REPL_BANNER,
                                       ROM_BOOT_TEXT, ROM_RESET_CODES, SOFT_REBOOT, UNIX_BANNER)
from ide.board.virtual.process import (DIE_WITH_PARENT, PRELOADED_SHIMS, SHIMS_DIR, START_SCRIPT, caught_signals,
                                       compiled_shims_dir, default_board_dir, micropython_command,
                                       unavailable_reason)
from ide.board.virtual.wire import ESP32_STDIN_BUFFER, UNREAD_OUTPUT_DROP_S, Wire

_Wire = Wire  # the name it had before the package had rooms

VIRTUAL_PORT_NAME = "virtual"
ESP32_BANNER = profiles.banner(profiles.ESP32, profiles.firmware(None))

__all__ = [
    "BOOT_SENTINEL", "DIE_WITH_PARENT", "ESP32_BANNER", "ESP32_STDIN_BUFFER",
    "FRIENDLY_PROMPT", "MACHINE_RESET_CAUSE", "PRELOADED_SHIMS", "RAW_REPL_BANNER", "ROM_BOOT_TEXT",
    "ROM_RESET_CODES", "SHIMS_DIR", "SIGINT_SPACING_S", "SOFT_REBOOT", "START_SCRIPT", "UNIX_BANNER",
    "UNREAD_OUTPUT_DROP_S", "VIRTUAL_PORT_NAME", "VirtualBoard", "VirtualBoardConfig", "Wire", "caught_signals",
    "compiled_shims_dir", "default_board_dir", "micropython_command", "unavailable_reason",
]
