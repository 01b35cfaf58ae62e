"""Board-care commands: mip packages (install, list, remove, search), backup and restore of the board's files, and
the board's clock."""

from __future__ import annotations

import argparse
from pathlib import Path

from ide.cli import open_board
from ide.cli.progress import ProgressBar
from ide.filebrowser.board_fs import BoardFS

PROGRESS_MIN_BYTES = 4096


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    mip = subparsers.add_parser("mip", help="packages from micropython-lib or GitHub, installed from this computer")
    mip_commands = mip.add_subparsers(dest="mip_command", metavar="MIP_COMMAND", required=True)

    parser = mip_commands.add_parser("install", help="install packages (and their dependencies) into /lib")
    parser.add_argument("packages", nargs="+", metavar="PACKAGE",
                        help="NAME, NAME@VERSION, github:ORG/REPO[/PATH][@BRANCH], gitlab:..., or an http(s) URL")
    _index_arguments(parser)
    parser.add_argument("--target", help="board folder to install into (default: the lib folder in sys.path)")
    parser.add_argument("--no-mpy", dest="use_mpy", action="store_false",
                        help="install .py source instead of compiled .mpy files")
    parser.set_defaults(handler=cmd_mip_install)

    parser = mip_commands.add_parser("list", help="packages installed on the board")
    parser.add_argument("--target", help="board folder (default: the lib folder in sys.path)")
    parser.set_defaults(handler=cmd_mip_list)

    parser = mip_commands.add_parser("remove", help="remove installed packages (their dependencies stay)")
    parser.add_argument("packages", nargs="+", metavar="NAME")
    parser.add_argument("--target", help="board folder (default: the lib folder in sys.path)")
    parser.set_defaults(handler=cmd_mip_remove)

    parser = mip_commands.add_parser("search", help="packages in the index (no board needed)")
    parser.add_argument("text", nargs="?", default="", help="part of a name or description (default: all)")
    _index_arguments(parser)
    parser.set_defaults(handler=cmd_mip_search)

    parser = subparsers.add_parser("backup-files", help="copy every file on the board into a zip (verified)")
    parser.add_argument("zip", nargs="?", type=Path,
                        help="the zip to write (default: a dated one in your data folder's backups)")
    parser.set_defaults(handler=cmd_backup_files)

    parser = subparsers.add_parser("restore-files", help="put a backup's files back on the board (verified)")
    parser.add_argument("zip", type=Path)
    parser.set_defaults(handler=cmd_restore_files)

    parser = subparsers.add_parser("clock", help="show the board's clock; --set sets it from this computer's")
    parser.add_argument("--set", action="store_true", help="set it to this computer's time")
    parser.add_argument("--utc", action="store_true", help="with --set: UTC rather than local time")
    parser.set_defaults(handler=cmd_clock)


def _index_arguments(parser: argparse.ArgumentParser) -> None:
    from ide.packages.index import DEFAULT_INDEX
    parser.add_argument("--index", default=DEFAULT_INDEX, help=f"package index URL (default {DEFAULT_INDEX})")
    parser.add_argument("--offline", action="store_true", help="use only what this computer has cached")


def _index(args: argparse.Namespace):
    from ide.packages.index import PackageIndex
    return PackageIndex(args.index, offline=args.offline)


def _open_fs(args: argparse.Namespace):
    board = open_board(args)
    fs = BoardFS(board)
    fs.remove_stray_temporaries()
    return board, fs


def cmd_mip_install(args: argparse.Namespace) -> int:
    from ide.packages import install as mip

    index = _index(args)
    board, fs = _open_fs(args)
    bar = ProgressBar("installing", PROGRESS_MIN_BYTES)
    with board:
        try:
            report = mip.install(fs, args.packages, index, args.target, args.use_mpy, bar)
        finally:
            bar.finish()
    for package in report.packages:
        why = f" (for {package.required_by})" if package.required_by else ""
        kind = "source" if package.variant == "py" else f".mpy v{package.variant}"
        print(f"{package.name} {package.version}{why}: {len(package.files)} files, {kind}")
    print(f"into {report.target}: {len(report.written)} written ({report.bytes_sent} bytes), "
          f"{len(report.unchanged)} already there, {len(report.removed)} old removed")
    return 0


def cmd_mip_list(args: argparse.Namespace) -> int:
    from ide.packages import install as mip

    board, fs = _open_fs(args)
    with board:
        packages = mip.list_installed(fs, args.target)
    for package in packages:
        print(f"{package.name:<24} {package.version:<10} {len(package.files)} files")
    if not packages:
        print("no packages installed")
    return 0


def cmd_mip_remove(args: argparse.Namespace) -> int:
    from ide.packages import install as mip

    board, fs = _open_fs(args)
    with board:
        for name in args.packages:
            removed = mip.remove(fs, name, args.target)
            print(f"{name}: {len(removed)} files removed")
    return 0


def cmd_mip_search(args: argparse.Namespace) -> int:
    entries = _index(args).search(args.text)
    for entry in entries:
        print(f"{entry.name:<28} {entry.version:<10} {entry.description}")
    if not entries:
        print("no package matches")
    return 0


def cmd_backup_files(args: argparse.Namespace) -> int:
    from ide.filebrowser import backup

    board, fs = _open_fs(args)
    bar = ProgressBar("backing up", PROGRESS_MIN_BYTES)
    with board:
        try:
            info = board.info()
            report = backup.backup_files(fs, args.zip or backup.default_backup_path(info), bar, info=info)
        finally:
            bar.finish()
    print(f"{report.path}: {len(report.files)} files ({report.bytes} bytes), {len(report.folders)} folders")
    return 0


def cmd_restore_files(args: argparse.Namespace) -> int:
    from ide.filebrowser import backup

    backup.read_backup(args.zip)  # a damaged zip is refused before the board is even opened
    board, fs = _open_fs(args)
    bar = ProgressBar("restoring", PROGRESS_MIN_BYTES)
    with board:
        try:
            report = backup.restore_files(fs, args.zip, bar)
        finally:
            bar.finish()
    print(f"{len(report.written)} files restored ({report.bytes_sent} bytes), {len(report.unchanged)} already "
          "there")
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    from ide.board import clock

    board = open_board(args)
    with board:
        if args.set:
            result = clock.set_board_clock(board, utc=args.utc)
            if not result.set:
                print("this board has no clock (machine.RTC) to set")
                return 1
        print(clock.read_board_clock(board).isoformat(sep=" "))
    return 0
