"""Board file commands: ls, put, get, rm, mkdir, mv, df, cat."""

from __future__ import annotations

import argparse
import posixpath
import sys
import time
from pathlib import Path

from ide.cli import open_board
from ide.cli.progress import ProgressBar
from ide.board.board import Board
from ide.filebrowser.board_fs import BoardFS, BoardEntry

# Smaller transfers finish before a bar is worth drawing.
PROGRESS_MIN_BYTES = 4096


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ls", help="list a board folder")
    parser.add_argument("-l", dest="long", action="store_true", help="sizes and dates")
    parser.add_argument("path", nargs="?", default="/")
    parser.set_defaults(handler=cmd_ls)

    parser = subparsers.add_parser("put", help="upload a file or folder (atomic, verified)")
    parser.add_argument("local", type=Path)
    parser.add_argument("remote", nargs="?", default="/")
    parser.set_defaults(handler=cmd_put)

    parser = subparsers.add_parser("get", help="download a file or folder (verified)")
    parser.add_argument("remote")
    parser.add_argument("local", nargs="?", type=Path, default=Path("."))
    parser.set_defaults(handler=cmd_get)

    parser = subparsers.add_parser("rm", help="remove a board file (folders with -r)")
    parser.add_argument("-r", dest="recursive", action="store_true")
    parser.add_argument("path")
    parser.set_defaults(handler=cmd_rm)

    parser = subparsers.add_parser("mkdir", help="make a board folder (and its parents)")
    parser.add_argument("path")
    parser.set_defaults(handler=cmd_mkdir)

    parser = subparsers.add_parser("mv", help="rename or move on the board")
    parser.add_argument("old")
    parser.add_argument("new")
    parser.set_defaults(handler=cmd_mv)

    parser = subparsers.add_parser("df", help="size and free space of the board's file system")
    parser.set_defaults(handler=cmd_df)

    parser = subparsers.add_parser("cat", help="print a board file")
    parser.add_argument("path")
    parser.set_defaults(handler=cmd_cat)


def _open(args: argparse.Namespace) -> tuple[Board, BoardFS]:
    board = open_board(args)
    fs = BoardFS(board)
    # A transfer cut short (cable pulled) leaves a temporary file; the next connect removes it.
    fs.remove_stray_temporaries()
    return board, fs


def _format_entry(entry: BoardEntry, long: bool) -> str:
    name = entry.name + ("/" if entry.is_dir else "")
    if not long:
        return name
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.mtime)) if entry.mtime else " " * 16
    return f"{'' if entry.is_dir else entry.size:>9}  {when}  {name}"


def cmd_ls(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        entry = fs.stat(args.path)
        entries = fs.listdir(args.path) if entry.is_dir else [entry]
    for entry in entries:
        print(_format_entry(entry, args.long))
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    bar = ProgressBar(f"put {args.local.name}", PROGRESS_MIN_BYTES)
    with board:
        try:
            written = fs.upload(args.local, args.remote, bar)
        finally:
            bar.finish()
    for path in written:
        print(path)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    bar = ProgressBar(f"get {posixpath.basename(args.remote) or '/'}", PROGRESS_MIN_BYTES)
    with board:
        try:
            written = fs.download(args.remote, args.local, bar)
        finally:
            bar.finish()
    for path in written:
        print(path)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        fs.remove(args.path, recursive=args.recursive)
    return 0


def cmd_mkdir(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        fs.mkdir(args.path)
    return 0


def cmd_mv(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        fs.rename(args.old, args.new)
    return 0


def cmd_df(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        total, free = fs.df()
    print(f"{total} bytes in all, {total - free} used, {free} free ({100 * free // max(1, total)}% free)")
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    board, fs = _open(args)
    with board:
        data = fs.read(args.path)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
