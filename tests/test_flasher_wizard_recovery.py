"""The flasher wizard forgives: its own simulated ESP32 (started and stopped by it, on a paced line), and a failed
write that offers Retry and Back with the port and the choices kept. Real esptool core, real MicroPython."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QWizard

from ide.board.virtual import VirtualBoardConfig
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.esp_sim.local import SIMULATED_PORT, SIMULATED_PORT_LABEL
from ide.flasher.esp_sim.micropython_boot import MicroPythonBoot, build_micropython_test_firmware
from ide.ui.flasher_wizard import FlasherWizard, PageId

from conftest import needs_virtual_board

pytestmark = [pytest.mark.timeout(120), needs_virtual_board]


def click(qtbot, wizard: FlasherWizard, which: QWizard.WizardButton) -> None:
    button = wizard.button(which)
    assert button.isEnabled(), f"{button.text()} is disabled on page {wizard.currentId()}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def to_options(qtbot, wizard: FlasherWizard, firmware: Path) -> None:
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    qtbot.waitUntil(lambda: wizard.currentId() == PageId.CHIP, timeout=30_000)
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    wizard.firmware_page.file_radio.setChecked(True)
    wizard.firmware_page.file_edit.setText(str(firmware))
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentId() == PageId.OPTIONS


def test_the_wizard_starts_and_stops_its_own_simulated_esp32(qtbot, tmp_path):
    firmware = tmp_path / "ESP32_GENERIC-test.bin"
    firmware.write_bytes(build_micropython_test_firmware("esp32", app_size=40_000))
    wizard = FlasherWizard(None, None, connect_attempts=2, confirm_timeout=20,
                           simulated_chip_folder=tmp_path / "sim")
    qtbot.addWidget(wizard)
    wizard.show()
    box = wizard.port_page.port_box
    index = box.findData(SIMULATED_PORT)
    assert index >= 0 and box.itemText(index) == SIMULATED_PORT_LABEL
    box.setCurrentIndex(index)
    to_options(qtbot, wizard, firmware)
    assert wizard.simulated_chip is not None and wizard.simulated_chip.simulator.paced
    assert wizard.details.port == wizard.simulated_chip.device
    with qtbot.waitSignal(wizard.sig_flashed, timeout=60_000) as flashed:
        click(qtbot, wizard, QWizard.WizardButton.NextButton)
    outcome = flashed.args[0]
    assert outcome.implementation.startswith("micropython ")
    assert (tmp_path / "sim" / "flash.bin").read_bytes()[0x1000:0x1000 + 1000] == firmware.read_bytes()[:1000]
    click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert "sys.implementation = micropython" in wizard.done_page.details_label.text()
    simulated = wizard.simulated_chip
    wizard.reject()
    assert simulated.simulator is None   # closing the wizard stopped it


def test_a_failed_write_offers_retry_and_back_with_the_choices_kept(qtbot, tmp_path):
    boot = MicroPythonBoot(tmp_path / "files", VirtualBoardConfig(baud=0))
    with EspSimulator("esp32", on_boot_firmware=boot) as chip:
        boot.attach(chip)
        firmware = tmp_path / "fw.bin"
        firmware.write_bytes(build_micropython_test_firmware("esp32"))
        wizard = FlasherWizard(None, chip.device, connect_attempts=1, confirm_timeout=15)
        qtbot.addWidget(wizard)
        wizard.show()
        to_options(qtbot, wizard, firmware)
        wizard.options_page.erase_box.setChecked(True)
        wizard.options_page.keep_files_box.setChecked(True)
        chip.fail_flash_writes(0x10000)   # a flash chip that refuses writes past 64 KB
        with qtbot.waitSignal(wizard.worker.sig_flash_failed, timeout=60_000):
            click(qtbot, wizard, QWizard.WizardButton.NextButton)
        page = wizard.flashing_page
        assert page.retry_button.isVisible() and page.back_button.isVisible()
        assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
        assert "Writing the firmware failed" in page.error.text()
        qtbot.mouseClick(page.back_button, Qt.MouseButton.LeftButton)
        assert wizard.currentId() == PageId.OPTIONS
        assert wizard.options_page.erase_box.isChecked() and wizard.options_page.keep_files_box.isChecked()
        assert wizard.firmware_page.file_edit.text() == str(firmware) and wizard.details.port == chip.device
        chip.clear_faults()
        with qtbot.waitSignal(wizard.sig_flashed, timeout=60_000):
            click(qtbot, wizard, QWizard.WizardButton.NextButton)
        wizard.reject()
        boot.stop()
