"""Backup and restore of a board's whole file system: a zip on this computer with a manifest of hashes, and back.

Backup reads every file through :meth:`BoardFS.read` (each verified against the board's own hash of it; a
damaged read is retried), writes the zip under a temporary name, reads the zip back and checks every file against
the manifest, and only then renames it into place: a backup that exists is a whole one. Restore checks the whole
zip against its manifest and the board's free space before it writes anything, then writes each file with
:meth:`BoardFS.write` (temporary file, hash check on the board, rename), skips files the board already holds with
the same bytes, and ends with one hash check of every restored file. Files on the board that the backup does not
hold are left alone.

For the flasher's "keep my files": :func:`backup_port` before erasing, :func:`restore_port` after flashing, both
given the port (they open and close the board themselves; run them off the UI thread).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import platformdirs

from ide.board.board import Board, BoardInfo
from ide.board.serial_link import DEFAULT_LINES, LineSettings
from ide.errors import BoardFileError, Cancelled, MipyError
from ide.filebrowser.board_fs import FS_RESERVE, TEMP_SUFFIX, BoardFS, normalise
from ide.filebrowser.errors import BoardNoSpace, LocalFileError, PathOutsideBoard, TransferVerifyError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

MANIFEST_NAME = "mipy-backup.json"
BACKUP_FORMAT = 1
READ_ATTEMPTS = 3


# --- errors (words for people in ide.filebrowser.backup_messages) ------------------------------------------------


class BackupError(MipyError):
    """A backup or restore of a board's files failed; ``path`` is the zip on this computer."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class BackupCorrupt(BackupError):
    """The zip is damaged or is not a backup: ``member`` is the file inside it that failed (empty when the zip
    itself cannot be read). Nothing was written to the board."""

    def __init__(self, path: str, detail: str, member: str = ""):
        self.member = member
        super().__init__(path, f"{member}: {detail}" if member else detail)


class RestoreIncomplete(BackupError):
    """Restoring stopped at ``failed`` (the cause is ``__cause__``). ``restored`` were written (each whole),
    ``remaining`` were not; every file on the board is either its old or its restored version, never a mix."""

    def __init__(self, path: str, failed: str, restored: list[str], remaining: list[str]):
        self.failed = failed
        self.restored = list(restored)
        self.remaining = list(remaining)
        super().__init__(path, f"stopped at {failed}: {len(restored)} restored, {len(remaining)} not")


# --- reports ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class BackupReport:
    path: Path
    files: list[str]        # board paths
    folders: list[str]
    bytes: int
    retried: list[str] = dataclasses.field(default_factory=list)  # reads that failed their check once, then passed


@dataclasses.dataclass
class RestoreReport:
    path: Path
    written: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    folders: list[str] = dataclasses.field(default_factory=list)
    bytes_sent: int = 0


@dataclasses.dataclass
class BackupContents:
    """A backup read from disk and checked: {board path: bytes}, folders, and the manifest's board facts."""

    path: Path
    files: dict[str, bytes]
    folders: list[str]
    board: dict
    created: str = ""
    has_manifest: bool = True


def default_backup_path(info: BoardInfo | None = None, now: datetime.datetime | None = None) -> Path:
    """``<user data>/mipy-studio/backups/<board>-<date>-<time>.zip``; the board is its unique id when known."""
    now = now or datetime.datetime.now()
    board = re.sub(r"[^A-Za-z0-9_-]+", "_", (info.unique_id or info.platform) if info else "board")
    return (Path(platformdirs.user_data_dir("mipy-studio")) / "backups"
            / f"{board}-{now.strftime('%Y%m%d-%H%M%S')}.zip")


def _check_cancel(cancel: threading.Event | None, what: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(what)


def _read_verified(fs: BoardFS, path: str, progress: Progress | None, cancel: threading.Event | None,
                   retried: list[str]) -> bytes:
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return fs.read(path, progress, cancel)
        except TransferVerifyError:
            if attempt == READ_ATTEMPTS:
                raise
            log.warning("backup: %s arrived damaged (attempt %d), reading it again", path, attempt)
            retried.append(path)
    raise AssertionError("unreachable")


# --- backup -----------------------------------------------------------------------------------------------------


def backup_files(fs: BoardFS, zip_path: Path | str, progress: Progress | None = None,
                 cancel: threading.Event | None = None, info: BoardInfo | None = None) -> BackupReport:
    """Copy every file and folder of the board into ``zip_path`` (replacing it only once the new zip is checked).
    ``progress`` counts bytes read from the board."""
    zip_path = Path(zip_path)
    entries = [entry for entry in fs.walk("/") if not entry.name.endswith(TEMP_SUFFIX)]
    files = [entry for entry in entries if not entry.is_dir]
    folders = sorted(entry.path for entry in entries if entry.is_dir)
    total = sum(entry.size for entry in files)
    try:
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        free_here = shutil.disk_usage(zip_path.parent).free
    except OSError as error:
        raise LocalFileError(str(zip_path.parent), error.strerror or str(error)) from error
    if free_here < total + 64 * 1024:
        raise LocalFileError(str(zip_path.parent), f"needs {total // 1024 + 64} KB free, has {free_here // 1024} KB")
    handle, temporary_name = tempfile.mkstemp(dir=zip_path.parent, prefix="." + zip_path.name, suffix=".partial")
    os.close(handle)
    temporary = Path(temporary_name)
    report = BackupReport(zip_path, [], folders, 0)
    manifest_files = []
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder in folders:
                archive.writestr(folder.lstrip("/") + "/", b"")
            for entry in files:
                _check_cancel(cancel, "backup")
                base = report.bytes
                data = _read_verified(fs, entry.path,
                                      (lambda done, _t, base=base: progress(base + done, total)) if progress else None,
                                      cancel, report.retried)
                archive.writestr(entry.path.lstrip("/"), data)
                manifest_files.append({"path": entry.path, "size": len(data),
                                       "sha256": hashlib.sha256(data).hexdigest()})
                report.files.append(entry.path)
                report.bytes += len(data)
            manifest = {"format": BACKUP_FORMAT, "created": datetime.datetime.now().isoformat(timespec="seconds"),
                        "board": dataclasses.asdict(info) if info else {}, "folders": folders,
                        "files": manifest_files}
            archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
        read_backup(temporary)  # what reached this computer's disk is what the board holds
        os.replace(temporary, zip_path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise LocalFileError(str(zip_path), error.strerror or str(error)) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if progress:
        progress(total, total)
    log.info("backed up %d files (%d bytes), %d folders to %s", len(report.files), report.bytes, len(folders),
             zip_path)
    return report


# --- reading a backup -------------------------------------------------------------------------------------------


def _board_path(name: str, zip_path: Path) -> str:
    try:
        return normalise("/" + name.rstrip("/"))
    except PathOutsideBoard:
        raise BackupCorrupt(str(zip_path), "path leaves the board's file system", name) from None


def read_backup(zip_path: Path | str) -> BackupContents:
    """Open and check a backup: every file the manifest lists must be there with its hash. A zip without our
    manifest (made by hand) is accepted with zip's own CRC-32 check of each file."""
    zip_path = Path(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if MANIFEST_NAME not in names:
                files = {}
                folders = set()
                for info in archive.infolist():
                    path = _board_path(info.filename, zip_path)
                    if info.is_dir():
                        folders.add(path)
                    else:
                        files[path] = _member(archive, info.filename, zip_path)
                        folders.update(_parents(path))
                return BackupContents(zip_path, files, sorted(folders - {"/"}), {}, "", has_manifest=False)
            try:
                manifest = json.loads(archive.read(MANIFEST_NAME).decode("utf-8"))
                listed = [(str(item["path"]), int(item["size"]), str(item["sha256"])) for item in manifest["files"]]
                folders = [str(folder) for folder in manifest.get("folders", [])]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
                raise BackupCorrupt(str(zip_path), f"unreadable manifest ({error})", MANIFEST_NAME) from error
            if not isinstance(manifest, dict) or manifest.get("format", 0) > BACKUP_FORMAT:
                raise BackupCorrupt(str(zip_path), "made by a newer MiPy Studio", MANIFEST_NAME)
            files = {}
            for path, size, digest in listed:
                board_path = _board_path(path, zip_path)
                data = _member(archive, board_path.lstrip("/"), zip_path)
                if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                    raise BackupCorrupt(str(zip_path), "does not match the manifest's hash", board_path)
                files[board_path] = data
            return BackupContents(zip_path, files, [_board_path(f, zip_path) for f in folders],
                                  manifest.get("board") or {}, str(manifest.get("created", "")))
    except zipfile.BadZipFile as error:
        raise BackupCorrupt(str(zip_path), f"not a readable zip ({error})") from error
    except OSError as error:
        raise LocalFileError(str(zip_path), error.strerror or str(error)) from error


def _member(archive: zipfile.ZipFile, name: str, zip_path: Path) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise BackupCorrupt(str(zip_path), "listed in the manifest but missing", "/" + name) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError) as error:  # CRC, deflate
        raise BackupCorrupt(str(zip_path), f"damaged ({error})", "/" + name) from error


def _parents(path: str) -> list[str]:
    parents = []
    folder = posixpath.dirname(path)
    while folder not in ("", "/"):
        parents.append(folder)
        folder = posixpath.dirname(folder)
    return parents


# --- restore ----------------------------------------------------------------------------------------------------


def restore_files(fs: BoardFS, zip_path: Path | str, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> RestoreReport:
    """Put a backup's files back on the board. The zip is checked whole, and the board's free space, before
    anything is written. ``progress`` counts bytes written to the board."""
    backup = read_backup(zip_path)
    report = RestoreReport(backup.path, folders=sorted(backup.folders))
    on_board = {entry.path: entry for entry in fs.walk("/")}
    for path in backup.files:
        there = on_board.get(path)
        if there is not None and there.is_dir:
            raise BoardFileError(path, "is a folder on the board, a file in the backup")
    paths = sorted(backup.files)
    board_hashes = fs.hashes([path for path in paths if path in on_board]) if on_board else {}
    to_write = [path for path in paths if board_hashes.get(path) != fs.host_hash(backup.files[path])]
    report.unchanged = [path for path in paths if path not in to_write]
    needed = sum(len(backup.files[path]) for path in to_write)
    freed = sum(on_board[path].size for path in to_write if path in on_board)
    _, free = fs.df()
    if to_write and needed - freed + FS_RESERVE > free:
        raise BoardNoSpace("/", needed - freed, max(0, free - FS_RESERVE))

    for folder in sorted(set(backup.folders) | {p for path in to_write for p in _parents(path)}):
        if folder not in on_board:
            fs.mkdir(folder)
    for number, path in enumerate(to_write):
        data = backup.files[path]
        base = report.bytes_sent
        try:
            _check_cancel(cancel, "restore")
            fs.write(path, data,
                     (lambda done, _t, base=base: progress(base + done, needed)) if progress else None, cancel)
        except (MipyError, OSError) as error:
            raise RestoreIncomplete(str(backup.path), path, report.written, to_write[number:]) from error
        report.written.append(path)
        report.bytes_sent += len(data)
    if to_write:
        # Each write was checked on its own; one last look that nothing changed them meanwhile.
        final = fs.hashes(to_write)
        damaged = [path for path in to_write if final.get(path) != fs.host_hash(backup.files[path])]
        if damaged:
            raise RestoreIncomplete(str(backup.path), damaged[0], [p for p in report.written if p not in damaged],
                                    damaged)
    if progress:
        progress(needed, needed)
    log.info("restored %d files (%d bytes) from %s, %d already there", len(report.written), report.bytes_sent,
             backup.path, len(report.unchanged))
    return report


# --- whole-port helpers for the flasher -------------------------------------------------------------------------


def backup_board(board: Board, zip_path: Path | str | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> BackupReport:
    """Back up an open board into ``zip_path`` (default: :func:`default_backup_path` for it)."""
    info = board.info()
    fs = BoardFS(board)
    fs.remove_stray_temporaries()
    return backup_files(fs, zip_path or default_backup_path(info), progress, cancel, info)


def backup_port(port: str, zip_path: Path | str | None = None, baud: int = 115200,
                lines: LineSettings = DEFAULT_LINES, progress: Progress | None = None,
                cancel: threading.Event | None = None, timeout: float = 10.0) -> BackupReport:
    """Open the board on ``port``, back up its files, close it again (the port is free for esptool after)."""
    with Board.open(port, baud=baud, lines=lines, timeout=timeout) as board:
        return backup_board(board, zip_path, progress, cancel)


def restore_port(port: str, zip_path: Path | str, baud: int = 115200, lines: LineSettings = DEFAULT_LINES,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 timeout: float = 10.0) -> RestoreReport:
    """Open the board on ``port`` (freshly flashed), put the backup's files back, close it."""
    with Board.open(port, baud=baud, lines=lines, timeout=timeout) as board:
        return restore_files(BoardFS(board), zip_path, progress, cancel)
