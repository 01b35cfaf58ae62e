"""The New Project wizard and the Project menu in the real main window, against the virtual board."""

from __future__ import annotations

import json

import pytest
from PyQt6.QtWidgets import QWizard

from conftest import needs_virtual_board
from ide.project.errors import BuildSyntaxError
from ide.ui.project_wizard import ProjectWizard
from test_project_helpers import new_project, pin
from test_ui_app import make_window


def test_wizard_creates_a_project_from_the_gallery(qtbot, tmp_path):
    wizard = ProjectWizard(str(tmp_path))
    qtbot.addWidget(wizard)
    wizard.show()
    gallery = wizard.template_page.gallery
    titles = [gallery.item(i).text().split("\n")[0] for i in range(gallery.count())]
    assert "MQTT sensor" in titles and "Web dashboard" in titles
    assert all("\n" in gallery.item(i).text() for i in range(gallery.count()))  # each with its description
    wizard.template_page.select("mqtt_sensor")
    assert "MQTT" in wizard.template_page.details.toPlainText()
    wizard.next()
    wizard.project_page.name.setText("garden")
    assert wizard.project_page.folder.text() == str(tmp_path / "garden")
    wizard.project_page.board.setCurrentIndex(wizard.project_page.board.findData("esp8266"))
    wizard.next()
    assert wizard.network_page.mqtt.isVisibleTo(wizard)
    page = wizard.network_page
    page.wifi_ssid.setText("HomeWiFi")
    page.wifi_password.setText("short")  # too short for WPA: the page says so and stays
    wizard.next()
    assert wizard.result() != QWizard.DialogCode.Accepted and "8 to 63" in page.error.text()
    assert not (tmp_path / "garden").exists()
    page.wifi_password.setText("secret123")
    page.mqtt_server.setText("10.0.0.2")
    page.mqtt_password.setText("pw")
    wizard.next()  # last page: Finish
    wizard.accept()
    project = wizard.project
    assert project is not None and project.board == "esp8266"
    root = tmp_path / "garden"
    assert "mqtt_server = '10.0.0.2'" in (root / "config.py").read_text()
    assert json.loads((root / "wifi.json").read_text())["ssid"] == "HomeWiFi"
    assert json.loads((root / "secrets.json").read_text()) == {"mqtt_password": "pw"}


def test_wizard_hides_mqtt_for_templates_without_it(qtbot, tmp_path):
    wizard = ProjectWizard(str(tmp_path))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.template_page.select("blink")
    wizard.next()
    wizard.project_page.name.setText("b1")
    wizard.next()
    assert not wizard.network_page.mqtt.isVisibleTo(wizard)


@pytest.fixture
def project_window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    controller = window.project_controller  # the main window installs the Project menu itself
    yield window, controller
    window.shutdown()


@needs_virtual_board
def test_f6_runs_the_project_and_run_on_save_uploads_the_change(qtbot, tmp_path, project_window):
    window, controller = project_window
    assert controller.run_action.shortcut().toString() == "F6"
    assert [a.text() for a in controller.menu.actions() if a.text()][:5] == \
        ["New project…", "Open project…", "Recent projects", "Build and upload", controller.run_action.text()]
    project = new_project(tmp_path, "blink", wifi_ssid="", wifi_password="", extra={"interval_ms": 100})
    controller.open_project(project.root)
    assert window.local_tree.root == str(project.root)
    controller.recent_menu.aboutToShow.emit()
    assert [a.text() for a in controller.recent_menu.actions()] == [str(project.root)]
    with qtbot.waitSignal(controller.sig_run_done, timeout=20000) as done:
        controller.run_action.trigger()
    assert len(done.args[0].sync.uploaded) == len(done.args[0].build.files)
    qtbot.waitUntil(lambda: "ready" in window.console.text(), timeout=10000)  # main.py's output, streamed
    qtbot.waitUntil(lambda: pin(window.connection._worker.board, 2) == 1, timeout=5000)

    controller.watch_action.setChecked(True)
    editor = window.open_file(project.root / "config.py")
    editor.setText(editor.text() + "\ninterval_ms = 150\n")
    with qtbot.waitSignal(controller.sig_run_done, timeout=20000) as done:
        window.tabs.save(editor)
    assert done.args[0].sync.uploaded == ["/config.py"]

    editor.setText(editor.text() + "\nbroken = (\n")
    with qtbot.waitSignal(controller.sig_run_failed, timeout=20000) as failed:
        window.tabs.save(editor)
    assert isinstance(failed.args[0], BuildSyntaxError) and failed.args[0].file == "config.py"
    assert "config.py" in window.statusBar().currentMessage()
