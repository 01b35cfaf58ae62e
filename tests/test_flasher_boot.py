"""The simulated chip boots a flashed MicroPython image into the virtual board's REPL, on the same port, with the
real esptool core writing it and the real MicroPython unix port answering."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ide.board.board import Board
from ide.board.virtual import ESP32_BANNER, VirtualBoard, VirtualBoardConfig
from ide.explain import explain
from ide.flasher import flash
from ide.flasher.chips import CHIPS
from ide.flasher.errors import FirmwareDidNotStart
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.esp_sim.micropython_boot import (MicroPythonBoot, build_micropython_test_firmware,
                                                  micropython_version_in)
from ide.flasher.images import build_test_image, inspect_image

from conftest import needs_virtual_board

pytestmark = [pytest.mark.timeout(120), needs_virtual_board]
ROOT = Path(__file__).resolve().parents[1]
ESPTOOL = str(Path(sys.executable).with_name("esptool"))


@pytest.fixture
def booting_sim(request, tmp_path):
    """A simulated chip (esp32 unless parametrised) whose flashed MicroPython boots into a virtual board."""
    chip = getattr(request, "param", "esp32")
    boot = MicroPythonBoot(tmp_path / "files", VirtualBoardConfig(baud=0))
    simulator = EspSimulator(chip, flash_path=tmp_path / "flash.bin", on_boot_firmware=boot)
    boot.attach(simulator)
    simulator.start()
    yield simulator, boot
    boot.stop()
    simulator.stop()


def test_client_transport_serves_the_repl_through_callbacks(tmp_path):
    received = bytearray()
    arrived = threading.Event()

    def to_host(data: bytes) -> None:
        received.extend(data)
        if received.endswith(b">>> "):
            arrived.set()

    board = VirtualBoard(VirtualBoardConfig(root_dir=tmp_path, baud=0))
    try:
        feed = board.start_with_client(to_host)
        assert board.device_path == ""
        assert arrived.wait(10), bytes(received)
        arrived.clear()
        received.clear()
        feed(b"print(6 * 7)\r")
        assert arrived.wait(10), bytes(received)
        assert b"\n42" in received and received.endswith(b">>> ")
    finally:
        board.stop()


def test_test_firmware_is_a_valid_micropython_image():
    for chip in ("esp32", "esp8266", "esp32c3"):
        image = build_micropython_test_firmware(chip)
        inspect_image(image, CHIPS[chip], flash_size=4 * 1024 * 1024)
        assert micropython_version_in(image) == micropython_version_in(ESP32_BANNER)
    assert micropython_version_in(build_micropython_test_firmware("esp32", version="1.24.1")) == "1.24.1"
    assert micropython_version_in(build_test_image(CHIPS["esp32"], 1000)) is None


@pytest.mark.parametrize("booting_sim", ["esp32", "esp8266"], indirect=True)
def test_flashed_micropython_answers_on_the_same_port_then_esptool_syncs_again(booting_sim):
    simulator, boot = booting_sim
    stages = []
    flash.flash_firmware(simulator.device, build_micropython_test_firmware(simulator.chip.key), stage=stages.append)
    assert stages == ["connecting", "checking", "writing", "verifying", "resetting"]
    info = flash.confirm_micropython(simulator.device, timeout=15)
    assert info.version == micropython_version_in(ESP32_BANNER) and info.platform == "esp32"
    with Board.open(simulator.device) as board:
        assert board.eval("6 * 7") == 42
    # The user holds BOOT and presses RESET: esptool's SYNC takes the chip back to its download mode.
    result = subprocess.run([ESPTOOL, "--port", simulator.device, "chip-id"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # Leaving download mode (esptool closes the port) boots the flash again: a fresh MicroPython, same files.
    assert boot.boots == 2 and simulator.boot_count == 2
    with Board.open(simulator.device) as board:
        assert board.eval("'again'") == "again"


def test_files_survive_a_reflash_but_not_an_erase(booting_sim):
    simulator, boot = booting_sim
    firmware = build_micropython_test_firmware("esp32")
    flash.flash_firmware(simulator.device, firmware, stage=None)
    flash.confirm_micropython(simulator.device, timeout=15)
    with Board.open(simulator.device) as board:
        board.exec("open('keep.txt', 'w').write('hi')")
    assert (boot.files_dir / "keep.txt").exists()
    flash.flash_firmware(simulator.device, firmware)
    flash.confirm_micropython(simulator.device, timeout=15)
    assert (boot.files_dir / "keep.txt").exists()
    stages = []
    flash.flash_firmware(simulator.device, firmware, erase=True, stage=stages.append)
    assert "erasing" in stages and stages.index("erasing") < stages.index("writing")
    flash.confirm_micropython(simulator.device, timeout=15)
    assert not (boot.files_dir / "keep.txt").exists()


def test_an_image_that_is_not_micropython_never_answers(booting_sim):
    simulator, boot = booting_sim
    flash.flash_firmware(simulator.device, build_test_image(CHIPS["esp32"], 20_000))
    with pytest.raises(FirmwareDidNotStart) as caught:
        flash.confirm_micropython(simulator.device, timeout=2)
    assert caught.value.port == simulator.device and boot.boots == 0
    assert "EN/RESET" in explain(caught.value)


def test_cli_esp_sim_boots_flashed_micropython(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "ide", "esp-sim", "--flash", str(tmp_path / "f.bin")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        device = process.stdout.readline().strip()
        assert device.startswith("/dev/")
        started = time.monotonic()
        flash.flash_firmware(device, build_micropython_test_firmware("esp32"))
        assert flash.confirm_micropython(device, timeout=15).version
        assert time.monotonic() - started < 30
        assert (tmp_path / "f.bin.files").is_dir()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


@pytest.mark.skipif(not any(f.name == "firmware_version" for f in __import__("dataclasses").fields(VirtualBoardConfig)),
                    reason="the virtual board cannot be told its firmware version yet (VirtualBoardConfig."
                           "firmware_version, ide/board/virtual)")
def test_the_simulated_chip_boots_the_version_that_was_written(booting_sim):
    simulator, _boot = booting_sim
    flash.flash_firmware(simulator.device, build_micropython_test_firmware("esp32", version="1.24.1"))
    assert flash.confirm_micropython(simulator.device, timeout=15).version == "1.24.1"
