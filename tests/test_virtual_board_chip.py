"""The virtual board on the wire and in memory, byte for byte what an ESP32 (or ESP8266) sends and holds.

What a real chip does, with the MicroPython source that says so, is in docs/virtual-board.md; these tests check
the virtual board against that table, on the serial line itself (pyserial), not through our own host code.
"""

from __future__ import annotations

import time

import pytest
import serial

from ide.board.board import Board
from ide.board.virtual import VirtualBoard, VirtualBoardConfig, profiles
from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board


class Wire:
    """A serial line to a virtual board, read until an expected ending."""

    def __init__(self, device: str):
        self.port = serial.Serial(device, 115200, timeout=0.05)

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def until(self, ending: bytes, timeout: float = 10) -> bytes:
        data = bytearray()
        deadline = time.monotonic() + timeout
        while not data.endswith(ending):
            if time.monotonic() > deadline:
                raise AssertionError(f"{ending!r} not seen in {bytes(data)!r}")
            data += self.port.read(256)
        return bytes(data)

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def wire(tmp_path):
    board = VirtualBoard(VirtualBoardConfig(root_dir=tmp_path / "board", baud=0))
    line = Wire(board.start())
    line.send(b"\r\x03")
    line.until(b">>> ")
    yield line, board
    line.close()
    board.stop()


def test_friendly_repl_cooks_program_output_and_tracebacks(wire):
    line, _ = wire
    line.send(b"print('a\\nb')\r")
    assert line.until(b">>> ") == b"print('a\\nb')\r\na\r\nb\r\n>>> "
    line.send(b"1/0\r")
    assert line.until(b">>> ") == (b"1/0\r\nTraceback (most recent call last):\r\n"
                                   b'  File "<stdin>", line 1, in <module>\r\n'
                                   b"ZeroDivisionError: divide by zero\r\n>>> ")


def test_raw_repl_cooks_text_and_passes_stdout_buffer_bytes_untouched(wire):
    line, _ = wire
    line.send(b"\x01")
    line.until(b"raw REPL; CTRL-B to exit\r\n>")
    every_byte = bytes(range(256))
    line.send(b"import sys\nprint('x')\nsys.stdout.buffer.write(bytes(range(256)))\nprint('y')\x04")
    assert line.until(b"\x04>") == b"OKx\r\n" + every_byte + b"y\r\n\x04\x04>"
    line.send(b"1/0\x04")
    assert line.until(b"\x04>") == (b"OK\x04Traceback (most recent call last):\r\n"
                                    b'  File "<stdin>", line 1, in <module>\r\n'
                                    b"ZeroDivisionError: divide by zero\r\n\x04>")
    # Raw-paste: the ESP32's 128-byte window (half of MICROPY_REPL_STDIN_BUFFER_MAX, shared/runtime/pyexec.c).
    line.send(b"\x05A\x01")
    assert line.until(b"\x01", timeout=5) == b"R\x01\x80\x00\x01"
    line.send(b"print(6 * 7)\x04")
    assert line.until(b"\x04>") == b"\x0442\r\n\x04\x04>"


def test_soft_reboot_and_banners_are_the_chips(wire):
    line, _ = wire
    line.send(b"\x04")
    # pyexec's friendly REPL ends the line on Ctrl-D (shared/runtime/pyexec.c), then ports/esp32/main.c says
    # "MPY: soft reboot" and runs boot.py/main.py before the banner.
    assert line.until(b">>> ") == b"\r\nMPY: soft reboot\r\n" + profiles.banner(profiles.ESP32, profiles.firmware(None)) + b">>> "
    line.send(b"import sys; print(sys.platform, sys.implementation._machine)\r")
    assert b"esp32 Generic ESP32 module with ESP32\r\n" in line.until(b">>> ")


@pytest.mark.parametrize("chip", ["esp32", "esp8266"])
def test_a_program_gets_a_chips_free_heap(tmp_path, chip):
    board = Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=tmp_path / chip, baud=0, chip=chip),
                       timeout=20)
    try:
        free = int(board.exec("import gc; gc.collect(); print(gc.mem_free())"))
        # Importing the hardware modules costs nothing more, as on a chip where they are built in.
        after = int(board.exec("import machine, network, esp, time, socket; import gc; gc.collect(); "
                               "print(gc.mem_free())"))
        platform = board.exec("import sys; print(sys.platform)").decode().strip()
        # ...and in one piece, as on a chip whose hardware modules live in flash: half of it as one buffer.
        board.exec("import gc; gc.collect(); b = bytearray(gc.mem_free() // 2); del b")
    finally:
        board.close()
    expected = profiles.CHIPS[chip].free_after_boot
    assert 0.9 * expected < free < 1.1 * expected
    assert after > free - 2048
    assert platform == chip


def test_the_32_bit_interpreter_gives_exact_chip_figures(tmp_path, micropython_32bit):
    config = VirtualBoardConfig(root_dir=tmp_path / "b32", baud=0, interpreter=micropython_32bit)
    board = Board.open("virtual", virtual_config=config, timeout=20)
    try:
        assert board.virtual_board.pointer_bits == 32 and board.virtual_board.heap_scale == 1.0
        free = int(board.exec("import gc; gc.collect(); print(gc.mem_free())"))
        # 300 small dicts take 40,480 B on 32 bits (../shared/peers/README.md), twice that on 64.
        used = int(board.exec("import gc; gc.collect(); a = gc.mem_alloc(); "
                              "k = [{'a': i, 'b': i} for i in range(300)]; gc.collect(); print(gc.mem_alloc() - a)"))
    finally:
        board.close()
    assert 0.95 * profiles.ESP32.free_after_boot < free < 1.05 * profiles.ESP32.free_after_boot
    assert used < 13 * 1024


def test_old_firmware_refuses_raw_paste_and_says_its_release(tmp_path):
    board = VirtualBoard(VirtualBoardConfig(root_dir=tmp_path / "old", baud=0, firmware_version="1.12",
                                            missing_modules=("hashlib",)))
    line = Wire(board.start())
    try:
        line.send(b"\r\x03")
        assert b"MicroPython v1.12 on 2019-12-20; ESP32 module with ESP32\r\n" in line.until(b">>> ")
        line.send(b"\x01")
        line.until(b"raw REPL; CTRL-B to exit\r\n>")
        # Before 1.14 the raw REPL knows no raw-paste: it prints its banner again (mpremote's fallback test).
        line.send(b"\x05A\x01")
        assert line.until(b">") == b"raw REPL; CTRL-B to exit\r\n>"
        line.send(b"import sys\nprint(sys.implementation.version[:2])\n"
                  b"try:\n import hashlib\nexcept ImportError:\n print('no hashlib')\n"
                  b"try:\n import deflate\nexcept ImportError:\n print('no deflate')\n\x04")
        assert line.until(b"\x04>") == b"OK(1, 12)\r\nno hashlib\r\nno deflate\r\n\x04\x04>"
    finally:
        line.close()
        board.stop()


def test_esp8266_has_no_esp32_module(tmp_path):
    board = Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=tmp_path / "8266", baud=0,
                                                                    chip="esp8266"), timeout=20)
    try:
        answer = board.exec("try:\n import esp32\n print('has esp32')\nexcept ImportError:\n print('no esp32')\n")
        banner = board.virtual_board.banner
    finally:
        board.close()
    assert answer.strip() == b"no esp32"
    assert banner.startswith(b"MicroPython v1.29.0 on 2026-07-05; ESP module with ESP8266\r\n")
