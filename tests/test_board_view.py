"""The Board view dock (ide/ui/board_view.py) in the real window, against a real virtual board: one click from a
fresh window to a blinking on-board LED, the BOOT button and the ADC slider reaching the board, the Wi-Fi
networks shown, and the dock only for the virtual board."""

from __future__ import annotations

import time

from PyQt6.QtCore import Qt

from tests.conftest import needs_virtual_board
from tests.test_ui_app import make_window

pytestmark = needs_virtual_board


def led_level(view):
    return ((view.drawing.state or {}).get("pins", {}).get("2") or {}).get("value")


def test_one_click_blinks_the_led_and_the_inputs_reach_the_board(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, connect=False)
    try:
        window.blink_launcher.projects_dir = tmp_path / "projects"
        dock, view = window.board_view_dock, window.board_view
        qtbot.waitUntil(lambda: window.port_combo.currentData() == "virtual", timeout=5000)
        assert not dock.isHidden()
        assert "VirtualWiFi" in view.networks_label.text() and "micropython" in view.networks_label.text()
        assert "VirtualCafe" in view.networks_label.text() and "no password" in view.networks_label.text()

        qtbot.mouseClick(view.try_blink_button, Qt.MouseButton.LeftButton)  # the one click
        qtbot.waitUntil(lambda: led_level(view) == 1, timeout=30000)
        seen = {1}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and seen != {0, 1}:
            qtbot.wait(50)
            if led_level(view) is not None:
                seen.add(led_level(view))
        assert seen == {0, 1}, "the LED did not blink"
        assert (tmp_path / "projects" / "blink" / "main.py").is_file()

        channel = view.channel
        qtbot.mousePress(view.boot_button, Qt.MouseButton.LeftButton)
        assert channel.snapshot()["inputs"]["0"] == 0
        qtbot.mouseRelease(view.boot_button, Qt.MouseButton.LeftButton)
        assert channel.snapshot()["inputs"]["0"] == 1
        view.adc_pin.setCurrentIndex(view.adc_pin.findData(34))
        view.adc_slider.setValue(250)
        assert channel.snapshot()["adc"]["34"] == 2.5

        window.disconnect_board()
        qtbot.waitUntil(lambda: not window.connection.connected, timeout=10000)
        window.select_port("/dev/ttyUSB-not-a-board")
        assert dock.isHidden()
    finally:
        window.shutdown()


def test_the_wizard_offers_the_virtual_boards_networks(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, connect=False)
    try:
        qtbot.waitUntil(lambda: window.port_combo.currentData() == "virtual", timeout=5000)
        wizard = window.project_controller.wizard_factory()
        qtbot.addWidget(wizard)
        wizard.show()
        wizard.template_page.select("mqtt_sensor")
        wizard.next()
        wizard.project_page.name.setText("sensor1")
        wizard.next()
        page = wizard.network_page
        assert wizard.currentPage() is page
        assert (page.wifi_ssid.text(), page.wifi_password.text()) == ("VirtualWiFi", "micropython")
        assert "VirtualCafe (open" in page.virtual_networks.text()
        page.wifi_ssid.setText("VirtualCafe")
        assert page.wifi_password.text() == ""
    finally:
        window.shutdown()
