"""The transport on pyserial: device names (``/dev/ttyUSB0``, ``COM3``, ``/dev/cu.usbserial-X``) and pyserial URLs
(``socket://host:port``, ``rfc2217://host:port``). Every pyserial failure becomes an ``ide.errors`` class here."""

from __future__ import annotations

import logging
import time

import serial

from ide.board.serial_link import DEFAULT_LINES, LineSettings, open_serial
from ide.board.transport import Transport
from ide.errors import PortVanishedError

log = logging.getLogger(__name__)

# How long one blocking read may sleep: it wakes at the first byte, but a deadline is checked this often.
READ_SLICE_S = 0.05


class SerialTransport(Transport):
    """A board on a serial port or a pyserial URL."""

    def __init__(self, device: str, baud: int = 115200, lines: LineSettings = DEFAULT_LINES,
                 name: str | None = None):
        super().__init__(name or device)
        self.device = device
        self.baud = baud
        self.lines = lines
        self.port: serial.Serial | None = None

    @property
    def has_control_lines(self) -> bool:  # type: ignore[override]
        # socket:// and a WebREPL have no modem lines; rfc2217 has them, a local port has them.
        return "://" not in self.device or self.device.startswith("rfc2217://")

    def open(self) -> "SerialTransport":
        self.port = open_serial(self.device, self.baud, self.lines)
        return self

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError, AttributeError) as error:
            # AttributeError: pyserial's socket backend after the peer closed (its socket is None).
            raise PortVanishedError(self.name, str(error)) from error

    def _waiting(self) -> int:
        try:
            return self.port.in_waiting
        except (serial.SerialException, OSError, TypeError, AttributeError) as error:
            raise PortVanishedError(self.name, str(error)) from error

    def _read(self, wait: float) -> bytes:
        deadline = time.monotonic() + wait
        try:
            while True:
                waiting = self.port.in_waiting
                if waiting:
                    return self.port.read(waiting)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                # A short blocking read wakes as soon as a byte arrives, without spinning on in_waiting.
                self.port.timeout = min(remaining, READ_SLICE_S)
                data = self.port.read(1)
                self.port.timeout = 0
                if data:
                    return data
        except (serial.SerialException, OSError, TypeError, AttributeError) as error:
            # TypeError: pyserial on a closed/vanished fd sometimes fails inside select.
            raise PortVanishedError(self.name, str(error)) from error

    def _close(self) -> None:
        if self.port is None:
            return
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    def set_lines(self, dtr: bool, rts: bool) -> bool:
        if not self.has_control_lines or self.port is None:
            return False
        try:
            self.port.dtr = dtr
            self.port.rts = rts
            return True
        except (serial.SerialException, OSError, ValueError) as error:
            log.debug("no control lines on %s: %s", self.name, error)
            return False

    def pulse_reset(self) -> bool:
        """EN low for 100 ms through RTS, on boards with the usual auto-reset circuit (no effect elsewhere:
        the caller cannot tell, so rescue keeps interrupting either way)."""
        if not self.set_lines(dtr=False, rts=True):
            return False
        time.sleep(0.1)
        return self.set_lines(dtr=False, rts=False)
