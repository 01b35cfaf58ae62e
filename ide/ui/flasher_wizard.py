"""The firmware flasher wizard: put MicroPython on an ESP board, from choosing the port to a working REPL.

Pages: port (with the BOOT-button hint, and "Simulated ESP32 (no hardware)", which the wizard starts and stops
itself) -> detected chip and board -> firmware (from the catalog, or a local file, checked against the chip at
once) -> options (erase all, keep my files, speed) -> flashing (progress bar and log; on failure "Try again" and
"Back to the options", with the port and every choice kept) -> done (what the board itself says after boot:
sys.implementation and os.uname(); "Open REPL" and "New project").

Everything that touches the board runs in :class:`FlasherWorker` on its own QThread and calls the core
(:mod:`ide.flasher.flash`); failures arrive as exceptions and are shown on the page as :func:`ide.explain.explain`
text. Cancel is safe until the core starts changing the flash; after that the wizard explains why it waits and
closes as soon as the write has finished (a half-written bootloader leaves a board that cannot start).

The main window connects :attr:`FlasherWizard.sig_open_repl` and :attr:`FlasherWizard.sig_new_project`, and opens
the wizard with :func:`open_flasher_wizard`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QFont, QFontDatabase
from PyQt6.QtWidgets import (QApplication, QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                             QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                             QRadioButton, QVBoxLayout, QWidget, QWizard, QWizardPage)

from ide.board.port_choice import esp_looking
from ide.board.ports import list_board_ports
from ide.errors import Cancelled, MipyError
from ide.explain import explain
from ide.flasher import flash
from ide.flasher.messages import describe_write
from ide.flasher.catalog import Catalog, FirmwareEntry, default_cache_dir, download_firmware, load_catalog
from ide.flasher.esp_sim.local import SIMULATED_PORT, SIMULATED_PORT_LABEL, LocalSimulatedChip
from ide.flasher.images import micropython_version_in
from ide.ui.progress import ProgressThrottle

log = logging.getLogger(__name__)

#: Progress reaches the page at most this often (5 updates a second, as Thonny does).
BAUD_CHOICES = ((115200, "115200 (slowest, works with every cable)"), (230400, "230400"), (460800, "460800"),
                (921600, "921600 (recommended: falls back to 115200 by itself if the cable cannot keep up)"))

STAGE_DOWNLOADING = "downloading"
STAGE_STARTING = "starting"   # after the reset: waiting for MicroPython's prompt
STAGE_TEXT = {
    STAGE_DOWNLOADING: "Downloading MicroPython…",
    flash.STAGE_CONNECTING: "Connecting to the board's bootloader…",
    flash.STAGE_CHECKING: "Checking the firmware against the chip…",
    flash.STAGE_SAVING_FILES: "Saving your files (the file system partition)…",
    flash.STAGE_RESTORING_FILES: "Putting your files back…",
    flash.STAGE_ERASING: "Erasing the whole flash…",
    flash.STAGE_WRITING: "Writing MicroPython…",
    flash.STAGE_VERIFYING: "Verifying what was written…",
    flash.STAGE_RESETTING: "Restarting the board…",
    STAGE_STARTING: "Waiting for MicroPython's prompt…",
}
# Message colours for a light and a dark window (text on background at 7:1 contrast or more); the wizard picks by
# the application palette it opens in, so it follows the theme.
_MESSAGE_COLOURS = {
    "error": {False: ("#b3261e", "#fdecea", "#f3b8b2"), True: ("#ffd9d4", "#5c1712", "#8c2a22")},
    "note": {False: ("#5a4a00", "#fff6d6", "#ecd98a"), True: ("#fff0b3", "#3d3300", "#6b5a00")},
}
_OK_COLOUR = {False: "#1e5631", True: "#9be0ae"}


def _dark_window() -> bool:
    app = QApplication.instance()
    return bool(app) and app.palette().window().color().lightness() < 128


def message_style(kind: str) -> str:
    text, background, border = _MESSAGE_COLOURS[kind][_dark_window()]
    return f"QLabel {{ color: {text}; background: {background}; border: 1px solid {border}; padding: 8px; }}"


def ok_style() -> str:
    return f"QLabel {{ color: {_OK_COLOUR[_dark_window()]}; font-weight: bold; }}"


class PageId:
    PORT, CHIP, FIRMWARE, OPTIONS, FLASHING, DONE = range(6)


@dataclass(frozen=True)
class FlashPlan:
    """What the flashing page asks the worker to do."""

    port: str
    firmware_path: Path | None       # a local file, or None to download ``catalog_entry``
    catalog_entry: FirmwareEntry | None
    erase: bool
    keep_files: bool
    baud: int
    attempts: int
    confirm_timeout: float


@dataclass(frozen=True)
class FlashOutcome:
    result: flash.FlashResult
    board_info: object               # ide.board.board.BoardInfo
    firmware_path: Path
    uname: tuple = ()                # what the board's os.uname() said after boot
    implementation: str = ""         # sys.implementation: "micropython 1.24.1"
    image_version: str | None = None  # the release the written file announces in its banner


# Asked of the board after boot: what it says it is, not what we wrote.
# MicroPython's unix port (behind the virtual board) has no os.uname(): then only sys.implementation answers.
BOARD_IDENTITY = ("(lambda os, sys: (tuple(os.uname()) if hasattr(os, 'uname') else (), sys.implementation.name, "
                  "tuple(sys.implementation.version)))(__import__('os'), __import__('sys'))")


def ask_board_identity(port: str) -> tuple[tuple, str]:
    """``os.uname()`` and ``sys.implementation`` as the freshly booted board reports them."""
    from ide.board.board import Board
    with Board.open(port) as board:
        uname, name, version = board.eval(BOARD_IDENTITY)
    return tuple(uname), f"{name} {'.'.join(str(part) for part in version[:3])}"


class _SignalLogHandler(logging.Handler):
    """The flasher's log lines (esptool's included) as ``sig_log_line`` while a job runs."""

    def __init__(self, emit):
        super().__init__(logging.INFO)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record.getMessage())
        except Exception:  # a log line must never break flashing
            pass


class FlasherWorker(QObject):
    """Talks to the board through the flasher core; lives on the wizard's worker thread."""

    sig_detected = pyqtSignal(object)
    """The chip on the port answered: its :class:`~ide.flasher.flash.ChipDetails`."""

    sig_detect_failed = pyqtSignal(object)
    """Detection failed: the exception (not in boot mode, port busy, no such port...)."""

    sig_stage_changed = pyqtSignal(str)
    """Flashing entered a stage (``flash.STAGE_*``, ``STAGE_DOWNLOADING``, ``STAGE_STARTING``)."""

    sig_progress = pyqtSignal(int, int)
    """(done, total) of the download or the write, at most 5 times a second."""

    sig_log_line = pyqtSignal(str)
    """A line for the flashing log."""

    sig_flashed = pyqtSignal(object)
    """Written, verified, reset, and MicroPython answered: a :class:`FlashOutcome`."""

    sig_flash_failed = pyqtSignal(object, str)
    """Flashing failed: (the exception, the stage it failed in). ``ide.errors.Cancelled`` when cancelled."""

    def __init__(self):
        super().__init__()
        self.cancel = threading.Event()

    @pyqtSlot(str, int)
    def detect(self, port: str, attempts: int) -> None:
        try:
            details = flash.detect(port, cancel=self.cancel, attempts=attempts)
        except Exception as error:  # every failure goes to the page, explained
            self.sig_detect_failed.emit(error)
            return
        self.sig_detected.emit(details)

    @pyqtSlot(object)
    def flash(self, plan: FlashPlan) -> None:
        stage = [""]

        def enter(name: str) -> None:
            stage[0] = name
            self.sig_stage_changed.emit(name)

        handler = _SignalLogHandler(self.sig_log_line.emit)
        flasher_log = logging.getLogger("ide.flasher")
        previous_level = flasher_log.level
        flasher_log.addHandler(handler)
        flasher_log.setLevel(logging.INFO)
        try:
            path = plan.firmware_path
            if path is None:
                enter(STAGE_DOWNLOADING)
                self.sig_log_line.emit(f"Fetching {plan.catalog_entry.url}")
                path = download_firmware(plan.catalog_entry, progress=ProgressThrottle(self.sig_progress.emit),
                                         cancel=self.cancel)
            self.sig_log_line.emit(f"Firmware: {path} ({path.stat().st_size:,} bytes)")
            result = flash.flash_firmware(plan.port, path, erase=plan.erase, keep_files=plan.keep_files,
                                          baud=plan.baud, cancel=self.cancel, attempts=plan.attempts,
                                          progress=ProgressThrottle(self.sig_progress.emit), stage=enter)
            self.sig_log_line.emit(f"{describe_write(result)} MD5 {result.md5}, {result.seconds:.1f} s in all.")
            enter(STAGE_STARTING)
            info = flash.confirm_micropython(plan.port, timeout=plan.confirm_timeout, cancel=self.cancel)
            self.sig_log_line.emit(f"MicroPython {info.version} answered: {info.machine}")
            uname, implementation = ask_board_identity(plan.port)
            self.sig_log_line.emit(f"The board says: os.uname() {uname or '(not available)'}, "
                                   f"sys.implementation {implementation}")
        except Exception as error:
            self.sig_log_line.emit(f"Stopped: {error}")
            self.sig_flash_failed.emit(error, stage[0])
            return
        finally:
            flasher_log.removeHandler(handler)
            flasher_log.setLevel(previous_level)
        self.sig_flashed.emit(FlashOutcome(result, info, path, uname, implementation,
                                           micropython_version_in(path.read_bytes())))


def _message_label(style: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _show_message(label: QLabel, text: str | None) -> None:
    label.setText(text or "")
    label.setVisible(bool(text))


def _size_text(count: int | None) -> str:
    if not count:
        return "unknown"
    return f"{count / (1024 * 1024):g} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


# --- pages ------------------------------------------------------------------------------------------------------


class PortPage(QWizardPage):
    """Which port the board is on; Next looks for the ESP bootloader there."""

    BOOT_HINT = ("Connect the board with a USB <b>data</b> cable and choose its port. Most boards switch to "
                 "download mode by themselves. If yours does not answer: hold the <b>BOOT</b> button (also "
                 "labelled IO0 or FLASH), press and release <b>EN</b>/<b>RESET</b>, then release BOOT.")

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("Connect your board")
        self.setSubTitle("MicroPython is written through the ESP chip's built-in bootloader.")
        self.detecting = False
        self.port_box = QComboBox()
        self.port_box.setEditable(True)
        self.port_box.setMinimumContentsLength(30)
        self.port_box.lineEdit().setPlaceholderText("/dev/ttyUSB0, COM3…")
        self.port_box.currentTextChanged.connect(self._port_changed)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_ports)
        self.hint = QLabel(self.BOOT_HINT)
        self.hint.setWordWrap(True)
        self.status = QLabel()
        self.error = _message_label(message_style("error"))
        row = QHBoxLayout()
        row.addWidget(self.port_box, 1)
        row.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Port:"))
        layout.addLayout(row)
        layout.addSpacing(8)
        layout.addWidget(self.hint)
        layout.addSpacing(8)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.refresh_ports()

    def port(self) -> str:
        text = self.port_box.currentText().strip()
        index = self.port_box.currentIndex()
        if index >= 0 and self.port_box.itemText(index) == self.port_box.currentText():
            return self.port_box.itemData(index) or text
        return text

    def refresh_ports(self) -> None:
        current = self.port()
        self.port_box.blockSignals(True)
        self.port_box.clear()
        listed = list_board_ports()
        for info in listed:
            if not info.is_virtual:   # the virtual board has no bootloader to flash
                self.port_box.addItem(info.description, info.device)
        # A simulated ESP32 the wizard starts itself: the whole path, from the bootloader to the prompt.
        self.port_box.addItem(SIMULATED_PORT_LABEL, SIMULATED_PORT)
        self.port_box.blockSignals(False)
        if not current:
            # The one port that looks like an ESP board, else the simulated chip: never a legacy COM1 or ttyS0.
            boards = esp_looking(listed)
            current = boards[0].device if boards else SIMULATED_PORT
        if current:
            self.set_port(current)
        self.completeChanged.emit()

    def set_port(self, port: str) -> None:
        index = self.port_box.findData(port)
        if index >= 0:
            self.port_box.setCurrentIndex(index)
        else:
            self.port_box.setEditText(port)

    def _port_changed(self, _text: str) -> None:
        _show_message(self.error, None)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return bool(self.port()) and not self.detecting

    def validatePage(self) -> bool:  # noqa: N802
        details = self._wizard.details
        if details is not None and self._wizard.detected_choice == self.port():
            return True
        self._wizard.start_detect(self.port())
        return False

    def set_detecting(self, detecting: bool) -> None:
        self.detecting = detecting
        self.port_box.setEnabled(not detecting)
        self.refresh_button.setEnabled(not detecting)
        if detecting:
            _show_message(self.error, None)
            self.status.setText(f"Looking for the ESP bootloader on {self.port()}…")
        else:
            self.status.setText("")
        self.completeChanged.emit()

    def show_error(self, error: BaseException) -> None:
        _show_message(self.error, explain(error))


class ChipPage(QWizardPage):
    """What answered: the chip, its flash, its MAC."""

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("Board found")
        self.headline = QLabel()
        self.headline.setStyleSheet(ok_style())
        self.form = QFormLayout()
        self.rows: dict[str, QLabel] = {}
        for name in ("Chip", "Features", "Crystal", "Flash", "MAC address", "USB", "MicroPython goes at"):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.rows[name] = value
            self.form.addRow(name + ":", value)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addSpacing(6)
        layout.addLayout(self.form)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        details = self._wizard.details
        self.setSubTitle(f"The bootloader on {details.port} answered.")
        self.headline.setText(f"An {details.chip.display_name} is connected and ready for MicroPython.")
        values = {
            "Chip": details.description,
            "Features": ", ".join(details.features) or "—",
            "Crystal": f"{details.crystal_mhz} MHz" if details.crystal_mhz else "unknown",
            "Flash": _size_text(details.flash_size),
            "MAC address": details.mac or "unknown",
            "USB": details.usb_mode or "USB-serial bridge chip",
            "MicroPython goes at": f"0x{details.chip.micropython_offset:x} (chosen for this chip)",
        }
        for name, value in values.items():
            self.rows[name].setText(value)


class FirmwarePage(QWizardPage):
    """MicroPython from the catalog, or a firmware file; a file is checked against the chip at once."""

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("Choose the firmware")
        self.catalog_radio = QRadioButton("MicroPython from the official list (downloaded from micropython.org)")
        self.file_radio = QRadioButton("A firmware file on this computer (.bin)")
        group = QButtonGroup(self)
        group.addButton(self.catalog_radio)
        group.addButton(self.file_radio)
        self.catalog_box = QComboBox()
        self.catalog_box.currentIndexChanged.connect(self._catalog_changed)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setContentsMargins(24, 0, 0, 0)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("firmware.bin")
        self.file_edit.textChanged.connect(self._file_changed)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        self.file_info = QLabel()
        self.file_info.setWordWrap(True)
        self.file_info.setContentsMargins(24, 0, 0, 0)
        self.error = _message_label(message_style("error"))
        self._file_error: BaseException | None = None
        self.catalog_radio.toggled.connect(self._mode_changed)
        self.file_radio.toggled.connect(self._mode_changed)

        grid = QGridLayout()
        grid.setColumnMinimumWidth(0, 24)
        grid.addWidget(self.catalog_radio, 0, 0, 1, 3)
        grid.addWidget(self.catalog_box, 1, 1, 1, 2)
        grid.addWidget(self.description, 2, 1, 1, 2)
        grid.setRowMinimumHeight(3, 10)
        grid.addWidget(self.file_radio, 4, 0, 1, 3)
        grid.addWidget(self.file_edit, 5, 1)
        grid.addWidget(self.browse_button, 5, 2)
        grid.addWidget(self.file_info, 6, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self._file_ok = False

    def initializePage(self) -> None:  # noqa: N802
        details = self._wizard.details
        self.setSubTitle(f"MicroPython for the {details.chip.display_name}.")
        self.catalog_box.blockSignals(True)
        self.catalog_box.clear()
        catalog = self._wizard.catalog
        entries = catalog.for_chip(details.chip.key) if catalog else []
        for entry in entries:
            self.catalog_box.addItem(f"{entry.name} — MicroPython {catalog.version}", entry)
        self.catalog_box.blockSignals(False)
        self.catalog_radio.setEnabled(bool(entries))
        if self._wizard.catalog_error is not None:
            self.description.setText(explain(self._wizard.catalog_error))
        elif not entries:
            self.description.setText(f"The list has no MicroPython for the {details.chip.display_name}: download "
                                     "a .bin from micropython.org/download and choose it below.")
        if self._wizard.preset_firmware is not None and not self.file_edit.text():
            self.file_edit.setText(str(self._wizard.preset_firmware))
        if self.file_edit.text() or not entries:
            self.file_radio.setChecked(True)
        else:
            self.catalog_radio.setChecked(True)
        self._catalog_changed()
        self._file_changed()

    def _mode_changed(self) -> None:
        from_file = self.file_radio.isChecked()
        self.catalog_box.setEnabled(not from_file)
        self.file_edit.setEnabled(from_file)
        self.browse_button.setEnabled(from_file)
        self._update_error()
        self.completeChanged.emit()

    def _catalog_changed(self) -> None:
        entry = self.catalog_box.currentData()
        if entry is None:
            return
        cached = (self._wizard.catalog_cache_dir / entry.file).exists()
        where = "already downloaded" if cached else "downloaded when you flash"
        self.description.setText(f"{entry.description or entry.name}\n{entry.file} ({where})")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a MicroPython firmware file", self.file_edit.text(),
                                              "Firmware (*.bin);;All files (*)")
        if path:
            self.file_edit.setText(path)

    def _file_changed(self) -> None:
        self._file_ok = False
        self._file_error: BaseException | None = None
        self.file_info.setText("")
        text = self.file_edit.text().strip()
        if text:
            path = Path(text).expanduser()
            try:
                image = flash.check_firmware(path, self._wizard.details)
            except FileNotFoundError:
                self.file_info.setText("There is no such file.")
            except IsADirectoryError:
                self.file_info.setText("That is a folder: choose the .bin file inside it.")
            except (MipyError, OSError) as error:
                self._file_error = error
            else:
                self._file_ok = True
                target = image.chip.display_name if image.chip else self._wizard.details.chip.display_name
                self.file_info.setText(f"{_size_text(image.file_size)} image for the {target}: fits in the "
                                       f"{_size_text(self._wizard.details.flash_size)} flash.")
        self._update_error()
        self.completeChanged.emit()

    def _update_error(self) -> None:
        error = self._file_error
        _show_message(self.error, explain(error) if error is not None and self.file_radio.isChecked() else None)

    def isComplete(self) -> bool:  # noqa: N802
        if self.file_radio.isChecked():
            return self._file_ok
        return self.catalog_radio.isChecked() and self.catalog_box.currentData() is not None

    def choice(self) -> tuple[Path | None, FirmwareEntry | None]:
        if self.file_radio.isChecked():
            return Path(self.file_edit.text().strip()).expanduser(), None
        return None, self.catalog_box.currentData()

    def choice_text(self) -> str:
        path, entry = self.choice()
        return path.name if path is not None else f"{entry.name} (MicroPython {self._wizard.catalog.version})"


class OptionsPage(QWizardPage):
    """Erase everything first? How fast? The last page before anything is written."""

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("Options")
        self.setSubTitle("Nothing has been written yet.")
        # Not a commit page: after a failed write, Back returns here with every choice kept.
        self.setButtonText(QWizard.WizardButton.NextButton, "Flash")
        self.erase_box = QCheckBox("Erase the whole flash first")
        self.keep_files_box = QCheckBox("Keep my files (the file system is saved before the erase and put back)")
        self.keep_files_box.setContentsMargins(24, 0, 0, 0)
        self.keep_files_box.setEnabled(False)
        self.erase_box.toggled.connect(self.keep_files_box.setEnabled)
        erase_note = QLabel("Deletes every file on the board. Choose it when the board ran other firmware before "
                            "(Arduino, ESPHome…) or when MicroPython misbehaves; leave it off to keep your files.")
        erase_note.setWordWrap(True)
        erase_note.setContentsMargins(24, 0, 0, 0)
        self.baud_box = QComboBox()
        for baud, text in BAUD_CHOICES:
            self.baud_box.addItem(text, baud)
        self.baud_box.setCurrentIndex(self.baud_box.findData(flash.DEFAULT_FLASH_BAUD))
        baud_note = QLabel("If the line fails at this speed, the write goes on at 115200 from where it stopped.")
        baud_note.setWordWrap(True)
        self.summary = _message_label(message_style("note"))
        form = QFormLayout()
        form.addRow("Speed (baud):", self.baud_box)
        form.addRow("", baud_note)
        layout = QVBoxLayout(self)
        layout.addWidget(self.erase_box)
        layout.addWidget(erase_note)
        layout.addWidget(self.keep_files_box)
        layout.addSpacing(10)
        layout.addLayout(form)
        layout.addSpacing(10)
        layout.addWidget(self.summary)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        details = self._wizard.details
        _show_message(self.summary, (
            f"Ready to write {self._wizard.firmware_page.choice_text()} to the {details.chip.display_name} on "
            f"{details.port} at 0x{details.chip.micropython_offset:x}. Keep the board plugged in until the "
            "wizard says it is done."))


class FlashingPage(QWizardPage):
    """The write, as it happens: stage, progress bar, log; on failure the explanation and "Try again"."""

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("Flashing MicroPython")
        self.setSubTitle("Keep the board plugged in.")
        self.succeeded = False
        self.running = False
        self.stage = ""
        self.stage_label = QLabel()
        bold = QFont(self.stage_label.font())
        bold.setBold(True)
        self.stage_label.setFont(bold)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setMinimumHeight(140)
        self.note = _message_label(message_style("note"))
        self.error = _message_label(message_style("error"))
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self.start)
        self.retry_button.hide()
        self.back_button = QPushButton("Back to the options")
        self.back_button.setToolTip("Change the firmware or the options; the port and your choices are kept")
        self.back_button.clicked.connect(self._back_to_options)
        self.back_button.hide()
        self.slow_box = QCheckBox(f"at the slowest speed ({flash.ROM_BAUD} baud)")
        self.slow_box.hide()
        retry_row = QHBoxLayout()
        retry_row.addStretch(1)
        retry_row.addWidget(self.slow_box)
        retry_row.addWidget(self.back_button)
        retry_row.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addLayout(retry_row)

    def initializePage(self) -> None:  # noqa: N802
        self.log_view.clear()
        self.start()

    def start(self) -> None:
        self.succeeded = False
        self.running = True
        self.retry_button.hide()
        self.back_button.hide()
        self.slow_box.hide()
        _show_message(self.error, None)
        _show_message(self.note, None)
        self.progress.setValue(0)
        self._complete_changed()
        self._wizard.start_flash()

    def _complete_changed(self) -> None:
        self.completeChanged.emit()
        # QWizard enables Back again on every completeChanged; while the board is being written it must stay off.
        back = self._wizard.button(QWizard.WizardButton.BackButton)
        back.setEnabled(not self.running)

    def _back_to_options(self) -> None:
        if not self.running:
            self._wizard.back()

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.stage_label.setText(STAGE_TEXT.get(stage, stage))
        if stage in (STAGE_DOWNLOADING, flash.STAGE_ERASING, flash.STAGE_WRITING):
            self.progress.setRange(0, 100)
            self.progress.setValue(0)
        elif stage in (flash.STAGE_CONNECTING, STAGE_STARTING):
            self.progress.setRange(0, 0)      # busy: no measurable progress
        elif stage == flash.STAGE_VERIFYING:
            self.progress.setRange(0, 100)
            self.progress.setValue(100)
        self.log_line(f"── {STAGE_TEXT.get(stage, stage)}")

    def set_progress(self, done: int, total: int) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)
        self.progress.setValue(int(100 * done / total) if total else 100)

    def log_line(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def finished(self, outcome: FlashOutcome) -> None:
        self.running = False
        self.succeeded = True
        self.progress.setRange(0, 100)
        self.progress.setValue(100)
        self.stage_label.setText(f"Done: MicroPython {outcome.board_info.version} is running.")
        self._complete_changed()

    def failed(self, error: BaseException, stage: str) -> None:
        self.running = False
        self.progress.setRange(0, 100)
        self.stage_label.setText("Flashing stopped." if isinstance(error, Cancelled) else "Flashing failed.")
        if stage in flash.WRITE_STAGES:
            state = ("The write did not finish, so the board cannot start now. Flash again before unplugging it "
                     "(it will still enter download mode).")
        elif stage in (flash.STAGE_VERIFYING, flash.STAGE_RESETTING, STAGE_STARTING):
            state = "The firmware was written."
        else:
            state = "Nothing was written: the board is unchanged."
        _show_message(self.error, f"{explain(error)}\n\n{state}")
        self.retry_button.setVisible(not isinstance(error, Cancelled))
        self.back_button.setVisible(True)
        self.slow_box.setVisible(self.retry_button.isVisible())
        self.slow_box.setChecked(stage in flash.WRITE_STAGES)
        self._complete_changed()

    def isComplete(self) -> bool:  # noqa: N802
        return self.succeeded


class DonePage(QWizardPage):
    """MicroPython answered: its version, and where to go next."""

    def __init__(self, wizard: "FlasherWizard"):
        super().__init__()
        self._wizard = wizard
        self.setTitle("MicroPython is ready")
        self.setFinalPage(True)
        self.headline = QLabel()
        big = QFont(self.headline.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.headline.setFont(big)
        self.headline.setWordWrap(True)
        self.details_label = QLabel()
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.repl_button = QPushButton("Open REPL")
        self.repl_button.setToolTip("Connect to the board and type Python at its >>> prompt")
        self.repl_button.clicked.connect(wizard.open_repl)
        self.project_button = QPushButton("New project")
        self.project_button.setToolTip("Start a project for this board")
        self.project_button.clicked.connect(wizard.new_project)
        for button in (self.repl_button, self.project_button):
            button.setMinimumHeight(36)
            button.setMinimumWidth(150)
        buttons = QHBoxLayout()
        buttons.addWidget(self.repl_button)
        buttons.addWidget(self.project_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addSpacing(6)
        layout.addWidget(self.details_label)
        layout.addSpacing(16)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        outcome = self._wizard.outcome
        info = outcome.board_info
        chip = outcome.result.chip
        self.setSubTitle(f"The board on {chip.port} answered at its >>> prompt.")
        self.headline.setText(f"MicroPython {info.version} is running on your {chip.chip.display_name}.")
        uname = f"os.uname() = {', '.join(str(part) for part in outcome.uname)}; " if outcome.uname else ""
        lines = [f"The board says: {uname}sys.implementation = {outcome.implementation}. Board: {info.machine}.",
                 f"Port: {chip.port}",
                 f"Firmware: {outcome.firmware_path.name}. {describe_write(outcome.result)} "
                 f"({outcome.result.seconds:.1f} s)",
                 f"Free memory: {info.mem_free // 1024} KB. File system: {info.fs_free // 1024} KB free."]
        if outcome.image_version and outcome.image_version != info.version:
            lines.append(f"Note: the file announces MicroPython {outcome.image_version}, but the board reports "
                         f"{info.version}.")
        self.details_label.setText("\n".join(lines))


# --- the wizard -------------------------------------------------------------------------------------------------


class FlasherWizard(QWizard):
    """Flash MicroPython onto an ESP board. ``port`` preselects the port, ``firmware`` a local file."""

    sig_open_repl = pyqtSignal(str)
    """The user wants the REPL of the freshly flashed board on this port."""

    sig_new_project = pyqtSignal()
    """The user wants to start a new project for the freshly flashed board."""

    sig_flashed = pyqtSignal(object)
    """MicroPython was flashed and answered: the :class:`FlashOutcome`."""

    _request_detect = pyqtSignal(str, int)
    _request_flash = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None, port: str | None = None, *, firmware: Path | str | None = None,
                 catalog: Catalog | None = None, connect_attempts: int = flash.DEFAULT_CONNECT_ATTEMPTS,
                 confirm_timeout: float = flash.FIRMWARE_START_TIMEOUT_S, simulated_chip_folder: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Install MicroPython")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setMinimumSize(640, 500)
        self.details: flash.ChipDetails | None = None
        self.detected_choice = ""        # the port-list entry the details belong to
        self.simulated_chip: LocalSimulatedChip | None = None
        self.keep_simulated_chip = False # the REPL was asked for on it: it outlives the wizard
        self.outcome: FlashOutcome | None = None
        self.preset_firmware = Path(firmware) if firmware else None
        self.simulated_chip_folder = simulated_chip_folder   # None: the user data folder
        self.connect_attempts = connect_attempts
        self.confirm_timeout = confirm_timeout
        self.catalog_cache_dir = default_cache_dir()
        self.catalog = catalog
        self.catalog_error: BaseException | None = None
        if catalog is None:
            try:
                self.catalog = load_catalog()
            except MipyError as error:   # a damaged catalog still leaves "a file on this computer"
                self.catalog_error = error
        self._busy = ""                  # "detect" or "flash" while the worker works
        self._close_requested = False

        self.port_page = PortPage(self)
        self.chip_page = ChipPage(self)
        self.firmware_page = FirmwarePage(self)
        self.options_page = OptionsPage(self)
        self.flashing_page = FlashingPage(self)
        self.done_page = DonePage(self)
        for page_id, page in ((PageId.PORT, self.port_page), (PageId.CHIP, self.chip_page),
                              (PageId.FIRMWARE, self.firmware_page), (PageId.OPTIONS, self.options_page),
                              (PageId.FLASHING, self.flashing_page), (PageId.DONE, self.done_page)):
            self.setPage(page_id, page)
        if port:
            self.port_page.set_port(port)

        self._thread = QThread()
        self._thread.setObjectName("flasher")
        self.worker = FlasherWorker()
        self.worker.moveToThread(self._thread)
        self._request_detect.connect(self.worker.detect)
        self._request_flash.connect(self.worker.flash)
        self.worker.sig_detected.connect(self._on_detected)
        self.worker.sig_detect_failed.connect(self._on_detect_failed)
        self.worker.sig_stage_changed.connect(self.flashing_page.set_stage)
        self.worker.sig_progress.connect(self.flashing_page.set_progress)
        self.worker.sig_log_line.connect(self.flashing_page.log_line)
        self.worker.sig_flashed.connect(self._on_flashed)
        self.worker.sig_flash_failed.connect(self._on_flash_failed)
        self._thread.start()

    # --- work on the worker thread ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._busy)

    def start_detect(self, port: str) -> None:
        if self._busy:
            return
        self._busy = "detect"
        self.details = None
        self.detected_choice = port
        self.worker.cancel.clear()
        self.port_page.set_detecting(True)
        if port == SIMULATED_PORT:
            port = self.start_simulated_chip()
        self._request_detect.emit(port, self.connect_attempts)

    def start_simulated_chip(self) -> str:
        """Start (once) the simulated ESP32 behind "Simulated ESP32 (no hardware)"; returns its device."""
        if self.simulated_chip is None:
            self.simulated_chip = LocalSimulatedChip(self.simulated_chip_folder)
        return self.simulated_chip.start()

    def _on_detected(self, details: flash.ChipDetails) -> None:
        self._busy = ""
        self.port_page.set_detecting(False)
        if self._finish_close_request():
            return
        self.details = details
        if self.currentId() == PageId.PORT:
            self.next()

    def _on_detect_failed(self, error: BaseException) -> None:
        self._busy = ""
        self.port_page.set_detecting(False)
        if self._finish_close_request():
            return
        self.port_page.show_error(error)

    def start_flash(self) -> None:
        if self._busy:
            return
        path, entry = self.firmware_page.choice()
        plan = FlashPlan(port=self.details.port, firmware_path=path, catalog_entry=entry,
                         erase=self.options_page.erase_box.isChecked(),
                         keep_files=self.options_page.erase_box.isChecked()
                         and self.options_page.keep_files_box.isChecked(),
                         baud=flash.ROM_BAUD if self.flashing_page.slow_box.isChecked()
                         else self.options_page.baud_box.currentData(),
                         attempts=self.connect_attempts, confirm_timeout=self.confirm_timeout)
        self._busy = "flash"
        self.worker.cancel.clear()
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)
        self._request_flash.emit(plan)

    def _on_flashed(self, outcome: FlashOutcome) -> None:
        self._busy = ""
        self.outcome = outcome
        self.flashing_page.finished(outcome)
        self.sig_flashed.emit(outcome)
        self._finish_close_request()

    def _on_flash_failed(self, error: BaseException, stage: str) -> None:
        self._busy = ""
        self.flashing_page.failed(error, stage)
        self._finish_close_request()

    # --- cancelling ---------------------------------------------------------------------------------------------

    def reject(self) -> None:
        if not self._busy:
            super().reject()
            return
        self._close_requested = True
        self.worker.cancel.set()
        if self._busy == "flash" and self.flashing_page.stage in flash.WRITE_STAGES:
            _show_message(self.flashing_page.note, (
                "MicroPython is being written right now. Stopping halfway would leave the board unable to start, "
                "so the wizard will close as soon as the write has finished (a few seconds)."))
        elif self._busy == "flash":
            _show_message(self.flashing_page.note, "Stopping before anything is written; the board stays as it was.")
        else:
            self.port_page.status.setText("Stopping…")
        self.button(QWizard.WizardButton.CancelButton).setEnabled(False)

    def _finish_close_request(self) -> bool:
        if not self._close_requested:
            return False
        self._close_requested = False
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)
        super().reject()
        return True

    def done(self, result: int) -> None:
        self._stop_thread()
        if self.simulated_chip is not None and not self.keep_simulated_chip:
            self.simulated_chip.stop()
        super().done(result)

    def _stop_thread(self) -> None:
        if self._thread.isRunning():
            self.worker.cancel.set()
            self._thread.quit()
            self._thread.wait(15000)

    # --- the done page's buttons --------------------------------------------------------------------------------

    def open_repl(self) -> None:
        self.keep_simulated_chip = self.simulated_chip is not None
        self.sig_open_repl.emit(self.outcome.result.chip.port)
        self.accept()

    def new_project(self) -> None:
        self.sig_new_project.emit()
        self.accept()


def open_flasher_wizard(parent: QWidget | None = None, port: str | None = None) -> FlasherWizard:
    """Show the flasher wizard (window-modal over ``parent``) and return it; connect its ``sig_open_repl`` and
    ``sig_new_project``. The wizard deletes itself when closed."""
    wizard = FlasherWizard(parent, port)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    wizard.open()
    return wizard
