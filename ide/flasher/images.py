"""Checking a firmware image before anything is written.

ESP image layout (esptool's bin_image): an 8-byte header (magic 0xE9, segment count, flash mode, flash
size/frequency, entry point); on the ESP32 family a 16-byte extended header whose bytes 4..5 are the chip id the
image was built for and byte 15 says whether a SHA-256 follows; then the segments, each an 8-byte (load address,
length) header and its data; then padding so that a one-byte checksum ends on a 16-byte boundary, then the
optional 32-byte SHA-256.

A MicroPython ``firmware.bin`` for the ESP32 family is a merged file: the second-stage bootloader at the chip's
offset, the partition table at 0x8000 and the application at its partition's offset (0x10000). Only the first
image's length is described by its header, so truncation is also checked against the partition table: every app
partition that starts inside the file must hold a complete image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ide.flasher.chips import BY_IMAGE_CHIP_ID, ChipInfo
from ide.flasher.errors import (ImageChipMismatch, ImageRejected, ImageTooLarge, NotAnEspImage,
                                TruncatedImage)

ImageProblem = ImageRejected  # what the simulator catches when its flash holds no bootable image

ESP_IMAGE_MAGIC = 0xE9
HEADER = struct.Struct("<BBBBI")
EXTENDED_HEADER = struct.Struct("<BBBBHBHH4BB")
SEGMENT_HEADER = struct.Struct("<II")
SHA256_LENGTH = 32
MAX_SEGMENTS = 16
PARTITION_TABLE_ADDRESS = 0x8000
PARTITION_ENTRY = struct.Struct("<2sBBII16sI")
PARTITION_MAGIC = b"\xaa\x50"
PARTITION_TYPE_APP = 0x00
PARTITION_TYPE_DATA = 0x01
# Data subtypes that hold a file system MicroPython mounts (fat, spiffs, littlefs).
FILE_SYSTEM_SUBTYPES = {0x81, 0x82, 0x83}


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int


@dataclass(frozen=True)
class ImageInfo:
    chip: ChipInfo | None        # from the extended header; None for ESP8266 images, which have none
    segment_count: int
    entry_point: int
    flash_mode: int
    flash_size_freq: int
    first_image_length: int      # header + segments + checksum (+ SHA-256)
    file_size: int
    partitions: tuple[Partition, ...] = ()


def _image_length(data: bytes, start: int, extended: bool) -> tuple[int, int, int | None]:
    """Length of the image at ``start``, its entry point and extended-header chip id. Raises TruncatedImage."""
    if len(data) < start + HEADER.size:
        raise TruncatedImage(start + HEADER.size, len(data))
    magic, segments, _mode, _size_freq, entry = HEADER.unpack_from(data, start)
    if magic != ESP_IMAGE_MAGIC or not 0 < segments <= MAX_SEGMENTS:
        raise NotAnEspImage(data[start:start + 8])
    position = start + HEADER.size
    chip_id = None
    hash_appended = False
    if extended:
        if len(data) < position + EXTENDED_HEADER.size:
            raise TruncatedImage(position + EXTENDED_HEADER.size, len(data))
        fields = EXTENDED_HEADER.unpack_from(data, position)
        chip_id, hash_appended = fields[4], bool(fields[-1])
        position += EXTENDED_HEADER.size
    for _ in range(segments):
        if len(data) < position + SEGMENT_HEADER.size:
            raise TruncatedImage(position + SEGMENT_HEADER.size, len(data))
        _address, length = SEGMENT_HEADER.unpack_from(data, position)
        position += SEGMENT_HEADER.size + length
    position += 16 - position % 16   # padding, then the checksum byte ending on a 16-byte boundary
    if hash_appended:
        position += SHA256_LENGTH
    if len(data) < position:
        raise TruncatedImage(position, len(data))
    return position - start, entry, chip_id


def read_partition_table(data: bytes, table_at: int) -> tuple[Partition, ...]:
    """The partition table at ``table_at`` in ``data``, empty when there is none."""
    partitions = []
    for position in range(table_at, min(len(data), table_at + 0xC00) - PARTITION_ENTRY.size + 1,
                          PARTITION_ENTRY.size):
        magic, ptype, subtype, offset, size, label, _flags = PARTITION_ENTRY.unpack_from(data, position)
        if magic != PARTITION_MAGIC:
            break
        partitions.append(Partition(label.rstrip(b"\0").decode("ascii", "replace"), ptype, subtype, offset, size))
    return tuple(partitions)


def inspect_image(data: bytes, expected_chip: ChipInfo | None = None, flash_size: int | None = None,
                  offset: int | None = None, path: str | None = None) -> ImageInfo:
    """Check ``data`` as a firmware image for ``expected_chip`` (the detected chip) written at ``offset``
    (default: the chip's MicroPython offset) into ``flash_size`` bytes. Raises an :class:`ImageRejected`."""
    try:
        if len(data) < 1 or data[0] != ESP_IMAGE_MAGIC:
            raise NotAnEspImage(data[:8])
        # ESP8266 images have no extended header; every ESP32-family image does.
        extended = expected_chip is None or expected_chip.image_chip_id is not None
        length, entry, chip_id = _image_length(data, 0, extended)
        image_chip = BY_IMAGE_CHIP_ID.get(chip_id) if chip_id is not None else None
        if expected_chip is not None and extended and chip_id != expected_chip.image_chip_id:
            name = image_chip.display_name if image_chip else f"chip id {chip_id}"
            raise ImageChipMismatch(name, expected_chip.display_name)
        if expected_chip is not None and not extended and _looks_like_esp32_family(data):
            other = BY_IMAGE_CHIP_ID.get(data[HEADER.size + 4] | data[HEADER.size + 5] << 8)
            raise ImageChipMismatch(other.display_name if other else "an ESP32-family chip",
                                    expected_chip.display_name)
        start = offset if offset is not None else (expected_chip.micropython_offset if expected_chip else 0)
        partitions: tuple[Partition, ...] = ()
        if extended and len(data) > PARTITION_TABLE_ADDRESS - start >= 0:
            partitions = read_partition_table(data, PARTITION_TABLE_ADDRESS - start)
            for partition in partitions:
                app_at = partition.offset - start
                if partition.type == PARTITION_TYPE_APP and 0 <= app_at < len(data):
                    _image_length(data, app_at, extended)
        if flash_size is not None and start + len(data) > flash_size:
            raise ImageTooLarge(len(data), flash_size, start)
        flash_mode, size_freq = data[2], data[3]
        return ImageInfo(image_chip, data[1], entry, flash_mode, size_freq, length, len(data), partitions)
    except ImageRejected as rejection:
        rejection.path = path
        raise


def _looks_like_esp32_family(data: bytes) -> bool:
    """An ESP32-family image offered to an ESP8266: its extended header has a known chip id and the first
    segment header follows at offset 24, where an ESP8266 image has segment data."""
    if len(data) < HEADER.size + EXTENDED_HEADER.size:
        return False
    chip_id = data[HEADER.size + 4] | data[HEADER.size + 5] << 8
    reserved = data[HEADER.size + 11:HEADER.size + 15]
    return chip_id in BY_IMAGE_CHIP_ID and reserved == b"\0\0\0\0" and data[HEADER.size + 15] in (0, 1)


def load_image(path: Path | str, expected_chip: ChipInfo | None = None, flash_size: int | None = None) -> bytes:
    """Read and check a firmware file; returns its bytes."""
    data = Path(path).read_bytes()
    inspect_image(data, expected_chip, flash_size, path=str(path))
    return data


def build_test_image(chip: ChipInfo, payload_size: int, seed: int = 1, entry: int = 0x40080000,
                     text: bytes = b"") -> bytes:
    """A valid image for ``chip`` with ``payload_size`` bytes of pseudo-random segment data, for tests and the
    benchmark (MicroPython is never downloaded by them). Random content keeps compression honest. ``text`` is
    placed at the start of the segment data (as a firmware's banner string sits in its rodata)."""
    import random
    rng = random.Random(seed)
    payload = text + rng.randbytes(max(0, payload_size - len(text)))
    payload_size = len(payload)
    header = HEADER.pack(ESP_IMAGE_MAGIC, 1, 2, 0x20, entry)
    if chip.image_chip_id is not None:
        header += EXTENDED_HEADER.pack(0xEE, 0, 0, 0, chip.image_chip_id, 0, 0, 0xFFFF, 0, 0, 0, 0, 0)
    body = header + SEGMENT_HEADER.pack(0x3FFB0000, payload_size) + payload
    checksum = 0xEF
    for byte in payload:
        checksum ^= byte
    body += b"\0" * (15 - len(body) % 16) + bytes([checksum])
    return body
