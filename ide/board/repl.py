"""The MicroPython REPL protocol: friendly REPL, raw REPL, raw-paste mode.

Facts of the protocol (from MicroPython's shared/runtime/pyexec.c):
- Ctrl-A at the friendly REPL enters the raw REPL, which answers ``raw REPL; CTRL-B to exit\\r\\n>``.
- In raw REPL, code followed by Ctrl-D is compiled and run: the board answers ``OK``, then the program's stdout,
  ``\\x04``, the traceback (stderr) if any, ``\\x04``, and the ``>`` prompt.
- Raw-paste (``\\x05A\\x01``): the board answers ``R\\x01`` and a 16-bit window size; the host may send that many
  bytes, then waits for ``\\x01`` before each further window. ``R\\x00`` means understood but unsupported; anything
  else means an old firmware: the bytes we sent were taken as plain raw REPL input.
- Ctrl-D on an empty raw REPL line, or at the friendly prompt, soft-resets the board. A board that was in raw
  REPL comes back in raw REPL, after printing ``MPY: soft reboot``.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from typing import Callable

from ide.errors import BoardTimeoutError, DeviceTraceback, NoReplError, ReplProtocolError
from ide.board.transport import Transport

log = logging.getLogger(__name__)

CTRL_A = b"\x01"   # enter raw REPL
CTRL_B = b"\x02"   # leave raw REPL for the friendly one
CTRL_C = b"\x03"   # KeyboardInterrupt
CTRL_D = b"\x04"   # end of input: run (raw REPL) or soft reset
RAW_PASTE_START = b"\x05A\x01"
RAW_PASTE_SUPPORTED = b"R\x01"
RAW_PASTE_UNSUPPORTED = b"R\x00"
RAW_PASTE_WINDOW_ACK = b"\x01"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"soft reboot\r\n"
END_OF_OUTPUT = b"\x04"
# Plain raw REPL has no flow control: send in pieces with a pause, as mpremote does, so a slow board keeps up.
PLAIN_RAW_CHUNK = 256
PLAIN_RAW_PAUSE_S = 0.01

OutputCallback = Callable[[bytes], None]

_FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+)')
_ERRNO = re.compile(r"^\[Errno (\d+)\]")


# Frames of the virtual board's own machinery (its file system and shims), which a real chip does not have.
_VIRTUAL_BOARD_FRAME = re.compile(r'^\s*File "[^"]*(_vb_start\.py|/__vb_shims__/[^"]*)"')


def parse_traceback(text: str) -> DeviceTraceback:
    """Turn the text MicroPython prints for an uncaught exception into a structured error."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n")
             if line.strip() and not _VIRTUAL_BOARD_FRAME.match(line)]
    text = "\n".join(lines) + "\n"
    file = line_number = None
    for line in lines:
        frame = _FRAME.match(line)
        if frame:
            file, line_number = frame.group(1), int(frame.group(2))
    last = lines[-1] if lines else ""
    exc_type, _, message = last.partition(":")
    exc_type = exc_type.strip() or "Exception"
    message = message.strip()
    error_number = None
    match = _ERRNO.match(message)
    if match:
        error_number = int(match.group(1))
    elif exc_type == "OSError" and message.isdigit():
        error_number = int(message)
    return DeviceTraceback(exc_type, message, file, line_number, text, errno=error_number)


class Repl:
    """Drives one board's REPL over a :class:`Transport`. Not thread-safe: one owner (the board worker) at a
    time."""

    def __init__(self, transport: Transport, default_timeout: float = 10.0):
        self.transport = transport
        self.default_timeout = default_timeout
        self.in_raw_repl = False
        self.use_raw_paste = True
        # Once a board has answered, silence means it hung (a timeout), not that it lacks MicroPython.
        self.has_answered = False

    @property
    def link(self) -> Transport:
        """The transport under its older name."""
        return self.transport

    # --- prompts --------------------------------------------------------------------------------------------

    def interrupt(self, timeout: float | None = None) -> bytes:
        """Ctrl-C until a prompt shows: stops a running program. Returns what was printed meanwhile.

        A raw REPL that is idle prints nothing on Ctrl-C, so after a silent Ctrl-C we send Ctrl-B, which both the
        raw and the friendly REPL answer with the banner and the friendly prompt.
        """
        timeout = self.default_timeout if timeout is None else timeout
        seen = bytearray()
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            self.transport.write(b"\r" + CTRL_C if attempt % 2 == 0 else CTRL_B)
            attempt += 1
            chunk = self.transport.drain(quiet=0.15, limit=min(1.0, max(0.2, deadline - time.monotonic())))
            seen += chunk
            if seen.endswith(FRIENDLY_PROMPT):
                self.in_raw_repl = False
                self.has_answered = True
                return bytes(seen)
            if seen.endswith(RAW_PROMPT) or seen.endswith(END_OF_OUTPUT + b">"):
                # Our "\r" may sit in the raw REPL's line buffer now; Ctrl-A starts the raw REPL afresh.
                self.transport.write(CTRL_A)
                self.transport.read_until(RAW_PROMPT, max(1.0, deadline - time.monotonic()), "resetting raw REPL")
                self.in_raw_repl = True
                self.has_answered = True
                return bytes(seen)
        if self.has_answered:
            raise BoardTimeoutError("interrupt", timeout, bytes(seen[-200:]))
        if not seen:
            raise NoReplError(self.transport.name, b"")
        if FRIENDLY_PROMPT not in seen and b"raw REPL" not in seen:
            raise NoReplError(self.transport.name, bytes(seen[-200:]))
        raise BoardTimeoutError("interrupt", timeout, bytes(seen[-200:]))

    def forget_state(self) -> None:
        """After a failed operation the board's mode is unknown: the next command starts with an interrupt."""
        self.in_raw_repl = False
        self.transport.drain(quiet=0.02, limit=0.2)

    def enter_raw(self, timeout: float | None = None) -> None:
        """Stop what runs and switch to the raw REPL."""
        if self.in_raw_repl:
            return
        timeout = self.default_timeout if timeout is None else timeout
        self.interrupt(timeout)
        if self.in_raw_repl:
            return
        self.transport.write(b"\r" + CTRL_A)
        self.transport.read_until(RAW_PROMPT, timeout, "entering raw REPL")
        self.in_raw_repl = True

    def exit_raw(self, timeout: float | None = None) -> bytes:
        """Back to the friendly REPL; returns the banner and prompt the board printed."""
        if not self.in_raw_repl:
            return b""
        self.transport.write(CTRL_B)
        timeout = self.default_timeout if timeout is None else timeout
        seen = self.transport.read_until(FRIENDLY_PROMPT, timeout, "leaving raw REPL")
        self.in_raw_repl = False
        return seen + FRIENDLY_PROMPT

    # --- running code ---------------------------------------------------------------------------------------

    def exec(self, code: str | bytes, on_output: OutputCallback | None = None, timeout: float | None = None,
             raise_on_error: bool = True) -> bytes:
        """Run ``code`` in the raw REPL; stream its stdout to ``on_output``; return all of it.

        ``timeout`` bounds the whole run (None: the default). A traceback becomes :class:`DeviceTraceback`.
        """
        timeout = self.default_timeout if timeout is None else timeout
        self.enter_raw(timeout)
        try:
            self.send_code(code, timeout)
            return self.read_result(on_output, timeout, raise_on_error)
        except DeviceTraceback:
            raise
        except Exception:
            self.in_raw_repl = False
            raise

    def send_code(self, code: str | bytes, timeout: float) -> None:
        """Send code in raw REPL and start it; the caller then reads the output with :meth:`read_result`."""
        data = code.encode("utf-8") if isinstance(code, str) else code
        if self.use_raw_paste:
            self.transport.write(RAW_PASTE_START)
            answer = self.transport.read_exactly(2, timeout, "starting raw-paste mode")
            if answer == RAW_PASTE_SUPPORTED:
                self._raw_paste_write(data, timeout)
                return
            self.use_raw_paste = False
            if answer != RAW_PASTE_UNSUPPORTED:
                # A firmware older than 1.14 took \x05 and "A" into its line buffer and \x01 (Ctrl-A) as "raw
                # REPL afresh": it printed the whole raw REPL prompt again, and our two bytes were its first two.
                # Read the rest of that prompt, as mpremote does (it waits for b"w REPL; CTRL-B to exit\r\n>").
                log.info("board has no raw-paste mode; using plain raw REPL")
                self.transport.unread(answer)
                self.transport.read_until(RAW_PROMPT, timeout, "falling back to raw REPL")
        self._plain_raw_write(data, timeout)

    def _raw_paste_write(self, data: bytes, timeout: float) -> None:
        window = struct.unpack("<H", self.transport.read_exactly(2, timeout, "reading raw-paste window"))[0]
        remaining_window = window
        sent = 0
        deadline = time.monotonic() + timeout
        while sent < len(data):
            while remaining_window == 0 or self.transport.in_waiting():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BoardTimeoutError("sending code (raw-paste flow control)", timeout)
                byte = self.transport.read_exactly(1, left, "raw-paste flow control")
                if byte == RAW_PASTE_WINDOW_ACK:
                    remaining_window += window
                elif byte == CTRL_D:
                    # The board stopped the paste early (a syntax error is reported after our own Ctrl-D).
                    self.transport.write(CTRL_D)
                    return
                else:
                    raise ReplProtocolError("raw-paste flow control byte", byte)
            piece = data[sent:sent + remaining_window]
            self.transport.write(piece)
            sent += len(piece)
            remaining_window -= len(piece)
        self.transport.write(CTRL_D)
        self.transport.read_until(CTRL_D, timeout, "finishing raw-paste")

    def _plain_raw_write(self, data: bytes, timeout: float) -> None:
        for offset in range(0, len(data), PLAIN_RAW_CHUNK):
            self.transport.write(data[offset:offset + PLAIN_RAW_CHUNK])
            time.sleep(PLAIN_RAW_PAUSE_S)
        self.transport.write(CTRL_D)
        answer = self.transport.read_exactly(2, timeout, "compiling code")
        if answer != b"OK":
            raise ReplProtocolError("OK", answer + self.transport.drain())

    def read_result(self, on_output: OutputCallback | None, timeout: float | None,
                    raise_on_error: bool = True) -> bytes:
        """Read a running program's stdout up to the end marker, then its traceback and the prompt."""
        stdout = self.transport.read_until(END_OF_OUTPUT, timeout, "running code", on_output)
        stderr = self.transport.read_until(END_OF_OUTPUT, timeout or self.default_timeout, "reading error output")
        self.transport.read_until(b">", timeout or self.default_timeout, "waiting for the raw prompt")
        if stderr and raise_on_error:
            raise parse_traceback(stderr.decode("utf-8", "replace"))
        return stdout

    def eval(self, expression: str, timeout: float | None = None) -> str:
        """Text of ``repr(expression)`` evaluated on the board."""
        return self.exec(f"print(repr({expression}))", timeout=timeout).decode("utf-8", "replace").strip()

    # --- resets ---------------------------------------------------------------------------------------------

    def soft_reset(self, on_output: OutputCallback | None = None, timeout: float | None = None,
                   run_main: bool = True, wait_for_prompt: bool = True) -> bytes:
        """Soft-reset and return what the board printed while booting (boot.py, and main.py when ``run_main``).

        With ``run_main`` the reset is done from the friendly REPL, where boot.py and main.py run; output is
        streamed to ``on_output`` until the friendly prompt, or (``wait_for_prompt=False``) until the soft reboot
        line only, leaving main.py running for the caller to follow.
        """
        timeout = self.default_timeout if timeout is None else timeout
        if run_main:
            if self.in_raw_repl:
                self.exit_raw(timeout)
            else:
                self.interrupt(timeout)
            self.transport.write(CTRL_D)
            before = self.transport.read_until(SOFT_REBOOT, timeout, "soft reset")
            self.in_raw_repl = False
            if not wait_for_prompt:
                return before
            return self.transport.read_until(FRIENDLY_PROMPT, timeout, "booting after soft reset", on_output)
        self.enter_raw(timeout)
        self.transport.write(CTRL_D)
        self.transport.read_until(SOFT_REBOOT, timeout, "soft reset")
        output = self.transport.read_until(RAW_PROMPT, timeout, "booting after soft reset", on_output)
        self.in_raw_repl = True
        return output
