"""Detect, flash, verify, back up and erase an ESP board: the API the CLI and the GUI wizard build on.

One function per step, each taking ``progress(done, total)`` and a ``cancel`` event (anything with
``is_set()``); each opens the port, talks to the ROM bootloader through esptool's Python API (with esptool's
flasher stub), and closes the port. Cancelling is honoured between steps and while reading; once bytes are being
written to flash the write runs to its end, so a cancelled wizard never leaves a half-written bootloader.

    details = detect(port)                                   # ChipDetails
    image = check_firmware(path, details)                    # refuses wrong chip / too large / truncated
    flash_firmware(port, path, erase=True, progress=cb)      # FlashResult (write, verify, hard reset)
    info = confirm_micropython(port)                         # the REPL answers: BoardInfo (version...)
    backup_flash(port, "backup.bin", progress=cb)
    erase_filesystem(port)                                   # only the file system partition

The image offset comes from the chip table (:mod:`ide.flasher.chips`), never from the user.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import serial
from esptool import cmds
from esptool.loader import ESPLoader
from esptool.targets import ROM_LIST
from esptool.util import FatalError, NotImplementedInROMError, UnsupportedCommandError

from ide.errors import BoardError, Cancelled, PortBusyError, PortError, PortNotFoundError, PortPermissionError, \
    PortVanishedError
from ide.flasher.chips import BY_DISPLAY_NAME, ChipInfo, chip_by_key
from ide.flasher.errors import (ChipCommunicationError, ChipMismatch, ChipNotInBootMode, FirmwareDidNotStart,
                                FlashWriteFailed, NoFileSystemRegion, VerifyFailed)
from ide.flasher.esptool_bridge import Progress, esptool_output
from ide.flasher.images import (FILE_SYSTEM_SUBTYPES, PARTITION_TABLE_ADDRESS, PARTITION_TYPE_DATA, ImageInfo,
                                inspect_image, read_partition_table)

log = logging.getLogger(__name__)

ROM_BAUD = 115200
DEFAULT_FLASH_BAUD = 460800
DEFAULT_CONNECT_ATTEMPTS = 3
PARTITION_TABLE_LENGTH = 0xC00
SECTOR = 0x1000
# MicroPython's ESP8266 builds for 2 MB+ flash keep the firmware below 1 MB and the file system from 1 MB up to
# the last 16 KB, which the Espressif SDK keeps for its RF/Wi-Fi parameters.
ESP8266_FS_START = 0x100000
ESP8266_SDK_PARAMS_SIZE = 0x4000
# After the hard reset the ROM loads the bootloader and MicroPython mounts (on first boot: formats) its file
# system: about 1 s on an ESP32, several on a first boot with a large file system. Native-USB chips (C3/S3) also
# re-enumerate, so the port may vanish for a moment. The confirm step waits this long before the first look...
POST_RESET_SETTLE_S = 0.5
# ...and gives up after this long.
FIRMWARE_START_TIMEOUT_S = 20.0
CONFIRM_RETRY_INTERVAL_S = 0.5

# What flash_firmware is doing, for its ``stage`` callback. Everything from ERASING on changes the flash: a
# caller must not offer to stop it (the core would not stop anyway).
STAGE_CONNECTING = "connecting"
STAGE_CHECKING = "checking"
STAGE_ERASING = "erasing"
STAGE_WRITING = "writing"
STAGE_VERIFYING = "verifying"
STAGE_RESETTING = "resetting"
WRITE_STAGES = frozenset({STAGE_ERASING, STAGE_WRITING})

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
    baud: int
    seconds: float


def _check_cancel(cancel: CancelEvent | None, operation: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(operation)


def _open_serial(port: str) -> serial.Serial:
    """Open the port exclusively (as esptool does); pyserial's errors become PortError subclasses by errno."""
    try:
        line = serial.serial_for_url(port, exclusive=True, do_not_open=True)
        line.baudrate = ROM_BAUD
        line.open()
        return line
    except serial.SerialException as failure:
        code = failure.errno
        if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise PortNotFoundError(port, str(failure)) from failure
        if code in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EBUSY):
            raise PortBusyError(port, detail=str(failure)) from failure
        if code in (errno.EACCES, errno.EPERM):
            raise PortPermissionError(port) from failure
        raise PortError(port, str(failure)) from failure
    except ValueError as failure:  # malformed URL
        raise PortNotFoundError(port, str(failure)) from failure


def _identify(loader: ESPLoader, line: serial.Serial) -> ESPLoader:
    """esptool's detect_chip, on a port we opened: GET_SECURITY_INFO's chip id on C3 and later, else the magic
    value at 0x40001000 (the ESP32 and ESP8266 ROMs do not know GET_SECURITY_INFO)."""
    try:
        chip_id = loader.get_chip_id()
        candidates = [cls for cls in ROM_LIST if not cls.USES_MAGIC_VALUE and cls.IMAGE_CHIP_ID == chip_id]
    except (UnsupportedCommandError, FatalError, NotImplementedInROMError):
        magic = loader.read_reg(ESPLoader.CHIP_DETECT_MAGIC_REG_ADDR)
        candidates = [cls for cls in ROM_LIST if cls.USES_MAGIC_VALUE and cls.MAGIC_VALUE == magic]
        chip_id = magic
    if not candidates:
        raise ChipCommunicationError(line.port, "identifying the chip", f"unknown chip id/magic 0x{chip_id:x}")
    esp = candidates[0](line, ROM_BAUD)
    if not esp.USES_MAGIC_VALUE:
        esp.secure_download_mode = esp.get_security_info()["parsed_flags"]["SECURE_DOWNLOAD_ENABLE"]
    if loader.sync_stub_detected and esp.STUB_CLASS is not None:
        esp = esp.STUB_CLASS(esp)
    esp.sync_stub_detected = loader.sync_stub_detected
    esp._post_connect()
    return esp


@contextmanager
def connect(port: str, *, baud: int = ROM_BAUD, use_stub: bool = True, attempts: int = DEFAULT_CONNECT_ATTEMPTS,
            progress: Progress | None = None, hard_reset_after: bool = False) -> Iterator[ESPLoader]:
    """An esptool loader talking to the chip on ``port`` (stub running, at ``baud`` when the chip agrees).
    Wraps esptool's and pyserial's errors; closes the port (which a pty simulator takes as the reset)."""
    line = _open_serial(port)
    try:
        with esptool_output(progress):
            try:
                loader = ESPLoader(line, ROM_BAUD)
                loader.connect("default-reset", attempts, detecting=True)
            except FatalError as failure:
                raise ChipNotInBootMode(port) from failure
            try:
                esp = _identify(loader, line)
                if use_stub:
                    esp = esp.run_stub()
            except FatalError as failure:
                raise ChipCommunicationError(port, "starting the flasher stub", str(failure)) from failure
            if baud != ROM_BAUD:
                try:
                    esp.change_baud(baud)
                except (FatalError, NotImplementedInROMError) as failure:
                    # Some USB-serial bridges cannot do the higher rate; 115200 always works.
                    log.warning("could not switch to %d baud (%s); staying at %d", baud, failure, ROM_BAUD)
                    esp._set_port_baudrate(ROM_BAUD)
                    esp.flush_input()
                    esp.sync()
            yield esp
            if hard_reset_after:
                esp.hard_reset()
    except serial.SerialException as failure:
        raise PortVanishedError(port, str(failure)) from failure
    finally:
        line.close()


def _describe(esp: ESPLoader, port: str) -> ChipDetails:
    def optional(read: Callable, default=None):
        try:
            return read()
        except (FatalError, NotImplementedInROMError, NotImplementedError, AttributeError):
            return default
        except TypeError:
            # esptool 5.6 raises NotImplementedInROMError without its arguments for ESP8266 chip revisions.
            return default

    chip = BY_DISPLAY_NAME.get(esp.CHIP_NAME) or chip_by_key(esp.CHIP_NAME)
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


def _wrap_step(port: str, operation: str):
    @contextmanager
    def step():
        try:
            yield
        except FatalError as failure:
            raise ChipCommunicationError(port, operation, str(failure)) from failure
    return step()


# --- the steps ----------------------------------------------------------------------------------------------


def detect(port: str, *, cancel: CancelEvent | None = None, attempts: int = DEFAULT_CONNECT_ATTEMPTS) -> ChipDetails:
    """Which chip is on ``port``: model, revision, crystal, MAC, flash size, USB mode."""
    _check_cancel(cancel, "detect")
    with connect(port, attempts=attempts) as esp, _wrap_step(port, "reading chip details"):
        return _describe(esp, port)


def check_firmware(firmware: Path | str | bytes, chip: ChipDetails | ChipInfo,
                   flash_size: int | None = None) -> ImageInfo:
    """Refuse an image that is not an ESP image, is for another chip, is truncated or does not fit."""
    info = chip.chip if isinstance(chip, ChipDetails) else chip
    if flash_size is None and isinstance(chip, ChipDetails):
        flash_size = chip.flash_size
    data, path = (firmware, None) if isinstance(firmware, bytes) else (Path(firmware).read_bytes(), str(firmware))
    return inspect_image(data, expected_chip=info, flash_size=flash_size, path=path)


def flash_firmware(port: str, firmware: Path | str | bytes, *, chip: str | None = None, erase: bool = False,
                   baud: int = DEFAULT_FLASH_BAUD, verify: bool = True, reset: bool = True,
                   progress: Progress | None = None, cancel: CancelEvent | None = None,
                   attempts: int = DEFAULT_CONNECT_ATTEMPTS, stage: Stage | None = None) -> FlashResult:
    """Write a MicroPython firmware image at the detected chip's offset: check the image against the chip and
    its flash, optionally erase everything, write compressed through the stub, verify by MD5, hard reset.

    ``chip`` (a key such as "esp32", or None/"auto") only states an expectation: a different board is refused.
    ``stage(name)`` is told each ``STAGE_*`` as it begins; ``progress(done, total)`` reports the write.
    """
    data = firmware if isinstance(firmware, bytes) else Path(firmware).read_bytes()
    path = None if isinstance(firmware, bytes) else str(firmware)
    current_stage = [""]

    def enter(name: str) -> None:
        if current_stage[0] != name:
            current_stage[0] = name
            if stage is not None:
                stage(name)

    def on_write_progress(done: int, total: int) -> None:
        enter(STAGE_WRITING)   # after an erase-all, the first block marks the start of the write proper
        if progress is not None:
            progress(done, total)

    _check_cancel(cancel, "flash")
    started = time.monotonic()
    enter(STAGE_CONNECTING)
    with connect(port, baud=baud, attempts=attempts, progress=on_write_progress) as esp:
        enter(STAGE_CHECKING)
        with _wrap_step(port, "reading chip details"):
            details = _describe(esp, port)
        if chip and chip != "auto" and chip_by_key(chip) != details.chip:
            raise ChipMismatch(chip_by_key(chip).display_name, details.chip.display_name)
        inspect_image(data, expected_chip=details.chip, flash_size=details.flash_size, path=path)
        offset = details.chip.micropython_offset
        _check_cancel(cancel, "flash")
        # From here on the flash is being changed: no more cancellation points.
        enter(STAGE_ERASING if erase else STAGE_WRITING)
        try:
            cmds.write_flash(esp, [(offset, data)], flash_size="keep", flash_mode="keep", flash_freq="keep",
                             erase_all=erase, compress=True)
        except FatalError as failure:
            raise FlashWriteFailed(port, offset, str(failure)) from failure
        expected = hashlib.md5(data).hexdigest()
        actual = expected
        if verify and (esp.IS_STUB or esp.CHIP_NAME != "ESP8266"):
            enter(STAGE_VERIFYING)
            with _wrap_step(port, "verifying"):
                actual = esp.flash_md5sum(offset, len(data))
            if actual != expected:
                raise VerifyFailed(offset, expected, actual)
        if reset:
            enter(STAGE_RESETTING)
            with _wrap_step(port, "resetting"):
                esp.hard_reset()
        final_baud = esp._port.baudrate
    return FlashResult(details, offset, len(data), actual, final_baud, time.monotonic() - started)


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


def backup_flash(port: str, destination: Path | str, *, baud: int = DEFAULT_FLASH_BAUD,
                 progress: Progress | None = None, cancel: CancelEvent | None = None,
                 attempts: int = DEFAULT_CONNECT_ATTEMPTS) -> Path:
    """Read the whole flash into ``destination``. Cancelling stops the read and leaves no partial file."""
    destination = Path(destination)
    _check_cancel(cancel, "backup")
    with connect(port, baud=baud, attempts=attempts) as esp:
        with _wrap_step(port, "reading chip details"):
            details = _describe(esp, port)
        size = details.flash_size or 4 * 1024 * 1024

        def on_read(done: int, total: int, _offset: int = 0) -> None:
            _check_cancel(cancel, "backup")
            if progress is not None:
                progress(done, total)

        with _wrap_step(port, "reading flash"):
            content = esp.read_flash(0, size, on_read)
    partial = destination.with_name(destination.name + ".part")
    partial.write_bytes(content)
    partial.replace(destination)
    return destination


def find_filesystem_region(chip: ChipInfo, partition_table: bytes, flash_size: int) -> tuple[int, int]:
    """(offset, size) of the file system MicroPython mounts: the FAT/LittleFS/SPIFFS data partition on the
    ESP32 family; on the ESP8266, which has no partition table, 1 MB up to the SDK parameter sectors."""
    if chip.image_chip_id is None:
        if flash_size <= ESP8266_FS_START + ESP8266_SDK_PARAMS_SIZE:
            raise NoFileSystemRegion(f"a {flash_size // 1024} KB ESP8266 has no file system region")
        return ESP8266_FS_START, flash_size - ESP8266_FS_START - ESP8266_SDK_PARAMS_SIZE
    partitions = read_partition_table(partition_table, 0)
    if not partitions:
        raise NoFileSystemRegion("no partition table at 0x8000 (is MicroPython installed?)")
    for partition in partitions:
        if partition.type == PARTITION_TYPE_DATA and partition.subtype in FILE_SYSTEM_SUBTYPES:
            return partition.offset, partition.size
    raise NoFileSystemRegion("the partition table has no file system partition")


def erase_filesystem(port: str, *, progress: Progress | None = None, cancel: CancelEvent | None = None,
                     attempts: int = DEFAULT_CONNECT_ATTEMPTS) -> tuple[int, int]:
    """Erase only the file system (MicroPython recreates it empty at next boot); the firmware stays.
    Returns the erased (offset, size)."""
    _check_cancel(cancel, "erase file system")
    with connect(port, attempts=attempts, progress=progress) as esp:
        with _wrap_step(port, "reading the partition table"):
            details = _describe(esp, port)
            table = b"" if details.chip.image_chip_id is None else \
                esp.read_flash(PARTITION_TABLE_ADDRESS, PARTITION_TABLE_LENGTH)
        offset, size = find_filesystem_region(details.chip, table, details.flash_size or 4 * 1024 * 1024)
        _check_cancel(cancel, "erase file system")
        with _wrap_step(port, "erasing the file system"):
            esp.erase_region(offset, size)
        if progress is not None:
            progress(size, size)
        with _wrap_step(port, "resetting"):
            esp.hard_reset()
    return offset, size
