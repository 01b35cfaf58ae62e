"""The simulated chip boots MicroPython: after a hard reset onto a MicroPython image, the virtual board's REPL
answers on the simulator's own port, so flashing ends at a real ``>>>`` prompt.

    boot = MicroPythonBoot(files_dir)              # the board's file system lives in files_dir
    simulator = EspSimulator("esp32", flash_path, on_boot_firmware=boot)
    boot.attach(simulator)
    ...                                            # esptool flashes, closes the port: the chip boots
    Board.open(simulator.device).info()            # MicroPython answers on the same port
    boot.stop(); simulator.stop()

What counts as MicroPython: an image that carries MicroPython's banner string (every official build has
"MicroPython v1.x.y on <date>" in its read-only data). Any other valid image "runs" but says nothing, like a
firmware whose UART output is elsewhere: opening a REPL on it fails, as it would on a real board.

The file system follows the flash: when the chip boots and the file system partition (the "vfs" partition of the
image's partition table; on the ESP8266 the region from 1 MB) is blank, as after ``erase-flash`` or
``erase-fs``, MicroPython would format it on first boot, so the board's files folder is emptied and a marker is
programmed into the region. An image without a partition table keeps the folder as it is.

Locking: the simulator calls the boot hook and ``close()`` holding its own lock, and the virtual board's bridge
thread calls :meth:`EspSimulator.write_to_host` (which takes that lock) holding the board's. So stopping a board
never waits for its bridge here: the session is detached at once and the board stopped on another thread.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import threading
from pathlib import Path

from ide.board.virtual import ESP32_BANNER, VirtualBoard, VirtualBoardConfig
from ide.flasher.chips import CHIPS, ChipInfo
from ide.flasher.errors import NoFileSystemRegion
from ide.flasher.flash import find_filesystem_region
from ide.flasher.images import (PARTITION_TABLE_ADDRESS, PARTITION_TABLE_LENGTH, build_merged_test_firmware,
                                build_test_image, micropython_version_in)

log = logging.getLogger(__name__)

# Programmed at the start of the file system region on first boot ("formatted"); any non-blank content would do.
FORMATTED_MARKER = b"MIPY-SIM-VFS\x00\x01"
# The virtual board reports the release the flashed image carries (banner and os.uname()) when it can be told.
_BOARD_TAKES_VERSION = any(f.name == "firmware_version" for f in dataclasses.fields(VirtualBoardConfig))


class _Session:
    """One boot of MicroPython: the virtual board, fed with the host's bytes; closed on the chip's next reset."""

    def __init__(self, board: VirtualBoard, simulator, on_close):
        self.board = board
        self.simulator = simulator
        self.attached = True
        self._on_close = on_close
        self._feed = board.start_with_client(self._to_host)

    def _to_host(self, data: bytes) -> None:
        if self.attached:
            self.simulator.write_to_host(data)

    def __call__(self, data: bytes) -> None:
        if self.attached:
            self._feed(data)

    def close(self) -> None:
        if not self.attached:
            return
        self.attached = False
        stopper = threading.Thread(target=self.board.stop, name="micropython-boot stop", daemon=True)
        stopper.start()
        self._on_close(self, stopper)


class MicroPythonBoot:
    """``on_boot_firmware`` for :class:`~ide.flasher.esp_sim.EspSimulator`: boots a virtual board on a MicroPython
    image. ``files_dir`` holds the board's file system (a temporary folder when None); ``config`` tunes the virtual
    board (its ``root_dir`` is always ``files_dir``)."""

    def __init__(self, files_dir: Path | str | None = None, config: VirtualBoardConfig | None = None):
        self._temporary = None if files_dir else tempfile.TemporaryDirectory(prefix="mipy-esp-sim-files-")
        self.files_dir = Path(files_dir or self._temporary.name)
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.config = config or VirtualBoardConfig()
        self.simulator = None
        self.boots = 0
        self._session: _Session | None = None
        self._stoppers: list[threading.Thread] = []

    def attach(self, simulator) -> "MicroPythonBoot":
        """Serve MicroPython on ``simulator``'s port (also sets its ``on_boot_firmware``)."""
        self.simulator = simulator
        simulator.on_boot_firmware = self
        return self

    @property
    def board(self) -> VirtualBoard | None:
        """The virtual board of the MicroPython now running, None while the chip is in download mode."""
        session = self._session
        return session.board if session is not None and session.attached else None

    def __call__(self, image: bytes):
        if self.simulator is None:
            raise RuntimeError("MicroPythonBoot.attach(simulator) was not called")
        version = micropython_version_in(image)
        if version is None:
            log.info("booted an image without MicroPython's banner: the application stays silent")
            return None
        self._prepare_file_system()
        self.boots += 1
        overrides = {"root_dir": self.files_dir}
        if _BOARD_TAKES_VERSION:
            overrides["firmware_version"] = version
        else:
            log.info("the virtual board cannot be told the firmware version; it reports its own release")
        config = dataclasses.replace(self.config, **overrides)
        self._session = _Session(VirtualBoard(config), self.simulator, self._session_closed)
        log.info("MicroPython %s booted on the simulated %s", version, self.simulator.chip.info.display_name)
        return self._session

    def _session_closed(self, session: _Session, stopper: threading.Thread) -> None:
        self._stoppers.append(stopper)
        if self._session is session:
            self._session = None

    def _prepare_file_system(self) -> None:
        flash = self.simulator.flash
        chip: ChipInfo = self.simulator.chip.info
        try:
            offset, size = find_filesystem_region(
                chip, flash.read(PARTITION_TABLE_ADDRESS, PARTITION_TABLE_LENGTH), flash.size)
        except NoFileSystemRegion:
            return
        if offset + len(FORMATTED_MARKER) > flash.size or flash.read(offset, 16) != b"\xff" * 16:
            return
        log.info("file system region at 0x%x is blank: formatting (emptying %s)", offset, self.files_dir)
        for entry in self.files_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        flash.program(offset, FORMATTED_MARKER)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the running board and wait for every board to be stopped."""
        session = self._session
        if session is not None:
            session.close()
        for stopper in self._stoppers:
            stopper.join(timeout)
        self._stoppers.clear()
        if self._temporary is not None:
            self._temporary.cleanup()


# --- firmware files for tests and demonstrations ---------------------------------------------------------------


def build_micropython_test_firmware(chip_key: str = "esp32", app_size: int = 60_000,
                                    version: str | None = None, fs_size: int = 0x200000,
                                    compressible: float = 0.0) -> bytes:
    """A file laid out like an official MicroPython ``firmware.bin`` for ``chip_key``, which the simulated chip
    boots into the virtual board: on the ESP32 family the second-stage bootloader at the chip's bootloader offset,
    the partition table at 0x8000 (nvs, factory app at 0x10000, a FAT "vfs" file system from 2 MB) and the app at
    0x10000 carrying the MicroPython banner (``version``, default the virtual board's release); on the ESP8266 one
    image. Segment data is random (no real code); ``compressible`` makes that fraction of it repetitive."""
    chip = CHIPS[chip_key]
    # By default the banner names the release the virtual board reports, so what was "flashed" is what answers.
    version = version or micropython_version_in(ESP32_BANNER)
    banner = f"MicroPython v{version} on 2024-11-29; Generic {chip.display_name} module with {chip.display_name}"
    if not chip.has_partition_table:
        return build_test_image(chip, app_size, seed=21, text=banner.encode(), compressible=compressible)
    app = build_test_image(chip, app_size, seed=12, entry=0x400D0000, text=banner.encode(), application=True,
                           compressible=compressible)
    return build_merged_test_firmware(chip, app, fs_size=fs_size)
