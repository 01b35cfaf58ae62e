"""Register models of the simulated chips, as data: one :class:`SimChip` per chip.

Only what esptool reads is modelled; any other address reads as 0, which esptool takes as "feature/eFuse not
set" (no secure boot, no flash encryption, not on USB-Serial/JTAG). Values must be plausible, not just present:
esptool multiplies the UART clock divider by the host baud rate to guess the crystal, and the ESP32 stub derives
the crystal from the RTC calibration value and the 8 MHz clock eFuse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable

from esptool.targets import CHIP_DEFS

from ide.flasher.chips import CHIPS, ChipInfo

CHIP_DETECT_MAGIC_REG = 0x40001000


def _mac_esp32(mac: bytes, efuse_base: int) -> dict[int, int]:
    # esptool packs eFuse words 2 then 1 big-endian and drops the first two bytes (a CRC).
    return {efuse_base + 8: (mac[0] << 8) | mac[1], efuse_base + 4: int.from_bytes(mac[2:6], "big")}


def _mac_esp8266(mac: bytes, otp_base: int) -> dict[int, int]:
    # OTP word 3 holds the OUI when it is not one of Espressif's two defaults; word 1 bytes 1..0 and word 0's top
    # byte hold the device-specific half.
    return {
        otp_base + 0xC: (mac[0] << 16) | (mac[1] << 8) | mac[2],
        otp_base + 0x4: (mac[3] << 8) | mac[4],
        otp_base + 0x0: mac[5] << 24,
    }


def _mac_block1(mac: bytes, mac_reg: int) -> dict[int, int]:
    # C3/S3 and later: MAC_EFUSE_REG holds bytes 2..5, the next word's low 16 bits bytes 0..1.
    return {mac_reg: int.from_bytes(mac[2:6], "big"), mac_reg + 4: (mac[0] << 8) | mac[1]}


@dataclass(frozen=True)
class SpiController:
    """The SPI0 flash controller's "user command" registers, which esptool drives for RDID and SFDP."""

    base: int
    usr_offs: int
    usr1_offs: int
    usr2_offs: int
    mosi_dlen_offs: int | None   # None on ESP8266: bit lengths live in USR1 instead
    miso_dlen_offs: int | None
    w0_offs: int

    CMD_USR_BIT = 1 << 18
    USR2_COMMAND_MASK = 0xFFFF
    ADDR_OFFS = 0x04


@dataclass(frozen=True)
class SimChip:
    info: ChipInfo
    rom_status_length: int        # ESP32-family ROMs append 4 status bytes, the ESP8266 ROM and all stubs 2
    uart_clkdiv_reg: int
    uart_clock_hz: int            # divider x baud equals this: APB 40 MHz, ESP8266 2 x 26 MHz crystal
    spi: SpiController
    mac_layout: Callable[[bytes, int], dict[int, int]]
    mac_base: int
    static_registers: dict[int, int] = field(default_factory=dict)
    rom_supports_security_info: bool = False
    short_security_info: bool = False      # the ESP32-S2 ROM's 12-byte form, without a chip id
    rom_has_spi_attach: bool = True         # the ESP8266 ROM attaches the flash inside FLASH_BEGIN
    rom_has_md5: bool = True
    rom_has_read_flash_slow: bool = False   # READ_FLASH_SLOW: 64 bytes per command, ESP32 ROM only
    rom_boot_line: bytes = b""
    default_mac: bytes = b"\x24\x0a\xc4\x12\x34\x56"

    @property
    def key(self) -> str:
        return self.info.key

    def registers(self, mac: bytes) -> dict[int, int]:
        values = dict(self.static_registers)
        values.update(self.mac_layout(mac, self.mac_base))
        return values


_ESP32_EFUSE = 0x3FF5A000
# ESP32: eFuse word 4 bits 0..7 = 8 MHz clock calibration (50), RTC_CALI value 2048 in bits 7.. of RTCCALICFG1:
# 2048 * 15625 * 50 / 40 = 40 MHz, the crystal the stub reports. Word 3 bit 15 and APB date bit 31 give rev v3.
_ESP32_STATIC = {
    CHIP_DETECT_MAGIC_REG: 0x00F01D83,
    _ESP32_EFUSE + 0x0C: (1 << 15) | (1 << 9),    # rev bit 0; package D0WD
    _ESP32_EFUSE + 0x10: 50,
    _ESP32_EFUSE + 0x14: (1 << 20),                # rev bit 1
    0x3FF6607C: 1 << 31,                           # APB_CTL_DATE: rev bit 2
    0x3FF5F06C: 2048 << 7,                         # RTCCALICFG1
}

_ESP8266_STATIC = {CHIP_DETECT_MAGIC_REG: 0xFFF0C101}


def _spi_of(key: str) -> SpiController:
    """The flash controller's register layout, as esptool's target class for the chip addresses it."""
    target = CHIP_DEFS[key]
    return SpiController(target.SPI_REG_BASE, target.SPI_USR_OFFS, target.SPI_USR1_OFFS, target.SPI_USR2_OFFS,
                         target.SPI_MOSI_DLEN_OFFS, target.SPI_MISO_DLEN_OFFS, target.SPI_W0_OFFS)


def _newer_chip(key: str, mac: bytes, boot_line: bytes, static: dict[int, int] | None = None,
                short_security_info: bool = False, magic: int | None = None) -> SimChip:
    """A chip from the ESP32-S2 on: ROM status of 4 bytes, GET_SECURITY_INFO, 40 MHz UART clock, MAC in eFuse
    block 1, register addresses from esptool's target class."""
    target = CHIP_DEFS[key]
    registers = dict(static or {})
    if magic is not None:
        registers[CHIP_DETECT_MAGIC_REG] = magic
    return SimChip(
        info=CHIPS[key], rom_status_length=4, uart_clkdiv_reg=target.UART_CLKDIV_REG, uart_clock_hz=40_000_000,
        spi=_spi_of(key), mac_layout=_mac_block1, mac_base=target.MAC_EFUSE_REG, static_registers=registers,
        rom_supports_security_info=True, short_security_info=short_security_info, default_mac=mac,
        rom_boot_line=boot_line,
    )


SIM_CHIPS: dict[str, SimChip] = {chip.key: chip for chip in (
    SimChip(
        info=CHIPS["esp32"], rom_status_length=4, uart_clkdiv_reg=CHIP_DEFS["esp32"].UART_CLKDIV_REG,
        uart_clock_hz=40_000_000, spi=_spi_of("esp32"),
        mac_layout=_mac_esp32, mac_base=_ESP32_EFUSE, static_registers=_ESP32_STATIC,
        rom_has_read_flash_slow=True,
        rom_boot_line=b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    ),
    SimChip(
        info=CHIPS["esp8266"], rom_status_length=2, uart_clkdiv_reg=CHIP_DEFS["esp8266"].UART_CLKDIV_REG,
        uart_clock_hz=52_000_000, spi=_spi_of("esp8266"),
        mac_layout=_mac_esp8266, mac_base=0x3FF00050, static_registers=_ESP8266_STATIC,
        rom_has_spi_attach=False, rom_has_md5=False, default_mac=b"\x5c\xcf\x7f\x12\x34\x56",
        rom_boot_line=b"\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n",
    ),
    # The ESP32-S2 ROM answers GET_SECURITY_INFO without a chip id: esptool then reads its magic value.
    _newer_chip("esp32s2", b"\x7c\xdf\xa1\x12\x34\x56",
                b"ESP-ROM:esp32s2-rc4-20191025\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0/1))\r\n",
                short_security_info=True, magic=CHIP_DEFS["esp32s2"].MAGIC_VALUE),
    # BLOCK1 word 3 bits 18..20: minor revision 4 (v0.4)
    _newer_chip("esp32c3", b"\x34\x85\x18\x12\x34\x56",
                b"ESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n",
                static={CHIP_DEFS["esp32c3"].MAC_EFUSE_REG + 12: 4 << 18}),
    _newer_chip("esp32s3", b"\xf4\x12\xfa\x12\x34\x56",
                b"ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
    _newer_chip("esp32c6", b"\x40\x4c\xca\x12\x34\x56",
                b"ESP-ROM:esp32c6-20220919\r\nrst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
    _newer_chip("esp32c2", b"\x08\x3a\x8d\x12\x34\x56",
                b"ESP-ROM:esp8684-api2-20220127\r\nrst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
    _newer_chip("esp32c5", b"\x3c\xdc\x75\x12\x34\x56",
                b"ESP-ROM:esp32c5-eco2-20250121\r\nrst:0x1 (POWERON),boot:0x18 (SPI_FAST_FLASH_BOOT)\r\n"),
)}


def security_info_reply(chip: SimChip) -> bytes:
    """GET_SECURITY_INFO payload: flags, flash_crypt_cnt, 7 key purposes, then (not on the ESP32-S2) the chip id
    and the ECO/API version."""
    head = struct.pack("<IB7B", 0, 0, *([0] * 7))
    return head if chip.short_security_info else head + struct.pack("<II", chip.info.image_chip_id or 0, 0)


def sim_chip(key: str) -> SimChip:
    try:
        return SIM_CHIPS[key]
    except KeyError:
        from ide.errors import UsageError
        raise UsageError("chip", f"the simulator knows {', '.join(SIM_CHIPS)}, not {key!r}") from None
