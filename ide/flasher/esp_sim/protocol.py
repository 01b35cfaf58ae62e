"""Command handling of the ESP ROM serial bootloader and of esptool's flasher stub.

Request frame: 0x00, command, u16 data length, u32 checksum, data. The checksum (XOR of the data bytes, seeded
with 0xEF) only means something for MEM_DATA, FLASH_DATA and FLASH_DEFL_DATA, and covers the payload after their
16-byte header. Reply: 0x01, command, u16 length, u32 value, then any payload and the status bytes: the ESP32
family ROMs send 4 (status, error, 0, 0), the ESP8266 ROM and every stub 2. Both are right; esptool reads the
first two after the payload it expects.

The ROM and the stub differ in more than status length: the stub answers SYNC with value 0 (esptool's hint that a
stub is already running), sends SPI_FLASH_MD5 as 16 raw bytes where the ROM sends 32 hex characters, erases as it
writes where the ROM erases at FLASH_BEGIN, and alone knows ERASE_FLASH, ERASE_REGION and READ_FLASH.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import struct
import zlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol

from ide.flasher.esp_sim.chips import CHIP_DETECT_MAGIC_REG, SimChip, security_info_reply
from ide.flasher.esp_sim.flash import FlashAddressError, NorFlash

log = logging.getLogger(__name__)

# Command opcodes (esptool's ESPLoader.ESP_CMDS).
FLASH_BEGIN = 0x02
FLASH_DATA = 0x03
FLASH_END = 0x04
MEM_BEGIN = 0x05
MEM_END = 0x06
MEM_DATA = 0x07
SYNC = 0x08
WRITE_REG = 0x09
READ_REG = 0x0A
SPI_SET_PARAMS = 0x0B
SPI_ATTACH = 0x0D
READ_FLASH_SLOW = 0x0E
CHANGE_BAUDRATE = 0x0F
FLASH_DEFL_BEGIN = 0x10
FLASH_DEFL_DATA = 0x11
FLASH_DEFL_END = 0x12
SPI_FLASH_MD5 = 0x13
GET_SECURITY_INFO = 0x14
ERASE_FLASH = 0xD0
ERASE_REGION = 0xD1
READ_FLASH = 0xD2
RUN_USER_CODE = 0xD3

SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32
# The ROM answers one SYNC with eight replies; esptool reads all of them.
SYNC_REPLY_COUNT = 8
# Any non-zero value: esptool only checks for 0, which means "the stub answered".
ROM_SYNC_VALUE = 0x20120707
CHECKSUM_SEED = 0xEF
STUB_GREETING = b"OHAI"
DATA_HEADER = struct.Struct("<IIII")

# ROM error codes (second status byte).
ROM_INVALID_MESSAGE = 0x05
ROM_FAILED_TO_ACT = 0x06
ROM_BAD_CHECKSUM = 0x07
ROM_FLASH_WRITE_ERROR = 0x08
ROM_FLASH_READ_ERROR = 0x09
ROM_DEFLATE_ERROR = 0x0B
# Stub error codes.
STUB_BAD_DATA_LEN = 0xC0
STUB_BAD_CHECKSUM = 0xC1
STUB_FAILED_SPI_OP = 0xC4
STUB_NOT_IN_FLASH_MODE = 0xC6
STUB_INFLATE_ERROR = 0xC7
STUB_NOT_ENOUGH_DATA = 0xC8
STUB_TOO_MUCH_DATA = 0xC9
STUB_NOT_IMPLEMENTED = 0xFF

# SPI flash commands esptool sends through the controller's user-command registers.
SPIFLASH_RDID = 0x9F
SPIFLASH_RDSFDP = 0x5A
SPIFLASH_RDSR = 0x05
SPIFLASH_RDSR2 = 0x35
SPIFLASH_RDSR3 = 0x15
SPI_USR_ADDR = 1 << 30
SPI_USR_MISO = 1 << 28
WINBOND = 0xEF
W25Q_MEMORY_TYPE = 0x40

READ_FLASH_ACK_TIMEOUT = 3.0


class Link(Protocol):
    """What the protocol needs from the line: send frames, await the host's READ_FLASH acks, know its baud."""

    def send_frame(self, payload: bytes) -> None: ...
    def receive_frame(self, timeout: float) -> bytes | None: ...
    def host_baud(self) -> int: ...


class CommandError(Exception):
    """A command failed: ``code`` goes into the second status byte."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(f"error 0x{code:02x}")


def checksum(data: bytes) -> int:
    state = CHECKSUM_SEED
    for byte in data:
        state ^= byte
    return state


@dataclass(frozen=True)
class StubImage:
    entry: int
    text_start: int
    text: bytes


def known_stubs(chip_key: str) -> list[StubImage]:
    """The flasher stubs esptool installs for this chip, so an uploaded stub is recognised by its content."""
    stubs = []
    stub_dir = resources.files("esptool") / "targets" / "stub_flasher"
    for version in ("1", "2"):
        folder = stub_dir / version
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            # "esp32p4.json" and "esp32p4-rev1.json": esptool picks by chip revision.
            if path.name == f"{chip_key}.json" or path.name.startswith(f"{chip_key}-"):
                stub = json.loads(path.read_text())
                stubs.append(StubImage(stub["entry"], stub["text_start"], base64.b64decode(stub["text"])))
    return stubs


def _sfdp_table() -> bytes:
    # SFDP header: signature "SFDP", revision 1.6, one parameter header (JEDEC basic table at 0x30, 16 words).
    table = bytearray(b"\xff" * 0x100)
    table[0:8] = b"SFDP\x06\x01\x00\xff"
    table[8:16] = bytes([0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xFF])
    table[0x30:0x38] = bytes([0xE5, 0x20, 0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    return bytes(table)


SFDP_TABLE = _sfdp_table()


@dataclass
class FlashSession:
    """An open FLASH_BEGIN or FLASH_DEFL_BEGIN: where the next bytes go and how many are still due."""

    offset: int
    size: int
    compressed: bool
    written: int = 0
    decompressor: object = None
    pending_error: int | None = None


@dataclass
class Faults:
    """Failures the simulator injects on request."""

    drop_replies: int = 0                 # swallow the next N reply frames (a frame lost on the line)
    flash_write_error_at: int | None = None  # programming at or beyond this flash address fails
    garble_above_baud: int | None = None  # a USB bridge that cannot keep up: above this baud it garbles frames...
    garble_after_bytes: int = 0           # ...once this many bytes have crossed at such a rate
    bytes_above_baud: int = 0             # bytes seen at a rate above garble_above_baud so far
    garbled_frames: int = 0               # how many host reads it damaged (tests watch it)


@dataclass
class ChipState:
    registers: dict[int, int] = field(default_factory=dict)
    ram: dict[int, bytes] = field(default_factory=dict)
    mem_offset: int = 0
    mem_block_size: int = 0
    stub_running: bool = False
    flash_session: FlashSession | None = None
    flash_size: int = 0


class Bootloader:
    """One chip in download mode. ``handle`` takes a request frame and answers through the link. After a command
    that leaves the bootloader, ``exit_requested`` is set ("boot" to run the flash contents)."""

    def __init__(self, chip: SimChip, flash: NorFlash, link: Link, faults: Faults, mac: bytes):
        self.chip = chip
        self.flash = flash
        self.link = link
        self.faults = faults
        self.mac = mac
        self.stubs = known_stubs(chip.key)
        self.jedec_id = WINBOND | (W25Q_MEMORY_TYPE << 8) | ((flash.size.bit_length() - 1) << 16)
        self.state = ChipState()
        self.exit_requested: str | None = None
        self.reset()

    # --- state ------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A chip reset: registers to their power-on values, RAM cleared, the ROM running again."""
        self.state = ChipState(registers=self.chip.registers(self.mac), flash_size=self.flash.size)
        self.exit_requested = None

    @property
    def stub_running(self) -> bool:
        return self.state.stub_running

    def _status_length(self) -> int:
        return 2 if self.state.stub_running else self.chip.rom_status_length

    # --- replies ----------------------------------------------------------------------------------------------

    def _reply(self, op: int, value: int = 0, payload: bytes = b"", error: int | None = None) -> None:
        if error is None:
            status = bytes([0, 0])
        elif self.state.stub_running:
            # The stub puts its error code in the first status byte (esptool decodes 0xC400 "Failed SPI
            # operation"); the ROM sends 1 and the code (0x0108 "Flash write error").
            status = bytes([error, 0])
        else:
            status = bytes([1, error])
        status += bytes(self._status_length() - 2)
        body = payload + status
        if self.faults.drop_replies > 0:
            self.faults.drop_replies -= 1
            log.info("fault injection: dropping reply to 0x%02x", op)
            return
        self.link.send_frame(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def _rom_or_stub_error(self, rom_code: int, stub_code: int) -> int:
        return stub_code if self.state.stub_running else rom_code

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(self, frame: bytes) -> None:
        if len(frame) < 8 or frame[0] != 0:
            return  # the ROM ignores frames that are not requests
        op, length, check = struct.unpack_from("<BHI", frame, 1)
        data = frame[8:8 + length]
        handler = self._handlers().get(op)
        if handler is None or not handler[1](self):
            log.debug("unsupported command 0x%02x in %s", op, "stub" if self.stub_running else "ROM")
            self._reply(op, error=STUB_NOT_IMPLEMENTED if self.stub_running else ROM_INVALID_MESSAGE)
            return
        try:
            handler[0](self, op, data, check)
        except CommandError as failure:
            self._reply(op, error=failure.code)
        except (struct.error, FlashAddressError) as failure:
            log.debug("command 0x%02x failed: %s", op, failure)
            self._reply(op, error=self._rom_or_stub_error(ROM_FAILED_TO_ACT, STUB_BAD_DATA_LEN))

    @staticmethod
    def _handlers():
        always = lambda self: True  # noqa: E731
        stub_only = lambda self: self.state.stub_running  # noqa: E731
        rom_and_stub_or_esp32_rom = lambda self: self.state.stub_running or self.chip.rom_has_spi_attach  # noqa
        return {
            SYNC: (Bootloader._sync, always),
            READ_REG: (Bootloader._read_reg, always),
            WRITE_REG: (Bootloader._write_reg, always),
            MEM_BEGIN: (Bootloader._mem_begin, always),
            MEM_DATA: (Bootloader._mem_data, always),
            MEM_END: (Bootloader._mem_end, always),
            FLASH_BEGIN: (Bootloader._flash_begin, always),
            FLASH_DATA: (Bootloader._flash_data, always),
            FLASH_END: (Bootloader._flash_end, always),
            SPI_ATTACH: (Bootloader._spi_attach, rom_and_stub_or_esp32_rom),
            SPI_SET_PARAMS: (Bootloader._spi_set_params, rom_and_stub_or_esp32_rom),
            CHANGE_BAUDRATE: (Bootloader._change_baudrate, rom_and_stub_or_esp32_rom),
            FLASH_DEFL_BEGIN: (Bootloader._flash_defl_begin, rom_and_stub_or_esp32_rom),
            FLASH_DEFL_DATA: (Bootloader._flash_defl_data, rom_and_stub_or_esp32_rom),
            FLASH_DEFL_END: (Bootloader._flash_defl_end, rom_and_stub_or_esp32_rom),
            SPI_FLASH_MD5: (Bootloader._md5, lambda self: self.state.stub_running or self.chip.rom_has_md5),
            GET_SECURITY_INFO: (Bootloader._security_info, lambda self: self.chip.rom_supports_security_info),
            READ_FLASH_SLOW: (Bootloader._read_flash_slow,
                              lambda self: not self.state.stub_running and self.chip.rom_has_read_flash_slow),
            ERASE_FLASH: (Bootloader._erase_flash, stub_only),
            ERASE_REGION: (Bootloader._erase_region, stub_only),
            READ_FLASH: (Bootloader._read_flash, stub_only),
            RUN_USER_CODE: (Bootloader._run_user_code, stub_only),
        }

    # --- basic commands ---------------------------------------------------------------------------------------

    def _sync(self, op: int, data: bytes, _check: int) -> None:
        if data != SYNC_PAYLOAD:
            raise CommandError(ROM_INVALID_MESSAGE)
        value = 0 if self.state.stub_running else ROM_SYNC_VALUE
        for _ in range(SYNC_REPLY_COUNT):
            self._reply(op, value)

    def read_register(self, address: int) -> int:
        if address == self.chip.uart_clkdiv_reg:
            # The ROM auto-bauds: its divider is whatever makes the host's rate out of the UART clock.
            return self.chip.uart_clock_hz // max(1, self.link.host_baud())
        return self.state.registers.get(address, 0)

    def _read_reg(self, op: int, data: bytes, _check: int) -> None:
        (address,) = struct.unpack_from("<I", data)
        self._reply(op, self.read_register(address))

    def _write_reg(self, op: int, data: bytes, _check: int) -> None:
        if len(data) % 16:
            raise CommandError(ROM_INVALID_MESSAGE)
        for position in range(0, len(data), 16):
            address, value, mask, _delay_us = struct.unpack_from("<IIII", data, position)
            if address == CHIP_DETECT_MAGIC_REG:
                continue
            old = self.state.registers.get(address, 0)
            self.state.registers[address] = (old & ~mask) | (value & mask)
            if address == self.chip.spi.base and value & self.chip.spi.CMD_USR_BIT:
                self._run_spi_user_command()
        self._reply(op)

    def _run_spi_user_command(self) -> None:
        spi, registers = self.chip.spi, self.state.registers
        usr = registers.get(spi.base + spi.usr_offs, 0)
        command = registers.get(spi.base + spi.usr2_offs, 0) & 0xFF
        if spi.miso_dlen_offs is not None:
            miso_bits = registers.get(spi.base + spi.miso_dlen_offs, 0) + 1 if usr & SPI_USR_MISO else 0
        else:
            # ESP8266: MISO bit length - 1 sits in USR1 bits 8..16.
            miso_bits = ((registers.get(spi.base + spi.usr1_offs, 0) >> 8) & 0x1FF) + 1 if usr & SPI_USR_MISO else 0
        address = 0
        if usr & SPI_USR_ADDR:
            # esptool shifts a 24-bit address to the register's top bits (SPI_ADDR_REG_MSB).
            address = registers.get(spi.base + spi.ADDR_OFFS, 0) >> 8
        if command == SPIFLASH_RDID:
            result = self.jedec_id
        elif command == SPIFLASH_RDSFDP:
            result = int.from_bytes((SFDP_TABLE + b"\xff" * 4)[address % 0x100:address % 0x100 + 4], "little")
        elif command in (SPIFLASH_RDSR, SPIFLASH_RDSR2, SPIFLASH_RDSR3):
            result = 0
        else:
            result = 0  # reset-enable/reset and write-enable have no data phase to model
        if miso_bits and miso_bits < 32:
            result &= (1 << miso_bits) - 1
        registers[spi.base + spi.w0_offs] = result
        # The controller clears the USR bit when the transaction ends; esptool polls for that.
        registers[spi.base] = registers.get(spi.base, 0) & ~spi.CMD_USR_BIT

    def _security_info(self, op: int, _data: bytes, _check: int) -> None:
        self._reply(op, payload=security_info_reply(self.chip))

    def _spi_attach(self, op: int, _data: bytes, _check: int) -> None:
        self._reply(op)

    def _spi_set_params(self, op: int, data: bytes, _check: int) -> None:
        _fl_id, total_size, _block, _sector, _page, _status_mask = struct.unpack_from("<IIIIII", data)
        self.state.flash_size = total_size
        self._reply(op)

    def _change_baudrate(self, op: int, data: bytes, _check: int) -> None:
        struct.unpack_from("<II", data)
        # On a pty the new rate needs no action: the host's termios change is what the next divider read sees.
        self._reply(op)

    # --- RAM download and the stub ----------------------------------------------------------------------------

    def _mem_begin(self, op: int, data: bytes, _check: int) -> None:
        _size, _blocks, block_size, offset = struct.unpack_from("<IIII", data)
        self.state.mem_offset, self.state.mem_block_size = offset, block_size
        self._reply(op)

    def _checked_block(self, data: bytes, check: int) -> tuple[int, bytes]:
        length, sequence, _, _ = DATA_HEADER.unpack_from(data)
        block = data[DATA_HEADER.size:DATA_HEADER.size + length]
        if len(block) != length:
            raise CommandError(self._rom_or_stub_error(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN))
        if checksum(block) != check & 0xFF:
            raise CommandError(self._rom_or_stub_error(ROM_BAD_CHECKSUM, STUB_BAD_CHECKSUM))
        return sequence, block

    def _mem_data(self, op: int, data: bytes, check: int) -> None:
        sequence, block = self._checked_block(data, check)
        self.state.ram[self.state.mem_offset + sequence * self.state.mem_block_size] = block
        self._reply(op)

    def _ram_at(self, address: int, length: int) -> bytes:
        content = bytearray()
        while len(content) < length:
            for start, block in self.state.ram.items():
                if start <= address < start + len(block):
                    piece = block[address - start:address - start + length - len(content)]
                    content += piece
                    address += len(piece)
                    break
            else:
                break
        return bytes(content)

    def _mem_end(self, op: int, data: bytes, _check: int) -> None:
        no_entry, entry = struct.unpack_from("<II", data)
        self._reply(op)
        if no_entry:
            return
        for stub in self.stubs:
            if entry == stub.entry and self._ram_at(stub.text_start, len(stub.text)) == stub.text:
                self.state.stub_running = True
                self.state.ram.clear()
                self.link.send_frame(STUB_GREETING)
                log.info("flasher stub running")
                return
        log.warning("MEM_END jumps to 0x%08x, which is not a known flasher stub; staying in the ROM", entry)

    # --- flash writes -----------------------------------------------------------------------------------------

    def _begin(self, data: bytes, compressed: bool) -> FlashSession:
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        if self.state.stub_running:
            # The stub takes the exact byte count and erases sector by sector as data arrives.
            total = size
        elif compressed:
            total = size  # ROM: rounded up to whole blocks, erased up front
        else:
            total = blocks * block_size
        erase_end = min(offset + max(total, size), self.flash.size)
        if offset > self.flash.size or (total and offset + total > self.flash.size and self.state.stub_running):
            raise CommandError(self._rom_or_stub_error(ROM_FAILED_TO_ACT, STUB_TOO_MUCH_DATA))
        if erase_end > offset:
            self.flash.erase_covering(offset, erase_end - offset)
        session = FlashSession(offset, total, compressed)
        if compressed:
            session.decompressor = zlib.decompressobj()
        return session

    def _flash_begin(self, op: int, data: bytes, _check: int) -> None:
        self.state.flash_session = self._begin(data, compressed=False)
        self._reply(op)

    def _flash_defl_begin(self, op: int, data: bytes, _check: int) -> None:
        self.state.flash_session = self._begin(data, compressed=True)
        self._reply(op)

    def _program(self, session: FlashSession, payload: bytes) -> None:
        address = session.offset + session.written
        if self.state.stub_running and session.written + len(payload) > session.size:
            if session.compressed:
                raise CommandError(STUB_TOO_MUCH_DATA)
            # esptool pads the last plain block with 0xFF; the stub writes only the bytes it was told about.
            payload = payload[:session.size - session.written]
        payload = payload[:max(0, self.flash.size - address)]
        limit = self.faults.flash_write_error_at
        if limit is not None and address + len(payload) > limit:
            raise CommandError(self._rom_or_stub_error(ROM_FLASH_WRITE_ERROR, STUB_FAILED_SPI_OP))
        self.flash.program(address, payload)
        session.written += len(payload)

    def _data_block(self, op: int, data: bytes, check: int, compressed: bool) -> None:
        session = self.state.flash_session
        if session is None or session.compressed != compressed:
            raise CommandError(self._rom_or_stub_error(ROM_FAILED_TO_ACT, STUB_NOT_IN_FLASH_MODE))
        if session.pending_error is not None:
            raise CommandError(session.pending_error)
        _sequence, block = self._checked_block(data, check)
        if self.state.stub_running:
            # The stub acknowledges a block before writing it; a failure shows in the next command's reply.
            self._reply(op)
            try:
                self._write_block(session, block, compressed)
            except CommandError as failure:
                session.pending_error = failure.code
            return
        self._write_block(session, block, compressed)
        self._reply(op)

    def _write_block(self, session: FlashSession, block: bytes, compressed: bool) -> None:
        if not compressed:
            self._program(session, block)
            return
        try:
            payload = session.decompressor.decompress(block)
        except zlib.error:
            raise CommandError(self._rom_or_stub_error(ROM_DEFLATE_ERROR, STUB_INFLATE_ERROR)) from None
        self._program(session, payload)

    def _flash_data(self, op: int, data: bytes, check: int) -> None:
        self._data_block(op, data, check, compressed=False)

    def _flash_defl_data(self, op: int, data: bytes, check: int) -> None:
        self._data_block(op, data, check, compressed=True)

    def _end(self, op: int, data: bytes, compressed: bool) -> None:
        (stay_in_loader,) = struct.unpack_from("<I", data)
        session = self.state.flash_session
        if session is not None and session.pending_error is not None:
            raise CommandError(session.pending_error)
        if self.state.stub_running and session is not None and session.written < session.size:
            raise CommandError(STUB_NOT_ENOUGH_DATA)
        self.state.flash_session = None
        self.flash.sync()
        self._reply(op)
        if self.state.stub_running:
            if not stay_in_loader:
                # The stub's "reboot" restarts the chip; the strapping pins still select download mode.
                self.reset()
        else:
            # Any FLASH_END leaves the ROM loader: 0 reboots, 1 jumps to the application; both run the flash.
            self.exit_requested = "boot"

    def _flash_end(self, op: int, data: bytes, _check: int) -> None:
        self._end(op, data, compressed=False)

    def _flash_defl_end(self, op: int, data: bytes, _check: int) -> None:
        self._end(op, data, compressed=True)

    def _run_user_code(self, _op: int, _data: bytes, _check: int) -> None:
        self.exit_requested = "boot"

    # --- flash reads and erases -------------------------------------------------------------------------------

    def _md5(self, op: int, data: bytes, _check: int) -> None:
        address, size, _, _ = struct.unpack_from("<IIII", data)
        digest = hashlib.md5(self.flash.read(address, size))
        payload = digest.digest() if self.state.stub_running else digest.hexdigest().encode()
        self._reply(op, payload=payload)

    def _read_flash_slow(self, op: int, data: bytes, _check: int) -> None:
        # The ROM always returns a 64-byte buffer, whatever length was asked for.
        address, length = struct.unpack_from("<II", data)
        if length > 64:
            raise CommandError(ROM_FLASH_READ_ERROR)
        block = self.flash.read(address, length)
        self._reply(op, payload=block + b"\xff" * (64 - len(block)))

    def _erase_flash(self, op: int, _data: bytes, _check: int) -> None:
        self.flash.erase_all()
        self.flash.sync()
        self._reply(op)

    def _erase_region(self, op: int, data: bytes, _check: int) -> None:
        address, size = struct.unpack_from("<II", data)
        self.flash.erase(address, size)
        self.flash.sync()
        self._reply(op)

    def _read_flash(self, op: int, data: bytes, _check: int) -> None:
        address, length, packet_size, max_in_flight = struct.unpack_from("<IIII", data)
        self.flash._check(address, length)
        self._reply(op)
        # Stream packets, at most max_in_flight ahead of the host's acknowledgement (the total it has received),
        # then the MD5 of everything sent as 16 raw bytes.
        content = self.flash.read(address, length)
        sent = acknowledged = 0
        while acknowledged < length:
            while sent < length and sent - acknowledged < max_in_flight * packet_size:
                self.link.send_frame(content[sent:sent + packet_size])
                sent = min(length, sent + packet_size)
            ack = self.link.receive_frame(READ_FLASH_ACK_TIMEOUT)
            if ack is None or len(ack) != 4:
                log.warning("READ_FLASH: host stopped acknowledging at %d of %d bytes", acknowledged, length)
                return
            (acknowledged,) = struct.unpack("<I", ack)
        self.link.send_frame(hashlib.md5(content).digest())
