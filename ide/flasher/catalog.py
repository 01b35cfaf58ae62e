"""The firmware catalog: official MicroPython builds per chip and board variant, and their download.

``resources/firmware_catalog.json`` is a bundled offline copy, so the wizard can offer firmware without asking
the network first. Format (version 1)::

    {
      "format": 1,
      "base_url": "https://micropython.org/resources/firmware/",   # files are base_url + file
      "version": "1.24.1", "date": "20241129",                       # the MicroPython release listed
      "boards": [
        {"board": "ESP32_GENERIC",      # micropython.org board id
         "chip": "esp32",               # key in ide.flasher.chips.CHIPS
         "variant": "SPIRAM",           # "" for the default build
         "name": "ESP32 with PSRAM",    # what the user sees
         "file": "ESP32_GENERIC-SPIRAM-20241129-v1.24.1.bin",
         "sha256": null,                # hex digest when published; checked after download
         "description": "..."}          # optional: which boards it is for, in words
      ]
    }

Downloads go to the user cache directory (platformdirs) and are reused when present (and matching the digest).

Refreshing (:func:`refresh_catalog`): micropython.org has a download page per board id,
``https://micropython.org/download/<BOARD>/``, linking every release as
``/resources/firmware/<BOARD>[-<VARIANT>]-<YYYYMMDD>-v<X.Y.Z>.bin`` (preview builds carry a longer version and are
left out). The newest release of each catalog entry is written to a refreshed copy in the user cache, which
:func:`load_catalog` prefers over the bundled one when it is newer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ide.errors import Cancelled
from ide.flasher.errors import CatalogError, DownloadChecksumMismatch, DownloadFailed, FirmwareNotInCatalog
from ide.flasher.esptool_bridge import Progress

log = logging.getLogger(__name__)

CATALOG_PATH = Path(__file__).resolve().parents[2] / "resources" / "firmware_catalog.json"
SUPPORTED_FORMAT = 1
DOWNLOAD_CHUNK = 64 * 1024
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FirmwareEntry:
    board: str
    chip: str
    variant: str
    name: str
    file: str
    url: str
    sha256: str | None
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    version: str
    entries: tuple[FirmwareEntry, ...]

    def for_chip(self, chip: str) -> list[FirmwareEntry]:
        return [entry for entry in self.entries if entry.chip == chip]

    def find(self, chip: str, variant: str = "") -> FirmwareEntry:
        for entry in self.for_chip(chip):
            if entry.variant == variant:
                return entry
        raise FirmwareNotInCatalog(chip, variant or None)


DOWNLOAD_PAGES = "https://micropython.org/download/"
REFRESH_TIMEOUT_S = 10.0


def refreshed_catalog_path() -> Path:
    return Path(platformdirs.user_cache_dir("mipy-studio")) / "firmware_catalog.json"


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def load_catalog(path: Path | str | None = None) -> Catalog:
    """The catalog at ``path``; by default the refreshed copy when it is newer than the bundled one."""
    if path is None:
        path = CATALOG_PATH
        refreshed = refreshed_catalog_path()
        if refreshed.exists():
            try:
                newer = load_catalog(refreshed)
                if _release(newer.version) >= _release(load_catalog(CATALOG_PATH).version):
                    return newer
            except (CatalogError, ValueError):
                log.warning("ignoring the unreadable refreshed catalog %s", refreshed)
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != SUPPORTED_FORMAT:
            raise CatalogError(str(path), f"format {document.get('format')!r}, expected {SUPPORTED_FORMAT}")
        base_url = document["base_url"]
        entries = tuple(
            FirmwareEntry(board=item["board"], chip=item["chip"], variant=item.get("variant", ""),
                          name=item["name"], file=item["file"], url=base_url + item["file"],
                          sha256=(item.get("sha256") or None), description=item.get("description", ""))
            for item in document["boards"])
        return Catalog(document.get("version", ""), entries)
    except (OSError, ValueError, KeyError, TypeError) as failure:
        raise CatalogError(str(path), str(failure)) from failure


def _fetch_text(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as failure:
        raise DownloadFailed(url, str(getattr(failure, "reason", failure))) from failure


def refresh_catalog(pages_url: str = DOWNLOAD_PAGES, target: Path | None = None,
                    timeout: float = REFRESH_TIMEOUT_S) -> Catalog:
    """Look up the newest release of every catalog entry on micropython.org's download pages and keep the
    result as the refreshed catalog. Offline, raises :class:`DownloadFailed` and the bundled copy stays in use."""
    document = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    pages: dict[str, str] = {}
    for item in document["boards"]:
        board = item["board"]
        if board not in pages:
            pages[board] = _fetch_text(f"{pages_url}{board}/", timeout)
        link = re.compile(rf"/resources/firmware/({re.escape(board)}(?:-([A-Z0-9_]+))?-(\d{{8}})-v(\d+\.\d+\.\d+)"
                          r"\.bin)[\"']")
        newest = None
        for match in link.finditer(pages[board]):
            if (match.group(2) or "") != item.get("variant", ""):
                continue
            key = (_release(match.group(4)), match.group(3))
            if newest is None or key > newest[0]:
                newest = (key, match.group(1))
        if newest is not None and newest[1] != item["file"]:
            item["file"] = newest[1]
            item["sha256"] = None  # micropython.org publishes no digests; the old one is for the old file
    releases = [_release(re.search(r"-v(\d+\.\d+\.\d+)\.bin$", item["file"]).group(1)) for item in document["boards"]]
    document["version"] = ".".join(str(part) for part in max(releases))
    target = target or refreshed_catalog_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(json.dumps(document, indent=1), encoding="utf-8")
    partial.replace(target)
    return load_catalog(target)


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("mipy-studio")) / "firmware"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_firmware(entry: FirmwareEntry, *, cache_dir: Path | None = None, progress: Progress | None = None,
                      cancel=None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The firmware file for ``entry``, from the cache or downloaded into it. A cancelled or failed download
    leaves nothing behind; a digest mismatch deletes the file and raises DownloadChecksumMismatch."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / entry.file
    if target.exists() and (entry.sha256 is None or _sha256_of(target) == entry.sha256.lower()):
        log.info("using cached %s", target)
        if progress is not None:
            size = target.stat().st_size
            progress(size, size)
        return target
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("download")
                chunk = response.read(DOWNLOAD_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total or done)
        if total and done != total:
            raise DownloadFailed(entry.url, f"got {done} of {total} bytes")
        if entry.sha256 and digest.hexdigest() != entry.sha256.lower():
            raise DownloadChecksumMismatch(entry.url, entry.sha256.lower(), digest.hexdigest())
        partial.replace(target)
        return target
    except urllib.error.HTTPError as failure:
        raise DownloadFailed(entry.url, failure.reason, failure.code) from failure
    except (urllib.error.URLError, OSError) as failure:
        raise DownloadFailed(entry.url, str(getattr(failure, "reason", failure))) from failure
    finally:
        partial.unlink(missing_ok=True)
