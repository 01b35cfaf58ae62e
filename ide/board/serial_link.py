"""Opening a serial port for a board, and turning pyserial's open errors into ours, on every OS.

pyserial's errors are wrapped here, where they enter: callers only ever see ``ide.errors`` classes.
:func:`translate_open_error` is the one place that knows how each OS reports a missing, busy or forbidden port;
the REPL transport (``transport_serial``) and the flasher both call it.

How the OS reaches us:
- POSIX: ``SerialException(errno, text)`` or ``OSError`` with ``errno`` set.
- Windows (pyserial's ``serialwin32``): ``SerialException("could not open port 'COM3': PermissionError(13,
  'Access is denied.', None, 5)")`` -- one string, ``errno`` None; the Windows error code travels only as the
  last number of the ``ctypes.WinError()`` repr inside it, so that number is read out of it here, at the edge.
"""

from __future__ import annotations

import dataclasses
import errno
import getpass
import logging
import os
import re
import shutil
import socket
import sys
from pathlib import Path

import serial

from ide.errors import PortBusyError, PortError, PortNotFoundError, PortPermissionError

log = logging.getLogger(__name__)

BUSY_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}
PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
MISSING_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO}

# Windows error codes (winerror.h) that CreateFile and the COM driver give for a serial port.
WINERROR_MISSING = {2, 3, 123, 433, 1167}  # FILE_NOT_FOUND, PATH_NOT_FOUND, INVALID_NAME, NO_SUCH_DEVICE,
#                                            DEVICE_NOT_CONNECTED
# COM ports have no per-user permissions: ACCESS_DENIED means another program has the port open (Windows opens
# COM ports exclusively), as do SHARING_VIOLATION and BUSY.
WINERROR_BUSY = {5, 32, 170}
WINERROR_NOT_FUNCTIONING = {31, 121, 1117}  # GEN_FAILURE, SEM_TIMEOUT, IO_DEVICE: a driver or cable problem

# The repr of ctypes.WinError() inside pyserial's message: PermissionError(13, 'Access is denied.', None, 5).
_WINERROR_REPR = re.compile(r"\w+\((?:-?\d+|None), (?:'[^']*'|\"[^\"]*\"), None, (-?\d+)\)")


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


def _device_group(device: str) -> str:
    """The group that owns the device file (``dialout`` on most Linux systems); "" where there are no groups."""
    try:
        import grp  # POSIX only: imported here so that Windows never needs it
    except ImportError:
        return ""
    try:
        return grp.getgrgid(os.stat(device).st_gid).gr_name
    except (OSError, KeyError):
        return ""


def windows_error_code(error: BaseException) -> int | None:
    """The Windows error code of a failed open: the ``winerror`` attribute where there is one, else the number
    pyserial put into its message through ``ctypes.WinError()``'s repr."""
    code = getattr(error, "winerror", None)
    if isinstance(code, int):
        return code
    found = _WINERROR_REPR.findall(str(error))
    return int(found[-1]) if found else None


def translate_open_error(device: str, error: BaseException) -> PortError:
    """The :class:`ide.errors.PortError` subclass for a failure to open ``device`` (any OS, any pyserial
    backend). The flasher and the REPL transport both use this."""
    winerror = windows_error_code(error)
    if winerror is not None:
        if winerror in WINERROR_BUSY:
            return PortBusyError(device, [], detail="in use by another program (access denied)")
        if winerror in WINERROR_MISSING:
            return PortNotFoundError(device, "no such port")
        if winerror in WINERROR_NOT_FUNCTIONING:
            return PortError(device, f"the USB-serial driver reports the device is not working (Windows error "
                                     f"{winerror}): unplug the board and plug it in again")
        return PortError(device, f"Windows error {winerror}")
    code = getattr(error, "errno", None)
    cause = error.__cause__ or error.__context__
    if code is None and isinstance(cause, OSError):
        # pyserial's socket:// and rfc2217:// re-raise the socket's error as text; the original is the context.
        if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
            return PortNotFoundError(device, "nothing answers at that address")
        code = cause.errno
    if code in PERMISSION_ERRNOS:
        return PortPermissionError(device, user=getpass.getuser(), group=_device_group(device),
                                   brltty_installed=shutil.which("brltty") is not None)
    if code in BUSY_ERRNOS:
        return PortBusyError(device, port_holders(device))
    if code in MISSING_ERRNOS:
        return PortNotFoundError(device, "no such port")
    # A path that is not there (pyserial gives no errno for some of these); COM names are not paths.
    if device.startswith("/") and not os.path.exists(device):
        return PortNotFoundError(device, "no such port")
    if isinstance(error, ValueError) and "://" in device:
        return PortNotFoundError(device, f"not a usable port URL ({error})")
    return PortError(device, str(error))


def preferred_device(device: str, platform: str = sys.platform, exists=os.path.exists) -> str:
    """The device to open for ``device``. On macOS each USB serial port appears twice: ``/dev/tty.X`` waits for
    carrier detect on open (a board never asserts it, so the open hangs) and ``/dev/cu.X`` ("call-up") does not;
    a ``tty.`` name is opened as its ``cu.`` twin when that exists."""
    if platform == "darwin" and device.startswith("/dev/tty."):
        twin = "/dev/cu." + device[len("/dev/tty."):]
        if exists(twin):
            log.info("opening %s instead of %s (tty.* waits for carrier on macOS)", twin, device)
            return twin
    return device


def open_serial(device: str, baud: int = 115200, lines: LineSettings = DEFAULT_LINES) -> serial.Serial:
    """Open ``device`` (a path, a COM name or a pyserial URL) exclusively, without resetting the board."""
    device_to_open = preferred_device(device)
    try:
        if "://" in device_to_open:
            port = serial.serial_for_url(device_to_open, baudrate=baud, timeout=0, do_not_open=True)
        else:
            port = serial.Serial(baudrate=baud, timeout=0, exclusive=True)
            port.port = device_to_open
        # Set before open() so pyserial applies them as it opens, without a pulse on the lines.
        port.dtr = lines.dtr
        port.rts = lines.rts
        port.open()
    except (serial.SerialException, OSError, ValueError) as error:
        raise translate_open_error(device, error) from error
    if device_to_open.startswith("socket://"):
        send_without_delay(port)
    return port


def send_without_delay(port: serial.Serial) -> None:
    """Turn Nagle's algorithm off on a ``socket://`` port's TCP socket.

    The REPL protocol is many small writes, each waiting for the board's answer; with Nagle on, a small write
    waits for the ACK of the one before, which the other side may delay (40 ms on Linux, up to 200 ms on
    macOS and Windows). bench/transfer.py's 20 x 2 KB upload on the virtual board's socket link, with delayed
    ACKs on the board side as macOS has them: 8.0 s with Nagle on, 3.7 s with it off.

    pyserial has no option for it and keeps the socket in a private attribute; its public ``fileno()`` is the
    socket's descriptor (a SOCKET handle on Windows), so a socket object is wrapped around it for the one
    setsockopt call and detached again, which leaves the descriptor open and pyserial's.
    """
    try:
        wrapper = socket.socket(fileno=port.fileno())
    except (OSError, AttributeError, TypeError) as error:
        log.debug("TCP_NODELAY not set on %s: %s", port.portstr, error)
        return
    try:
        wrapper.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as error:
        # Nagle only costs time; a port that works without NODELAY is still a working port.
        log.debug("TCP_NODELAY not set on %s: %s", port.portstr, error)
    finally:
        wrapper.detach()


# The name the tests and older callers used.
_translate_open_error = translate_open_error
