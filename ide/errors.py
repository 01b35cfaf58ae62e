"""The one exception hierarchy of MiPy Studio.

Every error the core raises derives from :class:`MipyError`. Errors carry their facts on attributes (the port,
the bytes seen, the file and line); nobody decides anything by matching message text. ``str(error)`` is a
short technical sentence for logs; :mod:`ide.explain` turns errors into advice for people, and only the UI and
the command line call it.

Third-party errors (pyserial's ``SerialException``, ``OSError`` from the OS, esptool's ``FatalError``) are
wrapped where they enter our code, with the original kept as ``__cause__``.
"""

from __future__ import annotations


class MipyError(Exception):
    """Root of every error MiPy Studio raises on purpose."""


class UsageError(MipyError):
    """A command was given wrong or missing input (no port, an argument out of range). ``field`` names it."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class Cancelled(MipyError):
    """The user (or the caller) cancelled a long operation."""

    def __init__(self, operation: str = ""):
        self.operation = operation
        super().__init__(f"{operation or 'operation'} cancelled")


# --- serial ports and the board connection -------------------------------------------------------------------


class BoardError(MipyError):
    """Something went wrong talking to a board."""


class PortError(BoardError):
    """The serial port itself could not be used."""

    def __init__(self, port: str, detail: str = ""):
        self.port = port
        self.detail = detail
        super().__init__(f"{port}: {detail}" if detail else port)


class PortNotFoundError(PortError):
    """No device exists at that path or URL."""


class PortBusyError(PortError):
    """Another program holds the port. ``holders`` lists ``(pid, program)`` where the OS could tell."""

    def __init__(self, port: str, holders: list[tuple[int, str]] | None = None, detail: str = ""):
        self.holders = list(holders or [])
        super().__init__(port, detail or "port busy")


class PortPermissionError(PortError):
    """The OS refused access. On Linux ``group`` is the group that owns the device (usually ``dialout``),
    ``user`` the account that lacks it, and ``brltty_installed`` whether brltty may be grabbing CH340/CP210x."""

    def __init__(self, port: str, user: str = "", group: str = "", brltty_installed: bool = False):
        self.user = user
        self.group = group
        self.brltty_installed = brltty_installed
        super().__init__(port, "permission denied")


class PortVanishedError(PortError):
    """The device disappeared while in use (cable pulled, board reset its USB, virtual board stopped)."""


class NoReplError(BoardError):
    """The port opened but no MicroPython REPL answered. ``seen`` holds the bytes that came back (empty for
    silence), so the caller can tell garbage (wrong baud, other firmware) from silence."""

    def __init__(self, port: str, seen: bytes):
        self.port = port
        self.seen = seen
        kind = "silence" if not seen else f"unexpected bytes {seen[:60]!r}"
        super().__init__(f"no MicroPython REPL on {port}: {kind}")


class BoardTimeoutError(BoardError):
    """A board operation did not finish in time. ``seen`` is what arrived before the deadline."""

    def __init__(self, operation: str, timeout: float, seen: bytes = b""):
        self.operation = operation
        self.timeout = timeout
        self.seen = seen
        super().__init__(f"{operation} timed out after {timeout:g} s")


class ReplProtocolError(BoardError):
    """The board answered, but not as the REPL protocol says it must."""

    def __init__(self, expected: str, seen: bytes):
        self.expected = expected
        self.seen = seen
        super().__init__(f"expected {expected}, got {seen[:80]!r}")


class DeviceTraceback(BoardError):
    """Code on the board raised an exception. ``exc_type`` is its class name (``"OSError"``), ``message`` its
    text, ``file``/``line`` the innermost frame when the traceback has one, ``traceback`` the full text."""

    def __init__(self, exc_type: str, message: str, file: str | None, line: int | None, traceback: str,
                 errno: int | None = None):
        self.exc_type = exc_type
        self.message = message
        self.file = file
        self.line = line
        self.traceback = traceback
        self.errno = errno
        where = f" ({file}, line {line})" if file else ""
        super().__init__(f"{exc_type}: {message}{where}")


class RescueFailedError(BoardError):
    """The board could not be brought back to a prompt; ``attempts`` says how hard we tried."""

    def __init__(self, port: str, attempts: int, seen: bytes):
        self.port = port
        self.attempts = attempts
        self.seen = seen
        super().__init__(f"could not regain control of {port} after {attempts} attempts")


class VirtualBoardError(BoardError):
    """The virtual board could not start or run."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class VirtualBoardUnavailable(VirtualBoardError):
    """This platform has no MicroPython unix port to run the virtual board on."""


class VirtualBoardNotRunning(VirtualBoardError):
    """No running virtual board answers for ``where`` (a board folder or a device path)."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(f"no virtual board is running for {where}")


# --- board file system ---------------------------------------------------------------------------------------


class BoardFileError(BoardError):
    """A file operation on the board failed. ``path`` is the board path."""

    def __init__(self, path: str, detail: str = ""):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}" if detail else path)


# --- flashing, projects, builds ------------------------------------------------------------------------------


class FlasherError(MipyError):
    """Detecting a chip or writing firmware failed."""


class ProjectError(MipyError):
    """A project could not be created, built or synced."""
