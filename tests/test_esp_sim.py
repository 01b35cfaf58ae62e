"""The real esptool (its command line, as a user runs it) against the simulated chip on a pty."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ide.flasher.chips import CHIPS
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.esp_sim import slip
from ide.flasher.esp_sim.flash import NorFlash
from ide.flasher.images import build_test_image

ESPTOOL = str(Path(sys.executable).with_name("esptool"))
pytestmark = pytest.mark.timeout(120)


def esptool(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run([ESPTOOL, "--port", port, *args], capture_output=True, text=True, timeout=timeout)
    return result


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(params=["esp32", "esp8266"])
def sim(request, tmp_path):
    simulator = EspSimulator(request.param, flash_path=tmp_path / "flash.bin")
    simulator.start()
    yield simulator
    simulator.stop()


# --- building blocks ------------------------------------------------------------------------------------------


def test_slip_round_trip_escapes_delimiters():
    payload = bytes([0xC0, 0xDB, 0x01, 0xDB, 0xDC, 0xC0])
    encoded = slip.encode(payload)
    assert encoded.count(b"\xc0") == 2
    decoder = slip.SlipDecoder()
    # Split the stream mid-escape: frames must survive arbitrary read boundaries.
    assert decoder.feed(b"noise" + encoded[:4]) == []
    assert decoder.feed(encoded[4:]) == [payload]
    assert bytes(decoder.stray) == b"noise"


def test_nor_flash_writes_only_clear_bits_and_persists(tmp_path):
    path = tmp_path / "f.bin"
    flash = NorFlash(64 * 1024, path)
    flash.program(0, b"\x0f\xf0")
    flash.program(0, b"\xf0\xff")
    assert flash.read(0, 2) == b"\x00\xf0"
    flash.erase(0, 0x1000)
    assert flash.read(0, 2) == b"\xff\xff"
    flash.program(0x1000, b"kept")
    flash.close()
    assert NorFlash(64 * 1024, path).read(0x1000, 4) == b"kept"


# --- esptool against the simulator ----------------------------------------------------------------------------


def test_chip_id_and_mac(sim):
    out = ok(esptool(sim.device, "chip-id"))
    assert f"Chip type:          {'ESP32-D0WD-V3' if sim.chip.key == 'esp32' else 'ESP8266EX'}" in out
    mac = ":".join(f"{b:02x}" for b in sim.mac)
    assert mac in ok(esptool(sim.device, "read-mac"))
    assert "Crystal frequency:  " + ("40MHz" if sim.chip.key == "esp32" else "26MHz") in out


def test_flash_id(sim):
    out = ok(esptool(sim.device, "flash-id"))
    assert "Manufacturer: ef" in out and "Device: 4016" in out and "Detected flash size: 4MB" in out


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "rom"])
def test_write_read_back_and_erase(sim, tmp_path, stub):
    chip = CHIPS[sim.chip.key]
    image = build_test_image(chip, 60_000, seed=7)
    path = tmp_path / "img.bin"
    path.write_bytes(image)
    offset = f"0x{chip.micropython_offset:x}"
    extra = [] if stub else ["--no-stub"]
    out = ok(esptool(sim.device, *extra, "write-flash", offset, str(path)))
    assert "Wrote" in out
    if stub or sim.chip.key == "esp32":
        # The ESP8266 ROM cannot read flash; the ESP32 ROM reads 64 bytes per command.
        back = tmp_path / "back.bin"
        ok(esptool(sim.device, *extra, "read-flash", offset, str(len(image)), str(back)))
        assert back.read_bytes() == image
    assert sim.flash.read(chip.micropython_offset, len(image)) == image
    if stub:
        ok(esptool(sim.device, "erase-flash"))
        assert sim.flash.read(0, 4 * 1024 * 1024) == b"\xff" * (4 * 1024 * 1024)


def test_compressible_image_goes_through_flash_defl(sim, tmp_path):
    chip = CHIPS[sim.chip.key]
    image = build_test_image(chip, 4000) + bytes(200_000)   # zeros: deflate shrinks them to almost nothing
    path = tmp_path / "img.bin"
    path.write_bytes(image)
    out = ok(esptool(sim.device, "write-flash", f"0x{chip.micropython_offset:x}", str(path)))
    assert "Hash of data verified" in out
    assert sim.flash.read(chip.micropython_offset, len(image)) == image


def test_large_image_round_trip_esp32(tmp_path):
    image = build_test_image(CHIPS["esp32"], 1_500_000, seed=3)
    path = tmp_path / "big.bin"
    path.write_bytes(image)
    with EspSimulator("esp32") as simulator:
        ok(esptool(simulator.device, "-b", "460800", "write-flash", "0x1000", str(path)))
        back = tmp_path / "back.bin"
        ok(esptool(simulator.device, "read-flash", "0x1000", str(len(image)), str(back)))
        assert back.read_bytes() == image


def test_flash_file_is_kept_between_runs(tmp_path):
    flash_file = tmp_path / "board.bin"
    image = build_test_image(CHIPS["esp32"], 10_000)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator("esp32", flash_path=flash_file) as simulator:
        ok(esptool(simulator.device, "write-flash", "0x1000", str(tmp_path / "img.bin")))
    with EspSimulator("esp32", flash_path=flash_file) as simulator:
        back = tmp_path / "back.bin"
        ok(esptool(simulator.device, "read-flash", "0x1000", str(len(image)), str(back)))
        assert back.read_bytes() == image


# --- boot behaviour and faults --------------------------------------------------------------------------------


def test_hard_reset_boots_a_valid_image_through_the_hook(tmp_path):
    booted = []
    image = build_test_image(CHIPS["esp32"], 20_000)
    (tmp_path / "img.bin").write_bytes(image)
    received = []

    def on_boot(image_bytes):
        booted.append(image_bytes)
        return received.append

    with EspSimulator("esp32", on_boot_firmware=on_boot) as simulator:
        ok(esptool(simulator.device, "write-flash", "0x1000", str(tmp_path / "img.bin")))
        deadline = time.monotonic() + 2
        while not booted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert booted and booted[0].startswith(image)
        # The application keeps the port; esptool's SYNC takes the chip back to download mode.
        ok(esptool(simulator.device, "chip-id"))
        assert simulator.boot_count == 2


def test_blank_flash_does_not_call_the_hook():
    calls = []
    with EspSimulator("esp8266", on_boot_firmware=calls.append) as simulator:
        ok(esptool(simulator.device, "chip-id"))
        time.sleep(0.1)
        assert simulator.boot_count == 1 and calls == []


def test_board_not_in_boot_mode_fails_to_connect():
    with EspSimulator("esp32") as simulator:
        simulator.set_boot_mode(False)
        result = esptool(simulator.device, "--connect-attempts", "1", "chip-id")
        assert result.returncode != 0
        assert "Failed to connect" in result.stdout + result.stderr


def test_dropped_reply_is_survived_by_esptool_retry():
    with EspSimulator("esp32") as simulator:
        simulator.drop_replies(1)   # the first SYNC reply burst loses a frame; esptool syncs again
        ok(esptool(simulator.device, "chip-id"))
        assert simulator.faults.drop_replies == 0


def test_flash_write_error_is_reported(tmp_path):
    image = build_test_image(CHIPS["esp32"], 100_000)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator("esp32") as simulator:
        simulator.fail_flash_writes(0x8000)
        result = esptool(simulator.device, "write-flash", "0x1000", str(tmp_path / "img.bin"))
        assert result.returncode != 0
        assert "Failed SPI operation" in result.stdout + result.stderr


def test_dtr_rts_reset_circuit():
    with EspSimulator("esp32") as simulator:
        simulator.set_lines(dtr=False, rts=True)    # EN low
        simulator.set_lines(dtr=True, rts=False)    # EN released while IO0 low: download mode
        assert simulator.mode == "download"
        simulator.set_lines(dtr=False, rts=True)
        simulator.set_lines(dtr=False, rts=False)   # EN released with IO0 high: boots the (blank) flash
        assert simulator.mode != "download" and simulator.boot_count == 1


@pytest.mark.parametrize("chip_key", ["esp32c3", "esp32s3", "esp32c6"])
def test_c3_s3_detected_by_security_info_and_flashed_at_zero(chip_key, tmp_path):
    image = build_test_image(CHIPS[chip_key], 50_000)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator(chip_key) as simulator:
        out = ok(esptool(simulator.device, "chip-id"))
        assert f"Chip type:          {CHIPS[chip_key].display_name} (QFN" in out
        ok(esptool(simulator.device, "write-flash", "0x0", str(tmp_path / "img.bin")))
        back = tmp_path / "back.bin"
        ok(esptool(simulator.device, "read-flash", "0x0", str(len(image)), str(back)))
        assert back.read_bytes() == image


def test_rom_flash_write_error_is_reported(tmp_path):
    (tmp_path / "img.bin").write_bytes(build_test_image(CHIPS["esp32"], 30_000))
    with EspSimulator("esp32") as simulator:
        simulator.fail_flash_writes(0x2000)
        result = esptool(simulator.device, "--no-stub", "write-flash", "0x1000", str(tmp_path / "img.bin"))
        assert result.returncode != 0 and "Flash write error" in result.stdout + result.stderr


def test_esp32s2_is_detected_by_its_magic_value_after_a_short_security_info(tmp_path):
    """The ESP32-S2 ROM answers GET_SECURITY_INFO without a chip id; esptool then reads the magic value."""
    image = build_test_image(CHIPS["esp32s2"], 20_000)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator("esp32s2") as simulator:
        assert "Chip type:          ESP32-S2" in ok(esptool(simulator.device, "chip-id"))
        ok(esptool(simulator.device, "write-flash", "0x1000", str(tmp_path / "img.bin")))
        assert simulator.flash.read(0x1000, len(image)) == image


def test_a_paced_line_takes_as_long_as_the_baud_rate_says(tmp_path):
    """10 bits a byte: 40 KB of random (incompressible) data at 115200 baud cannot cross in under 3.5 s."""
    image = build_test_image(CHIPS["esp32"], 40_000, seed=9)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator("esp32", paced=True) as simulator:
        started = time.monotonic()
        ok(esptool(simulator.device, "--no-stub", "write-flash", "0x1000", str(tmp_path / "img.bin")))
        elapsed = time.monotonic() - started
    assert elapsed > len(image) * 10 / 115200


def test_a_bridge_garbling_above_a_baud_breaks_esptool_there_and_not_below(tmp_path):
    image = build_test_image(CHIPS["esp32"], 100_000, seed=4)
    (tmp_path / "img.bin").write_bytes(image)
    with EspSimulator("esp32") as simulator:
        simulator.garble_above(115200)
        failed = esptool(simulator.device, "-b", "460800", "write-flash", "0x1000", str(tmp_path / "img.bin"))
        assert failed.returncode != 0 and simulator.faults.garbled_frames > 0
        ok(esptool(simulator.device, "-b", "115200", "write-flash", "0x1000", str(tmp_path / "img.bin")))
        assert simulator.flash.read(0x1000, len(image)) == image
