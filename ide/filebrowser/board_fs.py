"""The board's file system: list, stat, mkdir, remove, rename, and fast, atomic, verified transfers.

Built on :meth:`Board.exec` and the raw link only (see ``board_code`` for the board side and its wire protocol).
Every write goes to a temporary name next to the target and is renamed over it only after the hash of the file
on the board's flash matches the host's; a failure at any byte leaves the old file exactly as it was.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import functools
import hashlib
import logging
import os
import posixpath
import threading
import zlib
from pathlib import Path
from typing import Callable

from ide.board.board import Board
from ide.board.repl import END_OF_OUTPUT, parse_traceback
from ide.errors import (BoardError, BoardFileError, BoardTimeoutError, Cancelled, DeviceTraceback, MipyError,
                        PortVanishedError)
from ide.filebrowser import board_code
from ide.filebrowser.errors import (BoardFileExists, BoardFileNotFound, BoardNoSpace, LocalFileError,
                                    PathOutsideBoard, TransferVerifyError)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

TEMP_SUFFIX = ".mipy-tmp"
# Keep this much free on the board: LittleFS needs a few blocks of its own to rename and update metadata.
FS_RESERVE = 8 * 1024
# Compression pays when it saves at least this share of the bytes (deflate with a 1 KB window, wbits=10,
# the most an ESP8266's heap affords for the decompressor).
COMPRESS_MIN_SAVING = 0.1
DEFLATE_WBITS = 10
# With this much free heap (gc.mem_free() at the probe) every helper is installed at once, deflated: one exec,
# a third of the bytes. All at once needs about 39 KB free on a 32-bit port (bench/helpers_heap.py), which an
# ESP32 (110 KB) has and an ESP8266 (30 KB) has not; there each job installs only its units, one per exec
# (install and a 50 KB upload then need about 15 KB).
ALL_AT_ONCE_FREE = 64 * 1024
ENOENT, EEXIST, ENOSPC = 2, 17, 28


@dataclasses.dataclass(frozen=True)
class BoardEntry:
    path: str
    name: str
    is_dir: bool
    size: int
    mtime: int | None = None


def normalise(path: str) -> str:
    """An absolute board path; refuses paths that climb out of the file system."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise PathOutsideBoard(str(path))
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathOutsideBoard(path)
            parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


@functools.lru_cache(maxsize=1)
def _packed_helpers() -> str:
    """Every helper deflated and base64-encoded: about a third of the bytes on the wire, which matters because
    a soft reset (every Run project) wipes them and they are sent again. The names it uses are deleted after."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -DEFLATE_WBITS)
    source = board_code.minified(board_code.HELPERS).encode()
    packed = base64.b64encode(packer.compress(source) + packer.flush()).decode()
    return ("import deflate as _mipy_d, io as _mipy_i, binascii as _mipy_b\n"
            f"exec(_mipy_d.DeflateIO(_mipy_i.BytesIO(_mipy_b.a2b_base64('{packed}')), _mipy_d.RAW, "
            f"{DEFLATE_WBITS}).read())\n"
            "del _mipy_d, _mipy_i, _mipy_b\n")


def _helpers_missing(error: DeviceTraceback) -> bool:
    """Whether a board traceback says our helpers (or one of their units) are not there: a soft reset wiped
    them, or another BoardFS on this board installed a different set since."""
    return error.exc_type in ("NameError", "AttributeError") and "_mipy_fs" in error.message


class _WireDamaged(Exception):
    """A byte of an upload was damaged or lost on the wire; the board kept nothing. Retried by ``write``."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(what)


def _literal(text: str) -> str:
    """A Python string literal for code sent to the board (quotes, backslashes, non-ASCII all safe)."""
    return repr(text)


class BoardFS:
    """File operations on one board. Not thread-safe: use it from the thread that owns the board."""

    def __init__(self, board: Board):
        self.board = board
        self.hash_kind: str | None = None  # None: not probed since the helpers were last seen missing
        self.can_inflate = False
        self.free_heap = 0                 # the board's gc.mem_free() at the probe
        self.installed: set[str] = set()   # the helper units (board_code.UNITS) on the board

    # --- helpers on the board -------------------------------------------------------------------------------

    def _ensure_helpers(self, *units: str) -> None:
        """Make sure the helpers' namespace and ``units`` (with what they use) are on the board. The first call
        probes what is there; a board with room then gets every unit at once."""
        probed = False
        if self.hash_kind is None:
            self._probe()
            probed = True
        wanted = board_code.with_requirements(units)
        if not probed and not self.installed.issuperset(wanted):
            # What we know may be stale (a soft reset, another BoardFS): a unit must not be installed on top of
            # a namespace that lacks what it uses.
            self._probe()
        for unit in wanted:
            if unit not in self.installed:
                # Plain source, one unit per exec: raw-paste feeds it to the compiler as it arrives, so only the
                # unit's parse tree is held, never its text (a deflated copy would hold the text and the
                # decompressor's window too).
                self.board.exec(board_code.minified(board_code.UNITS[unit][0]))
                self.installed.add(unit)

    def _probe(self) -> None:
        """Define the namespace when missing; learn the hash kind, deflate, the free heap, the units there. A
        board with room then gets every unit at once."""
        answer = self.board.exec(board_code.probe_code()).decode().split()
        self.hash_kind, self.can_inflate, self.free_heap = answer[0], answer[1] == "True", int(answer[2])
        markers = set(answer[3:])
        self.installed = {unit for unit, (_, marker, _) in board_code.UNITS.items() if marker in markers}
        if self.free_heap >= ALL_AT_ONCE_FREE and len(self.installed) < len(board_code.UNITS):
            self.board.exec(_packed_helpers() if self.can_inflate else board_code.minified(board_code.HELPERS))
            self.installed = set(board_code.UNITS)

    def _forget_helpers(self) -> None:
        self.hash_kind = None
        self.installed = set()

    def _call(self, code: str, *units: str, timeout: float | None = None) -> bytes:
        """Run helper code that uses ``units``, reinstalling the helpers when a soft reset wiped them."""
        self._ensure_helpers(*units)
        try:
            return self.board.exec(code, timeout=timeout)
        except DeviceTraceback as error:
            if _helpers_missing(error):
                self._forget_helpers()
                self._ensure_helpers(*units)
                try:
                    return self.board.exec(code, timeout=timeout)
                except DeviceTraceback as again:
                    raise self._translate(again, code) from again
            raise self._translate(error, code) from error

    def _translate(self, error: DeviceTraceback, path: str) -> MipyError:
        if error.exc_type == "OSError":
            if error.errno == ENOENT:
                return BoardFileNotFound(path)
            if error.errno == EEXIST:
                return BoardFileExists(path)
            if error.errno == ENOSPC:
                return BoardNoSpace(path, 0, 0)
        return error

    def host_hash(self, data: bytes) -> str:
        """The hash the board will report for ``data`` (sha256, or crc32 where the firmware has no hashlib)."""
        if self.hash_kind == "sha256":
            return hashlib.sha256(data).hexdigest()
        return "%08x" % zlib.crc32(data)

    # --- listing --------------------------------------------------------------------------------------------

    def listdir(self, path: str = "/") -> list[BoardEntry]:
        path = normalise(path)
        try:
            text = self._call(f"_mipy_fs.ls({_literal(path)})", "list")
        except BoardFileNotFound:
            raise BoardFileNotFound(path) from None
        entries = [BoardEntry(posixpath.join(path, name), name, is_dir, 0 if is_dir else size, mtime or None)
                   for name, is_dir, size, mtime in ast.literal_eval(text.decode("utf-8"))]
        return sorted(entries, key=lambda entry: (not entry.is_dir, entry.name.lower()))

    def walk(self, path: str = "/") -> list[BoardEntry]:
        path = normalise(path)
        try:
            text = self._call(f"print(repr(_mipy_fs.walk({_literal(path)}, [])))", "tree")
        except BoardFileNotFound:
            raise BoardFileNotFound(path) from None
        return [BoardEntry(p, posixpath.basename(p), is_dir, size)
                for p, is_dir, size in ast.literal_eval(text.decode("utf-8"))]

    def stat(self, path: str) -> BoardEntry:
        path = normalise(path)
        try:
            mode, size, mtime = ast.literal_eval(self._call(
                f"s = _mipy_fs.os.stat({_literal(path)})\nprint(repr((s[0], s[6], s[8])))").decode())
        except BoardFileNotFound:
            raise BoardFileNotFound(path) from None
        return BoardEntry(path, posixpath.basename(path) or "/", bool(mode & 0x4000), size, mtime or None)

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
            return True
        except BoardFileNotFound:
            return False

    def df(self) -> tuple[int, int]:
        """(total, free) bytes of the board's file system."""
        block, _, blocks, free = ast.literal_eval(
            self._call("s = _mipy_fs.os.statvfs('/')\nprint(repr((s[0], s[1], s[2], s[3])))").decode())
        return block * blocks, block * free

    # --- changing -------------------------------------------------------------------------------------------

    def mkdir(self, path: str) -> None:
        """Create a folder and its parents; an existing folder is fine."""
        path = normalise(path)
        try:
            self._call(f"_mipy_fs.makedirs({_literal(path)})", "tree")
        except BoardFileExists:
            raise BoardFileExists(path) from None

    def remove(self, path: str, recursive: bool = False) -> None:
        path = normalise(path)
        if path == "/":
            raise PathOutsideBoard(path)
        entry = self.stat(path)
        if entry.is_dir:
            code = f"_mipy_fs.rmtree({_literal(path)})" if recursive else f"_mipy_fs.os.rmdir({_literal(path)})"
        else:
            code = f"_mipy_fs.os.remove({_literal(path)})"
        try:
            self._call(code, *(("tree",) if entry.is_dir and recursive else ()))
        except DeviceTraceback as error:
            raise BoardFileError(path, f"{error.exc_type}: {error.message}") from error

    def rename(self, old: str, new: str) -> None:
        old, new = normalise(old), normalise(new)
        self.stat(old)
        if self.exists(new):
            raise BoardFileExists(new)
        self._call(f"_mipy_fs.os.rename({_literal(old)}, {_literal(new)})")

    def remove_stray_temporaries(self) -> int:
        """Remove temporary files a broken transfer left behind (the board vanished mid-write)."""
        return int(self._call(f"_mipy_fs.strays('/', {_literal(TEMP_SUFFIX)})", "tree").strip() or 0)

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        """Hash of each board file (None when missing), in one round trip."""
        paths = [normalise(p) for p in paths]
        return ast.literal_eval(self._call(f"_mipy_fs.hashes({paths!r})", "hash", timeout=60).decode())

    # --- transfers ------------------------------------------------------------------------------------------

    def write(self, path: str, data: bytes, progress: Progress | None = None,
              cancel: threading.Event | None = None, compress: bool | None = None, attempts: int = 2) -> None:
        """Write ``data`` to ``path`` atomically: temporary file, hash check on the board, rename. A hash
        mismatch (a byte damaged on the wire) is retried up to ``attempts`` times in all."""
        path = normalise(path)
        self._ensure_helpers()  # the hash kind and whether the board inflates
        directory, name = posixpath.split(path)
        temporary = posixpath.join(directory, "." + name + TEMP_SUFFIX)
        _, free = self.df()
        try:
            if self.stat(path).is_dir:
                raise BoardFileError(path, "is a folder")
        except BoardFileNotFound:
            pass
        # The temporary copy and the old file coexist until the rename.
        if len(data) + FS_RESERVE > free:
            raise BoardNoSpace(path, len(data), max(0, free - FS_RESERVE))
        wire = data
        compressed = False
        if compress is not False and self.can_inflate and data:
            packer = zlib.compressobj(9, zlib.DEFLATED, -DEFLATE_WBITS)
            packed = packer.compress(data) + packer.flush()
            if len(packed) <= len(data) * (1 - COMPRESS_MIN_SAVING):
                wire, compressed = packed, True
        expected = self.host_hash(data)
        self._ensure_helpers("put")  # after df() and stat(), which reinstall what a soft reset wiped
        for attempt in range(1, attempts + 1):
            try:
                try:
                    got = self._put(path, temporary, wire, compressed, len(data), progress, cancel)
                except DeviceTraceback as error:
                    if not _helpers_missing(error):
                        raise
                    # Said before any window was sent (the board grants no credit first): install and redo.
                    self._forget_helpers()
                    self._ensure_helpers("put")
                    got = self._put(path, temporary, wire, compressed, len(data), progress, cancel)
            except _WireDamaged as damage:
                got = damage.what  # the board removed the temporary file (or the next attempt overwrites it)
            except (Cancelled, BoardFileError):
                raise  # said in-band: the board removed the temporary file itself
            except BaseException:
                self._discard(temporary)
                raise
            if got == expected:
                break
            log.warning("damaged transfer writing %s (attempt %d): board %s, host %s", path, attempt, got,
                        expected)
            if attempt == attempts:
                self._discard(temporary)
                raise TransferVerifyError(path, expected, got)
        self._call(f"_mipy_fs.replace({_literal(temporary)}, {_literal(path)})", "put")

    def _put(self, path: str, temporary: str, wire: bytes, compressed: bool, size: int,
             progress: Progress | None, cancel: threading.Event | None) -> str:
        """One attempt: the board's hash of the temporary file it wrote. Raises the board's in-band error, or
        :class:`_WireDamaged` when a byte was damaged or lost on the way (the caller retries)."""
        timeout = self.board.timeout
        link = self.board.start(f"_mipy_fs.put({_literal(temporary)}, {len(wire)}, {compressed}, "
                                f"{int(timeout * 1000)})\n")
        credits = 0
        sent = 0
        ended = False      # our terminator is sent: nothing more goes to the board
        damaged = ""       # what went wrong on the way, when something did
        status = detail = b""
        if progress:
            progress(0, size)
        try:
            while not status:
                if credits and sent < len(wire) and not ended and not link.in_waiting():
                    if cancel is not None and cancel.is_set():
                        link.write(board_code.TERMINATOR)  # in-band: the board removes the temporary file
                        ended = True
                        continue
                    window = wire[sent:sent + board_code.WINDOW_DATA]
                    link.write(bytes([len(window)]) + window)
                    sent += len(window)
                    credits -= 1
                    if progress:
                        progress(min(size, sent * size // max(1, len(wire))), size)
                    continue
                try:
                    wait = timeout if sent < len(wire) or ended else max(timeout, len(wire) / 2000)
                    byte = link.read_exactly(1, wait, "writing a file (waiting for the board)")
                except BoardTimeoutError:
                    if ended:
                        raise
                    # A credit lost on the way back: the board waits at a window boundary, where our terminator
                    # ends the upload cleanly.
                    link.write(board_code.TERMINATOR)
                    ended, damaged = True, "a credit from the board was lost"
                    continue
                if byte == board_code.ACK:
                    credits += 1
                elif byte in (board_code.DONE, board_code.CANCELLED, board_code.STOP):
                    if byte == board_code.STOP and not ended:
                        link.write(board_code.TERMINATOR)  # the board takes in what we sent, up to this
                        ended = True
                    detail = link.read_until(b"\n", timeout + 3, "reading the board's answer")
                    status = byte
                elif byte == END_OF_OUTPUT:
                    # Our helper itself failed (a traceback follows): windows in flight may sit in the REPL.
                    self._raise_board_failure(path)
                else:
                    # Damaged on the way back. Our terminator ends the upload at the board's window boundary.
                    if not ended:
                        link.write(board_code.TERMINATOR)
                        ended = True
                    damaged = damaged or f"unexpected byte {byte!r} from the board"
            self.board.finish(timeout)
        except (PortVanishedError, BoardTimeoutError):
            self.board.abandon()
            raise
        except DeviceTraceback as error:
            raise self._translate(error, path) from error
        if status == board_code.DONE:
            return detail.decode("ascii", "replace").strip()
        if status == board_code.CANCELLED:
            if cancel is not None and cancel.is_set() and not damaged:
                raise Cancelled("upload")
            raise _WireDamaged(damaged or "the board saw the upload end early")
        number, _, rest = detail.decode("utf-8", "replace").strip().partition(" ")
        exc_type, _, message = rest.partition(" ")
        if exc_type == board_code.CORRUPT:
            raise _WireDamaged("a window's length byte arrived damaged")
        if damaged:
            raise _WireDamaged(damaged)
        error = self._translate(DeviceTraceback(exc_type, message, None, None, detail.decode("utf-8", "replace"),
                                                errno=int(number) if number.lstrip("-").isdigit() and
                                                int(number) >= 0 else None), path)
        if isinstance(error, BoardNoSpace):
            raise BoardNoSpace(path, size, self.df()[1]) from None
        if isinstance(error, BoardFileError):
            raise error
        raise BoardFileError(path, f"{exc_type}: {message}" if message else exc_type) from error

    def _raise_board_failure(self, path: str) -> None:
        link = self.board.transport
        stderr = link.read_until(END_OF_OUTPUT, self.board.timeout, "reading error output")
        link.read_until(b">", self.board.timeout, "waiting for the raw prompt")
        # Our windows already in flight landed in the raw REPL's line buffer: start it afresh.
        self.board.abandon()
        error = self._translate(parse_traceback(stderr.decode("utf-8", "replace")), path)
        if isinstance(error, BoardNoSpace):
            raise BoardNoSpace(path, 0, self.df()[1]) from None
        raise error

    def _discard(self, temporary: str) -> None:
        try:
            self.board.abandon()
            self._call(f"try:\n    _mipy_fs.os.remove({_literal(temporary)})\nexcept OSError:\n    pass\n")
        except (BoardError, MipyError) as error:
            log.info("could not remove %s now (%s); it goes at the next connect", temporary, error)

    def read(self, path: str, progress: Progress | None = None, cancel: threading.Event | None = None,
             attempts: int = 2) -> bytes:
        """Read a board file, verified against the board's hash of it. A byte damaged or lost on the way is
        retried up to ``attempts`` times in all; then :class:`TransferVerifyError`."""
        path = normalise(path)
        for attempt in range(1, attempts + 1):
            try:
                return self._get(path, progress, cancel)
            except _WireDamaged as damage:
                log.warning("damaged transfer reading %s (attempt %d): %s", path, attempt, damage.what)
                if attempt == attempts:
                    raise TransferVerifyError(path, "", damage.what) from None
            except TransferVerifyError as error:
                log.warning("hash mismatch reading %s (attempt %d): %s", path, attempt, error)
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _get(self, path: str, progress: Progress | None, cancel: threading.Event | None) -> bytes:
        self._ensure_helpers("get")
        try:
            return self._get_once(path, progress, cancel)
        except DeviceTraceback as error:
            if not _helpers_missing(error):
                raise
            self._forget_helpers()
            self._ensure_helpers("get")
            return self._get_once(path, progress, cancel)

    def _get_once(self, path: str, progress: Progress | None, cancel: threading.Event | None) -> bytes:
        link = self.board.start(f"_mipy_fs.get({_literal(path)})\n")
        timeout = self.board.timeout
        header = link.read_until(b"\n", timeout, "reading a file")
        if END_OF_OUTPUT in header:
            link.unread(header[header.index(END_OF_OUTPUT) + 1:] + b"\n")
            stderr = link.read_until(END_OF_OUTPUT, timeout, "reading error output")
            link.read_until(b">", timeout, "waiting for the raw prompt")
            error = self._translate(parse_traceback(stderr.decode("utf-8", "replace")), path)
            raise error
        if not header.strip().isdigit():
            self.board.abandon()  # the next command's Ctrl-C stops the board's sending
            raise _WireDamaged(f"the file's length arrived damaged ({header[:20]!r})")
        size = int(header)
        data = bytearray()
        if progress:
            progress(0, size)
        try:
            while len(data) < size:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("download")
                chunk = link.read_available(min(timeout, 1.0))
                if not chunk:
                    chunk = link.read_exactly(1, timeout, "reading a file")
                need = size - len(data)
                data += chunk[:need]
                if len(chunk) > need:
                    link.unread(chunk[need:])
                if progress:
                    progress(len(data), size)
            digest = link.read_until(END_OF_OUTPUT, timeout, "reading the file's hash").decode("ascii", "replace")
            link.read_until(END_OF_OUTPUT, timeout, "reading error output")
            link.read_until(b">", timeout, "waiting for the raw prompt")
        except BoardTimeoutError:
            self.board.abandon()
            if data:
                # The board was sending: bytes were lost on the way, and we waited for ones that never come.
                raise _WireDamaged(f"bytes lost after {len(data)} of {size}") from None
            raise
        except (Cancelled, PortVanishedError):
            self.board.abandon()
            raise
        expected = self.host_hash(bytes(data))
        if digest.strip() != expected:
            raise TransferVerifyError(path, digest.strip(), expected)
        return bytes(data)

    # --- files and folders between host and board ----------------------------------------------------------

    def upload(self, local: Path, remote: str, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> list[str]:
        """Copy a local file or folder to the board. ``remote`` is the target path; when it is an existing
        folder, the item goes inside it. Returns the board paths written."""
        local = Path(local)
        if not local.exists():
            raise LocalFileError(str(local), "does not exist")
        remote = normalise(remote)
        if self.exists(remote) and self.stat(remote).is_dir:
            remote = posixpath.join(remote, local.name)
        if local.is_file():
            files = [(local, remote)]
        else:
            files = [(path, posixpath.join(remote, path.relative_to(local).as_posix()))
                     for path in sorted(local.rglob("*")) if path.is_file()]
            self.mkdir(remote)
        total = sum(path.stat().st_size for path, _ in files)
        done = 0
        made: set[str] = set()
        written = []
        for path, target in files:
            parent = posixpath.dirname(target)
            if parent not in made and parent != "/":
                self.mkdir(parent)
                made.add(parent)
            try:
                data = path.read_bytes()
            except OSError as error:
                raise LocalFileError(str(path), error.strerror or str(error)) from error
            base = done
            self.write(target, data, (lambda d, t, base=base: progress(base + d, total)) if progress else None,
                       cancel)
            done += len(data)
            written.append(target)
        if progress:
            progress(total, total)
        return written

    def download(self, remote: str, local: Path, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> list[Path]:
        """Copy a board file or folder to ``local`` (into it when it is an existing folder). Each file is
        verified, then written to a temporary name and renamed over the local file."""
        remote = normalise(remote)
        local = Path(local)
        entry = self.stat(remote)
        if local.is_dir():
            local = local / (entry.name if entry.name != "/" else "board")
        if entry.is_dir:
            files = [(e.path, local / posixpath.relpath(e.path, remote)) for e in self.walk(remote) if not e.is_dir]
            local.mkdir(parents=True, exist_ok=True)
            total = sum(e.size for e in self.walk(remote) if not e.is_dir)
        else:
            files = [(remote, local)]
            total = entry.size
        done = 0
        written = []
        for source, target in files:
            base = done
            data = self.read(source, (lambda d, t, base=base: progress(base + d, total)) if progress else None,
                             cancel)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name("." + target.name + TEMP_SUFFIX)
            try:
                temporary.write_bytes(data)
                os.replace(temporary, target)
            except OSError as error:
                temporary.unlink(missing_ok=True)
                raise LocalFileError(str(target), error.strerror or str(error)) from error
            done += len(data)
            written.append(target)
        return written

    def compare(self, local_dir: Path, remote_dir: str) -> dict[str, str]:
        """Compare a local folder with a board folder by content: {relative path: "same"|"changed"|"local only"|
        "board only"}."""
        local_dir = Path(local_dir)
        remote_dir = normalise(remote_dir)
        local_files = {p.relative_to(local_dir).as_posix(): p for p in local_dir.rglob("*") if p.is_file()}
        try:
            board_files = {posixpath.relpath(e.path, remote_dir): e for e in self.walk(remote_dir) if not e.is_dir}
        except BoardFileNotFound:
            board_files = {}
        self._ensure_helpers("hash")
        common = sorted(set(local_files) & set(board_files))
        remote_hashes = self.hashes([posixpath.join(remote_dir, name) for name in common]) if common else {}
        result = {}
        for name in sorted(set(local_files) | set(board_files)):
            if name not in board_files:
                result[name] = "local only"
            elif name not in local_files:
                result[name] = "board only"
            else:
                same = remote_hashes.get(posixpath.join(remote_dir, name)) == self.host_hash(
                    local_files[name].read_bytes())
                result[name] = "same" if same else "changed"
        return result
