"""The flasher wizard, driven like a user would, against the simulated ESP32 on a pty, the real esptool core and
the real MicroPython unix port that the chip boots into after flashing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import serial
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QWizard

from ide.board.board import Board
from ide.board.virtual import VirtualBoardConfig
from ide.flasher.chips import CHIPS
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.esp_sim.micropython_boot import MicroPythonBoot, build_micropython_test_firmware
from ide.flasher.images import build_test_image
from ide.ui.flasher_wizard import FlasherWizard, PageId

from conftest import needs_virtual_board

pytestmark = [pytest.mark.timeout(90), needs_virtual_board]
SCREENSHOTS = os.environ.get("MIPY_WIZARD_SCREENSHOTS")   # a folder: save every page there while testing


@pytest.fixture
def chip(tmp_path):
    boot = MicroPythonBoot(tmp_path / "files", VirtualBoardConfig(baud=0))
    simulator = EspSimulator("esp32", flash_path=tmp_path / "flash.bin", on_boot_firmware=boot)
    boot.attach(simulator)
    simulator.start()
    yield simulator
    boot.stop()
    simulator.stop()


@pytest.fixture
def make_wizard(qtbot):
    def make(port: str, **options) -> FlasherWizard:
        options.setdefault("connect_attempts", 1)
        wizard = FlasherWizard(None, port, **options)
        qtbot.addWidget(wizard)
        wizard.show()
        return wizard
    return make


def click(qtbot, wizard: FlasherWizard, which: QWizard.WizardButton) -> None:
    button = wizard.button(which)
    assert button.isEnabled(), f"{button.text()} is disabled on page {wizard.currentId()}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def snapshot(wizard: FlasherWizard, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        wizard.grab().save(str(Path(SCREENSHOTS) / f"flasher-wizard-{name}.png"))


def detect(qtbot, wizard: FlasherWizard) -> None:
    snapshot(wizard, "1-port")
    click(qtbot, wizard, QWizard.WizardButton.NextButton)   # looks for the bootloader, then moves on by itself
    qtbot.waitUntil(lambda: wizard.currentId() == PageId.CHIP, timeout=20_000)


def test_wizard_flashes_a_local_file_to_the_micropython_prompt(qtbot, chip, make_wizard, tmp_path):
    firmware = tmp_path / "ESP32_GENERIC-test-v1.24.1.bin"
    firmware.write_bytes(build_micropython_test_firmware("esp32"))
    wizard = make_wizard(chip.device, confirm_timeout=15)

    detect(qtbot, wizard)
    rows = wizard.chip_page.rows
    assert "ESP32-D0WD-V3" in rows["Chip"].text() and rows["Flash"].text() == "4 MB"
    assert rows["MAC address"].text() == "24:0a:c4:12:34:56" and "0x1000" in rows["MicroPython goes at"].text()
    snapshot(wizard, "2-chip")

    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    page = wizard.firmware_page
    assert wizard.currentId() == PageId.FIRMWARE and page.catalog_radio.isChecked()
    assert "ESP32" in page.catalog_box.currentText() and "Pick this when unsure" in page.description.text()
    page.file_radio.setChecked(True)
    page.file_edit.setText(str(firmware))
    assert "image for the ESP32" in page.file_info.text() and not page.error.isVisible()
    snapshot(wizard, "3-firmware")

    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentId() == PageId.OPTIONS
    wizard.options_page.erase_box.setChecked(True)
    assert firmware.name in wizard.options_page.summary.text()
    snapshot(wizard, "4-options")
    flash_button = wizard.button(QWizard.WizardButton.NextButton)
    assert flash_button.text() == "Flash"
    stages = []
    wizard.worker.sig_stage_changed.connect(stages.append)
    progress = []
    wizard.worker.sig_progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(wizard.sig_flashed, timeout=40_000) as flashed:
        qtbot.mouseClick(flash_button, Qt.MouseButton.LeftButton)
        assert wizard.currentId() == PageId.FLASHING
    outcome = flashed.args[0]
    assert stages == ["connecting", "checking", "erasing", "writing", "verifying", "resetting", "starting"]
    assert progress and progress[-1][0] == progress[-1][1]   # esptool counts compressed bytes
    flashing = wizard.flashing_page
    assert flashing.progress.value() == 100 and "is running" in flashing.stage_label.text()
    log_text = flashing.log_view.toPlainText()
    assert "Wrote " in log_text and f"MicroPython {outcome.board_info.version} answered" in log_text
    snapshot(wizard, "5-flashing")

    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentId() == PageId.DONE
    assert wizard.done_page.headline.text() == f"MicroPython {outcome.board_info.version} is running on your ESP32."
    assert outcome.board_info.version.startswith("1.")
    snapshot(wizard, "6-done")
    with qtbot.waitSignal(wizard.sig_open_repl) as asked:
        qtbot.mouseClick(wizard.done_page.repl_button, Qt.MouseButton.LeftButton)
    assert asked.args == [chip.device] and not wizard.isVisible()
    # What the main window does next: the REPL answers on the same port.
    with Board.open(chip.device) as board:
        assert board.eval("2 ** 10") == 1024


def test_an_image_for_another_chip_is_refused_on_the_firmware_page(qtbot, chip, make_wizard, tmp_path):
    wrong = tmp_path / "c3.bin"
    wrong.write_bytes(build_test_image(CHIPS["esp32c3"], 5000))
    wizard = make_wizard(chip.device)
    detect(qtbot, wizard)
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    page = wizard.firmware_page
    page.file_radio.setChecked(True)
    page.file_edit.setText(str(wrong))
    assert page.error.isVisible()
    assert "built for ESP32-C3" in page.error.text() and "ESP32" in page.error.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    snapshot(wizard, "refused-wrong-chip")
    # Back to the catalog choice: the refusal goes away.
    page.catalog_radio.setChecked(True)
    assert not page.error.isVisible() and wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_no_answer_explains_the_boot_button(qtbot, chip, make_wizard):
    chip.set_boot_mode(False)
    wizard = make_wizard(chip.device)
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    qtbot.waitUntil(lambda: wizard.port_page.error.isVisible(), timeout=30_000)
    text = wizard.port_page.error.text()
    assert "BOOT" in text and "EN/RESET" in text and "Traceback" not in text
    assert wizard.currentId() == PageId.PORT and wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    snapshot(wizard, "refused-no-answer")
    # The user follows the advice: now the chip answers.
    chip.set_boot_mode(True)
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    qtbot.waitUntil(lambda: wizard.currentId() == PageId.CHIP, timeout=20_000)


def test_busy_port_is_explained(qtbot, chip, make_wizard):
    holder = serial.Serial(chip.device, exclusive=True)
    try:
        wizard = make_wizard(chip.device)
        click(qtbot, wizard, QWizard.WizardButton.NextButton)
        qtbot.waitUntil(lambda: wizard.port_page.error.isVisible(), timeout=10_000)
        assert "in use" in wizard.port_page.error.text()
    finally:
        holder.close()


def test_cancel_before_writing_leaves_the_board_unchanged(qtbot, chip, make_wizard, tmp_path):
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(build_micropython_test_firmware("esp32"))
    wizard = make_wizard(chip.device, firmware=firmware)
    detect(qtbot, wizard)
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.firmware_page.file_radio.isChecked() and wizard.firmware_page.isComplete()
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    chip.set_boot_mode(False)          # the connection will hang in "connecting"
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    qtbot.waitUntil(lambda: wizard.flashing_page.stage == "connecting", timeout=5_000)
    wizard.reject()                    # the Cancel button
    assert wizard.isVisible() and "before anything is written" in wizard.flashing_page.note.text()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=30_000)
    assert chip.flash.read(0x1000, 16) == b"\xff" * 16


def test_open_flasher_wizard_preselects_the_port(qtbot, chip):
    from ide.ui.flasher_wizard import open_flasher_wizard
    wizard = open_flasher_wizard(None, chip.device)   # deletes itself when closed: not handed to qtbot
    assert wizard.isVisible() and wizard.port_page.port() == chip.device
    with qtbot.waitSignal(wizard.rejected):
        click(qtbot, wizard, QWizard.WizardButton.CancelButton)   # nothing running: closes at once
