"""The two ends of the bridge: the host's serial port and the interpreter's stdio.

Host side (what a serial tool opens):

- ``PtyHostPort``: a pseudo-terminal; its device path (``/dev/pts/N``) is opened like a USB-serial port;
- ``ClientHostPort``: no port at all; bytes go to and come from a Python callback (the simulated ESP chip puts
  the board's REPL on its own port this way).

Interpreter side (the board's UART as the interpreter sees it):

- ``PtyBoardLine``: a pseudo-terminal in raw mode as its stdin/stdout.

POSIX-only modules (pty, tty, termios, fcntl) are imported where a pty is opened, never at the top: the package
imports on every platform.
"""

from __future__ import annotations

import os
import select
import socket
from collections import deque
from typing import Callable


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
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
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
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1
