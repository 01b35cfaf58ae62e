"""A simulated ESP32 for trying the flasher without hardware: the wizard's "Simulated ESP32 (no hardware)".

Its flash and the booted MicroPython's files live in the user data folder, so what was flashed is still there next
time. The line is paced to the baud rate in use, so flashing takes as long as on a real board. Flashed MicroPython
boots into the virtual board (when the MicroPython unix port is available) and answers on the same port.

    board = LocalSimulatedChip()
    device = board.start()          # "/dev/pts/7": give it to esptool, the flasher or the REPL
    board.stop()
"""

from __future__ import annotations

import atexit
import logging
import threading
from pathlib import Path

import platformdirs

from ide.flasher.esp_sim.flash import blank_flash_file

MB = 1024 * 1024

log = logging.getLogger(__name__)

SIMULATED_PORT = "simulated:esp32"       # what the port lists carry for it
SIMULATED_PORT_LABEL = "Simulated ESP32 (no hardware)"


def default_folder() -> Path:
    return Path(platformdirs.user_data_dir("mipy-studio")) / "simulated-esp32"


class LocalSimulatedChip:
    """One simulated ESP32 with its MicroPython boot. ``start()`` is idempotent; ``stop()`` ends both."""

    def __init__(self, folder: Path | None = None, chip: str = "esp32", flash_size: int = 4 * MB,
                 paced: bool = True):
        self.folder = Path(folder) if folder else default_folder()
        self.chip = chip
        self.flash_size = flash_size
        self.paced = paced
        self.simulator = None             # an EspSimulator while running
        self.boot = None
        self.unavailable_reason: str | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str | None:
        return self.simulator.device if self.simulator is not None else None

    def start(self) -> str:
        with self._lock:
            if self.simulator is not None:
                return self.simulator.device
            # The simulator serves a pseudo-terminal (POSIX modules): loaded only when it is started.
            from ide.flasher.esp_sim.server import EspSimulator
            self.folder.mkdir(parents=True, exist_ok=True)
            flash_path = self.folder / "flash.bin"
            blank_flash_file(flash_path, self.flash_size)
            simulator = EspSimulator(self.chip, flash_path=flash_path, flash_size=self.flash_size,
                                     paced=self.paced)
            from ide.board.virtual import unavailable_reason
            self.unavailable_reason = unavailable_reason()
            if self.unavailable_reason is None:
                from ide.flasher.esp_sim.micropython_boot import MicroPythonBoot
                self.boot = MicroPythonBoot(self.folder / "files").attach(simulator)
            else:
                log.info("flashed MicroPython will not boot: %s", self.unavailable_reason)
            simulator.start()
            self.simulator = simulator
            atexit.register(self.stop)
            return simulator.device

    def stop(self) -> None:
        with self._lock:
            simulator, boot = self.simulator, self.boot
            self.simulator = self.boot = None
        if boot is not None:
            boot.stop()
        if simulator is not None:
            simulator.stop()
        atexit.unregister(self.stop)
