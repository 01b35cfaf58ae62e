"""The byte stream under the REPL protocol: one small interface, the wire in a subclass.

As mpremote's ``Transport`` carries every ``fs_*`` on ``exec``/``eval`` and a byte stream, our REPL protocol
(``ide.board.repl``), the board (``ide.board.board``) and the file system (``ide.filebrowser``) are written once on
:class:`Transport`. A subclass supplies only the wire:

- :class:`ide.board.transport_serial.SerialTransport`: pyserial devices (``/dev/ttyUSB0``, ``COM3``) and pyserial
  URLs (``socket://host:port``, ``rfc2217://host:port``, ``loop://``).
- :class:`ide.board.transport_virtual.VirtualBoardTransport`: the virtual board it starts and stops itself, on
  whatever device its bridge offers (a pty, or ``socket://127.0.0.1:PORT`` where there is no pty).

A WebREPL or Bluetooth link would be one more subclass, with no change above this module.

The interface: :meth:`open`, :meth:`close`, :meth:`write`, reads with deadlines (:meth:`read_available`,
:meth:`read_exactly`, :meth:`read_until`, :meth:`drain`) over a pushback buffer, :meth:`in_waiting`,
:meth:`interrupt`, and the DTR/RTS lines where the link has them (:attr:`has_control_lines`, :meth:`set_lines`,
:meth:`pulse_reset`). Every failure of the wire is an ``ide.errors`` class; nothing here prints.
"""

from __future__ import annotations

import time
from typing import Callable

from ide.errors import BoardTimeoutError

CTRL_C = b"\x03"

TrafficCallback = Callable[[str, bytes], None]


class Transport:
    """A byte pipe to a board with deadline-aware reads.

    Subclasses implement :meth:`open`, :meth:`_write`, :meth:`_read`, :meth:`_waiting` and :meth:`_close`;
    everything else is written here once. Not thread-safe: one owner at a time (the board worker).
    """

    has_control_lines = False

    def __init__(self, name: str):
        self.name = name
        self._pushback = bytearray()
        self.on_traffic: TrafficCallback | None = None

    # --- the wire (subclasses) ------------------------------------------------------------------------------

    def open(self) -> "Transport":
        """Open the wire; raise a :class:`ide.errors.PortError` subclass when it cannot be opened."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read(self, wait: float) -> bytes:
        """What has arrived, waiting up to ``wait`` seconds for the first byte; b"" when nothing came."""
        raise NotImplementedError

    def _waiting(self) -> int:
        """Bytes that can be read now without waiting."""
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    # --- the interface --------------------------------------------------------------------------------------

    def close(self) -> None:
        self._pushback.clear()
        self._close()

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        if self.on_traffic:
            self.on_traffic("out", data)
        self._write(data)

    def in_waiting(self) -> int:
        return len(self._pushback) + self._waiting()

    def read_available(self, wait: float = 0.0) -> bytes:
        """What has arrived, waiting up to ``wait`` seconds for the first byte."""
        if self._pushback:
            data = bytes(self._pushback)
            self._pushback.clear()
            return data
        data = self._read(wait)
        if data and self.on_traffic:
            self.on_traffic("in", data)
        return data

    def read_exactly(self, count: int, timeout: float, operation: str) -> bytes:
        data = bytearray()
        deadline = time.monotonic() + timeout
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeoutError(operation, timeout, bytes(data))
            data += self.read_available(remaining)
        if len(data) > count:
            self.unread(bytes(data[count:]))
        return bytes(data[:count])

    def read_until(self, marker: bytes, timeout: float | None, operation: str,
                   on_data: Callable[[bytes], None] | None = None) -> bytes:
        """Read until ``marker``; return everything before it. ``on_data`` gets the bytes as they arrive (the
        marker excluded). Bytes after the marker are kept for the next read. ``timeout`` None: no deadline."""
        data = bytearray()
        passed = 0  # how much of data went to on_data already
        deadline = time.monotonic() + timeout if timeout is not None else None
        searched = 0  # the marker cannot start before this offset: earlier bytes were searched already
        while True:
            index = data.find(marker, searched)
            if index >= 0:
                if on_data and index > passed:
                    on_data(bytes(data[passed:index]))
                self.unread(bytes(data[index + len(marker):]))
                return bytes(data[:index])
            searched = max(0, len(data) - len(marker) + 1)
            if on_data:
                # Hand on all but a possible partial marker at the end.
                safe = len(data) - (len(marker) - 1)
                if safe > passed:
                    on_data(bytes(data[passed:safe]))
                    passed = safe
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BoardTimeoutError(operation, timeout, bytes(data))
            else:
                remaining = 0.1
            data += self.read_available(min(remaining, 0.1))

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the stream, for the next read."""
        if data:
            self._pushback[:0] = data

    def drain(self, quiet: float = 0.05, limit: float = 1.0) -> bytes:
        """Read and return whatever arrives until the line is quiet for ``quiet`` seconds."""
        data = bytearray()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            chunk = self.read_available(quiet)
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def interrupt(self) -> None:
        """Ask the running program to stop: Ctrl-C on a serial REPL (KeyboardInterrupt on the board)."""
        self.write(CTRL_C)

    # --- control lines --------------------------------------------------------------------------------------

    def set_lines(self, dtr: bool, rts: bool) -> bool:
        """Set DTR/RTS where the link has them; False when it has none (a socket, a WebREPL)."""
        return False

    def pulse_reset(self) -> bool:
        """Reset the chip from the host where this link can (the EN line, a virtual board's power); False when
        it cannot, and the caller asks the user to press RESET."""
        return False


def open_transport(port: str, baud: int = 115200, lines=None, virtual_config=None) -> Transport:
    """The transport for ``port``: "virtual" (a virtual board started for this connection), a device name or a
    pyserial URL. Opened; raises a :class:`ide.errors.PortError` subclass (or ``VirtualBoardError``)."""
    from ide.board.transport_serial import DEFAULT_LINES, SerialTransport
    from ide.board.transport_virtual import VIRTUAL_PORT_NAME, VirtualBoardTransport

    lines = lines or DEFAULT_LINES
    if port == VIRTUAL_PORT_NAME:
        return VirtualBoardTransport(virtual_config, baud, lines).open()
    return SerialTransport(port, baud, lines).open()
