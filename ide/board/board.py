"""A connected board: open a port (or the virtual board), talk to its REPL, ask what it is, rescue it.

Everything file-related is built on :meth:`Board.exec` / :meth:`Board.eval` (see ``ide.filebrowser``), as
mpremote builds its ``fs_*`` on its transport; this module adds only the connection and the REPL.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import threading
import time
from typing import Callable

from ide.board import board_code
from ide.board.repl import (CTRL_B, CTRL_D, END_OF_OUTPUT, FRIENDLY_PROMPT, RAW_PROMPT, OutputCallback,
                            Repl, parse_traceback)
from ide.board.serial_link import DEFAULT_LINES, LineSettings
from ide.board.transport import Transport, open_transport
from ide.errors import BoardTimeoutError, PortVanishedError, RescueFailedError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# .mpy architecture codes (bits 2..7 of sys.implementation._mpy >> 8), for mpy-cross's -march.
MPY_ARCH_NAMES = {0: None, 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
                  7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}

@dataclasses.dataclass(frozen=True)
class BoardInfo:
    version: str          # "1.29.0"
    platform: str         # "esp32", "esp8266", ... (the virtual board reports the chip it plays)
    machine: str          # "Generic ESP32 module with ESP32"
    mpy_version: int      # .mpy file format version (6 for MicroPython 1.19+)
    mpy_sub_version: int
    mpy_arch: str | None  # native code architecture ("xtensawin" on ESP32), None when the build has none
    mem_free: int
    mem_alloc: int
    fs_total: int
    fs_free: int
    unique_id: str
    virtual: bool
    # A virtual board on a 64-bit interpreter: mem_free/mem_alloc are in a chip's bytes, scaled from the
    # interpreter's (ide/board/virtual/heap.py), so estimates; on a chip or a 32-bit interpreter, exact.
    ram_estimated: bool = False

    @property
    def ram_text(self) -> str:
        return f"{'≈' if self.ram_estimated else ''}{self.mem_free // 1024} KB RAM free"

    @property
    def summary(self) -> str:
        return (f"MicroPython {self.version} on {self.platform}{' (virtual)' if self.virtual else ''}, "
                f"{self.ram_text}, {self.fs_free // 1024} KB of {self.fs_total // 1024} KB flash free")


def parse_info(text: str) -> BoardInfo:
    version, platform, machine, mpy, mem_free, mem_alloc, fs, uid, heap_scale = ast.literal_eval(text)
    release = ".".join(str(part) for part in version[:3])
    is_virtual = bool(heap_scale)
    if is_virtual:
        machine += " (virtual board)"
    return BoardInfo(
        version=release, platform=platform, machine=machine, mpy_version=mpy & 0xFF,
        mpy_sub_version=(mpy >> 8) & 3, mpy_arch=MPY_ARCH_NAMES.get(mpy >> 10),
        mem_free=mem_free, mem_alloc=mem_alloc, fs_total=fs[0], fs_free=fs[1], unique_id=uid,
        virtual=is_virtual, ram_estimated=is_virtual and heap_scale != 1)


class Board:
    """One open connection to a MicroPython board, on any :class:`Transport`. One owner at a time (the worker
    thread in the app)."""

    def __init__(self, transport: Transport, port_name: str, timeout: float = 10.0):
        self.transport = transport
        self.port_name = port_name
        self.repl = Repl(transport, timeout)
        self.timeout = timeout

    @property
    def link(self) -> Transport:
        """The transport under its older name."""
        return self.transport

    @property
    def virtual_board(self):
        """The virtual board behind this connection (for its fault injection and pins), or None."""
        return getattr(self.transport, "virtual_board", None)

    # --- opening and closing --------------------------------------------------------------------------------

    @classmethod
    def open(cls, port: str, baud: int = 115200, lines: LineSettings = DEFAULT_LINES, timeout: float = 10.0,
             virtual_config=None, interrupt: bool = True) -> "Board":
        """Open ``port`` (device path, COM name, pyserial URL, or "virtual") and make sure a MicroPython REPL
        answers. ``virtual_config`` is an ``ide.board.virtual.VirtualBoardConfig`` for "virtual".

        With ``interrupt`` the running program is stopped to reach the prompt; without it the port is only
        opened (for a terminal that wants to see main.py's output as it is).
        """
        transport = open_transport(port, baud, lines, virtual_config)
        return cls.on_transport(transport, port, timeout, interrupt)

    @classmethod
    def on_transport(cls, transport: Transport, port_name: str | None = None, timeout: float = 10.0,
                     interrupt: bool = True) -> "Board":
        """A board on a transport opened by the caller (a link of its own making); closed with the board."""
        try:
            board = cls(transport, port_name or transport.name, timeout)
            if interrupt:
                board.repl.interrupt(min(timeout, 5.0))
            return board
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        try:
            if self.repl.in_raw_repl:
                self.transport.write(CTRL_B)  # leave the board at its friendly prompt, as we found it
        except PortVanishedError:
            pass
        self.transport.close()

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- code -----------------------------------------------------------------------------------------------

    def exec(self, code: str | bytes, on_output: OutputCallback | None = None,
             timeout: float | None = None) -> bytes:
        return self.repl.exec(code, on_output, timeout)

    def eval(self, expression: str, timeout: float | None = None):
        """Evaluate on the board and return the value (for literals: numbers, strings, tuples, lists, dicts)."""
        return ast.literal_eval(self.repl.eval(expression, timeout))

    def interrupt(self, timeout: float | None = None) -> bytes:
        return self.repl.interrupt(timeout)

    # --- a program that talks a protocol of its own on the stream (file transfers) ------------------------

    def start(self, code: str | bytes, timeout: float | None = None) -> Transport:
        """Start ``code`` in the raw REPL and return the stream it talks on: the caller then reads and writes
        the transport directly (a binary protocol), and ends with :meth:`finish` or :meth:`abandon`."""
        self.repl.enter_raw(timeout)
        self.repl.send_code(code, self.timeout if timeout is None else timeout)
        return self.transport

    def finish(self, timeout: float | None = None, on_output: OutputCallback | None = None) -> bytes:
        """The end of a started program: its remaining stdout (returned), its traceback (raised as
        :class:`DeviceTraceback`) and the raw prompt."""
        return self.repl.read_result(on_output, self.timeout if timeout is None else timeout)

    def abandon(self) -> None:
        """A started program's protocol broke off: the board's mode is unknown, the next command interrupts
        first."""
        self.repl.forget_state()

    def run(self, code: str | bytes, on_output: OutputCallback, cancel: threading.Event | None = None,
            poll: float = 0.1, input_source: Callable[[], bytes] | None = None) -> bool:
        """Run a program until it ends, streaming its output; ``cancel`` interrupts it (Ctrl-C).

        ``input_source()`` is asked every ``poll`` seconds for bytes typed meanwhile (b"" when none); they are
        sent to the running program, so ``input()`` and ``sys.stdin.read()`` get them (``\\r`` ends a line, as the
        Enter key of a terminal does; the board echoes what ``input()`` reads).

        There is no overall timeout (a program may run for days); the wait is bounded by ``cancel`` instead, and
        the interrupt itself has a timeout. Returns True when the program was interrupted through ``cancel``.
        A traceback other than that KeyboardInterrupt raises :class:`DeviceTraceback`.
        """
        self.repl.enter_raw()
        self.repl.send_code(code, self.timeout)
        interrupted_at = None
        while True:
            if input_source is not None and interrupted_at is None:
                typed = input_source()
                if typed:
                    self.transport.write(typed)
            try:
                # Everything read is handed to on_output as it arrives, so a poll timeout loses nothing.
                self.transport.read_until(END_OF_OUTPUT, poll, "running program", on_output)
                break
            except BoardTimeoutError:
                if cancel is not None and cancel.is_set() and interrupted_at is None:
                    self.transport.interrupt()
                    interrupted_at = time.monotonic()
                if interrupted_at is not None and time.monotonic() - interrupted_at > self.timeout:
                    self.repl.forget_state()
                    raise BoardTimeoutError("stopping the program", self.timeout)
        stderr = self.transport.read_until(END_OF_OUTPUT, self.timeout, "reading error output")
        self.transport.read_until(b">", self.timeout, "waiting for the raw prompt")
        if stderr:
            error = parse_traceback(stderr.decode("utf-8", "replace"))
            if interrupted_at is not None and error.exc_type == "KeyboardInterrupt":
                return True
            raise error
        return interrupted_at is not None

    def soft_reset(self, on_output: OutputCallback | None = None, run_main: bool = True,
                   wait_for_prompt: bool = True, timeout: float | None = None) -> bytes:
        return self.repl.soft_reset(on_output, timeout, run_main, wait_for_prompt)

    def hard_reset(self, on_output: OutputCallback | None = None, timeout: float | None = None) -> bytes:
        """Reset the chip (machine.reset()) and wait for the friendly prompt after boot."""
        timeout = timeout or self.timeout
        self.repl.enter_raw()
        self.repl.send_code("import machine\nmachine.reset()\n", timeout)
        self.repl.in_raw_repl = False
        return self.transport.read_until(FRIENDLY_PROMPT, timeout, "booting after hard reset", on_output)

    def info(self) -> BoardInfo:
        return parse_info(self.exec(board_code.INFO).decode("utf-8", "replace").strip())

    # --- friendly REPL passthrough for a terminal -----------------------------------------------------------

    def to_friendly_repl(self) -> bytes:
        """Leave the raw REPL (after a command) so a terminal shows the friendly prompt again."""
        return self.repl.exit_raw()

    def terminal_write(self, data: bytes) -> None:
        self.repl.in_raw_repl = False if CTRL_D in data or b"\x02" in data else self.repl.in_raw_repl
        self.transport.write(data)

    def terminal_read(self, wait: float = 0.05) -> bytes:
        return self.transport.read_available(wait)

    # --- rescue ---------------------------------------------------------------------------------------------

    def rescue(self, move_main_aside: bool = False, timeout: float = 20.0,
               on_progress: Progress | None = None) -> str | None:
        """Regain control of a board whose main.py loops, sleeps or disables the REPL.

        Ctrl-C is sent every 50 ms, across a hard reset where we can cause one (RESET line, virtual board), so
        that it lands in the first lines of main.py before the program can turn Ctrl-C off or go to sleep.
        Returns the new name of main.py when ``move_main_aside`` moved it, else None.
        """
        self.transport.pulse_reset()
        seen = bytearray()
        attempts = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.transport.interrupt()
            attempts += 1
            seen += self.transport.read_available(0.05)
            if on_progress:
                on_progress(min(attempts, int(timeout / 0.05)), int(timeout / 0.05))
            if seen.endswith(FRIENDLY_PROMPT) or seen.endswith(RAW_PROMPT):
                break
            del seen[:-512]
        else:
            raise RescueFailedError(self.port_name, attempts, bytes(seen[-200:]))
        # Keep interrupting briefly: main.py may be caught between two statements of boot.
        self.transport.drain(quiet=0.2, limit=1.0)
        self.repl.forget_state()
        self.repl.interrupt()
        if not move_main_aside:
            return None
        new_name = self.exec(
            "import os\n"
            "def _mipy_aside():\n"
            "    try:\n        os.stat('/main.py')\n    except OSError:\n        return None\n"
            "    n = 0\n"
            "    while True:\n"
            "        name = '/main.py.disabled' + (str(n) if n else '')\n"
            "        try:\n            os.stat(name)\n        except OSError:\n            break\n"
            "        n += 1\n"
            "    os.rename('/main.py', name)\n"
            "    return name\n"
            "print(repr(_mipy_aside()))\n"
            "del _mipy_aside\n").decode().strip()
        return ast.literal_eval(new_name)
