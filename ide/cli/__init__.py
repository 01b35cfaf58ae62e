"""The ``mipy-studio`` command line. Everything the window does, the command line can do too.

Each area registers its sub-commands from its own module (``board_commands``, ``flasher_commands``, ...) through
``add_commands(subparsers)``; every handler takes the parsed arguments and returns an exit code. Errors from the
core are turned into one clear line here, and nowhere else in the command line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ide import __version__
from ide.errors import MipyError, UsageError
from ide.explain import explain

# Modules that contribute sub-commands; a module that is not there yet is skipped.
COMMAND_MODULES = (
    "ide.cli.board_commands",
    "ide.cli.file_commands",
    "ide.cli.flasher_commands",
    "ide.cli.project_commands",
    "ide.cli.package_commands",
    "ide.cli.fleet_commands",
    "ide.cli.pin_commands",
)

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mipy-studio",
        description="MiPy Studio: an IDE for ESP8266/ESP32 boards running MicroPython. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"mipy-studio {__version__}",
                        help="show the version and exit (with --verbose: of everything it uses, as 'about')")
    parser.add_argument(
        "--port", "-p", default=os.environ.get("MIPY_PORT"),
        help="serial device, pyserial URL (socket://, rfc2217://) or 'virtual' (default: $MIPY_PORT)",
    )
    parser.add_argument("--baud", type=int, default=115200, help="baud rate of the board's REPL (default 115200)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the board (default 10)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log what happens on the wire")
    parser.add_argument("--dtr", type=int, choices=(0, 1), default=0,
                        help="DTR level while the port is open (default 0: no reset on the ESP auto-reset circuit)")
    parser.add_argument("--rts", type=int, choices=(0, 1), default=0,
                        help="RTS level while the port is open (default 0; some boards need 1)")
    parser.add_argument("--all-boards", action="store_true",
                        help="run flash/deploy/run-project/exec on every ESP board found (several --port: those)")
    parser.add_argument("--virtual-firmware", metavar="RELEASE",
                        help="with --port virtual: the MicroPython release it plays, e.g. 1.12 (default: the newest)")
    parser.add_argument("--virtual-chip", metavar="CHIP", help="with --port virtual: esp32 (default) or esp8266")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
            module.add_commands(subparsers)
        except ModuleNotFoundError as missing:
            if missing.name != module_name:
                from ide.board.ports import POSIX_ONLY_MODULES
                if missing.name not in POSIX_ONLY_MODULES:
                    raise
                # Its commands need what this OS lacks (Windows has no termios): leave them out, keep the rest.
                logging.getLogger(__name__).info("%s left out: no %s module here", module_name, missing.name)
    return parser


def open_gui(args: argparse.Namespace) -> int:
    try:
        from ide.ui.app import run_app
    except ModuleNotFoundError as missing:
        if not (missing.name or "").startswith("ide.ui"):
            raise
        build_parser().print_help()
        return 0
    return run_app(port=args.port)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run-micropython"]:
        # In the installed bundle the virtual board's interpreter is started through our own executable.
        from ide.board.virtual.process import run_in_this_process
        return run_in_this_process(argv[1:])
    if not argv:
        # Plain "mipy-studio" opens the window: skip building the parser, which imports every command's module
        # (network clients among them) and would delay the first frame.
        return open_gui(argparse.Namespace(port=os.environ.get("MIPY_PORT") or None))
    if "--version" in argv and ("--verbose" in argv or "-v" in argv):  # argparse would stop at --version
        from ide.versions import versions_text
        print(versions_text())
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    try:
        from ide.cli.fleet_commands import many_boards_handler  # several --port, or --all-boards
        handler = many_boards_handler(parser, argv, args) or handler
        if handler is None:
            return open_gui(args)
        return handler(args)
    except MipyError as error:
        print(f"mipy-studio: {explain(error)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mipy-studio: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def open_board(args: argparse.Namespace, interrupt: bool = True):
    """Open the board the command line names, with its DTR/RTS levels, and stop what runs (``interrupt``)."""
    from ide.board.board import Board
    from ide.board.serial_link import LineSettings

    return Board.open(require_port(args), baud=args.baud, timeout=args.timeout, interrupt=interrupt,
                      lines=LineSettings(dtr=bool(args.dtr), rts=bool(args.rts)), virtual_config=virtual_config(args))


def virtual_config(args: argparse.Namespace):
    """The virtual board --virtual-firmware/--virtual-chip ask for (None: its defaults)."""
    firmware, chip = getattr(args, "virtual_firmware", None), getattr(args, "virtual_chip", None)
    if not (firmware or chip):
        return None
    if args.port != "virtual":
        raise UsageError("--virtual-firmware" if firmware else "--virtual-chip", "only with --port virtual")
    from ide.board.virtual import VirtualBoardConfig
    return VirtualBoardConfig(firmware_version=firmware, chip=chip or "esp32")


def require_port(args: argparse.Namespace) -> str:
    """The port a board command talks to; a clear error when none was given."""
    if not args.port:
        raise UsageError("--port", "no port given: use --port PORT (see 'mipy-studio ports') or set MIPY_PORT")
    return args.port
