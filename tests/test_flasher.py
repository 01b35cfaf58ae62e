"""The flasher core (ide.flasher) and its command line, against the simulated chip and the real esptool."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import logging
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
from ide.flasher.errors import (ApplicationAtBootloaderOffset, BackupMismatch, BackupUnreadable, ChipMismatch,
                                ChipNotInBootMode, DamagedImage, DownloadChecksumMismatch, DownloadFailed,
                                FlashWriteFailed, ImageChipMismatch, ImageRevisionMismatch, ImageTooLarge,
                                MergedImageAtAppOffset, NoFileSystemRegion, NotAnEspImage, TruncatedImage)
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.images import build_merged_test_firmware, build_test_image, inspect_image

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def esp32():
    with EspSimulator("esp32") as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def flashed_cache(tmp_path, monkeypatch):
    """What was last written to each (simulated) board is remembered in the test's folder, not the user's cache."""
    cache = tmp_path / "flashed-cache"
    monkeypatch.setattr(flash, "default_flashed_cache_dir", lambda: cache)
    return cache


def merged_micropython_like(chip_key: str = "esp32", app_size: int = 50_000, **app_options) -> bytes:
    """bootloader at the chip offset, partition table at 0x8000, app at 0x10000, a FAT 'vfs' at 0x200000:
    the layout of an official ESP32 MicroPython firmware.bin (here with random segment data)."""
    chip = CHIPS[chip_key]
    app = build_test_image(chip, app_size, seed=12, entry=0x400D0000, application=True, **app_options)
    return build_merged_test_firmware(chip, app)


def middle_of_first_segment(image: bytes, extended: bool = True) -> int:
    return 8 + (16 if extended else 0) + 8 + 1000


def rehash(image: bytes) -> bytes:
    """An ESP32-family image with its appended SHA-256 recomputed (after a deliberate change)."""
    return image[:-32] + hashlib.sha256(image[:-32]).digest()


def logged_resets(caplog) -> int:
    return sum("Hard resetting" in record.getMessage() for record in caplog.records
               if record.name == "ide.flasher.esptool")


# --- image checks ---------------------------------------------------------------------------------------------


def test_refuses_what_is_not_an_esp_image():
    with pytest.raises(NotAnEspImage) as caught:
        inspect_image(b"PK\x03\x04zipfile", CHIPS["esp32"], path="fw.zip")
    assert caught.value.first_bytes.startswith(b"PK")
    assert "'fw.zip' is not an ESP firmware image" in explain(caught.value)


def test_refuses_an_image_for_another_chip():
    with pytest.raises(ImageChipMismatch) as caught:
        inspect_image(build_test_image(CHIPS["esp32c3"], 1000), CHIPS["esp32"])
    assert (caught.value.image_chip, caught.value.detected_chip) == ("ESP32-C3", "ESP32")
    with pytest.raises(ImageChipMismatch):
        inspect_image(build_test_image(CHIPS["esp32"], 1000), CHIPS["esp8266"])
    with pytest.raises(ImageChipMismatch):
        inspect_image(merged_micropython_like("esp32c6"), CHIPS["esp32c3"])


@pytest.mark.parametrize("chip_key", ["esp32", "esp32c3", "esp32s3", "esp8266"])
def test_refuses_one_changed_byte_in_a_segment(chip_key):
    chip = CHIPS[chip_key]
    image = bytearray(build_test_image(chip, 5000) if chip_key == "esp8266" else merged_micropython_like(chip_key))
    inspect_image(bytes(image), chip)
    image[middle_of_first_segment(image, chip.has_partition_table)] ^= 0x01
    with pytest.raises(DamagedImage) as caught:
        inspect_image(bytes(image), chip, path="fw.bin")
    assert caught.value.check == "checksum" and caught.value.path == "fw.bin"
    assert "'fw.bin' is damaged" in explain(caught.value)


def test_refuses_a_changed_application_and_a_wrong_sha256():
    image = bytearray(merged_micropython_like())
    image[0x10000 - 0x1000 + 4000] ^= 0x40          # inside the app at 0x10000
    with pytest.raises(DamagedImage) as caught:
        inspect_image(bytes(image), CHIPS["esp32"])
    assert "application" in caught.value.what
    app = bytearray(build_test_image(CHIPS["esp32"], 3000))
    app[-1] ^= 0xFF                                  # the appended SHA-256
    with pytest.raises(DamagedImage) as caught:
        inspect_image(bytes(app), CHIPS["esp32"])
    assert caught.value.check == "SHA-256"


def test_refuses_an_application_where_the_bootloader_belongs_and_a_full_image_at_the_app_offset():
    app = build_test_image(CHIPS["esp32"], 20_000, application=True)
    with pytest.raises(ApplicationAtBootloaderOffset) as caught:
        inspect_image(app, CHIPS["esp32"], path="micropython.bin")
    assert caught.value.bootloader_offset == 0x1000
    text = explain(caught.value)
    assert "'micropython.bin' is the application only" in text and "full .bin" in text
    with pytest.raises(ApplicationAtBootloaderOffset):
        inspect_image(build_test_image(CHIPS["esp32c3"], 20_000, application=True), CHIPS["esp32c3"], offset=0)
    assert inspect_image(app, CHIPS["esp32"], offset=0x10000).layout == "application"
    with pytest.raises(MergedImageAtAppOffset) as caught:
        inspect_image(merged_micropython_like(), CHIPS["esp32"], offset=0x10000)
    assert "belongs at 0x1000" in explain(caught.value)


def test_refuses_an_image_for_another_chip_revision():
    image = merged_micropython_like(min_revision=300, max_revision=399)
    inspect_image(image, CHIPS["esp32"], chip_revision=301)
    with pytest.raises(ImageRevisionMismatch) as caught:
        inspect_image(image, CHIPS["esp32"], chip_revision=100, path="fw.bin")
    assert (caught.value.min_revision, caught.value.max_revision, caught.value.chip_revision) == (300, 399, 100)
    assert "revisions v3.0 to v3.99" in explain(caught.value) and "v1.0" in explain(caught.value)


def test_refuses_a_truncated_image_including_a_cut_app_partition():
    whole = build_test_image(CHIPS["esp32"], 5000)
    with pytest.raises(TruncatedImage) as caught:
        inspect_image(whole[:3000], CHIPS["esp32"])
    assert caught.value.expected_size == len(whole) and caught.value.actual_size == 3000
    merged = merged_micropython_like()
    assert inspect_image(merged, CHIPS["esp32"]).layout == "merged"
    with pytest.raises(TruncatedImage) as caught:
        inspect_image(merged[:-100], CHIPS["esp32"], path="fw.bin")
    assert "application" in caught.value.what and "'fw.bin' is incomplete" in explain(caught.value)


def test_refuses_an_image_larger_than_the_flash():
    with pytest.raises(ImageTooLarge) as caught:
        inspect_image(build_test_image(CHIPS["esp32"], 3000), CHIPS["esp32"], flash_size=2048)
    assert caught.value.flash_size == 2048 and caught.value.offset == 0x1000


def test_a_copy_of_the_whole_flash_is_recognised_and_goes_at_zero():
    merged = merged_micropython_like()
    full = b"\xff" * 0x1000 + merged + b"\xff" * (4 * 1024 * 1024 - 0x1000 - len(merged))
    info = inspect_image(full, CHIPS["esp32"], flash_size=4 * 1024 * 1024)
    assert (info.layout, info.offset) == ("full-flash", 0)


def test_every_flasher_error_has_beginner_advice():
    assert "BOOT" in explain(ChipNotInBootMode("/dev/ttyUSB0"))
    assert "ESP32-C3" in explain(ImageChipMismatch("ESP32-C3", "ESP32"))
    assert "1.0 MB" in explain(ImageTooLarge(2_000_000, 1024 * 1024))


def test_chips_come_from_esptool_with_their_bootloader_offsets():
    from esptool.targets import CHIP_DEFS
    assert {"esp8266", "esp32", "esp32s2", "esp32s3", "esp32c2", "esp32c3", "esp32c5", "esp32c6",
            "esp32p4"} <= set(CHIPS)
    offsets = {key: chip.micropython_offset for key, chip in CHIPS.items()}
    assert offsets["esp32"] == offsets["esp32s2"] == 0x1000 and offsets["esp32c3"] == offsets["esp8266"] == 0
    assert offsets["esp32c5"] == offsets["esp32p4"] == 0x2000
    for key, chip in CHIPS.items():
        assert chip.display_name == CHIP_DEFS[key].CHIP_NAME


def test_flasher_code_uses_no_private_part_of_esptool():
    """Only esptool's public API: no attribute with a leading underscore on anything but our own objects, no
    import of a private name, no monkeypatching of an esptool class."""
    import ast
    files = sorted((ROOT / "ide" / "flasher").rglob("*.py")) + [ROOT / "ide" / "ui" / "flasher_wizard.py",
                                                                 ROOT / "ide" / "cli" / "flasher_commands.py",
                                                                 ROOT / "bench" / "flash.py"]
    offences = []
    for path in files:
        tree = ast.parse(path.read_text())
        esptool_names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("esptool",
                                                                                                     "esp_pylib"):
                for alias in node.names:
                    esptool_names.add(alias.asname or alias.name)
                    if alias.name.startswith("_"):
                        offences.append(f"{path.name}: imports {alias.name}")
            elif isinstance(node, ast.Import):
                esptool_names.update(a.asname or a.name for a in node.names if a.name.startswith("esptool"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                # Our own objects: anything not reached from an esptool name, an ESPLoader ("esp", "rom", "link")
                # or a loader attribute.
                root = owner
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and (root.id in esptool_names or root.id in ("esp", "rom", "loader")):
                    offences.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
                if isinstance(owner, ast.Attribute) and owner.attr == "esp":
                    offences.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                            target.value.id in esptool_names:
                        offences.append(f"{path.name}:{node.lineno}: assigns {ast.unparse(target)}")
    assert offences == []


# --- against the simulator ------------------------------------------------------------------------------------


def test_detect_reports_chip_flash_crystal_mac_and_resets_the_board(esp32, caplog):
    caplog.set_level(logging.INFO, logger="ide.flasher")
    details = flash.detect(esp32.device)
    assert details.chip is CHIPS["esp32"]
    assert details.flash_size == 4 * 1024 * 1024
    assert details.crystal_mhz == 40
    assert details.mac == "24:0a:c4:12:34:56"
    assert details.revision == 300 and details.usb_mode is None
    assert logged_resets(caplog) == 1
    flash.detect(esp32.device, stay_in_bootloader=True)
    assert logged_resets(caplog) == 1


@pytest.mark.parametrize("chip_key", ["esp32s2", "esp32c6", "esp32c5"])
def test_detect_and_flash_the_newer_chips_at_their_offsets(chip_key):
    firmware = merged_micropython_like(chip_key, 20_000)
    with EspSimulator(chip_key) as simulator:
        assert flash.detect(simulator.device).chip is CHIPS[chip_key]
        result = flash.flash_firmware(simulator.device, firmware)
        assert result.offset == CHIPS[chip_key].micropython_offset
        assert simulator.flash.read(result.offset, len(firmware)) == firmware


@pytest.mark.parametrize("chip_key", ["esp32", "esp8266"])
def test_flash_large_image_reads_back_identical(chip_key, tmp_path):
    chip = CHIPS[chip_key]
    image = build_test_image(chip, 1_500_000, seed=5) if chip_key == "esp8266" else \
        merged_micropython_like(chip_key, 1_400_000)
    seen = []
    with EspSimulator(chip_key) as simulator:
        result = flash.flash_firmware(simulator.device, image, progress=lambda done, total: seen.append(done))
        assert result.offset == chip.micropython_offset
        assert result.md5 == hashlib.md5(image).hexdigest()
        assert seen and seen == sorted(seen)
        backup = flash.backup_flash(simulator.device, tmp_path / "backup.bin")
        content = backup.path.read_bytes()
        assert content[result.offset:result.offset + len(image)] == image


def test_flash_with_erase_clears_old_contents(esp32):
    esp32.flash.program(0x300000, b"old data")
    flash.flash_firmware(esp32.device, merged_micropython_like(app_size=2000), erase=True)
    assert esp32.flash.read(0x300000, 8) == b"\xff" * 8


def test_flash_refuses_wrong_chip_and_application_only_before_writing(esp32, tmp_path):
    with pytest.raises(ImageChipMismatch):
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32s3"], 2000))
    with pytest.raises(ChipMismatch):
        flash.flash_firmware(esp32.device, build_test_image(CHIPS["esp32"], 2000), chip="esp8266")
    app = tmp_path / "micropython.bin"
    app.write_bytes(build_test_image(CHIPS["esp32"], 20_000, application=True))
    with pytest.raises(ApplicationAtBootloaderOffset) as caught:
        flash.flash_firmware(esp32.device, app)
    assert caught.value.path == str(app)
    assert esp32.flash.read(0x1000, 16) == b"\xff" * 16


def test_writing_the_same_firmware_again_writes_only_what_changed(esp32):
    first = merged_micropython_like(app_size=300_000)
    result = flash.flash_firmware(esp32.device, first)
    assert result.sectors_written == result.sectors_total > 70
    again = flash.flash_firmware(esp32.device, first)
    assert again.unchanged and again.sectors_written == 0
    # A new release of the application: same bootloader and partition table, an app that differs in places.
    app_at = 0x10000 - 0x1000
    new_app = bytearray(first[app_at:])
    new_app[8 + 16 + 8 + 1000] ^= 0x01
    new_app[8 + 16 + 8 + 250_000] ^= 0x01           # two bytes apart by ~60 sectors; checksum unchanged
    second = first[:app_at] + rehash(bytes(new_app))
    update = flash.flash_firmware(esp32.device, second)
    assert 0 < update.sectors_written < update.sectors_total
    assert esp32.flash.read(0x1000, len(second)) == second


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
        flash.flash_firmware(esp32.device, merged_micropython_like(app_size=100_000), baud=flash.ROM_BAUD)
    assert caught.value.offset == 0x1000 and caught.value.__cause__ is not None


@pytest.mark.parametrize("garble_after", [0, 150_000], ids=["at-once", "mid-write"])
def test_a_bridge_that_garbles_the_fast_baud_falls_back_to_115200_where_it_failed(esp32, caplog, garble_after):
    caplog.set_level(logging.INFO, logger="ide.flasher")
    esp32.garble_above(115200, after_bytes=garble_after)
    firmware = merged_micropython_like(app_size=500_000)
    result = flash.flash_firmware(esp32.device, firmware, baud=460800)
    assert (result.fell_back_from, result.baud) == (460800, 115200)
    assert esp32.faults.garbled_frames > 0
    assert esp32.flash.read(0x1000, len(firmware)) == firmware
    assert any("Retrying at 115200" in record.getMessage() for record in caplog.records)
    if garble_after:
        assert 0 < result.sectors_written < result.sectors_total   # resumed, not started over


def test_erase_filesystem_uses_the_partition_table_and_keeps_firmware(esp32):
    image = merged_micropython_like()
    flash.flash_firmware(esp32.device, image)
    esp32.flash.program(0x200000, b"boot.py contents")
    offset, size = flash.erase_filesystem(esp32.device)
    assert (offset, size) == (0x200000, 0x200000)
    assert esp32.flash.read(0x200000, 16) == b"\xff" * 16
    assert esp32.flash.read(0x1000, len(image)) == image


@pytest.mark.parametrize("flash_size, expected", [(1 << 20, (0x99000, (1 << 20) - 0x5000 - 0x99000)),
                                                  (4 << 20, (0x100000, (4 << 20) - 0x5000 - 0x100000))])
def test_esp8266_file_system_region_follows_micropython_flashbdev(flash_size, expected):
    assert flash.find_filesystem_region(CHIPS["esp8266"], b"", flash_size) == expected
    with pytest.raises(NoFileSystemRegion):
        flash.find_filesystem_region(CHIPS["esp8266"], b"", 512 * 1024)


def test_keep_files_saves_the_file_system_partition_across_an_erase(esp32):
    image = merged_micropython_like()
    flash.flash_firmware(esp32.device, image)
    esp32.flash.program(0x200000, b"my files")
    result = flash.flash_firmware(esp32.device, image, erase=True, keep_files=True)
    assert result.files_kept
    assert esp32.flash.read(0x200000, 8) == b"my files"
    assert esp32.flash.read(0x1000, len(image)) == image


def test_backup_restores_onto_the_same_board_only(tmp_path):
    image = merged_micropython_like(text=b"MicroPython v1.24.1 on 2024-11-29")
    with EspSimulator("esp32", flash_size=2 * 1024 * 1024) as simulator:
        flash.flash_firmware(simulator.device, image)
        simulator.flash.program(0x100000, b"data")
        info = flash.backup_flash(simulator.device, tmp_path / "board.bin")
        sidecar = json.loads(flash.sidecar_path(info.path).read_text())
        assert (sidecar["chip"], sidecar["flash_size"], sidecar["mac"]) == ("esp32", 2 * 1024 * 1024,
                                                                          "24:0a:c4:12:34:56")
        assert sidecar["micropython"] == "1.24.1" and sidecar["date"]
        assert [p["label"] for p in sidecar["partitions"]] == ["nvs", "factory", "vfs"]
        # The whole-flash file is itself accepted by flash: it goes at 0, blank first 4 KB and all.
        assert inspect_image(info.path.read_bytes(), CHIPS["esp32"]).layout == "full-flash"
        simulator.flash.erase_all()
        result = flash.restore_backup(simulator.device, info.path)
        assert simulator.flash.read(0, 2 * 1024 * 1024) == info.path.read_bytes()
        assert result.offset == 0 and result.sectors_written > 0
    with EspSimulator("esp32", flash_size=2 * 1024 * 1024, mac=b"\x24\x0a\xc4\x00\x00\x01") as other:
        with pytest.raises(BackupMismatch) as caught:
            flash.restore_backup(other.device, info.path)
        assert caught.value.field == "MAC" and "board the backup came from" in explain(caught.value)
    with EspSimulator("esp32c3", flash_size=2 * 1024 * 1024) as c3:
        with pytest.raises(BackupMismatch) as caught:
            flash.restore_backup(c3.device, info.path, other_board=True)
        assert caught.value.field == "chip"
    flash.sidecar_path(info.path).unlink()
    with pytest.raises(BackupUnreadable):
        flash.read_backup_info(info.path)


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
    firmware.write_bytes(merged_micropython_like(app_size=50_000))
    flashed = cli("--port", esp32.device, "flash", str(firmware), "--erase")
    assert flashed.returncode == 0, flashed.stderr
    assert "Writing [" in flashed.stderr and "Wrote" in flashed.stdout and "board reset" in flashed.stdout
    again = cli("--port", esp32.device, "flash", str(firmware))
    assert again.returncode == 0 and "already held this firmware" in again.stdout, again.stderr
    backup = cli("--port", esp32.device, "backup", str(tmp_path / "all.bin"))
    assert backup.returncode == 0, backup.stderr
    assert (tmp_path / "all.bin.json").is_file() and "all.bin.json" in backup.stdout
    content = (tmp_path / "all.bin").read_bytes()
    assert content[0x1000:0x1000 + len(firmware.read_bytes())] == firmware.read_bytes()
    esp32.flash.erase_all()
    restored = cli("--port", esp32.device, "restore", str(tmp_path / "all.bin"))
    assert restored.returncode == 0, restored.stderr
    assert esp32.flash.read(0, len(content)) == content


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
