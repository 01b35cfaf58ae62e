"""The Help menu: getting started (the start page), keyboard shortcuts, the MicroPython documentation for the
connected board, and About with the versions of everything that matters when reporting a problem."""

from __future__ import annotations

import html

from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR, QUrl
from PyQt6.QtGui import QDesktopServices, QGuiApplication
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from ide.versions import versions, versions_text

#: MicroPython's documentation, per port (the quick reference is what a beginner needs first).
DOCS_URLS = {"esp32": "https://docs.micropython.org/en/latest/esp32/quickref.html",
             "esp8266": "https://docs.micropython.org/en/latest/esp8266/quickref.html"}
DOCS_URL_DEFAULT = "https://docs.micropython.org/en/latest/"

#: Keys of the console, which are the board's (not menu shortcuts) while it has the focus.
CONSOLE_KEYS = (
    ("Ctrl+C", "interrupt the running program"), ("Ctrl+D", "soft reset (runs boot.py and main.py)"),
    ("Ctrl+E", "paste mode (Ctrl+D runs what was pasted)"), ("Tab", "complete a name"),
    ("Up / Down", "command history"), ("Ctrl+A / Ctrl+E, Ctrl+K...", "MicroPython's line editing"),
    ("Ctrl+Shift+C / Ctrl+Shift+V", "copy / paste"), ("Shift+PageUp / PageDown", "scroll back"),
)


def about_versions() -> list[tuple[str, str]]:
    """(what, version) for the About box (:func:`ide.versions.versions`, with the Qt actually loaded)."""
    return versions(f"{QT_VERSION_STR} / {PYQT_VERSION_STR}")


def _icon(window, name: str):
    """Icon ``name`` from the window's icon registry once loaded (dialogs opened before that have none)."""
    from PyQt6.QtGui import QIcon
    registry = getattr(window, "icons", None)
    return registry.icon(name) if registry is not None and registry.loaded else QIcon()


def shortcuts_html(window) -> str:
    """Every menu action with a shortcut, then the console's keys, as an HTML table."""
    rows = []
    seen = set()
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():
            keys = action.shortcut().toString()
            if keys and action.text() not in seen:
                seen.add(action.text())
                rows.append((keys, f"{menu.title().replace('&', '')} ▸ {action.text().replace('&', '')}"))
    table = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(t)}</td></tr>" for k, t in rows)
    console = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(t)}</td></tr>" for k, t in CONSOLE_KEYS)
    return (f"<h3>Window</h3><table cellspacing=6>{table}</table>"
            "<h3>REPL console</h3><p>While the console has the focus, keys go to the board, as in a terminal "
            f"(so Ctrl+C interrupts and Ctrl+F moves the cursor).</p><table cellspacing=6>{console}</table>")


def show_shortcuts(window) -> QDialog:
    dialog = QDialog(window)
    dialog.setObjectName("shortcuts_dialog")
    dialog.setWindowTitle("Keyboard shortcuts")
    text = QTextBrowser()
    text.setHtml(shortcuts_html(window))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.button(QDialogButtonBox.StandardButton.Close).setIcon(_icon(window, "close"))
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(buttons)
    dialog.resize(560, 560)
    dialog.show()
    return dialog


def about_html() -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>" for k, v in about_versions())
    return ("<h3>MiPy Studio</h3><p>A desktop IDE for ESP32 and ESP8266 boards running MicroPython.</p>"
            f"<table cellspacing=4>{rows}</table>")


def show_about(parent: QWidget) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About MiPy Studio", about_html(), parent=parent)
    box.setObjectName("about_box")
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.button(QMessageBox.StandardButton.Close).setIcon(_icon(parent, "close"))
    # The same lines as "mipy-studio about", for a bug report.
    copy = box.addButton("Copy versions", QMessageBox.ButtonRole.ActionRole)
    copy.setIcon(_icon(parent, "copy"))
    copy.clicked.disconnect()  # an action button would close the box
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(
        versions_text(f"{QT_VERSION_STR} / {PYQT_VERSION_STR}")))
    box.show()
    return box


def docs_url(window) -> str:
    info = getattr(window, "board_info", None)
    return DOCS_URLS.get(getattr(info, "platform", ""), DOCS_URLS["esp32"] if info is None else DOCS_URL_DEFAULT)


def install_help_menu(window):
    """Add the Help menu to ``window`` (a MainWindow); returns it."""
    menu = window.menuBar().addMenu("&Help")
    menu.setObjectName("menu_help")
    window.getting_started_action = window._action("Getting started", window.show_start_page, "F1", icon="start")
    window.shortcuts_action = window._action("Keyboard shortcuts", lambda: setattr(
        window, "shortcuts_dialog", show_shortcuts(window)), icon="keyboard")
    window.docs_action = window._action("MicroPython documentation", lambda: QDesktopServices.openUrl(
        QUrl(docs_url(window))), icon="docs", tip="The MicroPython quick reference for the connected board")
    window.about_action = window._action("About MiPy Studio", lambda: setattr(
        window, "about_box", show_about(window)), icon="about")
    for action in (window.getting_started_action, window.shortcuts_action, window.docs_action):
        menu.addAction(action)
    menu.addSeparator()
    menu.addAction(window.about_action)
    return menu
