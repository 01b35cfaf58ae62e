"""User settings on QSettings (organisation "MiPy Studio"), and the settings dialog.

:class:`Settings` gives typed access; pass a ``QSettings`` (an INI file in tests) or get the user's. The env var
``MIPY_STUDIO_SETTINGS`` names an INI file to use instead (tests, portable installs).
"""

from __future__ import annotations

import os

from PyQt6.QtCore import QByteArray, QSettings
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFontComboBox, QFormLayout,
                             QLineEdit, QSpinBox, QWidget)

from ide.ui.editor import OpenFile, monospace_font
from ide.ui.theme import ThemeMode

ORGANISATION = "MiPy Studio"
APPLICATION = "MiPy Studio"
SETTINGS_ENV = "MIPY_STUDIO_SETTINGS"
MAX_RECENT_FILES = 10
BAUD_RATES = (9600, 57600, 74880, 115200, 230400, 460800, 921600)


def _bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


class Settings:
    """Typed view of the user's settings. Every property writes through at once."""

    def __init__(self, qsettings: QSettings | None = None):
        if qsettings is None:
            path = os.environ.get(SETTINGS_ENV)
            qsettings = (QSettings(path, QSettings.Format.IniFormat) if path
                         else QSettings(ORGANISATION, APPLICATION))
        self.q = qsettings

    def _get(self, key: str, default, kind=str):
        value = self.q.value(key)
        if value is None:
            return default
        try:
            return _bool(value, default) if kind is bool else kind(value)
        except (TypeError, ValueError):
            return default

    # --- appearance ---
    @property
    def font(self) -> QFont:
        font = monospace_font(self.font_size)
        family = self._get("editor/font_family", "")
        if family:
            font.setFamily(family)
        return font

    @property
    def font_family(self) -> str:
        return self._get("editor/font_family", "")

    @font_family.setter
    def font_family(self, value: str) -> None:
        self.q.setValue("editor/font_family", value)

    @property
    def font_size(self) -> int:
        return self._get("editor/font_size", 11, int)

    @font_size.setter
    def font_size(self, value: int) -> None:
        self.q.setValue("editor/font_size", int(value))

    @property
    def theme(self) -> ThemeMode:
        try:
            return ThemeMode(self._get("appearance/theme", ThemeMode.SYSTEM.value))
        except ValueError:
            return ThemeMode.SYSTEM

    @theme.setter
    def theme(self, value: ThemeMode | str) -> None:
        self.q.setValue("appearance/theme", ThemeMode(value).value)

    # --- board ---
    @property
    def default_baud(self) -> int:
        return self._get("board/baud", 115200, int)

    @default_baud.setter
    def default_baud(self, value: int) -> None:
        self.q.setValue("board/baud", int(value))

    def lines_for(self, port: str) -> tuple[bool, bool]:
        """(DTR, RTS) to hold while connected to ``port`` (default both off: on ESP boards they reset the chip)."""
        key = "ports/" + port.replace("/", "_")
        return self._get(key + "/dtr", False, bool), self._get(key + "/rts", False, bool)

    def set_lines_for(self, port: str, dtr: bool, rts: bool) -> None:
        key = "ports/" + port.replace("/", "_")
        self.q.setValue(key + "/dtr", dtr)
        self.q.setValue(key + "/rts", rts)

    @property
    def last_port(self) -> str:
        return self._get("board/last_port", "")

    @last_port.setter
    def last_port(self, value: str) -> None:
        self.q.setValue("board/last_port", value)

    @property
    def upload_on_save(self) -> bool:
        return self._get("board/upload_on_save", False, bool)

    @upload_on_save.setter
    def upload_on_save(self, value: bool) -> None:
        self.q.setValue("board/upload_on_save", bool(value))

    @property
    def set_clock_on_connect(self) -> bool:
        """Set the board's clock from this computer's when connecting (as Thonny does; mpremote on `rtc --set`)."""
        return self._get("board/set_clock", True, bool)

    @set_clock_on_connect.setter
    def set_clock_on_connect(self, value: bool) -> None:
        self.q.setValue("board/set_clock", bool(value))

    @property
    def compile_mpy(self) -> bool:
        """Compile to .mpy on upload (stored only for now)."""
        return self._get("board/compile_mpy", False, bool)

    @compile_mpy.setter
    def compile_mpy(self, value: bool) -> None:
        self.q.setValue("board/compile_mpy", bool(value))

    # --- session ---
    @property
    def recent_files(self) -> list[str]:
        value = self.q.value("session/recent_files")
        if not value:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def add_recent_file(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files if p != path]
        self.q.setValue("session/recent_files", files[:MAX_RECENT_FILES])

    @property
    def recent_projects(self) -> list[str]:
        value = self.q.value("session/recent_projects")
        if not value:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def add_recent_project(self, path: str) -> None:
        projects = [path] + [p for p in self.recent_projects if p != path]
        self.q.setValue("session/recent_projects", projects[:MAX_RECENT_FILES])

    @property
    def open_files(self) -> list[OpenFile]:
        value = self.q.value("session/open_files")
        if not value:
            return []
        result = []
        for entry in ([value] if isinstance(value, str) else value):
            path, _, rest = str(entry).rpartition("|")
            path, _, line = path.rpartition("|")
            try:
                result.append(OpenFile(path, int(line), int(rest)))
            except ValueError:
                continue
        return result

    @open_files.setter
    def open_files(self, files: list[OpenFile]) -> None:
        self.q.setValue("session/open_files", [f"{f.path}|{f.line}|{f.column}" for f in files])

    @property
    def current_file(self) -> str:
        return self._get("session/current_file", "")

    @current_file.setter
    def current_file(self, value: str) -> None:
        self.q.setValue("session/current_file", value)

    @property
    def project_dir(self) -> str:
        return self._get("session/project_dir", "")

    @project_dir.setter
    def project_dir(self, value: str) -> None:
        self.q.setValue("session/project_dir", value)

    @property
    def board_file_links(self) -> dict[str, str]:
        """Local copies of board files -> their board paths (saving the copy writes the board file, also after
        a restart)."""
        value = self.q.value("session/board_file_links")
        entries = [value] if isinstance(value, str) else (value or [])
        links = {}
        for entry in entries:
            local, sep, board_path = str(entry).rpartition("|")
            if sep and local:
                links[local] = board_path
        return links

    @board_file_links.setter
    def board_file_links(self, links: dict[str, str]) -> None:
        self.q.setValue("session/board_file_links", [f"{local}|{path}" for local, path in links.items()])

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.q.value("window/geometry"), self.q.value("window/state")

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def sync(self) -> None:
        self.q.sync()


class SettingsDialog(QDialog):
    """Edit :class:`Settings`; ``apply()`` writes the fields back (OK calls it)."""

    def __init__(self, settings: Settings, port: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.port = port
        form = QFormLayout(self)
        self.font_family = QFontComboBox()
        self.font_family.setFontFilters(QFontComboBox.FontFilter.MonospacedFonts)
        self.font_family.setCurrentFont(settings.font)
        self.font_size = QSpinBox()
        self.font_size.setRange(6, 40)
        self.font_size.setValue(settings.font_size)
        self.theme = QComboBox()
        for mode, label in ((ThemeMode.LIGHT, "Light"), (ThemeMode.DARK, "Dark"),
                            (ThemeMode.SYSTEM, "Follow the system")):
            self.theme.addItem(label, mode.value)
        self.theme.setCurrentIndex(self.theme.findData(settings.theme.value))
        self.baud = QComboBox()
        for rate in BAUD_RATES:
            self.baud.addItem(str(rate), rate)
        self.baud.setCurrentIndex(max(self.baud.findData(settings.default_baud), 0))
        dtr, rts = settings.lines_for(port) if port else (False, False)
        self.dtr = QCheckBox("Hold DTR while connected")
        self.dtr.setChecked(dtr)
        self.rts = QCheckBox("Hold RTS while connected")
        self.rts.setChecked(rts)
        for box in (self.dtr, self.rts):
            box.setEnabled(bool(port))
        self.upload_on_save = QCheckBox("Upload a board file when saving it")
        self.upload_on_save.setChecked(settings.upload_on_save)
        self.compile_mpy = QCheckBox("Compile to .mpy on upload")
        self.compile_mpy.setChecked(settings.compile_mpy)
        self.set_clock = QCheckBox("Set the board's clock from this computer's when connecting")
        self.set_clock.setChecked(settings.set_clock_on_connect)
        form.addRow("Editor font", self.font_family)
        form.addRow("Font size", self.font_size)
        form.addRow("Theme", self.theme)
        form.addRow("Default baud rate", self.baud)
        port_label = QLineEdit(port or "(no port selected)")
        port_label.setReadOnly(True)
        form.addRow("Port", port_label)
        form.addRow("", self.dtr)
        form.addRow("", self.rts)
        form.addRow("", self.upload_on_save)
        form.addRow("", self.compile_mpy)
        form.addRow("", self.set_clock)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def accept(self) -> None:
        self.apply()
        super().accept()

    def apply(self) -> None:
        s = self.settings
        s.font_family = self.font_family.currentFont().family()
        s.font_size = self.font_size.value()
        s.theme = self.theme.currentData()
        s.default_baud = self.baud.currentData()
        if self.port:
            s.set_lines_for(self.port, self.dtr.isChecked(), self.rts.isChecked())
        s.upload_on_save = self.upload_on_save.isChecked()
        s.compile_mpy = self.compile_mpy.isChecked()
        s.set_clock_on_connect = self.set_clock.isChecked()
        s.sync()
