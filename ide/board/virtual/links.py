"""The two ends of the bridge: the host's serial port and the interpreter's stdio.

Host side (what a serial tool opens):

- ``PtyHostPort``: a pseudo-terminal; its device path (``/dev/pts/N``) is opened like a USB-serial port;
- ``SocketHostPort``: a loopback TCP socket, opened by pyserial as ``socket://127.0.0.1:PORT``;
- ``ClientHostPort``: no port at all; bytes go to and come from a Python callback (the simulated ESP chip puts
  the board's REPL on its own port this way).

Interpreter side (the board's UART as the interpreter sees it):

- ``PtyBoardLine``: a pseudo-terminal in raw mode as its stdin/stdout (with ``PtyHostPort``: the "pty" link);
- ``PipeBoardLine``: pipes (with ``SocketHostPort``: the "socket" link, for systems without a pty).

POSIX-only modules (pty, tty, termios, fcntl) are imported where a pty is opened, never at the top: the package
imports on every platform.
"""

from __future__ import annotations

import os
import select
import socket
from collections import deque
from typing import Callable


def _close_fds(*fds: int) -> None:
    """Close the descriptors still open (-1 marks one already closed); a failing close leaves nothing to undo."""
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class PtyHostPort:
    """The host's end on a pseudo-terminal. We keep our own handle on the tool's side open so that the master does
    not see a hang-up between two tools opening the port."""

    def __init__(self) -> None:
        self._master = self._slave = -1
        self.device_path = ""

    def plug(self) -> str:
        import pty
        import tty

        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.device_path = os.ttyname(slave)
        return self.device_path

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def wait_handles(self) -> list:
        return [self._master] if self._master >= 0 else []

    def read(self) -> bytes:
        if self._master < 0:
            return b""
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""  # EIO: no tool has the port open right now

    def write(self, data: bytes) -> int:
        """How much of ``data`` the port took (0: the tool is not reading; all of it when the port is gone)."""
        if self._master < 0:
            return 0
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError:
            return len(data)

    def unplug(self) -> None:
        _close_fds(self._master, self._slave)
        self._master = self._slave = -1

    close = unplug


class ClientHostPort:
    """No port: host bytes arrive through ``feed`` (any thread, never blocks) and board output goes to
    ``write_to_host`` (called on the bridge thread). A byte on a socket pair wakes the bridge's wait."""

    def __init__(self, write_to_host: Callable[[bytes], None]):
        self._write_to_host = write_to_host
        self._inbox: deque[bytes] = deque()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self.device_path = ""
        self.accepting = True

    def plug(self) -> str:
        return self.device_path

    plugged = True

    def feed(self, data: bytes) -> None:
        if not data or not self.accepting:
            return
        self._inbox.append(bytes(data))   # deque.append is atomic: no lock shared with the bridge
        try:
            self._wake_write.send(b"!")
        except OSError:
            pass  # the socket is full of wake-ups already, or the board is stopping

    def wait_handles(self) -> list:
        return [self._wake_read]

    def read(self) -> bytes:
        try:
            self._wake_read.recv(4096)
        except OSError:
            pass
        chunks = []
        while self._inbox:
            chunks.append(self._inbox.popleft())
        return b"".join(chunks)

    def write(self, data: bytes) -> int:
        if data:
            self._write_to_host(data)
        return len(data)

    def unplug(self) -> None:
        pass

    def close(self) -> None:
        self.accepting = False
        self._wake_read.close()
        self._wake_write.close()


class PtyBoardLine:
    """The interpreter's stdin/stdout/stderr on a pseudo-terminal in raw mode: output post-processing off and no
    signal characters, so binary input reaches the interpreter untouched and prompts are not turned into
    "\\r\\r\\n"."""

    def __init__(self) -> None:
        import pty
        import tty

        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)

    def child_stdio(self) -> tuple[int, int]:
        """(stdin, stdout) for the next interpreter; stderr goes with stdout, as on a chip's UART."""
        return self._slave, self._slave

    def started(self) -> None:
        pass

    def wait_handles(self) -> list:
        return [self._master] if self._master >= 0 else []

    def readable(self) -> bool:
        return self._master >= 0 and bool(select.select([self._master], [], [], 0)[0])

    def read(self, size: int) -> bytes:
        try:
            return os.read(self._master, size)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        import time

        while data:
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            data = data[written:]

    def unread(self) -> int:
        """Bytes written to the interpreter that it has not read yet."""
        import fcntl
        import termios

        return int.from_bytes(fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"), "little")

    def restart(self) -> None:
        """Between two interpreters: what the old one did not read is gone."""
        import termios

        termios.tcflush(self._slave, termios.TCIOFLUSH)

    def close(self) -> None:
        _close_fds(self._master, self._slave)
        self._master = self._slave = -1


# Linux only; elsewhere delayed ACKs stay as the system has them.
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class SocketHostPort:
    """The host's end on a loopback TCP socket, which pyserial opens as ``socket://127.0.0.1:PORT``: the port
    where there is no pty (Windows), and everywhere on request. One tool at a time, as on a serial port: a new
    connection replaces the old one (a tool that crashed without closing must not lock the board)."""

    def __init__(self) -> None:
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self.device_path = ""

    def plug(self) -> str:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        server.setblocking(False)
        self._server = server
        self.device_path = f"socket://127.0.0.1:{server.getsockname()[1]}"
        return self.device_path

    @property
    def plugged(self) -> bool:
        return self._server is not None

    def wait_handles(self) -> list:
        return [handle for handle in (self._server, self._client) if handle is not None]

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            client.setblocking(False)
            # Each byte leaves when the wire model says so: no coalescing on the way (Nagle's algorithm).
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._drop_client()
            self._client = client

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
            self._client = None

    def read(self) -> bytes:
        self._accept()
        if self._client is None:
            return b""
        try:
            data = self._client.recv(4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            self._drop_client()
            return b""
        if not data:
            self._drop_client()  # the tool closed the port
        elif QUICKACK is not None:
            # Acknowledge at once: pyserial's socket:// leaves Nagle's algorithm on, so a tool's next small write
            # waits for our ACK, which Linux would otherwise delay by up to 40 ms (transfers took twice as long).
            # The flag does not stick: it is set again after every read.
            try:
                self._client.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                pass
        return data

    def write(self, data: bytes) -> int:
        if self._client is None:
            return 0  # no tool has the port open: the output waits, then is dropped as unread
        try:
            return self._client.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self._drop_client()
            return len(data)

    def unplug(self) -> None:
        self._drop_client()
        if self._server is not None:
            self._server.close()
            self._server = None

    close = unplug


class PipeBoardLine:
    """The interpreter's stdin and stdout/stderr on pipes, fresh for every interpreter (what the old one did not
    read is gone, as ``PtyBoardLine.restart`` flushes it). We keep the read end of stdin open beside the child's
    to ask how much it has not read yet (FIONREAD: on the write end BSD and macOS answer 0)."""

    def __init__(self) -> None:
        self._stdin_read = self._stdin_write = -1
        self._stdout_read = self._stdout_write = -1
        self.restart()

    def restart(self) -> None:
        self._close_pipes()
        self._stdin_read, self._stdin_write = os.pipe()
        self._stdout_read, self._stdout_write = os.pipe()

    def child_stdio(self) -> tuple[int, int]:
        return self._stdin_read, self._stdout_write

    def started(self) -> None:
        # Only the child writes its stdout now: when it dies, the bridge reads the end of its output.
        os.close(self._stdout_write)
        self._stdout_write = -1

    def wait_handles(self) -> list:
        return [self._stdout_read] if self._stdout_read >= 0 else []

    def readable(self) -> bool:
        return self._stdout_read >= 0 and bool(select.select([self._stdout_read], [], [], 0)[0])

    def read(self, size: int) -> bytes:
        try:
            data = os.read(self._stdout_read, size)
        except OSError:
            return b""
        if not data and self._stdout_write < 0:
            # End of the dead interpreter's output: stop reporting it readable until the next one starts.
            os.close(self._stdout_read)
            self._stdout_read = -1
        return data

    def write(self, data: bytes) -> None:
        # The pipe holds 64 KB (Linux, macOS), far more than the UART buffer lets through: this never blocks long.
        try:
            while data:
                data = data[os.write(self._stdin_write, data):]
        except OSError:
            pass  # the interpreter is gone (EPIPE): the bytes are lost, as with a chip being reset

    def unread(self) -> int | None:
        """Bytes written to the interpreter that it has not read yet; None where the system cannot say (no
        FIONREAD without fcntl): the receive buffer is then unbounded rather than wrong."""
        try:
            import fcntl
            import termios
        except ImportError:
            return None
        return int.from_bytes(fcntl.ioctl(self._stdin_read, termios.FIONREAD, b"\0\0\0\0"), "little")

    def _close_pipes(self) -> None:
        _close_fds(self._stdin_read, self._stdin_write, self._stdout_read, self._stdout_write)
        self._stdin_read = self._stdin_write = self._stdout_read = self._stdout_write = -1

    close = _close_pipes


LINKS = ("pty", "socket")
LINK_ENV = "MIPY_VIRTUAL_LINK"


def pty_available() -> bool:
    try:
        import pty  # noqa: F401
        import termios  # noqa: F401
        import tty  # noqa: F401
    except ImportError:
        return False
    return True


def choose_link(link: str | None = None) -> str:
    """The link asked for (argument, else $MIPY_VIRTUAL_LINK), else a pty where there is one, else a socket."""
    wanted = link or os.environ.get(LINK_ENV) or None
    if wanted is None:
        return "pty" if pty_available() else "socket"
    if wanted not in LINKS:
        raise ValueError(f"unknown virtual board link {wanted!r} (known: {', '.join(LINKS)})")
    return wanted
