"""Opening a serial port for a board, and reading from it with deadlines.

pyserial's errors are wrapped here, where they enter: callers only ever see ``ide.errors`` classes.
"""

from __future__ import annotations

import dataclasses
import errno
import getpass
import grp
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import serial

from ide.errors import (BoardTimeoutError, PortBusyError, PortError, PortNotFoundError, PortPermissionError,
                        PortVanishedError)

log = logging.getLogger(__name__)

BUSY_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}
PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
MISSING_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO}


@dataclasses.dataclass(frozen=True)
class LineSettings:
    """DTR/RTS levels to hold while the port is open.

    On the usual ESP auto-reset circuit (two transistors between DTR/RTS and EN/IO0) both lines inactive means
    "run normally". pyserial asserts both on open by default, which on a CP210x pulses EN (an unwanted reset)
    and on boards wired without the transistors (ESP32-CAM-MB, some ESP-01 adapters) holds EN low: the board
    stays in reset for as long as the port is open. So both default to inactive; a board can override.
    """

    dtr: bool = False
    rts: bool = False


DEFAULT_LINES = LineSettings()


def port_holders(device: str) -> list[tuple[int, str]]:
    """Processes that have ``device`` open (Linux /proc; elsewhere nothing, the OS does not tell us cheaply)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    try:
        target = os.path.realpath(device)
    except OSError:
        return []
    holders = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.path.realpath(fd) == target:
                    name = (entry / "comm").read_text().strip()
                    holders.append((int(entry.name), name))
                    break
        except OSError:
            continue
    return holders


def _translate_open_error(device: str, error: Exception) -> PortError:
    code = getattr(error, "errno", None)
    if code in PERMISSION_ERRNOS:
        group = ""
        try:
            group = grp.getgrgid(os.stat(device).st_gid).gr_name
        except (OSError, KeyError):
            pass
        return PortPermissionError(device, user=getpass.getuser(), group=group,
                                   brltty_installed=shutil.which("brltty") is not None)
    if code in BUSY_ERRNOS:
        return PortBusyError(device, port_holders(device))
    if code in MISSING_ERRNOS or (not os.path.exists(device) and "://" not in device):
        return PortNotFoundError(device, "no such port")
    return PortError(device, str(error))


def open_serial(device: str, baud: int = 115200, lines: LineSettings = DEFAULT_LINES) -> serial.Serial:
    """Open ``device`` (a path or a pyserial URL) exclusively, without resetting the board."""
    try:
        if "://" in device:
            port = serial.serial_for_url(device, baudrate=baud, timeout=0, do_not_open=True)
        else:
            port = serial.Serial(baudrate=baud, timeout=0, exclusive=True)
            port.port = device
        # Set before open() so pyserial applies them as it opens, without a pulse on the lines.
        port.dtr = lines.dtr
        port.rts = lines.rts
        port.open()
        return port
    except (serial.SerialException, OSError, ValueError) as error:
        raise _translate_open_error(device, error) from error


class Link:
    """A byte pipe to a board with deadline-aware reads. Wraps every pyserial failure into PortVanishedError."""

    def __init__(self, port: serial.Serial, name: str):
        self.port = port
        self.name = name
        self._pushback = bytearray()
        self.on_traffic: Callable[[str, bytes], None] | None = None

    def write(self, data: bytes) -> None:
        if self.on_traffic:
            self.on_traffic("out", data)
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as error:
            raise PortVanishedError(self.name, str(error)) from error

    def read_available(self, wait: float = 0.0) -> bytes:
        """What has arrived, waiting up to ``wait`` seconds for the first byte."""
        if self._pushback:
            data = bytes(self._pushback)
            self._pushback.clear()
            return data
        deadline = time.monotonic() + wait
        try:
            while True:
                waiting = self.port.in_waiting
                if waiting:
                    data = self.port.read(waiting)
                    if self.on_traffic:
                        self.on_traffic("in", data)
                    return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                # A short blocking read wakes as soon as a byte arrives, without spinning on in_waiting.
                self.port.timeout = min(remaining, 0.05)
                data = self.port.read(1)
                self.port.timeout = 0
                if data:
                    if self.on_traffic:
                        self.on_traffic("in", data)
                    return data
        except (serial.SerialException, OSError, TypeError) as error:
            # TypeError: pyserial on a closed/vanished fd sometimes fails inside select.
            raise PortVanishedError(self.name, str(error)) from error

    def read_exactly(self, count: int, timeout: float, operation: str) -> bytes:
        data = bytearray()
        deadline = time.monotonic() + timeout
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeoutError(operation, timeout, bytes(data))
            chunk = self.read_available(remaining)
            data += chunk
        if len(data) > count:
            self.unread(bytes(data[count:]))
        return bytes(data[:count])

    def read_until(self, marker: bytes, timeout: float, operation: str,
                   on_data: Callable[[bytes], None] | None = None) -> bytes:
        """Read until ``marker``; return everything before it. ``on_data`` gets the bytes as they arrive (the
        marker excluded). Bytes after the marker are kept for the next read."""
        data = bytearray()
        passed = 0  # how much of data went to on_data already
        deadline = time.monotonic() + timeout if timeout is not None else None
        while True:
            index = data.find(marker)
            if index >= 0:
                if on_data and index > passed:
                    on_data(bytes(data[passed:index]))
                self.unread(bytes(data[index + len(marker):]))
                return bytes(data[:index])
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

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
