"""What the flasher needs to know about each ESP chip, as data.

One :class:`ChipInfo` per chip in :data:`CHIPS`. The MicroPython image offset comes from here and never from the
user: ESP32 and ESP32-S2 keep their second-stage bootloader at 0x1000 (the first 4 KB is reserved for the ROM's
flash encryption/secure boot data), every later chip and the ESP8266 start the image at 0x0. Tools that hard-code
0x1000 (Mu does) leave C3/S3 boards unbootable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChipInfo:
    key: str                    # our name and esptool's --chip value ("esp32", "esp32c3")
    display_name: str           # esptool's CHIP_NAME ("ESP32-C3")
    micropython_offset: int     # where a MicroPython firmware .bin is written
    image_chip_id: int | None   # chip id in the image extended header; None: ESP8266 images have no such header
    magic_value: int | None     # ROM register 0x40001000; None for chips identified by GET_SECURITY_INFO
    security_chip_id: int | None  # chip id reported by GET_SECURITY_INFO on chips that support it
    uses_usb_serial_jtag: bool  # the chip has a built-in USB-Serial/JTAG that may be the port


CHIPS: dict[str, ChipInfo] = {chip.key: chip for chip in (
    ChipInfo("esp8266", "ESP8266", 0x0, None, 0xFFF0C101, None, False),
    ChipInfo("esp32", "ESP32", 0x1000, 0, 0x00F01D83, None, False),
    ChipInfo("esp32s2", "ESP32-S2", 0x1000, 2, 0x000007C6, None, False),
    ChipInfo("esp32c3", "ESP32-C3", 0x0, 5, None, 5, True),
    ChipInfo("esp32s3", "ESP32-S3", 0x0, 9, None, 9, True),
    ChipInfo("esp32c6", "ESP32-C6", 0x0, 13, None, 13, True),
)}

BY_DISPLAY_NAME = {chip.display_name: chip for chip in CHIPS.values()}
BY_IMAGE_CHIP_ID = {chip.image_chip_id: chip for chip in CHIPS.values() if chip.image_chip_id is not None}


def chip_by_key(key: str) -> ChipInfo:
    from ide.errors import UsageError
    try:
        return CHIPS[key.lower().replace("-", "")]
    except KeyError:
        raise UsageError("chip", f"unknown chip {key!r}; known: {', '.join(CHIPS)}") from None
