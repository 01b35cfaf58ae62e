"""The flasher core (ide.flasher) and its command line, against the simulated chip and the real esptool."""

from __future__ import annotations

import functools
import hashlib
import http.server
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import serial

from ide.errors import Cancelled, PortBusyError, PortNotFoundError
from ide.explain import explain
from ide.flasher import flash
from ide.flasher.catalog import FirmwareEntry, download_firmware, load_catalog
from ide.flasher.chips import CHIPS
from ide.flasher.errors import (ChipMismatch, ChipNotInBootMode, DownloadChecksumMismatch, DownloadFailed,
                                FlashWriteFailed, ImageChipMismatch, ImageTooLarge, NotAnEspImage,
                                TruncatedImage)
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.images import build_test_image, inspect_image

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def esp32():
    with EspSimulator("esp32") as simulator:
        yield simulator


def merged_micropython_like(chip_key: str = "esp32", app_size: int = 50_000) -> bytes:
    """bootloader at the chip offset, partition table at 0x8000, app at 0x10000, a FAT 'vfs' at 0x200000:
    the layout of an official ESP32 MicroPython firmware.bin (here with random segment data)."""
    chip = CHIPS[chip_key]
    start = chip.micropython_offset
    image = bytearray(build_test_image(chip, 3000, seed=11))
    image += b"\xff" * (0x8000 - start - len(image))
    entries = [(0x01, 0x02, 0x9000, 0x6000, b"nvs"), (0x00, 0x00, 0x10000, 0x1F0000, b"factory"),
               (0x01, 0x81, 0x200000, 0x200000, b"vfs")]
    for ptype, subtype, offset, size, label in entries:
        image += struct.pack("<2sBBII16sI", b"\xaa\x50", ptype, subtype, offset, size, label.ljust(16, b"\0"), 0)
    image += b"\xff" * (0x10000 - start - len(image))
    image += build_test_image(chip, app_size, seed=12, entry=0x400D0000)
    return bytes(image)


# --- image checks ---------------------------------------------------------------------------------------------


def test_refuses_what_is_not_an_esp_image():
    with pytest.raises(NotAnEspImage) as caught:
        inspect_image(b"PK\x03\x04zipfile", CHIPS["esp32"])
    assert caught.value.first_bytes.startswith(b"PK")


def test_refuses_an_image_for_another_chip():
    with pytest.raises(ImageChipMismatch) as caught:
        inspect_image(build_test_image(CHIPS["esp32c3"], 1000), CHIPS["esp32"])
    assert (caught.value.image_chip, caught.value.detected_chip) == ("ESP32-C3", "ESP32")
    with pytest.raises(ImageChipMismatch):
        inspect_image(build_test_image(CHIPS["esp32"], 1000), CHIPS["esp8266"])


def test_refuses_a_truncated_image_including_a_cut_app_partition():
    whole = build_test_image(CHIPS["esp32"], 5000)
    with pytest.raises(TruncatedImage) as caught:
        inspect_image(whole[:3000], CHIPS["esp32"])
    assert caught.value.expected_size == len(whole) and caught.value.actual_size == 3000
    merged = merged_micropython_like()
    inspect_image(merged, CHIPS["esp32"])
    with pytest.raises(TruncatedImage):
        inspect_image(merged[:-100], CHIPS["esp32"])


def test_refuses_an_image_larger_than_the_flash():
    with pytest.raises(ImageTooLarge) as caught:
        inspect_image(build_test_image(CHIPS["esp32"], 3000), CHIPS["esp32"], flash_size=2048)
    assert caught.value.flash_size == 2048 and caught.value.offset == 0x1000


def test_every_flasher_error_has_beginner_advice():
    assert "BOOT" in explain(ChipNotInBootMode("/dev/ttyUSB0"))
    assert "ESP32-C3" in explain(ImageChipMismatch("ESP32-C3", "ESP32"))
    assert "1.0 MB" in explain(ImageTooLarge(2_000_000, 1024 * 1024))


# --- against the simulator ------------------------------------------------------------------------------------


def test_detect_reports_chip_flash_crystal_mac(esp32):
    details = flash.detect(esp32.device)
    assert details.chip is CHIPS["esp32"]
    assert details.flash_size == 4 * 1024 * 1024
    assert details.crystal_mhz == 40
    assert details.mac == "24:0a:c4:12:34:56"
    assert details.revision == 300 and details.usb_mode is None


@pytest.mark.parametrize("chip_key", ["esp32", "esp8266"])
def test_flash_large_image_reads_back_identical(chip_key, tmp_path):
    image = build_test_image(CHIPS[chip_key], 1_500_000, seed=5)
    seen = []
    with EspSimulator(chip_key) as simulator:
        result = flash.flash_firmware(simulator.device, image, progress=lambda done, total: seen.append(done))
        assert result.offset == CHIPS[chip_key].micropython_offset
        assert result.md5 == hashlib.md5(image).hexdigest()
        assert seen[-1] == len(image) and seen == sorted(seen)
        backup = flash.backup_flash(simulator.device, tmp_path / "backup.bin")
        content = backup.read_bytes()
        assert content[result.offset:result.offset + len(image)] == image


def test_flash_with_erase_clears_old_contents(esp32):
    esp32.flash.program(0x300000, b"old data")
    flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32"], 2000), erase=True)
    assert esp32.flash.read(0x300000, 8) == b"\xff" * 8


def test_flash_refuses_wrong_chip_before_writing(esp32):
    with pytest.raises(ImageChipMismatch):
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32s3"], 2000))
    with pytest.raises(ChipMismatch):
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32"], 2000), chip="esp8266")
    assert esp32.flash.read(0x1000, 16) == b"\xff" * 16


def test_cancel_before_writing_leaves_flash_untouched(esp32):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32"], 2000), cancel=cancel)
    assert esp32.flash.read(0x1000, 16) == b"\xff" * 16


def test_no_answer_means_not_in_boot_mode(esp32):
    esp32.set_boot_mode(False)
    with pytest.raises(ChipNotInBootMode) as caught:
        flash.detect(esp32.device, attempts=1)
    assert caught.value.port == esp32.device and caught.value.__cause__ is not None


def test_port_busy_and_missing(esp32):
    holder = serial.Serial(esp32.device, exclusive=True)
    try:
        with pytest.raises(PortBusyError):
            flash.detect(esp32.device)
    finally:
        holder.close()
    with pytest.raises(PortNotFoundError):
        flash.detect("/dev/does-not-exist")


def test_flash_write_error(esp32):
    esp32.fail_flash_writes(0x4000)
    with pytest.raises(FlashWriteFailed) as caught:
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32"], 100_000))
    assert caught.value.offset == 0x1000 and caught.value.__cause__ is not None


def test_erase_filesystem_keeps_firmware(esp32):
    image = merged_micropython_like()
    flash.flash_firmware(esp32.device, image)
    esp32.flash.program(0x200000, b"boot.py contents")
    offset, size = flash.erase_filesystem(esp32.device)
    assert (offset, size) == (0x200000, 0x200000)
    assert esp32.flash.read(0x200000, 16) == b"\xff" * 16
    assert esp32.flash.read(0x1000, len(image)) == image


def test_backup_cancel_leaves_no_file(esp32, tmp_path):
    cancel = threading.Event()

    def stop_early(done, total):
        cancel.set()

    with pytest.raises(Cancelled):
        flash.backup_flash(esp32.device, tmp_path / "b.bin", progress=stop_early, cancel=cancel)
    assert not (tmp_path / "b.bin").exists()


# --- catalog --------------------------------------------------------------------------------------------------


def test_bundled_catalog_lists_every_chip():
    catalog = load_catalog()
    for chip in ("esp32", "esp8266", "esp32c3", "esp32s3"):
        entry = catalog.find(chip)
        assert entry.url.startswith("https://micropython.org/resources/firmware/") and entry.url.endswith(".bin")


@pytest.fixture
def http_files(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_checks_sha256_and_caches(http_files, tmp_path):
    root, base = http_files
    content = build_test_image(CHIPS["esp32"], 200_000)
    (root / "fw.bin").write_bytes(content)
    good = FirmwareEntry("B", "esp32", "", "n", "fw.bin", base + "fw.bin", hashlib.sha256(content).hexdigest())
    seen = []
    path = download_firmware(good, cache_dir=tmp_path / "cache", progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == content and seen[-1] == (len(content), len(content))
    (root / "fw.bin").unlink()   # a second call must come from the cache
    assert download_firmware(good, cache_dir=tmp_path / "cache") == path
    (root / "fw.bin").write_bytes(content)
    bad = FirmwareEntry("B", "esp32", "", "n", "fw2.bin", base + "fw.bin", "0" * 64)
    with pytest.raises(DownloadChecksumMismatch):
        download_firmware(bad, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "fw2.bin").exists()
    missing = FirmwareEntry("B", "esp32", "", "n", "x.bin", base + "nope.bin", None)
    with pytest.raises(DownloadFailed) as caught:
        download_firmware(missing, cache_dir=tmp_path / "cache")
    assert caught.value.status == 404
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        download_firmware(FirmwareEntry("B", "esp32", "", "n", "c.bin", base + "fw.bin", None),
                          cache_dir=tmp_path / "cache", cancel=cancel)
    assert not (tmp_path / "cache" / "c.bin").exists()


# --- command line ---------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ide", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_cli_chip_info_flash_backup(esp32, tmp_path):
    info = cli("--port", esp32.device, "chip-info")
    assert info.returncode == 0, info.stderr
    assert "ESP32-D0WD-V3" in info.stdout and "4 MB" in info.stdout and "0x1000" in info.stdout
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(build_test_image(CHIPS["esp32"], 50_000))
    flashed = cli("--port", esp32.device, "flash", str(firmware), "--erase")
    assert flashed.returncode == 0, flashed.stderr
    assert "Writing [" in flashed.stderr and "Wrote" in flashed.stdout
    backup = cli("--port", esp32.device, "backup", str(tmp_path / "all.bin"))
    assert backup.returncode == 0, backup.stderr
    assert (tmp_path / "all.bin").read_bytes()[0x1000:0x1000 + 50_000] == firmware.read_bytes()[:50_000]


def test_cli_explains_refusal(esp32, tmp_path):
    wrong = tmp_path / "c3.bin"
    wrong.write_bytes(build_test_image(CHIPS["esp32c3"], 1000))
    result = cli("--port", esp32.device, "flash", str(wrong))
    assert result.returncode == 2
    assert "built for ESP32-C3" in result.stderr and "Traceback" not in result.stderr


def test_cli_esp_sim_serves_until_interrupted(tmp_path):
    import signal
    flash_file = tmp_path / "board.bin"
    process = subprocess.Popen([sys.executable, "-m", "ide", "esp-sim", "--chip", "esp8266", "--flash",
                                str(flash_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    try:
        device = process.stdout.readline().strip()
        assert device.startswith("/dev/")
        assert flash.detect(device).chip is CHIPS["esp8266"]
        assert flash_file.stat().st_size == 4 * 1024 * 1024
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
