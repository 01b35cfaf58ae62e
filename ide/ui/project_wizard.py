"""New Project wizard (template gallery, name and board, Wi-Fi and MQTT) and the Project menu with Run project
(F6), for the main window: ``install_project_actions(window)`` returns the :class:`ProjectController`.

The controller uses only the window's public API: ``run_board_job`` (the board worker), ``tabs``, ``console``,
``local_tree``, ``settings``, ``show_error``/``show_message`` and, when present, ``run_project_action`` (its F6
is taken over) and ``stop_action``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                             QLineEdit,
                             QListWidget, QListWidgetItem, QPushButton, QSpinBox, QTextBrowser, QVBoxLayout,
                             QWidget, QWizard, QWizardPage)

from ide.errors import Cancelled, MipyError
from ide.explain import explain
from ide.project.errors import BuildSyntaxError
from ide.project.heap_budget import check as check_heap
from ide.project.new_project import ProjectSettings, ap_password_of, create_project, generate_ap_password
from ide.project.project import BOARD_TYPES, BUILD_DIR, Project, load_project
from ide.project.run_project import deploy, run_project
from ide.project.templates import FRAMEWORK_PACKAGE, Template, list_templates

log = logging.getLogger(__name__)

PHASE_TEXT = {"stopping": "Stopping the program", "building": "Building", "uploading": "Uploading",
              "restarting": "Restarting"}


# --- the wizard ----------------------------------------------------------------------------------------------



def _error_colour() -> str:
    """Red that reads on the window's background, light or dark theme (4.5:1 or more)."""
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    dark = bool(app) and app.palette().window().color().lightness() < 128
    return "#ff8a80" if dark else "#b3261e"

class TemplatePage(QWizardPage):
    def __init__(self, templates: list[Template]):
        super().__init__()
        self.setTitle("Choose a template")
        self.setSubTitle("Each template is a complete, working project you can change.")
        self.templates = templates
        self.gallery = QListWidget()
        self.gallery.setObjectName("template_gallery")
        for template in templates:
            item = QListWidgetItem(f"{template.title}\n{template.description}")
            item.setData(Qt.ItemDataRole.UserRole, template.name)
            item.setToolTip(template.description)
            self.gallery.addItem(item)
        self.gallery.setWordWrap(True)
        self.details = QTextBrowser()
        self.details.setObjectName("template_details")
        layout = QHBoxLayout(self)
        layout.addWidget(self.gallery, 1)
        layout.addWidget(self.details, 1)
        self.gallery.currentRowChanged.connect(self._show)
        if templates:
            self.gallery.setCurrentRow(0)

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.templates):
            self.details.setMarkdown(self.templates[row].readme or self.templates[row].description)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self.selected() is not None

    def selected(self) -> Template | None:
        row = self.gallery.currentRow()
        return self.templates[row] if 0 <= row < len(self.templates) else None

    def select(self, name: str) -> None:
        for row, template in enumerate(self.templates):
            if template.name == name:
                self.gallery.setCurrentRow(row)


class ProjectPage(QWizardPage):
    def __init__(self, base_dir: str):
        super().__init__()
        self.setTitle("Name and board")
        self.base_dir = base_dir
        self.name = QLineEdit()
        self.name.setPlaceholderText("sensor1")
        self.folder = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.board = QComboBox()
        for board in BOARD_TYPES:
            self.board.addItem(board.upper(), board)
        form = QFormLayout(self)
        form.addRow("Device name", self.name)
        form.addRow("Project folder", row)
        form.addRow("Board", self.board)
        self.heap_note = QLabel()
        self.heap_note.setObjectName("heap_note")
        self.heap_note.setWordWrap(True)
        form.addRow(self.heap_note)
        self.board.currentIndexChanged.connect(lambda _i: self._show_heap())
        self._folder_edited = False
        self.folder.textEdited.connect(lambda _t: setattr(self, "_folder_edited", True))
        self.name.textChanged.connect(self._name_changed)
        self.name.textChanged.connect(self.completeChanged)
        self.folder.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:  # noqa: N802
        self._show_heap()

    def _show_heap(self) -> None:
        """Before anything is created or uploaded: whether the template fits the chosen chip (bench/heap.py)."""
        wizard = self.wizard()
        template = wizard.template_page.selected() if wizard else None
        verdict = check_heap(template, self.board.currentData()) if template else None
        self.heap_note.setText(verdict.describe() if verdict else "")
        self.heap_note.setStyleSheet("" if verdict is None or verdict.comfortable else f"color: {_error_colour()}")

    def _name_changed(self, text: str) -> None:
        if not self._folder_edited:
            self.folder.setText(str(Path(self.base_dir) / (text or "project")))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.base_dir)
        if folder:
            self._folder_edited = True
            self.folder.setText(folder)

    def isComplete(self) -> bool:  # noqa: N802
        return bool(self.name.text().strip() and self.folder.text().strip())


class NetworkPage(QWizardPage):
    def __init__(self):
        super().__init__()
        self.setTitle("Network")
        self.setSubTitle("Passwords go into wifi.json and secrets.json in the project, which .gitignore keeps out "
                         "of version control; the board stores them obfuscated and deletes the files.")
        self.wifi_ssid = QLineEdit()
        self.wifi_password = QLineEdit()
        self.wifi_password.setEchoMode(QLineEdit.EchoMode.Password)
        wifi = QGroupBox("Wi-Fi (leave empty to set it up on the board's access point)")
        wifi_form = QFormLayout(wifi)
        wifi_form.addRow("Network name", self.wifi_ssid)
        wifi_form.addRow("Password", self.wifi_password)
        # The board's own set-up access point (when no stored network answers): WPA2 with this password, which
        # goes into config.py and is printed in the board's log at boot.
        self.ap_password = QLineEdit(generate_ap_password())
        self.ap_password.setObjectName("ap_password")
        self.ap_open = QCheckBox("Open set-up access point (anyone in range could choose the board's network)")
        self.ap_open.toggled.connect(lambda open_: self.ap_password.setEnabled(not open_))
        wifi_form.addRow("Set-up access point password", self.ap_password)
        wifi_form.addRow(self.ap_open)
        self.virtual_networks = QLabel()  # filled when the wizard targets the virtual board
        self.virtual_networks.setObjectName("wizard_virtual_networks")
        self.virtual_networks.setWordWrap(True)
        self.virtual_networks.setVisible(False)
        wifi_form.addRow(self.virtual_networks)
        self.mqtt = QGroupBox("MQTT broker")
        self.mqtt_server = QLineEdit()
        self.mqtt_server.setPlaceholderText("192.168.1.10")
        self.mqtt_port = QSpinBox()
        self.mqtt_port.setRange(1, 65535)
        self.mqtt_port.setValue(1883)
        self.mqtt_user = QLineEdit()
        self.mqtt_password = QLineEdit()
        self.mqtt_password.setEchoMode(QLineEdit.EchoMode.Password)
        mqtt_form = QFormLayout(self.mqtt)
        mqtt_form.addRow("Server", self.mqtt_server)
        mqtt_form.addRow("Port", self.mqtt_port)
        mqtt_form.addRow("User", self.mqtt_user)
        mqtt_form.addRow("Password", self.mqtt_password)
        self.error = QLabel()
        self.error.setObjectName("wizard_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {_error_colour()}")
        layout = QVBoxLayout(self)
        layout.addWidget(wifi)
        layout.addWidget(self.mqtt)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        template = self.wizard().template_page.selected()
        self.mqtt.setVisible(bool(template and template.uses_mqtt))
        self._offer_virtual_networks()

    def _offer_virtual_networks(self) -> None:
        """For the virtual board only its own networks are in range: offer them and fill in the first."""
        combo = getattr(self.wizard().parent(), "port_combo", None)
        if combo is None or combo.currentData() != "virtual" or self.virtual_networks.text():
            return
        from PyQt6.QtWidgets import QCompleter
        from ide.board.virtual import wifi
        by_name = {n.ssid: n for n in wifi.NETWORKS}
        self.wifi_ssid.setCompleter(QCompleter(list(by_name), self.wifi_ssid))
        self.wifi_ssid.textChanged.connect(
            lambda text: text in by_name and self.wifi_password.setText(by_name[text].password))
        if not self.wifi_ssid.text():
            self.wifi_ssid.setText(wifi.recommended().ssid)
        self.virtual_networks.setText("The virtual board's networks: " + "; ".join(
            f"{n.ssid} ({n.security}{', password ' + n.password if n.password else ''})" for n in wifi.NETWORKS))
        self.virtual_networks.setVisible(True)

    def validatePage(self) -> bool:  # noqa: N802
        return self.wizard().create()


class ProjectWizard(QWizard):
    """File ▸ New project. After ``exec()`` returns accepted, ``project`` is the created project."""

    def __init__(self, base_dir: str, parent: QWidget | None = None, templates: list[Template] | None = None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.project: Project | None = None
        self.template_page = TemplatePage(templates if templates is not None else list_templates())
        self.project_page = ProjectPage(base_dir)
        self.network_page = NetworkPage()
        for page in (self.template_page, self.project_page, self.network_page):
            self.addPage(page)
        self.project_page._name_changed("")

    def settings(self) -> ProjectSettings:
        p, n = self.project_page, self.network_page
        return ProjectSettings(name=p.name.text().strip(), board=p.board.currentData(),
                               wifi_ssid=n.wifi_ssid.text().strip(), wifi_password=n.wifi_password.text(),
                               mqtt_server=n.mqtt_server.text().strip(), mqtt_port=n.mqtt_port.value(),
                               mqtt_user=n.mqtt_user.text().strip(), mqtt_password=n.mqtt_password.text(),
                               ap_password="" if n.ap_open.isChecked() else (n.ap_password.text() or None))

    def create(self) -> bool:
        """Create the project; on a problem, say what it is on the page and stay there."""
        try:
            self.project = create_project(self.template_page.selected(), self.project_page.folder.text().strip(),
                                          self.settings())
        except MipyError as error:
            self.network_page.error.setText(explain(error))
            return False
        self.network_page.error.clear()
        return True


# --- the Project menu ----------------------------------------------------------------------------------------


def access_point_note(project: Project) -> str | None:
    """What the user needs to reach the board's set-up access point, shown when the project opens (None for a
    project without the set-up portal)."""
    if not (project.root / FRAMEWORK_PACKAGE / "portal.py").is_file():
        return None
    password = ap_password_of(project.root)
    if password is None:
        return "set-up access point password: the board prints it in its log at boot"
    if password == "":
        return "the set-up access point is open (no password)"
    return f"set-up access point password {password}"


class ProjectController(QObject):
    """Project menu actions for the main window: New, Open, Build & upload, Run project (F6), watch mode."""

    sig_project_changed = pyqtSignal(object)
    """The open project changed (a :class:`Project`, or None)."""
    sig_phase = pyqtSignal(str)
    """A Run project phase began ("building", "uploading"...); emitted from the board thread, queued here."""
    sig_run_done = pyqtSignal(object)
    """Run project or deploy finished: the :class:`~ide.project.run_project.RunReport`."""
    sig_run_failed = pyqtSignal(object)
    """Run project or deploy failed with this exception (BuildSyntaxError, Cancelled, board errors)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.project: Project | None = None
        self.job = None
        self._saving = False  # saves Run project makes itself must not start another run in watch mode
        self.wizard_factory = lambda: ProjectWizard(str(Path(window.settings.project_dir or Path.home()).parent),
                                                    window)
        self.sig_phase.connect(self._show_phase)
        window.tabs.sig_file_saved.connect(self._on_saved)

        self.new_action = QAction("New project…", window)
        self.new_action.triggered.connect(self.new_project)
        self.open_action = QAction("Open project…", window)
        self.open_action.triggered.connect(self.ask_open_project)
        self.deploy_action = QAction("Build and upload", window)
        self.deploy_action.setToolTip("Compile the project and upload what changed, without restarting")
        self.deploy_action.triggered.connect(self.deploy)
        run = getattr(window, "run_project_action", None)
        if run is None:
            run = QAction("Run project", window)
            run.setShortcut(QKeySequence("F6"))
        else:
            run.triggered.disconnect()  # the window's placeholder
        run.setToolTip("Stop the board, build, upload what changed and restart (F6)")
        run.triggered.connect(self.run_project)
        self.run_action = run
        self.watch_action = QAction("Run on save", window)
        self.watch_action.setCheckable(True)
        self.watch_action.setToolTip("Watch mode: saving a project file uploads it and restarts the board")

    @property
    def watching(self) -> bool:
        return self.watch_action.isChecked()

    # --- project ---

    def open_project(self, folder: str | Path) -> Project | None:
        try:
            self.project = load_project(folder)
        except MipyError as error:
            self.window.show_error(error, "Open project")
            return None
        self.window.local_tree.set_root(str(self.project.root))
        self.window.settings.project_dir = str(self.project.root)
        self.window.settings.add_recent_project(str(self.project.root))
        self.sig_project_changed.emit(self.project)
        note = access_point_note(self.project)
        if note:
            self.window.console.append_note(f"— {self.project.name}: {note} —")
        return self.project

    def ask_open_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open project", self.window.local_tree.root)
        if folder:
            self.open_project(folder)

    def new_project(self) -> Project | None:
        wizard = self.wizard_factory()
        if not wizard.exec() or wizard.project is None:
            return None
        self.open_project(wizard.project.root)
        self.window.open_file(wizard.project.root / "main.py")
        return self.project

    def current_project(self) -> Project | None:
        """The open project; else the folder shown in the Project files pane, when it has a main.py."""
        if self.project is None:
            try:
                self.project = load_project(self.window.local_tree.root)
                self.sig_project_changed.emit(self.project)
            except MipyError:
                return None
        return self.project

    # --- running ---

    def _save_project_files(self, project: Project) -> bool:
        self._saving = True
        try:
            for editor in self.window.tabs.editors():
                if editor.is_modified and editor.path and Path(editor.path).resolve().is_relative_to(project.root):
                    if not self.window.tabs.save(editor):
                        return False
        finally:
            self._saving = False
        return True

    def run_project(self):
        """F6: stop the board, build, upload what changed, soft-reset; main.py's output follows in the console."""
        return self._start(restart=True)

    def deploy(self):
        return self._start(restart=False)

    def _start(self, restart: bool):
        project = self.current_project()
        if project is None:
            self.window.show_message("No project", "Open a project (Project ▸ Open project…) or create one "
                                     "(Project ▸ New project…) first.")
            return None
        if self.job is not None and self.job in self.window.connection.running:
            return None  # one run at a time; F6 pressed twice
        if not self._save_project_files(project):
            return None
        phase = self.sig_phase.emit

        def job(board, ctx):
            if restart:
                return run_project(board, project, ctx.output, ctx.progress, ctx.cancel, phase)
            return deploy(board, project, ctx.progress, ctx.cancel, phase)

        title = f"Running {project.name}" if restart else f"Uploading {project.name}"
        self.window.console.append_note(f"— {title.lower()} —")
        self.window.console_dock.raise_()
        self.job = self.window.run_board_job(title, job, self._done, self._failed, show_prompt=True,
                                             pause_console=True)
        return self.job

    def _show_phase(self, phase: str) -> None:
        self.window.job_label.setText(PHASE_TEXT.get(phase, phase) + "…")

    def _done(self, report) -> None:
        s = report.sync
        self.window.statusBar().showMessage(
            f"{self.project.name if self.project else 'Project'}: {len(s.uploaded)} file(s) uploaded, "
            f"{len(s.removed)} removed, {s.unchanged} unchanged", 8000)
        self.sig_run_done.emit(report)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, BuildSyntaxError):
            self.window.console.append_note(f"— {explain(error)} —")
            if error.path and error.line:
                self.window.tabs.jump_to_error(error.path, error.line, error.message)
            self.window.statusBar().showMessage(explain(error), 10000)
        elif isinstance(error, Cancelled):
            self.window.statusBar().showMessage(explain(error), 5000)
        else:
            self.window.show_error(error, "Run project failed")
        self.sig_run_failed.emit(error)

    def _on_saved(self, path: str) -> None:
        project = self.project
        if self._saving or not self.watching or project is None or not self.window.connection.connected:
            return
        saved = Path(path).resolve()
        if saved.is_relative_to(project.root) and not saved.is_relative_to(project.root / BUILD_DIR):
            self.run_project()


def install_project_actions(window) -> ProjectController:
    """Add the Project menu to ``window`` and take over its Run project action (F6)."""
    controller = ProjectController(window)
    menu = window.menuBar().addMenu("&Project")
    menu.setObjectName("menu_project")
    for action in (controller.new_action, controller.open_action):
        menu.addAction(action)
    recent = menu.addMenu("Recent projects")

    def fill_recent() -> None:
        recent.clear()
        for folder in window.settings.recent_projects:
            recent.addAction(folder).triggered.connect(lambda _checked=False, f=folder: controller.open_project(f))

    recent.aboutToShow.connect(fill_recent)
    controller.recent_menu = recent
    menu.addSeparator()
    for action in (controller.deploy_action, controller.run_action):
        menu.addAction(action)
    stop = getattr(window, "stop_action", None)
    if stop is not None:
        menu.addAction(stop)
    menu.addSeparator()
    menu.addAction(controller.watch_action)
    controller.menu = menu
    window.project_controller = controller
    return controller
