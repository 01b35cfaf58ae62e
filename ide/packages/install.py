"""The board side of mip: install resolved packages into the board's lib folder through our verified transfers
(:meth:`BoardFS.write`: temporary file, hash check on the board, rename), list and remove them.

The board needs no network: this computer fetches (see :mod:`ide.packages.index`) and copies, as
``mpremote mip install`` does. Each package is recorded in ``<lib>/<name>-<version>.dist-info/`` (``METADATA``
and ``RECORD``, the wheel convention, which Thonny's pipkin also keeps), written after its files, so a
package with a record is complete; listing, updating and removing read the records. Files put on the board by
other tools carry no record and are left alone.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import hashlib
import logging
import posixpath
import re
import threading
from typing import Callable

from ide.board.board import Board
from ide.errors import Cancelled
from ide.filebrowser.board_fs import FS_RESERVE, BoardFS, normalise
from ide.filebrowser.errors import BoardFileNotFound, BoardNoSpace, PathOutsideBoard
from ide.packages.errors import NoLibFolder, PackageNotInstalled
from ide.packages.index import PackageIndex, PackageSpec, ResolvedPackage, parse_spec

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

RECORD_SUFFIX = ".dist-info"
_BOARD_FACTS = ("import sys\n"
                "i = sys.implementation\n"
                # _mpy since 1.19, mpy in 1.12-1.18, nothing before: those boards get source files.
                "print(repr((getattr(i, '_mpy', getattr(i, 'mpy', 0)) & 0xFF, list(sys.path))))\n"
                "del i\n")


@dataclasses.dataclass(frozen=True)
class BoardFacts:
    mpy_version: int | None
    sys_path: tuple[str, ...]

    @property
    def lib_folder(self) -> str:
        """The first ``sys.path`` entry ending in ``/lib`` (not a read-only ``/rom``), as mip and mpremote pick."""
        for entry in self.sys_path:
            if entry.endswith("/lib") and not entry.startswith("/rom"):
                return entry
        raise NoLibFolder(list(self.sys_path))


def board_facts(board: Board) -> BoardFacts:
    mpy, sys_path = ast.literal_eval(board.exec(_BOARD_FACTS).decode("utf-8", "replace").strip())
    return BoardFacts(mpy or None, tuple(sys_path))


@dataclasses.dataclass
class InstalledPackage:
    name: str
    version: str
    target: str
    record_dir: str                       # board path of the .dist-info folder
    files: list[str]                      # board paths of the package's files (the record's own excluded)
    source: str = ""                      # what it was installed from (index URL or package.json address)
    summary: str = ""


@dataclasses.dataclass
class InstallReport:
    target: str
    packages: list[ResolvedPackage]
    written: list[str] = dataclasses.field(default_factory=list)     # board paths
    unchanged: list[str] = dataclasses.field(default_factory=list)   # already there with the same bytes
    removed: list[str] = dataclasses.field(default_factory=list)     # left over from an older version
    bytes_sent: int = 0


def dist_name(name: str) -> str:
    """A package name as a .dist-info folder spells it (PEP 427: runs of -_. become one underscore)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_dir(target: str, name: str, version: str) -> str:
    return posixpath.join(target, f"{dist_name(name)}-{version or '0'}{RECORD_SUFFIX}")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _metadata(package: ResolvedPackage, source: str) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {package.name}", f"Version: {package.version or '0'}"]
    if package.description:
        lines.append(f"Summary: {' '.join(package.description.split())}")
    lines.append(f"Download-URL: {source}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _record(files: dict[str, bytes], record_rel: str) -> bytes:
    rows = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(files.items())]
    rows += [f"{record_rel}/METADATA,,", f"{record_rel}/RECORD,,"]
    return ("\n".join(rows) + "\n").encode("utf-8")


def _parse_metadata(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


# --- listing ----------------------------------------------------------------------------------------------------


def list_installed(fs: BoardFS, target: str | None = None) -> list[InstalledPackage]:
    """The packages recorded in ``target`` (default: the board's lib folder), sorted by name."""
    target = normalise(target or board_facts(fs.board).lib_folder)
    try:
        entries = fs.listdir(target)
    except BoardFileNotFound:
        return []
    found = []
    for entry in entries:
        if not (entry.is_dir and entry.name.endswith(RECORD_SUFFIX)):
            continue
        try:
            meta = _parse_metadata(fs.read(posixpath.join(entry.path, "METADATA")).decode("utf-8", "replace"))
            record = fs.read(posixpath.join(entry.path, "RECORD")).decode("utf-8", "replace")
        except BoardFileNotFound:
            log.warning("%s has no METADATA or RECORD; not a package record", entry.path)
            continue
        stem = entry.name[:-len(RECORD_SUFFIX)]
        name = meta.get("Name") or stem.rpartition("-")[0] or stem
        files = []
        for row in record.splitlines():
            rel = row.rsplit(",", 2)[0] if row.count(",") >= 2 else row
            if not rel or rel.startswith(entry.name + "/"):
                continue
            try:
                path = normalise(posixpath.join(target, rel))
            except PathOutsideBoard:
                continue
            if path.startswith(target.rstrip("/") + "/"):  # a record never makes us touch files outside lib
                files.append(path)
        found.append(InstalledPackage(name, meta.get("Version", ""), target, entry.path, files,
                                      meta.get("Download-URL", ""), meta.get("Summary", "")))
    return sorted(found, key=lambda package: package.name.lower())


def _find(installed: list[InstalledPackage], name: str) -> InstalledPackage | None:
    wanted = dist_name(name)
    return next((package for package in installed if dist_name(package.name) == wanted), None)


# --- installing -------------------------------------------------------------------------------------------------


def install(fs: BoardFS, specs: list[str | PackageSpec], index: PackageIndex | None = None,
            target: str | None = None, use_mpy: bool = True, progress: Progress | None = None,
            cancel: threading.Event | None = None, on_file: Callable[[str], None] | None = None) -> InstallReport:
    """Install packages (and their dependencies) into ``target`` (default: the board's lib folder).

    All files are fetched and verified before the board is touched. Files already on the board with the same
    bytes are not sent again; an older version's files that the new one no longer has are removed. ``progress``
    counts bytes written to the board."""
    index = index or PackageIndex()
    facts = board_facts(fs.board)
    target = normalise(target or facts.lib_folder)
    specs = [spec if isinstance(spec, PackageSpec) else parse_spec(spec) for spec in specs]
    packages = index.resolve(specs, facts.mpy_version, use_mpy)
    contents = index.fetch_files(packages)
    if cancel is not None and cancel.is_set():
        raise Cancelled("package install")
    report = InstallReport(target, packages)
    installed = list_installed(fs, target)

    planned: list[tuple[str, bytes]] = []   # (board path, bytes): every package's files, then the records
    for package in packages:
        for file in package.files:
            planned.append((posixpath.join(target, file.path), contents[(package.name, file.path)]))
    for package in packages:
        planned += _record_files(target, package, contents, index)
    on_board = fs.hashes([path for path, _ in planned]) if planned else {}
    to_write = [(path, data) for path, data in planned if on_board.get(path) != fs.host_hash(data)]
    writing = {path for path, _ in to_write}
    report.unchanged = [path for path, _ in planned if path not in writing]
    needed = sum(len(data) for _, data in to_write)
    _, free = fs.df()
    if needed and needed + FS_RESERVE > free:
        raise BoardNoSpace(target, needed, max(0, free - FS_RESERVE))

    total = needed
    made: set[str] = set()
    for path, data in to_write:
        if cancel is not None and cancel.is_set():
            raise Cancelled("package install")
        folder = posixpath.dirname(path)
        if folder not in made:
            fs.mkdir(folder)
            made.add(folder)
        if on_file:
            on_file(path)
        base = report.bytes_sent
        fs.write(path, data, (lambda done, _size, base=base: progress(base + done, total)) if progress else None,
                 cancel)
        report.bytes_sent += len(data)
        report.written.append(path)

    for package in packages:
        old = _find(installed, package.name)
        if old is None:
            continue
        new_paths = {posixpath.join(target, file.path) for file in package.files}
        for stale in old.files:
            if stale not in new_paths:
                _remove_file(fs, stale, target)
                report.removed.append(stale)
        if old.record_dir != _record_dir(target, package.name, package.version):
            fs.remove(old.record_dir, recursive=True)
    if progress:
        progress(total, total)
    log.info("installed %s into %s: %d written (%d bytes), %d unchanged, %d removed",
             ", ".join(f"{p.name} {p.version}".strip() for p in packages), target, len(report.written),
             report.bytes_sent, len(report.unchanged), len(report.removed))
    return report


def _record_files(target: str, package: ResolvedPackage, contents: dict,
                  index: PackageIndex) -> list[tuple[str, bytes]]:
    """The package's record: written after its files, so a recorded package is a complete one."""
    record_dir = _record_dir(target, package.name, package.version)
    files = {file.path: contents[(package.name, file.path)] for file in package.files}
    source = index.url if package.spec.kind == "index" else package.spec.location
    return [(posixpath.join(record_dir, "METADATA"), _metadata(package, source)),
            (posixpath.join(record_dir, "RECORD"), _record(files, posixpath.basename(record_dir)))]


def _remove_file(fs: BoardFS, path: str, target: str) -> None:
    try:
        fs.remove(path)
    except BoardFileNotFound:
        return
    folder = posixpath.dirname(path)
    while folder != target and folder.startswith(target + "/"):
        try:
            if fs.listdir(folder):
                return
            fs.remove(folder)
        except BoardFileNotFound:
            return
        folder = posixpath.dirname(folder)


def remove(fs: BoardFS, name: str, target: str | None = None) -> list[str]:
    """Remove an installed package's files, its emptied folders and its record. Returns the paths removed.
    Its dependencies stay (another package may need them), as pip leaves them."""
    target = normalise(target or board_facts(fs.board).lib_folder)
    installed = list_installed(fs, target)
    package = _find(installed, name)
    if package is None:
        raise PackageNotInstalled(name, target, [p.name for p in installed])
    removed = []
    for path in package.files:
        _remove_file(fs, path, target)
        removed.append(path)
    fs.remove(package.record_dir, recursive=True)
    return removed


def missing(fs: BoardFS, specs: list[str | PackageSpec], target: str | None = None) -> list[PackageSpec]:
    """The packages of ``specs`` not installed in ``target`` (a pinned version counts only when it matches)."""
    installed = list_installed(fs, target)
    result = []
    for spec in specs:
        spec = spec if isinstance(spec, PackageSpec) else parse_spec(spec)
        have = _find(installed, spec.name)
        if have is None or (spec.kind == "index" and spec.version and have.version != spec.version):
            result.append(spec)
    return result


def ensure_installed(fs: BoardFS, specs: list[str | PackageSpec], index: PackageIndex | None = None,
                     target: str | None = None, progress: Progress | None = None,
                     cancel: threading.Event | None = None,
                     on_file: Callable[[str], None] | None = None) -> InstallReport | None:
    """Install what ``specs`` names and the board lacks (a project's packages); None when nothing was missing."""
    if not specs:
        return None
    facts_target = normalise(target or board_facts(fs.board).lib_folder)
    wanted = missing(fs, specs, facts_target)
    if not wanted:
        return None
    return install(fs, wanted, index, facts_target, progress=progress, cancel=cancel, on_file=on_file)
