"""The start page: what a beginner sees at first start and whenever no file is open.

Three ways in (try the virtual board, install MicroPython on a board, start a project from a template), the
recent projects, and one "what to do next" line that follows where the user is: no board yet, a board connected,
a project open. The page only emits signals; the main window does the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                             QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from ide.ui.icons import IconRegistry

#: Icon of each template on the page ("a picture and one line each"); unknown templates get a puzzle piece.
TEMPLATE_ICONS = {"blink": "led", "mqtt_sensor": "mqtt", "mqtt_relay": "mqtt", "web_dashboard": "web",
                  "wifi_portal": "wifi"}
_NAME_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class StartState:
    """Where the user is, for the "what to do next" line."""

    connected: bool = False
    virtual: bool = False
    project: str | None = None  # the open project's name


def next_step(state: StartState) -> str:
    """The one thing to do next, in words (HTML)."""
    if not state.connected:
        return ("<b>First, a board.</b> Plug in an ESP32 or ESP8266 board with MicroPython (the port list picks "
                "it by itself) and press <b>Connect</b>, or <b>Try without a board</b>: the virtual board is "
                "MicroPython running on this computer.")
    if state.project:
        return (f"<b>Project {state.project} is open.</b> Press <b>Run project</b> (F6): it is built, uploaded "
                "and restarted, and its output follows in the console below.")
    where = "the virtual board" if state.virtual else "your board"
    return (f"<b>Connected to {where}.</b> Run a template: <b>Blink the LED</b> creates the Blink project and "
            "runs it, or pick any template below to set it up first. Or type Python in the console below.")


class StartPage(QScrollArea):
    """The page. ``set_templates`` and ``set_recent_projects`` fill it; ``set_state`` updates the next step."""

    sig_try_virtual = pyqtSignal()
    """"Try without a board": connect to the virtual board."""
    sig_install = pyqtSignal()
    """"Install MicroPython on a board": open the flasher."""
    sig_new_project = pyqtSignal(str)
    """Start the New project wizard with this template picked ("" for none)."""
    sig_run_template = pyqtSignal(str)
    """Create this template's project in the default folder and run it at once."""
    sig_open_project = pyqtSignal(str)
    """Open this recent project folder."""
    sig_run_project = pyqtSignal()
    """Run the open project (F6)."""
    sig_open_file = pyqtSignal()
    """Open a file."""

    def __init__(self, icons: IconRegistry, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("start_page")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._icons = icons
        body = QWidget()
        body.setObjectName("start_page_body")
        self.setWidget(body)
        outer = QHBoxLayout(body)
        outer.addStretch(1)
        column = QVBoxLayout()
        column.setSpacing(14)
        outer.addLayout(column, 8)
        outer.addStretch(1)

        title = QLabel("MiPy Studio")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2.0)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("MicroPython on ESP32 and ESP8266 boards: write, run, upload, flash.")
        column.addSpacing(16)
        column.addWidget(title)
        column.addWidget(subtitle)

        self.next_label = QLabel()
        self.next_label.setObjectName("start_next_step")
        self.next_label.setWordWrap(True)
        self.next_label.setTextFormat(Qt.TextFormat.RichText)
        self.next_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.next_label.setMargin(10)
        column.addWidget(self.next_label)

        buttons = QHBoxLayout()
        self.try_button = self._big_button("Try without a board", "virtual-board",
                                           "Connect to the virtual board: MicroPython on this computer",
                                           self.sig_try_virtual.emit)
        self.install_button = self._big_button("Install MicroPython on a board", "flash",
                                               "Put MicroPython on a new ESP32 or ESP8266 board",
                                               self.sig_install.emit)
        self.new_button = self._big_button("New project", "project", "Start from a template",
                                           lambda: self.sig_new_project.emit(""))
        self.blink_button = self._big_button("Blink the LED", "led",
                                             "Create the Blink project and run it on the board",
                                             lambda: self.sig_run_template.emit("blink"))
        self.run_project_button = self._big_button("Run project", "run-project", "Build, upload and restart (F6)",
                                                   self.sig_run_project.emit)
        for button in (self.try_button, self.blink_button, self.run_project_button, self.install_button,
                       self.new_button):
            buttons.addWidget(button)
        column.addLayout(buttons)

        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.addWidget(self._heading("New project from a template"), 0, 0)
        grid.addWidget(self._heading("Recent projects"), 0, 1)
        self.templates = QListWidget()
        self.templates.setObjectName("start_templates")
        self.templates.setIconSize(QSize(32, 32))
        self.templates.setWordWrap(True)
        self.templates.setSpacing(2)
        self.templates.itemActivated.connect(lambda item: self.sig_new_project.emit(item.data(_NAME_ROLE)))
        self.templates.itemClicked.connect(lambda item: self.sig_new_project.emit(item.data(_NAME_ROLE)))
        self.recent = QListWidget()
        self.recent.setObjectName("start_recent")
        self.recent.itemActivated.connect(lambda item: self.sig_open_project.emit(item.data(_NAME_ROLE)))
        self.recent.itemClicked.connect(lambda item: self.sig_open_project.emit(item.data(_NAME_ROLE)))
        grid.addWidget(self.templates, 1, 0)
        grid.addWidget(self.recent, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        column.addLayout(grid, 1)
        open_file = QPushButton("Open a file…")
        open_file.setFlat(True)
        open_file.clicked.connect(self.sig_open_file.emit)
        icons.add(open_file.setIcon, "open")
        column.addWidget(open_file, 0, Qt.AlignmentFlag.AlignLeft)
        column.addSpacing(12)
        self.set_state(StartState())

    def _heading(self, text: str) -> QLabel:
        label = QLabel(text)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        return label

    def _big_button(self, text: str, icon: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setIconSize(QSize(24, 24))
        button.setMinimumHeight(44)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        button.clicked.connect(lambda _checked=False: slot())
        self._icons.add(button.setIcon, icon)
        return button

    def set_templates(self, templates) -> None:
        """List :class:`ide.project.templates.Template` objects: icon, title and one line each."""
        self.templates.clear()
        for template in templates:
            line = template.description.split(". ")[0].rstrip(".")
            item = QListWidgetItem(f"{template.title}\n{line}")
            item.setData(_NAME_ROLE, template.name)
            item.setToolTip(template.description)
            self.templates.addItem(item)
            self._icons.add(lambda icon, it=item: it.setIcon(icon), TEMPLATE_ICONS.get(template.name, "template"))

    def set_recent_projects(self, folders: list[str]) -> None:
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(folder)
            item.setData(_NAME_ROLE, folder)
            self.recent.addItem(item)
            self._icons.add(lambda icon, it=item: it.setIcon(icon), "project")
        if not folders:
            item = QListWidgetItem("No projects yet: start one from a template.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)

    def set_state(self, state: StartState) -> None:
        """Show the next step for ``state``; the buttons that fit it stand out."""
        self.state = state
        self.next_label.setText(next_step(state))
        self.try_button.setVisible(not state.connected)
        self.blink_button.setVisible(state.connected and not state.project)
        self.run_project_button.setVisible(state.connected and bool(state.project))
        for button in (self.try_button, self.blink_button, self.run_project_button):
            button.setDefault(button.isVisible())
