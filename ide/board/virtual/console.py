"""The board's console as a chip shows it: the unix port's output turned into what an ESP32 prints around resets.

After a reset the start-up script prints ``BOOT_SENTINEL`` once boot.py and main.py are done; what follows is
the unix port's banner, which becomes the chip's. After a soft reset in the raw REPL the interpreter is put back
into raw mode without showing it. The filter also follows whether the REPL is in raw mode, which the next soft
reset needs to know.
"""

from __future__ import annotations

import re
from typing import Callable

from ide.board.virtual.output import Cooker, OutputSplitter

# The interpreter prints this after boot.py/main.py; what follows is the unix port's banner, which we replace.
BOOT_SENTINEL = "\x00<vb-ready>\x00"
# The banner of the interpreter itself: "linux" or "darwin" for the unix port ("win32" for the Windows port).
UNIX_BANNER = re.compile(rb"MicroPython [^\r\n]*; (?:linux|darwin|win32) \[[^\r\n]*\r\n")
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
CTRL_A = 0x01
CTRL_C = 0x03
CTRL_E = 0x05
CTRL_D = 0x04
CTRL_B = 0x02

# ESP32 ROM boot lines, by reset cause (what a terminal shows after EN is pulsed or the chip wakes).
ROM_BOOT_TEXT = (b"ets Jul 29 2019 12:21:46\r\n\r\n"
                 b"rst:0x%x (%s),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
                 b"configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,"
                 b"wp_drv:0x00\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:4540\r\nentry 0x400805b8\r\n")
ROM_RESET_CODES = {"POWERON_RESET": 0x1, "SW_CPU_RESET": 0xC, "DEEPSLEEP_RESET": 0x5, "WDT": 0x7,
                   "RTCWDT_RTC_RESET": 0x10}
# machine.reset_cause() values on an ESP32.
MACHINE_RESET_CAUSE = {"POWERON_RESET": 1, "HARD_RESET": 2, "WDT": 3, "DEEPSLEEP_RESET": 4, "SOFT_RESET": 5,
                       "SW_CPU_RESET": 2}


def rom_boot_text(cause: str) -> bytes:
    return ROM_BOOT_TEXT % (ROM_RESET_CODES.get(cause, 0xC), cause.encode())


class Console:
    """The interpreter's output as the chip's UART sends it: framed binary as is, text through the boot filter
    and cooked (output.py). ``send_to_board`` puts a byte in front of the interpreter (the Ctrl-A that takes a
    rebooted interpreter back to the raw REPL). The shims' framed requests to the bridge are collected in
    ``requests`` (each a list of words), for the bridge to take."""

    def __init__(self, banner: bytes, send_to_board: Callable[[bytes], None]):
        self.banner = banner
        self._send_to_board = send_to_board
        self._splitter = OutputSplitter()
        self._cooker = Cooker()
        self.raw_mode = False
        self.at_raw_prompt = False    # the raw REPL is reading a command (not running one)
        self.raw_command_bytes = 0    # bytes of that command so far
        self.banner_expected = False  # Ctrl-B left the raw REPL: the interpreter's banner comes next
        self._output_tail = b""
        self._quiet_boot = False
        self._phase = "running"  # "boot" (until the sentinel), "banner" (drop unix banner), "raw-enter"
        self._hold = b""
        self._request_text = b""
        self.requests: list[list[str]] = []

    def reset(self, raw: bool, quiet: bool) -> None:
        """The interpreter restarts: its boot output comes next. ``raw``: go back to the raw REPL after it;
        ``quiet``: show no banner (a restart the chip would not have had)."""
        self.raw_mode = raw
        self._quiet_boot = quiet
        self._phase = "boot"
        self._hold = b""
        self.at_raw_prompt = False
        self.raw_command_bytes = 0
        self.banner_expected = False
        self._splitter.reset()
        self._cooker.reset()
        self._request_text = b""
        self.requests = []

    def output(self, data: bytes) -> bytes:
        out = bytearray()
        for kind, piece in self._splitter.feed(data):
            if kind == "raw":
                out += piece
            elif kind == "control":
                self._request_text += piece
                while b"\n" in self._request_text:
                    line, self._request_text = self._request_text.split(b"\n", 1)
                    self.requests.append(line.decode("ascii", "replace").split())
            else:
                out += self._cooker.cook(self._filter(piece))
        return bytes(out)

    def take_requests(self) -> list[list[str]]:
        requests, self.requests = self.requests, []
        return requests

    def _filter(self, data: bytes) -> bytes:
        """Replace the unix banner after a reset, and track raw REPL mode."""
        if self._phase == "boot":
            data = self._hold + data
            sentinel = BOOT_SENTINEL.encode()
            index = data.find(sentinel)
            if index < 0 and UNIX_BANNER.search(data):
                # The marker never came (the start-up script was cut short): the banner ends the boot all the same.
                index = UNIX_BANNER.search(data).start()
                sentinel = b""
            if index < 0:
                # Hold back a possible partial sentinel; pass boot.py/main.py output through at once.
                keep = 0
                for size in range(min(len(sentinel) - 1, len(data)), 0, -1):
                    if sentinel.startswith(data[-size:]):
                        keep = size
                        break
                self._hold = data[len(data) - keep:] if keep else b""
                return data[:len(data) - keep] if keep else data
            before, self._hold = data[:index], data[index + len(sentinel):]
            self._phase = "banner"
            return before + self._filter(b"")
        if self._phase == "banner":
            rest = self._held_until(FRIENDLY_PROMPT, data)
            if rest is None:
                return b""
            if self.raw_mode:
                self._phase = "raw-enter"
                self._send_to_board(bytes([CTRL_A]))
                return self._filter(rest)
            self._phase = "running"
            banner = b"\r\n" if self._quiet_boot else self.banner
            return banner + FRIENDLY_PROMPT + self._filter(rest)
        if self._phase == "raw-enter":
            rest = self._held_until(RAW_REPL_BANNER, data)
            if rest is None:
                return b""
            self._phase = "running"
            return (b"" if self._quiet_boot else RAW_REPL_BANNER) + self._filter(rest)
        if self.banner_expected:
            # Ctrl-B from raw REPL prints the interpreter's banner, which the unix port writes in pieces: hold the
            # output until its line is whole, then show the ESP32's there.
            data = self._hold + data
            self._hold = b""
            start = data.find(b"MicroPython ")
            if start >= 0 and b"\r\n" not in data[start:] and len(data) - start < 200:
                self._hold = data[start:]
                data = data[:start]
            elif start >= 0:
                self.banner_expected = False
        self._track_mode(data)
        return UNIX_BANNER.sub(self.banner.split(b"\r\n")[0] + b"\r\n", data)

    def _held_until(self, marker: bytes, data: bytes) -> bytes | None:
        """Hold output until ``marker`` has come (it may arrive split across reads); then what follows it, with
        the hold emptied. None while it has not come."""
        self._hold += data
        index = self._hold.find(marker)
        if index < 0:
            return None
        rest = self._hold[index + len(marker):]
        self._hold = b""
        return rest

    def _track_mode(self, data: bytes) -> None:
        window = self._output_tail + data
        raw_at = window.rfind(b"raw REPL; CTRL-B to exit")
        friendly_at = window.rfind(b'for more information.\r\n>>> ')
        if raw_at >= 0 or friendly_at >= 0:
            self.raw_mode = raw_at > friendly_at
        if data and (window.endswith(RAW_REPL_BANNER) or window.endswith(b"\x04>")):
            # The raw REPL waits for a command (pyexec.c prints ">" after its banner and after each result).
            self.at_raw_prompt = True
            self.raw_command_bytes = 0
        self._output_tail = window[-40:]

    def host_byte_at_raw_prompt(self, byte: int) -> None:
        """Follow the raw REPL's command line as the host's bytes reach it: Ctrl-D ends the command (the code
        runs, and what the host sends then is the program's input), Ctrl-A starts it again."""
        if byte == CTRL_D:
            self.at_raw_prompt = False
        elif byte == CTRL_A:
            self.raw_command_bytes = 0
        else:
            self.raw_command_bytes += 1
