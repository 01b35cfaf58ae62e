"""Checking a firmware file before anything is written, with esptool's own image parser (``esptool.bin_image``).

What a file can be, and where it belongs (``layout``):

- ``merged``: what micropython.org offers as ``firmware.bin`` for the ESP32 family: the second-stage bootloader at
  the file's start (written at the chip's bootloader offset), the partition table at 0x8000 and the application at
  its partition's offset (0x10000). On the ESP8266 the one file MicroPython ships, written at 0x0.
- ``full-flash``: a copy of the whole flash from address 0 (what ``backup`` saves), written at 0x0. On an ESP32
  its first 4 KB are blank (0xFF), the bootloader sits at 0x1000.
- ``application``: an application image alone (ESP-IDF's ``app.bin``; MicroPython's ``micropython.bin``): its
  segments are mapped from flash, where a bootloader's run from RAM. It belongs in an app partition (0x10000),
  never where the bootloader goes: a board given one there no longer starts.
- ``bootloader``: a second-stage bootloader alone.

Each image in the file is parsed by esptool and must be whole and intact: its segments complete, its checksum
byte right, its appended SHA-256 right (esptool's ``image-info`` shows the same), its chip id the detected chip's,
and the chip's revision inside the image's minimum..maximum revision.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from esptool.bin_image import LoadFirmwareImage
from esptool.util import FatalError

from ide.flasher.chips import BY_IMAGE_CHIP_ID, CHIPS, ChipInfo, image_chip_name
from ide.flasher.errors import (ApplicationAtBootloaderOffset, DamagedImage, ImageChipMismatch,
                                ImageRejected, ImageRevisionMismatch, ImageTooLarge, MergedImageAtAppOffset,
                                NotAnEspImage, TruncatedImage)

ImageProblem = ImageRejected  # what the simulator catches when its flash holds no bootable image

ESP_IMAGE_MAGIC = 0xE9
HEADER = struct.Struct("<BBBBI")
EXTENDED_HEADER = struct.Struct("<BBBBHBHH4BB")
SEGMENT_HEADER = struct.Struct("<II")
PARTITION_TABLE_ADDRESS = 0x8000
PARTITION_TABLE_LENGTH = 0xC00
PARTITION_ENTRY = struct.Struct("<2sBBII16sI")
PARTITION_MAGIC = b"\xaa\x50"
PARTITION_TYPE_APP = 0x00
PARTITION_TYPE_DATA = 0x01
# Data subtypes that hold a file system MicroPython mounts (fat, spiffs, littlefs).
FILE_SYSTEM_SUBTYPES = {0x81, 0x82, 0x83}
# esptool's "max_rev_full" when the image sets no upper bound.
NO_MAX_REVISION = 0xFFFF

LAYOUT_MERGED = "merged"
LAYOUT_FULL_FLASH = "full-flash"
LAYOUT_APPLICATION = "application"
LAYOUT_BOOTLOADER = "bootloader"


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int

    @property
    def holds_file_system(self) -> bool:
        return self.type == PARTITION_TYPE_DATA and self.subtype in FILE_SYSTEM_SUBTYPES


@dataclass(frozen=True)
class ImageInfo:
    chip: ChipInfo | None        # the chip the image is for; None for ESP8266 images, which do not say
    layout: str                  # LAYOUT_*
    offset: int                  # where the file goes in flash
    segment_count: int
    entry_point: int
    flash_mode: int
    flash_size_freq: int
    first_image_length: int      # header + segments + checksum (+ SHA-256)
    file_size: int
    partitions: tuple[Partition, ...] = ()
    min_revision: int | None = None   # major * 100 + minor, as esptool counts
    max_revision: int | None = None
    sha256: str = field(default="")   # of the whole file


def read_partition_table(data: bytes, table_at: int = 0) -> tuple[Partition, ...]:
    """The partition table at ``table_at`` in ``data``, empty when there is none."""
    partitions = []
    end = min(len(data), table_at + PARTITION_TABLE_LENGTH)
    for position in range(table_at, end - PARTITION_ENTRY.size + 1, PARTITION_ENTRY.size):
        magic, ptype, subtype, offset, size, label, _flags = PARTITION_ENTRY.unpack_from(data, position)
        if magic != PARTITION_MAGIC:
            break
        partitions.append(Partition(label.rstrip(b"\0").decode("ascii", "replace"), ptype, subtype, offset, size))
    return tuple(partitions)


# --- one image, through esptool's parser -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    image: object       # an esptool.bin_image *FirmwareImage
    length: int         # bytes the image occupies, checksum and digest included


def _image_length(image, data: bytes, start: int) -> int:
    """How long the parsed image is: the data length esptool measured, plus the digest when one is appended."""
    length = getattr(image, "data_length", None)
    if length is None:   # ESP8266 images: header, segments, padding to 16 with the checksum last
        position = start + HEADER.size
        for segment in image.segments:
            position += SEGMENT_HEADER.size + len(segment.data)
        position += 16 - position % 16
        return position - start
    return length + (32 if image.append_digest else 0)


def _parse(chip: ChipInfo, data: bytes, start: int, path: str | None, what: str) -> _Parsed:
    """Parse the image at ``start`` for ``chip`` and check that it is whole and undamaged."""
    piece = data[start:]
    if not piece or piece[0] != ESP_IMAGE_MAGIC:
        raise NotAnEspImage(piece[:8], path)
    try:
        image = LoadFirmwareImage(chip.key, piece)
    except FatalError as failure:
        # esptool raises FatalError for a segment that runs past the end of the file, a bad magic or >16 segments.
        described = _described_length(piece, chip.has_partition_table)
        if described is None or described > len(piece):
            raise TruncatedImage(start + described if described else None, len(data), path, what) from failure
        raise NotAnEspImage(piece[:8], path) from failure
    except (struct.error, TypeError) as failure:
        # struct.error: a header cut short; TypeError: ord() of the missing checksum byte.
        described = _described_length(piece, chip.has_partition_table)
        raise TruncatedImage(start + described if described else None, len(data), path, what) from failure
    except RuntimeError as failure:   # an extended header whose "hash appended" byte is neither 0 nor 1
        raise NotAnEspImage(piece[:8], path) from failure
    length = _image_length(image, data, start)
    if start + length > len(data):
        raise TruncatedImage(start + length, len(data), path, what)
    if image.checksum != image.calculate_checksum():
        raise DamagedImage(path, what, "checksum", f"0x{image.checksum:02x}", f"0x{image.calculate_checksum():02x}")
    if getattr(image, "append_digest", False) and image.stored_digest != image.calc_digest:
        raise DamagedImage(path, what, "SHA-256", image.stored_digest.hex(), image.calc_digest.hex())
    return _Parsed(image, length)


def _described_length(piece: bytes, extended: bool) -> int | None:
    """The length the image's headers describe (segments, padding, checksum, SHA-256), None when the file ends
    inside the headers themselves. Only consulted after esptool refused to parse ``piece``, to tell a cut download
    from bytes that are no image at all."""
    position = HEADER.size
    hash_appended = False
    if extended:
        if len(piece) < position + EXTENDED_HEADER.size:
            return None
        hash_appended = piece[position + EXTENDED_HEADER.size - 1] == 1
        position += EXTENDED_HEADER.size
    for _ in range(min(piece[1], 16)):
        if len(piece) < position + SEGMENT_HEADER.size:
            return None
        _address, length = SEGMENT_HEADER.unpack_from(piece, position)
        position += SEGMENT_HEADER.size + length
    position += 16 - position % 16
    return position + (32 if hash_appended else 0)


def _is_application(image) -> bool:
    """An application maps segments from flash (DROM/IROM); a bootloader runs from RAM only."""
    is_flash_addr = getattr(image, "is_flash_addr", None)
    return bool(is_flash_addr) and any(is_flash_addr(segment.addr) for segment in image.segments)


def _esp32_family_chip_of(data: bytes, start: int = 0) -> int | None:
    """The chip id in an ESP32-family extended header, when the bytes look like one (for telling an ESP8266 user
    that the file is for another chip)."""
    if len(data) < start + HEADER.size + EXTENDED_HEADER.size or data[start] != ESP_IMAGE_MAGIC:
        return None
    fields = EXTENDED_HEADER.unpack_from(data, start + HEADER.size)
    chip_id, reserved, hash_appended = fields[4], fields[8:12], fields[12]
    if reserved == (0, 0, 0, 0) and hash_appended in (0, 1) and fields[0] == 0xEE:
        return chip_id
    return None


def _check_chip(parsed: _Parsed, chip: ChipInfo, path: str | None) -> None:
    image_id = getattr(parsed.image, "chip_id", None)
    if chip.image_chip_id is not None and image_id != chip.image_chip_id:
        raise ImageChipMismatch(image_chip_name(image_id), chip.display_name, path)


def _revision_range(image) -> tuple[int | None, int | None, bool]:
    """(minimum, maximum, uses full revisions) as esptool reads them: images built before ESP-IDF 5 carry only
    ``min_rev`` (a major revision; the minor one on the ESP32-C3)."""
    max_full = getattr(image, "max_rev_full", 0)
    min_full = getattr(image, "min_rev_full", 0)
    min_rev = getattr(image, "min_rev", 0)
    if max_full == 0 or (max_full == NO_MAX_REVISION and min_full == 0 and min_rev != 0):
        return (min_rev or None), None, False
    return min_full, (None if max_full == NO_MAX_REVISION else max_full), True


def _check_revision(parsed: _Parsed, chip: ChipInfo, revision: int | None, path: str | None) -> None:
    if revision is None or chip.image_chip_id is None:
        return
    low, high, full = _revision_range(parsed.image)
    if full:
        if (low is not None and revision < low) or (high is not None and revision > high):
            raise ImageRevisionMismatch(path, chip.display_name, revision, low, high)
        return
    if low is not None:
        # Old images: min_rev counts major revisions (minor ones on the C3).
        have = revision % 100 if chip.key == "esp32c3" else revision // 100
        if have < low:
            scale = 1 if chip.key == "esp32c3" else 100
            raise ImageRevisionMismatch(path, chip.display_name, revision, low * scale, None)


# --- a whole file ----------------------------------------------------------------------------------------------


def inspect_image(data: bytes, expected_chip: ChipInfo | None = None, flash_size: int | None = None,
                  offset: int | None = None, path: str | None = None, chip_revision: int | None = None) -> ImageInfo:
    """Check ``data`` as a firmware file for ``expected_chip`` (the detected chip, revision ``chip_revision`` as
    major * 100 + minor), to be written at ``offset`` (None: where its layout says) into ``flash_size`` bytes.
    Returns what it is; raises an :class:`ImageRejected` naming the file (``path``) and what is wrong."""
    chip = expected_chip or _guess_chip(data) or CHIPS["esp32"]
    if not data:
        raise TruncatedImage(None, 0, path, "firmware")
    bootloader_at = chip.micropython_offset
    layout = None
    start = 0
    if data[0] != ESP_IMAGE_MAGIC:
        # A full-flash copy of a chip whose bootloader does not start at 0: blank up to it, the bootloader there.
        if bootloader_at and len(data) > bootloader_at and data[bootloader_at] == ESP_IMAGE_MAGIC and \
                data[:bootloader_at] == b"\xff" * bootloader_at:
            layout, start = LAYOUT_FULL_FLASH, bootloader_at
        else:
            raise NotAnEspImage(data[:8], path)
    if not chip.has_partition_table:
        return _inspect_esp8266(data, chip, flash_size, offset, path)
    if layout is None and expected_chip is not None:
        other = _esp32_family_chip_of(data)
        if other is not None and other != chip.image_chip_id:
            raise ImageChipMismatch(image_chip_name(other), chip.display_name, path)
    first = _parse(chip, data, start, path, "firmware image")
    _check_chip(first, chip, path)
    _check_revision(first, chip, chip_revision, path)
    is_app = _is_application(first.image)
    if layout == LAYOUT_FULL_FLASH and is_app:
        raise NotAnEspImage(data[:8], path)   # blank start, then an application: not a copy of a flash
    if is_app:
        # An application belongs in an app partition; at the bootloader's place the board would not start.
        if offset is None or offset == bootloader_at:
            raise ApplicationAtBootloaderOffset(path, chip.display_name, bootloader_at)
        layout, base = LAYOUT_APPLICATION, offset
    elif layout == LAYOUT_FULL_FLASH:
        base = 0 if offset is None else offset
    else:
        if offset is not None and offset != bootloader_at:
            raise MergedImageAtAppOffset(path, chip.display_name, offset, bootloader_at)
        layout, base = LAYOUT_BOOTLOADER, bootloader_at
    partitions: tuple[Partition, ...] = ()
    if not is_app:
        table_at = PARTITION_TABLE_ADDRESS - base
        partitions = read_partition_table(data, table_at) if 0 <= table_at < len(data) else ()
        if partitions and layout == LAYOUT_BOOTLOADER:
            layout = LAYOUT_MERGED
        for partition in partitions:
            app_at = partition.offset - base
            if partition.type != PARTITION_TYPE_APP or not 0 <= app_at < len(data):
                continue
            if layout == LAYOUT_FULL_FLASH and data[app_at] == 0xFF:
                continue   # an empty OTA slot in a flash copy
            app = _parse(chip, data, app_at, path, f"application (partition '{partition.label}')")
            _check_chip(app, chip, path)
            _check_revision(app, chip, chip_revision, path)
    if flash_size is not None and base + len(data) > flash_size:
        raise ImageTooLarge(len(data), flash_size, base, path)
    low, high, _full = _revision_range(first.image)
    header = first.image
    return ImageInfo(BY_IMAGE_CHIP_ID.get(getattr(header, "chip_id", None)), layout, base, len(header.segments),
                     header.entrypoint, header.flash_mode, header.flash_size_freq, first.length, len(data),
                     partitions, low, high, hashlib.sha256(data).hexdigest())


def _inspect_esp8266(data: bytes, chip: ChipInfo, flash_size: int | None, offset: int | None,
                     path: str | None) -> ImageInfo:
    other = _esp32_family_chip_of(data)
    family_chip = BY_IMAGE_CHIP_ID.get(other) if other is not None else None
    if family_chip is not None:
        # An ESP32-family image parses as one (its checksum right): it is for that chip, not this one.
        try:
            _parse(family_chip, data, 0, None, "firmware image")
        except ImageRejected:
            pass
        else:
            raise ImageChipMismatch(family_chip.display_name, chip.display_name, path)
    first = _parse(chip, data, 0, path, "firmware image")
    base = 0 if offset is None else offset
    if flash_size is not None and base + len(data) > flash_size:
        raise ImageTooLarge(len(data), flash_size, base, path)
    header = first.image
    layout = LAYOUT_FULL_FLASH if flash_size is not None and len(data) == flash_size else LAYOUT_MERGED
    return ImageInfo(None, layout, base, len(header.segments), header.entrypoint, header.flash_mode,
                     header.flash_size_freq, first.length, len(data), (), None, None,
                     hashlib.sha256(data).hexdigest())


def _guess_chip(data: bytes) -> ChipInfo | None:
    chip_id = _esp32_family_chip_of(data)
    return BY_IMAGE_CHIP_ID.get(chip_id) if chip_id is not None else None


MICROPYTHON_BANNER = re.compile(rb"MicroPython v(\d+\.\d+(?:\.\d+)?)")


def micropython_version_in(image: bytes) -> str | None:
    """The MicroPython release an image announces in its banner string ("1.24.1"), None if it is not MicroPython.
    Every official build carries "MicroPython v1.x.y on <date>" in its read-only data."""
    match = MICROPYTHON_BANNER.search(image)
    return match.group(1).decode("ascii") if match else None


def load_image(path: Path | str, expected_chip: ChipInfo | None = None, flash_size: int | None = None) -> bytes:
    """Read and check a firmware file; returns its bytes."""
    data = Path(path).read_bytes()
    inspect_image(data, expected_chip, flash_size, path=str(path))
    return data


# --- images for tests and the benchmark ------------------------------------------------------------------------


def build_test_image(chip: ChipInfo, payload_size: int, seed: int = 1, entry: int = 0x40080000,
                     text: bytes = b"", application: bool = False, min_revision: int = 0,
                     max_revision: int = NO_MAX_REVISION, compressible: float = 0.0) -> bytes:
    """A valid image for ``chip`` with ``payload_size`` bytes of pseudo-random segment data, for tests and the
    benchmark (MicroPython is never downloaded by them). ``application`` maps the segment from flash (an app)
    instead of RAM (a bootloader). ESP32-family images carry a SHA-256, as ESP-IDF builds do. ``text`` starts the
    segment data (as a firmware's banner sits in its rodata); ``compressible`` is the fraction of it that is
    repetitive text rather than random bytes, so a deflate-compressed write shrinks as a real firmware's does."""
    import random
    rng = random.Random(seed)
    repetitive = int(payload_size * compressible)
    filler = (b"MicroPython rodata: strings and tables compress well. " * (repetitive // 54 + 1))[:repetitive]
    payload = text + filler + rng.randbytes(max(0, payload_size - len(text) - len(filler)))
    payload_size = len(payload)
    header = HEADER.pack(ESP_IMAGE_MAGIC, 1, 2, 0x20, entry)
    load_address = 0x3FFB0000
    if chip.image_chip_id is not None:
        header += EXTENDED_HEADER.pack(0xEE, 0, 0, 0, chip.image_chip_id, 0, min_revision, max_revision,
                                       0, 0, 0, 0, 1)
        if application:
            load_address = chip.target.DROM_MAP_START + 0x20
    elif application:
        load_address = 0x40200000 + 0x10   # the ESP8266's irom0 window
    body = header + SEGMENT_HEADER.pack(load_address, payload_size) + payload
    checksum = 0xEF
    for byte in payload:
        checksum ^= byte
    body += b"\0" * (15 - len(body) % 16) + bytes([checksum])
    if chip.image_chip_id is not None:
        body += hashlib.sha256(body).digest()
    return body


def build_merged_test_firmware(chip: ChipInfo, app: bytes, fs_offset: int = 0x200000, fs_size: int = 0x200000,
                               app_partition_size: int = 0x1F0000) -> bytes:
    """A file laid out like MicroPython's ``firmware.bin`` for an ESP32-family ``chip``: a bootloader at the
    chip's bootloader offset, the partition table at 0x8000 (nvs, factory app at 0x10000, a FAT "vfs" file system)
    and ``app`` at 0x10000."""
    start = chip.micropython_offset
    image = bytearray(build_test_image(chip, 3000, seed=11))
    image += b"\xff" * (PARTITION_TABLE_ADDRESS - start - len(image))
    entries = [(0x01, 0x02, 0x9000, 0x6000, b"nvs"), (0x00, 0x00, 0x10000, app_partition_size, b"factory"),
               (0x01, 0x81, fs_offset, fs_size, b"vfs")]
    for ptype, subtype, offset, size, label in entries:
        image += PARTITION_ENTRY.pack(PARTITION_MAGIC, ptype, subtype, offset, size, label.ljust(16, b"\0"), 0)
    image += b"\xff" * (0x10000 - start - len(image))
    image += app
    return bytes(image)
