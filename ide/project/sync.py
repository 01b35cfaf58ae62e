"""Sync a build to a board: compare by hash, upload only what changed, remove what the project deleted.

Every transfer is :meth:`BoardFS.write` (atomic and hash-verified). What this project put on the board is
recorded in a manifest on the board (``/.mipy_manifest.json``, hidden, so the framework's web server never serves
it); only files listed there are ever removed, so files the user put on the board by hand stay.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import posixpath
import threading
import zlib
from typing import Callable

from ide.errors import BoardFileError, Cancelled
from ide.filebrowser.board_fs import BoardFS
from ide.filebrowser.errors import BoardFileNotFound
from ide.project.build import BuildResult

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

MANIFEST_PATH = "/.mipy_manifest.json"
MANIFEST_FORMAT = 1


@dataclasses.dataclass
class SyncResult:
    uploaded: list[str] = dataclasses.field(default_factory=list)   # board paths, manifest excluded
    removed: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    bytes_sent: int = 0
    manifest_written: bool = False


def read_manifest(fs: BoardFS) -> dict:
    """The board's manifest: {"project": name, "files": {board path: sha256 of provisioning files, else ""}};
    empty when there is none. A
    manifest we cannot read is treated as absent (we then remove nothing, which is the safe side)."""
    try:
        data = json.loads(fs.read(MANIFEST_PATH).decode("utf-8"))
    except BoardFileNotFound:
        return {"project": None, "files": {}}
    except (ValueError, UnicodeDecodeError) as error:
        log.warning("ignoring an unreadable manifest on the board: %s", error)
        return {"project": None, "files": {}}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {"project": None, "files": {}}
    return data


def _manifest_bytes(project: str, files: dict[str, str]) -> bytes:
    return json.dumps({"format": MANIFEST_FORMAT, "project": project, "files": dict(sorted(files.items()))},
                      separators=(",", ":")).encode()


def _board_style_hash(fs: BoardFS, data: bytes) -> str:
    # The board hashes with sha256 where it has hashlib.sha256, else crc32 (BoardFS.hash_kind says which).
    if fs.hash_kind == "sha256":
        return hashlib.sha256(data).hexdigest()
    return "%08x" % zlib.crc32(data)


def sync_build(fs: BoardFS, build: BuildResult, project_name: str, progress: Progress | None = None,
               cancel: threading.Event | None = None, on_file: Callable[[str], None] | None = None) -> SyncResult:
    """Make the board hold exactly ``build``'s files (besides files that are not the project's)."""
    result = SyncResult()
    old = read_manifest(fs)
    owned: dict[str, str] = dict(old["files"]) if old.get("project") == project_name else {}
    if old.get("project") not in (None, project_name):
        log.info("the board held project %r; its files stay, this project's are added", old.get("project"))

    contents = {built.board_path: built.local.read_bytes() for built in build.files}
    # The manifest records ownership; a hash only for provisioning files, which the board deletes and so cannot
    # be compared on the board. Other files are compared with the board itself, and editing one leaves the
    # manifest as it is (one write less per run).
    wanted = {b.board_path: hashlib.sha256(contents[b.board_path]).hexdigest() if b.provisioning else ""
              for b in build.files}
    regular = [b.board_path for b in build.files if not b.provisioning]
    on_board = fs.hashes(regular) if regular else {}
    to_upload = []
    for built in build.files:
        path = built.board_path
        if built.provisioning:
            # The board deletes these after storing them obfuscated: compare with what we last sent.
            changed = owned.get(path) != wanted[path]
        else:
            changed = on_board.get(path) != _board_style_hash(fs, contents[path])
        if changed:
            to_upload.append(path)
        else:
            result.unchanged += 1
    to_remove = sorted(path for path in owned if path not in wanted)

    # Claim new files in the manifest before they exist: if the transfer is cut, the next sync still knows
    # they are ours (and can remove them if the project dropped them meanwhile).
    new_paths = [path for path in to_upload if path not in owned]
    if new_paths:
        claimed = dict(owned)
        claimed.update({path: "-" for path in new_paths})  # "-": claimed, not yet known to be there
        fs.write(MANIFEST_PATH, _manifest_bytes(project_name, claimed))
        owned = claimed
        result.manifest_written = True

    total = sum(len(contents[path]) for path in to_upload)
    sent = 0
    made_dirs: set[str] = set()
    for path in to_upload:
        if cancel is not None and cancel.is_set():
            raise Cancelled("sync")
        folder = posixpath.dirname(path)
        if folder not in ("", "/") and folder not in made_dirs:
            fs.mkdir(folder)
            made_dirs.add(folder)
        if on_file:
            on_file(path)
        base = sent

        def file_progress(done: int, _size: int, base: int = base) -> None:
            if progress:
                progress(base + done, total)

        fs.write(path, contents[path], file_progress, cancel)
        sent += len(contents[path])
        result.uploaded.append(path)
        if progress:
            progress(sent, total)
    result.bytes_sent = sent

    for path in to_remove:
        if cancel is not None and cancel.is_set():
            raise Cancelled("sync")
        try:
            fs.remove(path)
            result.removed.append(path)
        except BoardFileNotFound:
            pass  # consumed provisioning file, or removed by hand: nothing to do
        _remove_empty_parents(fs, path, keep={posixpath.dirname(p) for p in wanted})

    final = _manifest_bytes(project_name, wanted)
    if final != _manifest_bytes(project_name, owned) or old.get("format") != MANIFEST_FORMAT:
        fs.write(MANIFEST_PATH, final)
        result.manifest_written = True
    log.info("synced %s: %d uploaded (%d bytes), %d removed, %d unchanged", project_name, len(result.uploaded),
             result.bytes_sent, len(result.removed), result.unchanged)
    return result


def _remove_empty_parents(fs: BoardFS, path: str, keep: set[str]) -> None:
    """Folders the project emptied go too (a folder that still holds anything stays)."""
    folder = posixpath.dirname(path)
    while folder not in ("", "/") and folder not in keep:
        try:
            if fs.listdir(folder):
                return
            fs.remove(folder)
        except BoardFileError:
            return
        folder = posixpath.dirname(folder)
