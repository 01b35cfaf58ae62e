"""What the chip prints: the unix port's output turned into the bytes an ESP32's UART sends.

A chip cooks text: print(), sys.stdout.write() and tracebacks leave with every "\\n" as "\\r\\n"
(shared/runtime/stdout_helpers.c ``mp_hal_stdout_tx_strn_cooked``, used by shared/runtime/sys_stdio_mphal.c for
sys.stdout), while sys.stdout.buffer.write() bytes leave untouched (``mp_hal_stdout_tx_strn``). The REPL itself
already writes "\\r\\n" (shared/runtime/pyexec.c, shared/readline/readline.c). The unix port cooks nothing and
sends text and binary to the same fd ("the terminal does some postprocessing", ports/unix/unix_mphal.c).

So the start-up script frames sys.stdout.buffer writes (``RAW_MARKER``, a 2-byte big-endian length, the bytes)
and this module passes framed bytes through as they are and cooks the rest: a "\\n" not preceded by "\\r" becomes
"\\r\\n". The one difference left: a program that prints "\\r\\n" itself gets "\\r\\r\\n" from a chip and "\\r\\n" here.

The shims' requests to the bridge (machine.reset(), deep sleep, "interruptible") travel the same way, framed with
``CONTROL_MARKER``: in order with the output, on every platform, with no second channel to pass to the process.
"""

from __future__ import annotations

# NUL ESC "VB" and a kind: not something a program prints as text by accident.
RAW_MARKER = b"\x00\x1bVBR"
CONTROL_MARKER = b"\x00\x1bVBC"
_KINDS = {RAW_MARKER: "raw", CONTROL_MARKER: "control"}
_PREFIX = b"\x00\x1bVB"
_MARKER = len(RAW_MARKER)
_HEADER = _MARKER + 2


def _find_marker(data: bytes, at: int) -> int:
    """Where the next frame marker (or what may be the start of one, at the end) begins, or -1."""
    index = data.find(_PREFIX, at)
    while index >= 0:
        if len(data) - index < _MARKER or data[index:index + _MARKER] in _KINDS:
            return index
        index = data.find(_PREFIX, index + 1)
    return -1


class OutputSplitter:
    """Splits the interpreter's output stream into ("text", bytes), ("raw", bytes) and ("control", bytes) pieces,
    keeping partial frames and partial markers across reads."""

    def __init__(self) -> None:
        self._pending = b""      # bytes that may be the start of a marker or of a frame header
        self._frame_left = 0     # bytes of the current frame not yet seen
        self._frame_kind = "raw"

    def reset(self) -> None:
        self._pending = b""
        self._frame_left = 0

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        pieces: list[tuple[str, bytes]] = []
        data = self._pending + data
        self._pending = b""
        at = 0
        while at < len(data):
            if self._frame_left:
                take = data[at:at + self._frame_left]
                self._frame_left -= len(take)
                at += len(take)
                pieces.append((self._frame_kind, take))
                continue
            index = _find_marker(data, at)
            if index < 0:
                # Keep back a tail that could be the start of a marker split across two reads.
                keep = 0
                for size in range(min(len(_PREFIX), len(data) - at), 0, -1):
                    if _PREFIX.startswith(data[len(data) - size:]):
                        keep = size
                        break
                text = data[at:len(data) - keep]
                if text:
                    pieces.append(("text", text))
                self._pending = data[len(data) - keep:] if keep else b""
                break
            if index > at:
                pieces.append(("text", data[at:index]))
            if len(data) - index < _HEADER:
                self._pending = data[index:]
                break
            self._frame_kind = _KINDS[data[index:index + _MARKER]]
            self._frame_left = int.from_bytes(data[index + _MARKER:index + _HEADER], "big")
            at = index + _HEADER
        return pieces


class Cooker:
    """"\\n" -> "\\r\\n" unless the "\\n" already follows a "\\r" (the REPL's own line ends)."""

    def __init__(self) -> None:
        self._last = 0

    def reset(self) -> None:
        self._last = 0

    def cook(self, text: bytes) -> bytes:
        if not text:
            return text
        if b"\n" not in text:
            self._last = text[-1]
            return text
        out = bytearray()
        previous = self._last
        start = 0
        for index in _newlines(text):
            before = text[index - 1] if index else previous
            if before != 0x0D:
                out += text[start:index] + b"\r\n"
                start = index + 1
        out += text[start:]
        self._last = text[-1]
        return bytes(out)


def _newlines(text: bytes):
    index = text.find(b"\n")
    while index >= 0:
        yield index
        index = text.find(b"\n", index + 1)
