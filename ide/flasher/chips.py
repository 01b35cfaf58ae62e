"""The chips the flasher offers, as esptool defines them.

Everything about a chip (its name, where its bootloader starts, the chip id in its image headers, its ROM's
detection values) comes from esptool's target classes (``esptool.targets.CHIP_DEFS``); this module only chooses
which of them to offer: the chips MicroPython publishes firmware for, each with the generic board id on
micropython.org/download. A MicroPython ``firmware.bin`` for the ESP32 family is a merged file that starts with
the second-stage bootloader, so it is written at the chip's bootloader offset: 0x1000 on the ESP32 and ESP32-S2
(the ROM reserves the first 4 KB), 0x2000 on the ESP32-C5 and ESP32-P4, 0x0 on the ESP8266 and the others. Tools
that hard-code 0x1000 (Mu does) leave C3/S3 boards unbootable.
"""

from __future__ import annotations

from dataclasses import dataclass

from esptool.targets import CHIP_DEFS

# esptool's --chip value -> MicroPython's generic board id for that chip (micropython.org/download/<id>/).
MICROPYTHON_BOARDS = {
    "esp8266": "ESP8266_GENERIC",
    "esp32": "ESP32_GENERIC",
    "esp32s2": "ESP32_GENERIC_S2",
    "esp32s3": "ESP32_GENERIC_S3",
    "esp32c2": "ESP32_GENERIC_C2",
    "esp32c3": "ESP32_GENERIC_C3",
    "esp32c5": "ESP32_GENERIC_C5",
    "esp32c6": "ESP32_GENERIC_C6",
    "esp32p4": "ESP32_GENERIC_P4",
}


@dataclass(frozen=True)
class ChipInfo:
    key: str                    # esptool's --chip value ("esp32c3")
    display_name: str           # esptool's CHIP_NAME ("ESP32-C3")
    micropython_offset: int     # esptool's BOOTLOADER_FLASH_OFFSET: where a merged firmware .bin starts
    image_chip_id: int | None   # esptool's IMAGE_CHIP_ID; None on the ESP8266, whose images carry no chip id
    micropython_board: str      # "ESP32_GENERIC_C3"

    @property
    def target(self):
        """esptool's ROM class for this chip (``esptool.targets.CHIP_DEFS[key]``)."""
        return CHIP_DEFS[self.key]

    @property
    def has_partition_table(self) -> bool:
        """ESP-IDF chips boot through a bootloader and a partition table; the ESP8266 port has neither."""
        return self.image_chip_id is not None


def _chip(key: str) -> ChipInfo:
    target = CHIP_DEFS[key]
    image_chip_id = None if key == "esp8266" else target.IMAGE_CHIP_ID
    return ChipInfo(key, target.CHIP_NAME, target.BOOTLOADER_FLASH_OFFSET, image_chip_id, MICROPYTHON_BOARDS[key])


CHIPS: dict[str, ChipInfo] = {key: _chip(key) for key in MICROPYTHON_BOARDS if key in CHIP_DEFS}

BY_DISPLAY_NAME = {chip.display_name: chip for chip in CHIPS.values()}
BY_IMAGE_CHIP_ID = {chip.image_chip_id: chip for chip in CHIPS.values() if chip.image_chip_id is not None}


def image_chip_name(chip_id: int) -> str:
    """The chip an ESP-IDF image with this chip id is for ("ESP32-H2"), from every chip esptool knows."""
    for key, target in CHIP_DEFS.items():
        if key != "esp8266" and target.IMAGE_CHIP_ID == chip_id:
            return target.CHIP_NAME
    return f"an unknown chip (id {chip_id})"


def chip_by_key(key: str) -> ChipInfo:
    from ide.errors import UsageError
    try:
        return CHIPS[key.lower().replace("-", "")]
    except KeyError:
        raise UsageError("chip", f"unknown chip {key!r}; known: {', '.join(CHIPS)}") from None


def chip_for_esptool_name(chip_name: str) -> ChipInfo | None:
    """Our entry for what esptool detected (its CHIP_NAME), None for a chip MicroPython has no firmware for."""
    return BY_DISPLAY_NAME.get(chip_name)
