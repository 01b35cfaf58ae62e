"""Detect, flash, verify, back up, restore and erase an ESP board: the API the CLI and the GUI wizard build on.

One function per job, each taking ``progress(done, total)`` and a ``cancel`` event (anything with ``is_set()``).
Each connects through esptool's public API (``esptool.cmds``: ``detect_chip``, ``run_stub``, ``write_flash``,
``read_flash``, ``erase_region``, ``reset_chip``), does its work and ends with a hard reset, so the board is left
running its firmware rather than waiting in the ROM's download mode, unless the caller asks to stay in the
bootloader (``stay_in_bootloader=True``). Cancelling is honoured between steps and while reading; once bytes are
being written to flash the write runs to its end, so a cancelled wizard never leaves a half-written bootloader.

    details = detect(port)                                   # ChipDetails
    image = check_firmware(path, details)                    # ImageInfo, or an ImageRejected that says why
    flash_firmware(port, path, erase=True, progress=cb)      # FlashResult (write, verify, hard reset)
    info = confirm_micropython(port)                         # the REPL answers: BoardInfo (version...)
    backup_flash(port, "backup.bin")                         # the whole flash + backup.bin.json
    restore_backup(port, "backup.bin")                       # back onto the board it came from
    erase_filesystem(port)                                   # only the file system partition

Where a file goes comes from the file itself and esptool's chip definitions (:mod:`ide.flasher.images`), never
from a table of ours. A write at a fast baud that fails anywhere (a USB bridge that garbles 460800) is retried at
115200 from the first sector that does not hold the new bytes yet, and the log says so.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol

import platformdirs
import serial
from esptool import cmds
from esptool.loader import ESPLoader
from esptool.util import FatalError, NotImplementedInROMError, UnsupportedCommandError

from ide.errors import BoardError, Cancelled, PortBusyError, PortError, PortNotFoundError, PortPermissionError, \
    PortVanishedError
from ide.flasher.chips import ChipInfo, chip_by_key, chip_for_esptool_name
from ide.flasher.errors import (BackupMismatch, BackupUnreadable, ChipCommunicationError, ChipMismatch,
                                ChipNotInBootMode, ChipNotSupported, FirmwareDidNotStart, FlashWriteFailed,
                                NoFileSystemRegion, VerifyFailed)
from ide.flasher.esptool_bridge import Progress, esptool_output
from ide.flasher.images import (LAYOUT_FULL_FLASH, PARTITION_TABLE_ADDRESS, PARTITION_TABLE_LENGTH, ImageInfo,
                                inspect_image, micropython_version_in, read_partition_table)

log = logging.getLogger(__name__)

ROM_BAUD = 115200
# Most USB-serial bridges (CP210x, CH340, FTDI, the C3/S3 built-in USB) carry 921600; one that cannot fails
# visibly (garbled frames), and the write then finishes at 115200 from where it stopped, so the fast rate is safe.
DEFAULT_FLASH_BAUD = 921600
DEFAULT_CONNECT_ATTEMPTS = 3
SECTOR = 0x1000
# The first look for where a failed write stopped compares MD5s of this much flash at a time, then sector by sector.
RESUME_PROBE_BLOCK = 0x10000
# MicroPython's ESP8266 port has no partition table: its flashbdev puts the file system from the end of the
# firmware (esp.flash_user_start(): 0x100000 in the 2 MB+ build, 0x98000 in the FLASH_1M build, one sector more
# there to leave room for native code) up to 20 KB before the end of the flash (the SDK's RF and Wi-Fi parameter
# sectors). Boards under 1 MB have no file system.
ESP8266_FS_START_LARGE = 0x100000
ESP8266_FS_START_1M = 0x99000
ESP8266_FS_RESERVED_AT_END = 0x5000
# After the hard reset the ROM loads the bootloader and MicroPython mounts (on first boot: formats) its file
# system: about 1 s on an ESP32, several on a first boot with a large file system. Native-USB chips (C3/S3) also
# re-enumerate, so the port may vanish for a moment. The confirm step waits this long before the first look...
POST_RESET_SETTLE_S = 0.5
# ...and gives up after this long.
FIRMWARE_START_TIMEOUT_S = 20.0
CONFIRM_RETRY_INTERVAL_S = 0.5
BACKUP_SIDECAR_FORMAT = 1

# What flash_firmware is doing, for its ``stage`` callback. Everything from ERASING on changes the flash: a
# caller must not offer to stop it (the core would not stop anyway).
STAGE_CONNECTING = "connecting"
STAGE_CHECKING = "checking"
STAGE_SAVING_FILES = "saving files"
STAGE_ERASING = "erasing"
STAGE_WRITING = "writing"
STAGE_RESTORING_FILES = "restoring files"
STAGE_VERIFYING = "verifying"
STAGE_RESETTING = "resetting"
WRITE_STAGES = frozenset({STAGE_ERASING, STAGE_WRITING, STAGE_RESTORING_FILES})

Stage = Callable[[str], None]


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ChipDetails:
    port: str
    chip: ChipInfo
    description: str              # "ESP32-D0WD-V3 (revision v3.0)"
    revision: int | None          # major * 100 + minor
    features: tuple[str, ...]
    crystal_mhz: int | None
    mac: str | None               # "24:0a:c4:12:34:56"
    flash_size: int | None        # bytes, from the flash chip's JEDEC id
    flash_manufacturer: int | None
    flash_device: int | None
    usb_mode: str | None          # "USB-Serial/JTAG", "USB-OTG", or None for a USB-UART bridge


@dataclass(frozen=True)
class FlashResult:
    chip: ChipDetails
    offset: int
    size: int
    md5: str
    baud: int                     # the rate the write finished at
    seconds: float
    layout: str = ""              # images.LAYOUT_*
    fell_back_from: int | None = None   # the fast baud that failed, when the write finished at 115200
    sectors_written: int = 0      # 4 KB sectors actually written (0 when the board already held the image)
    sectors_total: int = 0        # sectors the image covers
    files_kept: bool = False      # the file system partition was saved and put back

    @property
    def unchanged(self) -> bool:
        return self.sectors_total > 0 and self.sectors_written == 0


@dataclass(frozen=True)
class BackupInfo:
    """What a backup's sidecar (``<backup>.json``) says about the board it came from."""

    path: Path
    chip: str                     # esptool's chip key
    flash_size: int
    mac: str | None
    date: str                     # ISO 8601, UTC
    sha256: str
    description: str = ""
    micropython: str | None = None   # the MicroPython release the flash held, when it held one
    partitions: tuple[dict, ...] = field(default=())


def _check_cancel(cancel: CancelEvent | None, operation: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(operation)


def _port_error(port: str, failure: BaseException) -> PortError | None:
    """The port-level error behind an esptool FatalError (it raises one when opening the port fails, with
    pyserial's exception as the context), as our PortError subclass by errno; None when the port opened."""
    cause = failure.__cause__ or failure.__context__
    if not isinstance(cause, (serial.SerialException, OSError)):
        return None
    code = getattr(cause, "errno", None)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return PortNotFoundError(port, str(cause))
    if code in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EBUSY):
        return PortBusyError(port, detail=str(cause))
    if code in (errno.EACCES, errno.EPERM):
        return PortPermissionError(port)
    return PortError(port, str(cause))


class _Connection:
    """What :func:`connect` yields: the esptool loader, the baud in use, and the progress hook of the logger."""

    def __init__(self, esp: ESPLoader, baud: int, logger):
        self.esp = esp
        self.baud = baud
        self.logger = logger
        self.fast = baud != ROM_BAUD


@contextmanager
def connect(port: str, *, baud: int = ROM_BAUD, use_stub: bool = True, attempts: int = DEFAULT_CONNECT_ATTEMPTS,
            progress: Progress | None = None, stay_in_bootloader: bool = False) -> Iterator[_Connection]:
    """Talk to the chip on ``port`` through esptool: detect it, start the flasher stub, switch to ``baud``. The
    port is closed afterwards, after a hard reset (the board runs its firmware again) unless
    ``stay_in_bootloader``. esptool's and pyserial's errors are wrapped."""
    with esptool_output(progress) as logger:
        try:
            rom = cmds.detect_chip(port, ROM_BAUD, "default-reset", connect_attempts=attempts)
        except FatalError as failure:
            raise (_port_error(port, failure) or ChipNotInBootMode(port)) from failure
        except (serial.SerialException, OSError) as failure:
            raise PortVanishedError(port, str(failure)) from failure
        with rom:
            esp = rom
            try:
                try:
                    if use_stub:
                        esp = cmds.run_stub(rom)
                except FatalError as failure:
                    raise ChipCommunicationError(port, "starting the flasher stub", str(failure)) from failure
                if baud != ROM_BAUD:
                    try:
                        esp.change_baud(baud)
                    except (FatalError, NotImplementedInROMError) as failure:
                        raise ChipCommunicationError(port, f"switching to {baud} baud", str(failure)) from failure
                yield _Connection(esp, baud, logger)
            except (serial.SerialException, OSError) as failure:
                raise PortVanishedError(port, str(failure)) from failure
            finally:
                if not stay_in_bootloader:
                    try:
                        cmds.reset_chip(esp, "hard-reset")
                    except (FatalError, serial.SerialException, OSError) as failure:
                        log.warning("could not reset the board on %s: %s", port, failure)


def _describe(esp: ESPLoader, port: str) -> ChipDetails:
    def optional(read: Callable, default=None):
        try:
            return read()
        except (FatalError, NotImplementedInROMError, NotImplementedError, UnsupportedCommandError, AttributeError):
            return default
        except TypeError:
            # esptool 5.6 raises NotImplementedInROMError without its arguments for ESP8266 chip revisions.
            return default

    chip = chip_for_esptool_name(esp.CHIP_NAME)
    if chip is None:
        raise ChipNotSupported(esp.CHIP_NAME)
    mac = optional(esp.read_mac)
    flash_id = optional(esp.flash_id)
    size_text = optional(lambda: cmds.detect_flash_size(esp))
    return ChipDetails(
        port=port,
        chip=chip,
        description=optional(esp.get_chip_description, esp.CHIP_NAME),
        revision=optional(esp.get_chip_revision),
        features=tuple(optional(esp.get_chip_features, ())),
        crystal_mhz=optional(esp.get_crystal_freq),
        mac=":".join(f"{byte:02x}" for byte in mac) if mac else None,
        flash_size=parse_size(size_text) if size_text else None,
        flash_manufacturer=flash_id & 0xFF if flash_id is not None else None,
        flash_device=((flash_id >> 16) & 0xFF) | ((flash_id >> 8) & 0xFF) << 8 if flash_id is not None else None,
        usb_mode=optional(esp.get_usb_mode),
    )


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([KM])B", text.strip().upper())
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * (1024 if match.group(2) == "K" else 1024 * 1024)


@contextmanager
def _step(port: str, operation: str):
    try:
        yield
    except FatalError as failure:
        raise ChipCommunicationError(port, operation, str(failure)) from failure


# --- detecting ------------------------------------------------------------------------------------------------


def detect(port: str, *, cancel: CancelEvent | None = None, attempts: int = DEFAULT_CONNECT_ATTEMPTS,
           stay_in_bootloader: bool = False) -> ChipDetails:
    """Which chip is on ``port``: model, revision, crystal, MAC, flash size, USB mode. The board is reset to run
    its firmware afterwards unless ``stay_in_bootloader``."""
    _check_cancel(cancel, "detect")
    with connect(port, attempts=attempts, use_stub=False, stay_in_bootloader=stay_in_bootloader) as link, \
            _step(port, "reading chip details"):
        return _describe(link.esp, port)


def check_firmware(firmware: Path | str | bytes, chip: ChipDetails | ChipInfo, flash_size: int | None = None,
                   offset: int | None = None) -> ImageInfo:
    """Refuse a file that would not boot on this chip (see :func:`ide.flasher.images.inspect_image`)."""
    info = chip.chip if isinstance(chip, ChipDetails) else chip
    revision = chip.revision if isinstance(chip, ChipDetails) else None
    if flash_size is None and isinstance(chip, ChipDetails):
        flash_size = chip.flash_size
    data, path = (firmware, None) if isinstance(firmware, bytes) else (Path(firmware).read_bytes(), str(firmware))
    return inspect_image(data, expected_chip=info, flash_size=flash_size, offset=offset, path=path,
                         chip_revision=revision)


# --- writing --------------------------------------------------------------------------------------------------


def default_flashed_cache_dir() -> Path:
    """Where a copy of what was last written to each board is kept, so writing it again sends only the changes."""
    return Path(platformdirs.user_cache_dir("mipy-studio")) / "flashed"


def _pad4(data: bytes) -> bytes:
    # esptool pads what it writes to 4 bytes with 0xFF; padding first keeps our MD5 the one it verifies.
    return data + b"\xff" * (-len(data) % 4)


def _sectors(length: int) -> int:
    return -(-length // SECTOR)


def _changed_sectors(old: bytes, new: bytes) -> int:
    """4 KB sectors of ``new`` that differ from ``old`` (bytes past either end count as erased, 0xFF): what
    esptool's diff_with rewrites."""
    changed = 0
    for start in range(0, len(new), SECTOR):
        old_piece = old[start:start + SECTOR].ljust(min(SECTOR, len(new) - start), b"\xff")
        if old_piece != new[start:start + SECTOR]:
            changed += 1
    return changed


def _md5_on_chip(esp: ESPLoader, address: int, length: int) -> str | None:
    """The chip's MD5 of a flash range; None where its ROM cannot compute one (ESP8266 without the stub)."""
    try:
        return esp.flash_md5sum(address, length)
    except (NotImplementedInROMError, UnsupportedCommandError):
        return None


def _first_unwritten(esp: ESPLoader, offset: int, data: bytes) -> int:
    """Where, in ``data``, the flash stops holding it: compare MD5s block by block, then sector by sector inside
    the first block that differs. Returns a sector-aligned position (len(data) when all of it is there)."""
    position = 0
    while position < len(data):
        block = data[position:position + RESUME_PROBE_BLOCK]
        if _md5_on_chip(esp, offset + position, len(block)) != hashlib.md5(block).hexdigest():
            break
        position += len(block)
    else:
        return len(data)
    end = min(len(data), position + RESUME_PROBE_BLOCK)
    while position < end:
        sector = data[position:position + SECTOR]
        if _md5_on_chip(esp, offset + position, len(sector)) != hashlib.md5(sector).hexdigest():
            return position
        position += SECTOR
    return position


class _WireFailure(Exception):
    """A failure after the switch to a fast baud: the flasher error to raise, and whether anything was written."""

    def __init__(self, error: Exception):
        self.error = error


def _filesystem_partition_on_board(esp: ESPLoader, details: ChipDetails) -> tuple[int, int]:
    table = b"" if not details.chip.has_partition_table else \
        cmds.read_flash(esp, PARTITION_TABLE_ADDRESS, PARTITION_TABLE_LENGTH, no_progress=True)
    return find_filesystem_region(details.chip, table, details.flash_size or 4 * 1024 * 1024)


def flash_firmware(port: str, firmware: Path | str | bytes, *, chip: str | None = None, erase: bool = False,
                   baud: int = DEFAULT_FLASH_BAUD, offset: int | None = None, keep_files: bool = False,
                   stay_in_bootloader: bool = False, only_changes: bool = True,
                   flashed_cache_dir: Path | None = None, progress: Progress | None = None,
                   cancel: CancelEvent | None = None, attempts: int = DEFAULT_CONNECT_ATTEMPTS,
                   stage: Stage | None = None, reset: bool | None = None) -> FlashResult:
    """Write a firmware file where it belongs: check it against the detected chip (refusing what would not boot),
    optionally erase everything, write it compressed through esptool's stub, verify by MD5, hard reset.

    ``chip`` (a key such as "esp32", or None/"auto") only states an expectation: a different board is refused.
    ``offset`` places an application image in its partition; a full firmware always goes at the bootloader's
    offset. ``keep_files`` saves the file system partition (from the board's own partition table) before an erase
    and writes it back afterwards. ``only_changes`` writes only the sectors that differ from what this board was
    last given (esptool's diff_with), or nothing when the board already holds the image. A failure at ``baud`` is
    retried once at 115200 from where the write stopped. ``stage(name)`` is told each ``STAGE_*`` as it begins;
    ``progress(done, total)`` reports each write.
    """
    if reset is not None:   # the name callers before the bootloader option used
        stay_in_bootloader = not reset
    raw = firmware if isinstance(firmware, bytes) else Path(firmware).read_bytes()
    path = None if isinstance(firmware, bytes) else str(firmware)
    started = time.monotonic()
    job = _FlashJob(port, _pad4(raw), path, chip, erase, offset, keep_files, stay_in_bootloader, only_changes,
                    flashed_cache_dir or default_flashed_cache_dir(), progress, cancel, attempts, stage)
    result = _run_with_fallback(job, baud)
    return FlashResult(**{**result.__dict__, "seconds": time.monotonic() - started})


def _run_with_fallback(job: _FlashJob, baud: int) -> FlashResult:
    """Run ``job`` at ``baud``; a failure on the wire is retried once at 115200 from the first sector the board
    does not hold yet (a USB bridge that garbles a fast baud usually carries 115200)."""
    try:
        return job.run(baud)
    except _WireFailure as failure:
        if baud == ROM_BAUD:
            raise failure.error from failure.error.__cause__
        log.warning("The transfer failed at %d baud (%s). Retrying at %d baud from the first sector the board "
                    "does not hold yet.", baud, failure.error, ROM_BAUD)
        try:
            result = job.run(ROM_BAUD, resume=True)
        except _WireFailure as again:
            raise again.error from again.error.__cause__
        return FlashResult(**{**result.__dict__, "fell_back_from": baud})


class _FlashJob:
    """One flash_firmware call, runnable twice (the fast attempt and the 115200 fallback)."""

    def __init__(self, port, data, path, chip, erase, offset, keep_files, stay_in_bootloader, only_changes,
                 cache_dir, progress, cancel, attempts, stage):
        self.port, self.data, self.path, self.chip_key = port, data, path, chip
        self.erase, self.offset, self.keep_files = erase, offset, keep_files
        self.stay_in_bootloader, self.only_changes, self.cache_dir = stay_in_bootloader, only_changes, cache_dir
        self.progress, self.cancel, self.attempts, self.stage = progress, cancel, attempts, stage
        self.current_stage = ""
        self.saved_files: tuple[int, bytes] | None = None   # survives into the fallback attempt
        self.erased = False

    def enter(self, name: str) -> None:
        if self.current_stage != name:
            self.current_stage = name
            if self.stage is not None:
                self.stage(name)

    def on_progress(self, done: int, total: int) -> None:
        if self.current_stage == STAGE_ERASING:
            self.enter(STAGE_WRITING)   # after an erase-all, the first block marks the start of the write proper
        if self.progress is not None:
            self.progress(done, total)
        if total and done >= total and self.current_stage == STAGE_WRITING:
            self.enter(STAGE_VERIFYING)  # esptool verifies by MD5 right after the last block

    def cache_path(self, details: ChipDetails, offset: int) -> Path | None:
        if not details.mac:
            return None
        return self.cache_dir / f"{details.chip.key}-{details.mac.replace(':', '')}-{offset:x}.bin"

    def run(self, baud: int, resume: bool = False) -> FlashResult:
        _check_cancel(self.cancel, "flash")
        self.enter(STAGE_CONNECTING)
        fast = baud != ROM_BAUD
        try:
            with connect(self.port, baud=baud, attempts=self.attempts, progress=self.on_progress,
                         stay_in_bootloader=self.stay_in_bootloader) as link:
                return self._run_connected(link, baud, resume)
        except (ChipCommunicationError, VerifyFailed) as failure:
            if fast:
                raise _WireFailure(failure) from failure
            raise

    def _run_connected(self, link: _Connection, baud: int, resume: bool) -> FlashResult:
        esp, port = link.esp, self.port
        self.enter(STAGE_CHECKING)
        with _step(port, "reading chip details"):
            details = _describe(esp, port)
        if self.chip_key and self.chip_key != "auto" and chip_by_key(self.chip_key) != details.chip:
            raise ChipMismatch(chip_by_key(self.chip_key).display_name, details.chip.display_name)
        image = inspect_image(self.data, expected_chip=details.chip, flash_size=details.flash_size,
                              offset=self.offset, path=self.path, chip_revision=details.revision)
        offset, data = image.offset, self.data
        expected = hashlib.md5(data).hexdigest()
        total_sectors = _sectors(len(data))
        _check_cancel(self.cancel, "flash")
        if self.keep_files and self.saved_files is None:
            self.enter(STAGE_SAVING_FILES)
            with _step(port, "saving the file system"):
                try:
                    fs_offset, fs_size = _filesystem_partition_on_board(esp, details)
                except NoFileSystemRegion as nothing:
                    log.info("There are no files to keep: %s.", nothing.reason)
                    fs_offset = fs_size = 0
                overlaps = offset < fs_offset + fs_size and fs_offset < offset + len(data)
                if not fs_size:
                    pass
                elif self.erase or overlaps or image.layout == LAYOUT_FULL_FLASH:
                    log.info("Saving the file system partition (%d KB at 0x%x) before writing.", fs_size // 1024,
                             fs_offset)
                    self.saved_files = (fs_offset, cmds.read_flash(esp, fs_offset, fs_size))
                else:
                    log.info("The file system partition at 0x%x lies outside the new firmware: it stays as it is.",
                             fs_offset)
            _check_cancel(self.cancel, "flash")
        # From here on the flash is being changed: no more cancellation points.
        cache = self.cache_path(details, offset)
        previous = cache.read_bytes() if cache is not None and cache.is_file() and self.only_changes else None
        written = total_sectors
        try:
            if resume:
                self.enter(STAGE_WRITING)
                resume_at = _first_unwritten(esp, offset, data)
                written = _sectors(len(data) - resume_at)
                if resume_at < len(data):
                    log.info("Resuming at 0x%x (%d of %d sectors were already written).", offset + resume_at,
                             resume_at // SECTOR, total_sectors)
                    cmds.write_flash(esp, [(offset + resume_at, data[resume_at:])])
            elif self.erase and not self.erased:
                self.enter(STAGE_ERASING)
                cmds.write_flash(esp, [(offset, data)], erase_all=True)
                self.erased = True
            elif self.only_changes and (on_board := _md5_on_chip(esp, offset, len(data))) == expected:
                written = 0
                log.info("The board already holds exactly this firmware: nothing to write.")
            elif self.only_changes and on_board is not None and previous is not None and \
                    _md5_on_chip(esp, offset, len(previous)) == hashlib.md5(previous).hexdigest():
                # The board still holds what it was last given: esptool rewrites only the sectors that differ.
                written = _changed_sectors(previous, data)
                self.enter(STAGE_WRITING)
                log.info("The board holds an earlier version of this firmware: writing the %d of %d sectors that "
                         "changed.", written, total_sectors)
                cmds.write_flash(esp, [(offset, data)], diff_with=[previous])
            else:
                self.enter(STAGE_WRITING)
                cmds.write_flash(esp, [(offset, data)])
        except FatalError as failure:
            actual = _md5_after_failure(esp, offset, len(data))
            if actual is not None and actual != expected and self.current_stage == STAGE_VERIFYING:
                raise VerifyFailed(offset, expected, actual) from failure
            raise FlashWriteFailed(port, offset, str(failure)) from failure
        if resume:
            self.enter(STAGE_VERIFYING)
            with _step(port, "verifying"):
                actual = _md5_on_chip(esp, offset, len(data))
            if actual is not None and actual != expected:
                raise VerifyFailed(offset, expected, actual)
        if self.saved_files is not None:
            self.enter(STAGE_RESTORING_FILES)
            fs_offset, content = self.saved_files
            try:
                cmds.write_flash(esp, [(fs_offset, content)])
            except FatalError as failure:
                raise FlashWriteFailed(port, fs_offset, str(failure)) from failure
            log.info("Wrote the saved file system back (%d KB at 0x%x).", len(content) // 1024, fs_offset)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_name(cache.name + ".part")
            partial.write_bytes(data)
            partial.replace(cache)
        if not self.stay_in_bootloader:
            self.enter(STAGE_RESETTING)
        return FlashResult(details, offset, len(data), expected, baud, 0.0, image.layout, None, written,
                           total_sectors, self.saved_files is not None)


def _md5_after_failure(esp: ESPLoader, offset: int, length: int) -> str | None:
    try:
        return _md5_on_chip(esp, offset, length)
    except (FatalError, serial.SerialException, OSError):
        return None


def _pause(seconds: float, cancel: CancelEvent | None, operation: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        _check_cancel(cancel, operation)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(0.05, remaining))


def confirm_micropython(port: str, *, timeout: float = FIRMWARE_START_TIMEOUT_S, settle: float = POST_RESET_SETTLE_S,
                        cancel: CancelEvent | None = None):
    """After flashing and the hard reset: open ``port`` until MicroPython's REPL answers, and return its
    :class:`~ide.board.board.BoardInfo` (``.version`` is the release, "1.24.1"). Retries while the board boots or
    its port re-enumerates; raises :class:`FirmwareDidNotStart` (with what the board printed) after ``timeout``,
    or the port's own error when another program holds it."""
    from ide.board.board import Board   # the board layer is only needed for this last step

    _pause(settle, cancel, "confirm")
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    seen = b""
    while True:
        remaining = deadline - time.monotonic()
        try:
            with Board.open(port, timeout=max(1.0, min(5.0, remaining))) as board:
                return board.info()
        except PortBusyError:
            raise
        except (PortError, BoardError) as failure:
            last_error = failure
            seen = getattr(failure, "seen", b"") or seen
            log.info("MicroPython not answering on %s yet: %s", port, failure)
        if time.monotonic() >= deadline:
            raise FirmwareDidNotStart(port, seen) from last_error
        _pause(CONFIRM_RETRY_INTERVAL_S, cancel, "confirm")


# --- backups --------------------------------------------------------------------------------------------------


def sidecar_path(backup: Path | str) -> Path:
    backup = Path(backup)
    return backup.with_name(backup.name + ".json")


def backup_flash(port: str, destination: Path | str, *, baud: int = DEFAULT_FLASH_BAUD,
                 progress: Progress | None = None, cancel: CancelEvent | None = None,
                 attempts: int = DEFAULT_CONNECT_ATTEMPTS, stay_in_bootloader: bool = False) -> BackupInfo:
    """Read the whole flash into ``destination`` and describe it in ``destination.json`` (chip, flash size, MAC,
    date, SHA-256, the partitions and MicroPython release it held). Cancelling leaves no partial file."""
    destination = Path(destination)
    _check_cancel(cancel, "backup")

    def on_read(done: int, total: int) -> None:
        _check_cancel(cancel, "backup")
        if progress is not None:
            progress(done, total)

    with connect(port, baud=baud, attempts=attempts, progress=on_read,
                 stay_in_bootloader=stay_in_bootloader) as link:
        with _step(port, "reading chip details"):
            details = _describe(link.esp, port)
        size = details.flash_size or 4 * 1024 * 1024
        with _step(port, "reading flash"):
            content = cmds.read_flash(link.esp, 0, size)
    partitions = read_partition_table(content, PARTITION_TABLE_ADDRESS) if details.chip.has_partition_table else ()
    info = BackupInfo(destination, details.chip.key, size, details.mac,
                      datetime.now(timezone.utc).isoformat(timespec="seconds"), hashlib.sha256(content).hexdigest(),
                      details.description, micropython_version_in(content),
                      tuple({"label": p.label, "type": p.type, "subtype": p.subtype, "offset": p.offset,
                             "size": p.size} for p in partitions))
    partial = destination.with_name(destination.name + ".part")
    partial.write_bytes(content)
    sidecar = {"format": BACKUP_SIDECAR_FORMAT, "file": destination.name, "chip": info.chip,
               "chip_description": info.description, "flash_size": info.flash_size, "mac": info.mac,
               "date": info.date, "sha256": info.sha256, "micropython": info.micropython,
               "partitions": list(info.partitions)}
    sidecar_path(destination).write_text(json.dumps(sidecar, indent=2) + "\n")
    partial.replace(destination)
    return info


def read_backup_info(backup: Path | str) -> BackupInfo:
    """The sidecar of ``backup``, checked against the file (its SHA-256)."""
    backup = Path(backup)
    sidecar = sidecar_path(backup)
    if not backup.is_file():
        raise BackupUnreadable(str(backup), "the file does not exist")
    try:
        fields = json.loads(sidecar.read_text())
        info = BackupInfo(backup, fields["chip"], int(fields["flash_size"]), fields.get("mac"), fields["date"],
                          fields["sha256"], fields.get("chip_description", ""), fields.get("micropython"),
                          tuple(fields.get("partitions", ())))
    except FileNotFoundError:
        raise BackupUnreadable(str(backup), f"its description {sidecar.name} is missing") from None
    except (ValueError, KeyError, TypeError) as failure:
        raise BackupUnreadable(str(backup), f"its description {sidecar.name} is malformed ({failure})") from None
    if hashlib.sha256(backup.read_bytes()).hexdigest() != info.sha256:
        raise BackupUnreadable(str(backup), "the file changed since the backup was taken (its SHA-256 differs)")
    return info


def restore_backup(port: str, backup: Path | str, *, baud: int = DEFAULT_FLASH_BAUD, other_board: bool = False,
                   progress: Progress | None = None, cancel: CancelEvent | None = None,
                   attempts: int = DEFAULT_CONNECT_ATTEMPTS, stage: Stage | None = None,
                   stay_in_bootloader: bool = False) -> FlashResult:
    """Write a :func:`backup_flash` file back from address 0, after checking that the board has the backup's chip
    and flash size and (unless ``other_board``) its MAC. Only the sectors that differ are sent."""
    info = read_backup_info(backup)
    details = detect(port, attempts=attempts, cancel=cancel, stay_in_bootloader=True)
    if details.chip.key != info.chip:
        raise BackupMismatch(str(backup), "chip", chip_by_key(info.chip).display_name, details.chip.display_name)
    if details.flash_size is not None and details.flash_size != info.flash_size:
        raise BackupMismatch(str(backup), "flash size", f"{info.flash_size // 1024} KB",
                             f"{details.flash_size // 1024} KB")
    if not other_board and info.mac and details.mac and info.mac != details.mac:
        raise BackupMismatch(str(backup), "MAC", info.mac, details.mac)
    return _restore(port, Path(backup), info, baud, progress, cancel, attempts, stage, stay_in_bootloader)


def _restore(port, backup: Path, info: BackupInfo, baud, progress, cancel, attempts, stage,
             stay_in_bootloader) -> FlashResult:
    data = backup.read_bytes()
    job = _RestoreJob(port, _pad4(data), str(backup), info.chip, False, 0, False, stay_in_bootloader, False,
                      default_flashed_cache_dir(), progress, cancel, attempts, stage)
    started = time.monotonic()
    result = _run_with_fallback(job, baud)
    return FlashResult(**{**result.__dict__, "seconds": time.monotonic() - started})


class _RestoreJob(_FlashJob):
    """A backup is a byte copy of the flash, blank sectors and all: it is not checked as a firmware image (a
    backup of a board without firmware is still a backup), and only the sectors that differ are written."""

    def _run_connected(self, link: _Connection, baud: int, resume: bool) -> FlashResult:
        esp, port, data = link.esp, self.port, self.data
        self.enter(STAGE_CHECKING)
        with _step(port, "reading chip details"):
            details = _describe(link.esp, port)
        expected = hashlib.md5(data).hexdigest()
        self.enter(STAGE_WRITING)
        try:
            resume_at = _first_unwritten(esp, 0, data)
            sectors = _sectors(len(data) - resume_at)
            if resume_at < len(data):
                cmds.write_flash(esp, [(resume_at, data[resume_at:])])
            self.enter(STAGE_VERIFYING)
            actual = _md5_on_chip(esp, 0, len(data))
        except FatalError as failure:
            raise FlashWriteFailed(port, 0, str(failure)) from failure
        if actual is not None and actual != expected:
            raise VerifyFailed(0, expected, actual)
        if not self.stay_in_bootloader:
            self.enter(STAGE_RESETTING)
        return FlashResult(details, 0, len(data), expected, baud, 0.0, LAYOUT_FULL_FLASH, None, sectors,
                           _sectors(len(data)))


# --- the file system ------------------------------------------------------------------------------------------


def find_filesystem_region(chip: ChipInfo, partition_table: bytes, flash_size: int) -> tuple[int, int]:
    """(offset, size) of the file system MicroPython mounts: the FAT/LittleFS/SPIFFS data partition of the
    board's partition table on the ESP32 family; on the ESP8266 (no partition table) the region its flashbdev
    uses."""
    if not chip.has_partition_table:
        if flash_size < 1024 * 1024:
            raise NoFileSystemRegion(f"an ESP8266 with {flash_size // 1024} KB of flash has no file system")
        start = ESP8266_FS_START_1M if flash_size == 1024 * 1024 else ESP8266_FS_START_LARGE
        return start, flash_size - ESP8266_FS_RESERVED_AT_END - start
    partitions = read_partition_table(partition_table, 0)
    if not partitions:
        raise NoFileSystemRegion("no partition table at 0x8000 (is MicroPython installed?)")
    for partition in partitions:
        if partition.holds_file_system:
            return partition.offset, partition.size
    raise NoFileSystemRegion("the partition table has no file system partition")


def erase_filesystem(port: str, *, progress: Progress | None = None, cancel: CancelEvent | None = None,
                     attempts: int = DEFAULT_CONNECT_ATTEMPTS, stay_in_bootloader: bool = False) -> tuple[int, int]:
    """Erase only the file system (MicroPython recreates it empty at next boot); the firmware stays.
    Returns the erased (offset, size)."""
    _check_cancel(cancel, "erase file system")
    with connect(port, attempts=attempts, stay_in_bootloader=stay_in_bootloader) as link:
        with _step(port, "reading the partition table"):
            details = _describe(link.esp, port)
            offset, size = _filesystem_partition_on_board(link.esp, details)
        _check_cancel(cancel, "erase file system")
        with _step(port, "erasing the file system"):
            cmds.erase_region(link.esp, offset, size)
        if progress is not None:
            progress(size, size)
    return offset, size
