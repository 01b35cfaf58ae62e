"""Versions for a problem report (ide/versions.py) from the command line and the About box, and
``mipy-studio ports`` marking the port the window would pick."""

from __future__ import annotations

import subprocess
import sys

from ide import __version__
from ide.board.ports import PortInfo, virtual_port_info
from ide.cli import main
from ide.versions import versions, versions_text


def test_about_and_version_verbose_print_the_same_versions(capsys):
    rows = dict(versions())
    assert rows["MiPy Studio"] == __version__
    assert "esp32" in rows["MicroPython targets (completion stubs)"]
    assert rows["esptool"][0].isdigit() and rows["Qt / PyQt"][0].isdigit()
    assert main(["about"]) == 0
    about = capsys.readouterr().out
    assert about.strip() == versions_text().strip() and "esptool" in about
    verbose = subprocess.run([sys.executable, "-m", "ide", "--version", "--verbose"], capture_output=True,
                             text=True, timeout=60)
    assert verbose.returncode == 0 and verbose.stdout == about
    plain = subprocess.run([sys.executable, "-m", "ide", "--version"], capture_output=True, text=True, timeout=60)
    assert plain.stdout.strip() == f"mipy-studio {__version__}"


def test_about_box_shows_them_and_copies_them(qtbot):
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtWidgets import QMainWindow
    from ide.ui.help import show_about
    parent = QMainWindow()
    qtbot.addWidget(parent)
    box = show_about(parent)
    assert "esptool" in box.text() and __version__ in box.text()
    [copy] = [b for b in box.buttons() if b.text() == "Copy versions"]
    copy.click()
    assert box.isVisible()  # copying does not close the box
    assert QGuiApplication.clipboard().text().startswith("MiPy Studio")
    box.close()


def test_ports_marks_the_port_the_window_would_pick(monkeypatch, capsys):
    from ide.board import ports as port_discovery
    esp = PortInfo("/dev/ttyUSB0", "ESP32/ESP8266 board (CP210x) on /dev/ttyUSB0", 3, 0x10C4, 0xEA60)
    legacy = PortInfo("/dev/ttyS0", "/dev/ttyS0", 0)
    listings = {"one board": [esp, legacy, virtual_port_info()], "no board": [legacy, virtual_port_info()]}
    for name, listed in listings.items():
        # The listing pyserial would give with these ports plugged in (the rule itself is ide.board.port_choice).
        monkeypatch.setattr(port_discovery, "list_board_ports", lambda include_unlikely=True, listed=listed: listed)
        monkeypatch.setattr(port_discovery, "usb_device_ids", lambda: [])
        assert main(["ports", "--all"]) == 0
        lines = capsys.readouterr().out.splitlines()
        marked = [line for line in lines if line.startswith(">")]
        assert len(marked) == 1, lines
        if name == "one board":
            assert "/dev/ttyUSB0" in marked[0] and "the one ESP board plugged in" in marked[0]
        else:
            assert "virtual" in marked[0] and "no single ESP board" in marked[0]
    assert main(["--port", "/dev/ttyS0", "ports", "--all"]) == 0
    [marked] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(">")]
    assert "/dev/ttyS0" in marked and "--port" in marked
