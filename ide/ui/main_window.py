"""The main window: toolbar (port, connect, run, stop, reset, upload), status bar (connection, board, current job
with progress and cancel), the editor tabs in the centre and movable docks around them (project files, board
files, REPL console, problems, plotter).

Board work goes through :meth:`MainWindow.run_board_job`, which queues a :class:`~ide.ui.board_worker.BoardJob`
on the board thread and routes its result or failure back. Questions and messages to the user are replaceable
attributes (``message_prompt``, ``recovery_prompt``), as ``EditorTabs.unsaved_prompt`` is, so tests answer them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from PyQt6.QtCore import QByteArray, QObject, Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                             QProgressBar, QStackedWidget, QToolBar, QToolButton, QVBoxLayout, QWidget)

from ide.board.port_choice import choose_port, port_change
from ide.board.running_program import PromptWatcher, StoppedProgram, describe_stop, stop_running_program
from ide.errors import Cancelled, DeviceTraceback, PortVanishedError
from ide.explain import explain
from ide.ui import theme as theme_mod
from ide.ui.board_worker import BoardConnection, BoardJob, crlf
from ide.ui.console import CTRL_D_SOFT_RESET, PASTE_MODE_ENTER, PASTE_MODE_FINISH, ReplConsole
from ide.ui.editor import CodeEditor, EditorTabs, ProblemsList
from ide.ui.file_browser import BoardFileBrowser, LocalFileTree, human_size
from ide.ui.find_replace import FindReplaceBar
from ide.ui.icons import IconRegistry, app_icon
from ide.ui.plotter import PlotterPane
from ide.ui.port_watcher import PortWatcher
from ide.ui.recovery import AUTOSAVE_INTERVAL_MS, RecoveredBuffer, RecoveryStore
from ide.ui.settings import Settings, SettingsDialog
from ide.ui.start_page import StartPage, StartState

APP_TITLE = "MiPy Studio"
#: How often a running program gets what was typed in the console (the typing latency of its ``input()``).
RUN_INPUT_POLL_S = 0.05
RUN_INPUT_HINT = "Typing in the console goes to the running program; Ctrl-C stops it."
#: The port picker is as wide as its longest entry, at least this many characters ("Virtual board (MicroPython
#: on this computer" and a device path with its USB description) and at most PORT_PICKER_MAX_CHARS; the full text
#: is in the tooltip and the drop-down list.
PORT_PICKER_CHARS = 44
PORT_PICKER_MAX_CHARS = 70
#: Icons are set this long after the window is first shown (the first frame is painted without them).
ICONS_DELAY_MS = 30
#: The board's name for code sent through the raw REPL: tracebacks in it point at the file that was run.
STDIN_FILE = "<stdin>"


def _show_message(parent: QWidget, title: str, text: str) -> None:
    if getattr(parent, "_showing_error", False):
        QMessageBox.critical(parent, title, text)
    else:
        QMessageBox.information(parent, title, text)


def _ask_rescue(parent: QWidget) -> bool | None:
    box = QMessageBox(QMessageBox.Icon.Question, "Rescue the board",
                      "MiPy Studio will interrupt the board while it restarts, to stop a main.py that never "
                      "lets go.\n\nAlso rename main.py to main.py.disabled, so the board stays at the prompt "
                      "after the next reset? (You can rename it back in the board files.)", parent=parent)
    move = box.addButton("Stop it and move main.py aside", QMessageBox.ButtonRole.YesRole)
    box.addButton("Only stop it", QMessageBox.ButtonRole.NoRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is move:
        return True
    if clicked is None or box.buttonRole(clicked) == QMessageBox.ButtonRole.RejectRole:
        return None
    return False


def _ask_board_copy(parent: QWidget, name: str, board_path: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, "File changed on the board",
                      f"{board_path} changed on the board since you opened it, and {name} has unsaved changes."
                      "\n\nShow the board's file (your changes are lost), or keep your changes (saving them "
                      "replaces the board's file)?", parent=parent)
    show = box.addButton("Show the board's file", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep my changes", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is show


def _ask_recover(parent: QWidget, buffers: list[RecoveredBuffer]) -> bool:
    names = "\n".join(f"  {b.name}" for b in buffers)
    return QMessageBox.question(
        parent, "Recover unsaved work?",
        f"MiPy Studio did not close properly last time. These files had unsaved changes:\n\n{names}\n\n"
        "Restore them?") == QMessageBox.StandardButton.Yes


class _PromptFollower(QObject):
    """Feeds the board's output to a :class:`PromptWatcher`, called on the board thread (a direct connection to
    a real slot: no proxy object is made for it)."""

    def __init__(self, watcher: PromptWatcher, parent: QObject | None = None):
        super().__init__(parent)
        self.watcher = watcher

    @pyqtSlot(bytes)
    def feed(self, data: bytes) -> None:
        self.watcher.feed(data)


class MainWindow(QMainWindow):
    """The IDE window. ``virtual_config`` is used when connecting to the virtual board (tests: a fast one in a
    temporary folder)."""

    sig_board_info = pyqtSignal(object)
    """Fresh :class:`ide.board.board.BoardInfo` arrived."""

    sig_run_finished = pyqtSignal(bool)
    """Running a file ended: True when Stop interrupted it."""

    sig_run_failed = pyqtSignal(object)
    """Running a file ended with this exception (DeviceTraceback, timeout...)."""

    sig_message = pyqtSignal(str)
    """A message was shown to the user (errors explained in words)."""

    sig_ports_listed = pyqtSignal()
    """The port list was filled again (a scan finished)."""

    sig_program_stopped = pyqtSignal(object, str)
    """A job had to stop a running program first: (:class:`StoppedProgram`, what for: "to list the board's
    files"). Emitted from the board thread."""

    def __init__(self, settings: Settings | None = None, recovery: RecoveryStore | None = None,
                 virtual_config: object = None, theme_manager: theme_mod.ThemeManager | None = None,
                 restore_session: bool = True):
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.icons = IconRegistry()
        self.settings = settings or Settings()
        self.recovery = recovery or RecoveryStore()
        self.virtual_config = virtual_config
        self.message_prompt: Callable[[str, str], None] = lambda t, m: _show_message(self, t, m)
        self.recovery_prompt: Callable[[list[RecoveredBuffer]], bool] = lambda b: _ask_recover(self, b)
        # Rescue: True = move main.py aside, False = only stop it, None = cancelled.
        self.rescue_prompt: Callable[[], bool | None] = lambda: _ask_rescue(self)
        # A board file is opened again while its tab has unsaved changes and the board's file changed: (tab
        # name, board path) -> True to show the board's file (the changes are lost), False to keep the tab.
        self.board_copy_prompt: Callable[[str, str], bool] = lambda name, path: _ask_board_copy(self, name, path)
        self._reload_copies: set[str] = set()
        self.board_info = None
        self._jobs: dict[int, tuple[Callable | None, Callable | None, str | None]] = {}
        self._paused_jobs: set[int] = set()
        # Local copy (resolved) -> board path, kept across restarts; copies that are gone are forgotten.
        self._board_files: dict[str, str] = {local: path for local, path in self.settings.board_file_links.items()
                                             if Path(local).is_file()}
        self._run_path: str | None = None
        self._run_job: BoardJob | None = None

        app = QApplication.instance()
        self.theme = theme_manager or theme_mod.ThemeManager(app, self.settings.theme)

        self.connection = BoardConnection(self)
        # Whether the board sits at its prompt, from its output in the order the board thread sees it (a direct
        # connection: the flag is read there, when a job starts, before the UI thread has seen that output).
        self.prompt_watcher = PromptWatcher()
        self._prompt_follower = _PromptFollower(self.prompt_watcher, self)
        self.connection._worker.sig_terminal_output.connect(self._prompt_follower.feed,
                                                            Qt.ConnectionType.DirectConnection)
        self.sig_program_stopped.connect(self._on_program_stopped)
        self._build_centre()
        self._build_docks()
        self._build_actions()
        self._build_status_bar()
        self._wire()
        # The Project menu and Run project (F6) come from the projects feature.
        from ide.ui.project_wizard import install_project_actions
        install_project_actions(self)
        # The Board view dock (virtual board only: pins, inputs, Wi-Fi) and its View menu entry.
        from ide.ui.board_view import install_board_view
        install_board_view(self)
        self._build_help_menu()
        self.project_controller.sig_project_changed.connect(lambda _p: (self._update_project_state(),
                                                                        self._refresh_board_files()))
        # Run project changed the board's files. Listing them would stop the program it just started, so the
        # tree is updated from the sync report instead (a failed run is listed: nothing runs then).
        self.project_controller.sig_run_done.connect(self._show_run_changes)
        self.project_controller.sig_run_failed.connect(lambda _e: self._refresh_board_files())

        self.theme.sig_theme_changed.connect(self._apply_palette)
        self.theme.set_mode(self.settings.theme)
        self._apply_fonts()

        self._autosave = QTimer(self)
        self._autosave.setInterval(AUTOSAVE_INTERVAL_MS)
        self._autosave.timeout.connect(self.autosave_now)
        self._autosave.start()
        # The ports (and the virtual board) are listed by a scan off the UI thread, a moment after the window.
        self._port_infos: list = []
        self._shown_ports: list = []
        self._picked_port: str | None = None
        self._ports_seen = False
        self.port_combo.addItem("Looking for boards…", None)
        self.port_watcher = PortWatcher(self)
        self.port_watcher.sig_ports.connect(self.set_port_list)
        self.port_watcher.start()
        self._set_connected_state(False)
        if restore_session:
            self.restore_session()
        self._update_project_state()
        self._update_centre()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self.icons.loaded and not self._icons_scheduled:
            # Icons need qtawesome (~0.4 s to import and load its fonts): after the first frame, not before.
            self._icons_scheduled = True
            QTimer.singleShot(ICONS_DELAY_MS, self.icons.load)

    # --- building ---

    def _build_centre(self) -> None:
        self._icons_scheduled = False
        self.tabs = EditorTabs()
        self.find_bar = FindReplaceBar()
        self.find_bar.setVisible(False)
        editors = QWidget()
        layout = QVBoxLayout(editors)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.find_bar)
        self.start_page = StartPage(self.icons)
        self._start_page_wanted = False
        self.centre = QStackedWidget()
        self.centre.addWidget(self.start_page)
        self.centre.addWidget(editors)
        self._editors_page = editors
        self.setCentralWidget(self.centre)

    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        # No project yet: the projects folder if there is one, else the home folder (a double-clicked app's
        # working directory is / or the app bundle, not where a beginner's files are).
        self.local_tree = LocalFileTree(self.settings.project_dir or self._first_files_folder())
        self.local_tree.use_icons(self.icons)
        self.browser = BoardFileBrowser(self)
        self.browser.may_replace_copy = self._may_replace_board_copy
        self.browser.compile_mpy = lambda: self.settings.compile_mpy
        self.browser.local_dir_for_downloads = lambda: self.local_tree.root
        self.console = ReplConsole()
        self.console.icons = self.icons
        self.problems = ProblemsList()
        self.plotter = PlotterPane()
        left, bottom = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.project_dock = self._dock("dock_project", "Project files", self.local_tree, left)
        self.board_dock = self._dock("dock_board", "Board files", self.browser, left)
        self.console_dock = self._dock("dock_console", "REPL console", self.console, bottom)
        self.problems_dock = self._dock("dock_problems", "Problems", self.problems, bottom)
        self.plotter_dock = self._dock("dock_plotter", "Plotter", self.plotter, bottom)
        self.splitDockWidget(self.project_dock, self.board_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.console_dock, self.problems_dock)
        self.tabifyDockWidget(self.problems_dock, self.plotter_dock)
        self.console_dock.raise_()
        self.resizeDocks([self.project_dock], [260], Qt.Orientation.Horizontal)
        self.resizeDocks([self.console_dock], [220], Qt.Orientation.Vertical)

    def _action(self, text: str, slot, shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
                tip: str = "", icon: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        keys = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText) if shortcut else ""
        action.setToolTip((tip or text.rstrip("…")) + (f" ({keys})" if keys else ""))
        action.triggered.connect(lambda _checked=False: slot())
        if icon:
            self.icons.add(action.setIcon, icon)
        return action

    def _editor_action(self, text: str, method: str, shortcut=None, icon: str | None = None) -> QAction:
        """An Edit menu action applied to the current editor (nothing happens when no file is open)."""
        def run() -> None:
            editor = self.tabs.current_editor()
            if editor is not None:
                getattr(editor, method)()
        action = self._action(text, run, shortcut, icon=icon)
        self._editor_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self._editor_actions: list[QAction] = []
        self.toolbar = QToolBar("Toolbar")
        self.toolbar.setObjectName("toolbar_board")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(self.toolbar)
        self.port_combo = QComboBox()
        self.port_combo.setMinimumContentsLength(PORT_PICKER_CHARS)
        self.port_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.port_combo.setMaximumWidth(self.port_combo.fontMetrics().horizontalAdvance("x" * PORT_PICKER_MAX_CHARS))
        self.port_combo.currentIndexChanged.connect(self._update_port_tooltip)
        self.port_combo.activated.connect(self._on_port_activated)
        self._update_port_tooltip()
        self.refresh_ports_action = self._action("Refresh ports", self.refresh_ports, tip="Look for boards again",
                                                 icon="refresh")
        self.connect_action = self._action("Connect", self.toggle_connection)
        self.icons.add(lambda _icon: self._set_connect_icon(), "connect")
        self.run_action = self._action("Run", self.run_current_file, "F5", "Run the current file on the board",
                                       icon="run")
        self.run_project_action = self._action("Run project", self.run_project, "F6", icon="run-project")
        self.stop_action = self._action("Stop", self.stop, "Ctrl+F2", "Stop the running program", icon="stop")
        self.reset_action = self._action("Soft reset", self.soft_reset, tip="Restart MicroPython (Ctrl-D)",
                                         icon="reset")
        self.upload_action = self._action("Upload", self.upload_current_file,
                                          tip="Copy the current file to the board", icon="upload")
        self.toolbar.addWidget(self.port_combo)
        self.toolbar.addAction(self.refresh_ports_action)
        refresh_button = self.toolbar.widgetForAction(self.refresh_ports_action)
        if refresh_button is not None:  # an icon is enough beside the port list
            refresh_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toolbar.addAction(self.connect_action)
        self.toolbar.addSeparator()
        for action in (self.run_action, self.run_project_action, self.stop_action, self.reset_action,
                       self.upload_action):
            self.toolbar.addAction(action)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.file_menu = file_menu
        file_menu.addAction(self._action("New", self.tabs.new_file, QKeySequence.StandardKey.New, icon="new"))
        file_menu.addAction(self._action("Open…", self.ask_open_file, QKeySequence.StandardKey.Open, icon="open"))
        file_menu.addAction(self._action("Open folder…", self.ask_open_folder, icon="open-folder"))
        self.recent_menu = file_menu.addMenu("Recent files")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.save_action = self._action("Save", self.save_current, QKeySequence.StandardKey.Save, icon="save")
        self.save_as_action = self._action("Save as…", self.save_current_as, QKeySequence.StandardKey.SaveAs,
                                           icon="save-as")
        self.save_all_action = self._action("Save all", self.save_all, "Ctrl+Alt+S", icon="save-all")
        self.close_tab_action = self._action("Close tab", self.close_current_tab, "Ctrl+W", icon="close")
        for action in (self.save_action, self.save_as_action, self.save_all_action, self.close_tab_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Settings…", self.open_settings, QKeySequence.StandardKey.Preferences,
                                         icon="settings"))
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.StandardKey.Quit, icon="quit"))

        edit_menu = menu.addMenu("&Edit")
        self.edit_menu = edit_menu
        key = QKeySequence.StandardKey
        for entry in (
                ("Undo", "undo", key.Undo, "undo"), ("Redo", "redo", key.Redo, "redo"), None,
                ("Cut", "cut", key.Cut, "cut"), ("Copy", "copy", key.Copy, "copy"),
                ("Paste", "paste", key.Paste, "paste"), ("Select all", "selectAll", key.SelectAll, "select-all"),
                None,
                ("Comment or uncomment", "toggle_comment", "Ctrl+/", "comment"),
                ("Indent", "indent_selection", "Ctrl+]", "indent"),
                ("Unindent", "unindent_selection", "Ctrl+[", "dedent"),
                ("Go to line…", "ask_goto_line", "Ctrl+G", "goto"), None,
                ("Zoom in", "zoom_in", key.ZoomIn, "zoom-in"), ("Zoom out", "zoom_out", key.ZoomOut, "zoom-out"),
                ("Normal size", "zoom_reset", "Ctrl+0", "zoom-reset")):
            if entry is None:
                edit_menu.addSeparator()
            else:
                edit_menu.addAction(self._editor_action(*entry))
        edit_menu.addSeparator()
        edit_menu.addAction(self._action("Find…", lambda: self.find_bar.open_bar(False),
                                         QKeySequence.StandardKey.Find, icon="find"))
        edit_menu.addAction(self._action("Replace…", lambda: self.find_bar.open_bar(True), "Ctrl+R",
                                         icon="replace"))

        board_menu = menu.addMenu("&Board")
        self.board_menu = board_menu
        for action in (self.connect_action, self.refresh_ports_action, self.run_action, self.run_project_action,
                       self.stop_action, self.reset_action, self.upload_action):
            board_menu.addAction(action)
        board_menu.addSeparator()
        self.try_virtual_action = self._action("Try without a board (virtual board)", self.try_virtual_board,
                                               icon="virtual-board")
        board_menu.addAction(self.try_virtual_action)
        self.flash_action = self._action("Install MicroPython (flash firmware)…", self.open_flasher,
                                         tip="Put MicroPython on a new board, or update it", icon="flash")
        board_menu.addAction(self.flash_action)
        self.rescue_action = self._action("Rescue a board that does not answer…", self.rescue_board,
                                          tip="Stop a main.py that never lets go (loops, deep sleep, Ctrl-C off)",
                                          icon="rescue")
        board_menu.addAction(self.rescue_action)
        self.many_boards_action = self._action("Many boards…", self.open_many_boards,
                                               tip="Flash, deploy or run on many boards at once; updates over the air")
        board_menu.addAction(self.many_boards_action)
        from ide.ui.packages_dialog import install_package_actions
        install_package_actions(self, board_menu)
        view_menu = menu.addMenu("&View")
        self.view_menu = view_menu
        self.start_page_action = self._action("Start page", self.show_start_page, icon="start")
        view_menu.addAction(self.start_page_action)
        view_menu.addSeparator()
        for dock in (self.project_dock, self.board_dock, self.console_dock, self.problems_dock, self.plotter_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addAction(self.toolbar.toggleViewAction())

    def _build_help_menu(self) -> None:
        from ide.ui.help import install_help_menu
        self.help_menu = install_help_menu(self)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.connection_label = QLabel("Not connected")
        self.board_label = QLabel("")
        self.job_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(self.stop)
        bar.addWidget(self.connection_label)
        bar.addWidget(self.board_label, 1)
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self._show_job(None)

    def _wire(self) -> None:
        c = self.connection
        c.sig_connected.connect(self._on_connected)
        c.sig_connect_failed.connect(self._on_connect_failed)
        c.sig_disconnected.connect(self._on_disconnected)
        c.sig_terminal_output.connect(self._on_terminal_output)
        c.sig_job_started.connect(self._on_job_started)
        c.sig_job_progress.connect(self._on_job_progress)
        c.sig_job_finished.connect(self._on_job_finished)
        c.sig_job_failed.connect(self._on_job_failed)
        self.console.sig_input_bytes.connect(self._on_console_input)
        self.tabs.sig_problems_changed.connect(self.problems.set_problems)
        self.tabs.sig_editor_closed.connect(self.problems.remove_file)
        self.tabs.sig_editor_closed.connect(self.recovery.remove)
        self.tabs.sig_current_editor_changed.connect(self.find_bar.set_editor)
        self.tabs.sig_current_editor_changed.connect(self._update_title)
        self.tabs.sig_file_saved.connect(self._on_file_saved)
        self.problems.sig_problem_activated.connect(self.tabs.goto)
        self.local_tree.sig_open_file.connect(self.open_file)
        self.local_tree.sig_download_requested.connect(self.browser.download)
        self.browser.sig_open_file.connect(self._open_board_file)
        self.browser.sig_run_file.connect(self.run_board_file)
        self.browser.sig_transfer_done.connect(lambda *_: self.request_board_info())
        self.tabs.sig_current_editor_changed.connect(lambda _e: self._update_centre())
        sp = self.start_page
        sp.sig_try_virtual.connect(self.try_virtual_board)
        sp.sig_install.connect(self.open_flasher)
        sp.sig_new_project.connect(self.new_project_from_template)
        sp.sig_run_template.connect(self.run_template_now)
        sp.sig_open_project.connect(lambda folder: self.project_controller.open_project(folder))
        sp.sig_run_project.connect(self.run_project_action.trigger)
        sp.sig_open_file.connect(self.ask_open_file)

    def _apply_palette(self, palette: theme_mod.Palette) -> None:
        self.icons.set_palette(palette.window_text, palette.margin_fg)
        self.tabs.set_theme(palette)
        self.console.set_theme(palette)
        self.plotter.set_theme(palette)

    # --- messages ---

    def show_error(self, error: BaseException, title: str = "Problem") -> None:
        """Tell the user what went wrong, in words (never a traceback), with the error icon."""
        self._showing_error = True
        try:
            self.show_message(title, explain(error))
        finally:
            self._showing_error = False

    def show_message(self, title: str, text: str) -> None:
        self.statusBar().showMessage(text, 10000)
        self.sig_message.emit(text)
        self.message_prompt(title, text)

    def _update_title(self, editor: CodeEditor | None = None) -> None:
        editor = self.tabs.current_editor()
        self.setWindowTitle(f"{editor.display_name} — {APP_TITLE}" if editor else APP_TITLE)

    # --- ports and connection ---

    def refresh_ports(self) -> None:
        """Look at the serial ports again, off the UI thread; the list follows in :meth:`set_port_list`."""
        self.port_watcher.scan(force=True)

    def set_port_list(self, ports: list) -> None:
        """Show ``ports`` (detected boards first, the virtual board last) and pick one for the user (see
        :mod:`ide.board.port_choice`). A port that went away while picked stays listed, marked as unplugged."""
        change = port_change(self._port_infos, ports)
        current = self.port_combo.currentData()
        connected_port = self.connection.port if self.connection.connected else None
        self._port_infos = list(ports)
        vanished = [info for info in self._shown_ports if info.device in change.vanished
                    and info.device in (current, connected_port)]
        self._shown_ports = list(ports) + vanished
        if connected_port:
            choice = connected_port  # the picker is locked while connected
        else:
            choice = choose_port(ports, self._picked_port, self.settings.last_port)
        self.port_combo.blockSignals(True)
        self.port_combo.clear()
        for info in self._shown_ports:
            gone = info in vanished
            text = f"{info.description} (unplugged)" if gone else info.description
            self.port_combo.addItem(text, info.device)
            index = self.port_combo.count() - 1
            self.port_combo.setItemData(index, text, Qt.ItemDataRole.ToolTipRole)
            if gone or not info.available:
                self.port_combo.model().item(index).setEnabled(False)
        self.port_combo.setCurrentIndex(max(self.port_combo.findData(choice), 0))
        self.port_combo.blockSignals(False)
        self._fit_port_list()
        self._update_port_tooltip()
        if change and self._ports_seen:
            words = [f"plugged in: {d}" for d in change.appeared] + [f"unplugged: {d}" for d in change.vanished]
            self.statusBar().showMessage("Ports changed (" + ", ".join(words) + ")", 8000)
        self._ports_seen = True
        self.sig_ports_listed.emit()

    def _on_port_activated(self, _index: int) -> None:
        """The user picked a port in the list: keep it while it is plugged in."""
        self._picked_port = self.port_combo.currentData()

    def _update_port_tooltip(self, _index: int = -1) -> None:
        text = self.port_combo.currentText()
        self.port_combo.setToolTip(f"{text}\n(where the board is connected)" if text
                                   else "Where the board is connected")

    def _fit_port_list(self) -> None:
        """The drop-down list is as wide as its longest entry, even when the picker itself is narrower."""
        metrics = self.port_combo.fontMetrics()
        widest = max((metrics.horizontalAdvance(self.port_combo.itemText(i)) for i in range(self.port_combo.count())),
                     default=0)
        self.port_combo.view().setMinimumWidth(widest + 40)

    def select_port(self, device: str) -> None:
        index = self.port_combo.findData(device)
        if index < 0:
            self.port_combo.addItem(device, device)
            index = self.port_combo.count() - 1
        self.port_combo.setCurrentIndex(index)

    def toggle_connection(self) -> None:
        if self.connection.connected:
            self.disconnect_board()
        else:
            self.connect_board()

    def connect_board(self, port: str | None = None, rescue: bool | None = None) -> None:
        """Connect to ``port`` (default: the one picked in the toolbar); ``rescue`` (not None) regains control
        of a board that does not answer, moving main.py aside when True."""
        if port:
            self.select_port(port)
        port = self.port_combo.currentData()
        if not port:
            self.show_message("No port", "Pick a port first (plug the board in, then press Refresh ports).")
            return
        options: dict[str, Any] = {}
        if port == "virtual":
            options["virtual_config"] = self.virtual_config
        else:
            from ide.board.serial_link import LineSettings
            dtr, rts = self.settings.lines_for(port)
            options["lines"] = LineSettings(dtr=dtr, rts=rts)
        if rescue is not None:
            options["rescue"] = rescue
        options["set_clock"] = self.settings.set_clock_on_connect
        self.connection_label.setText(f"Connecting to {port}…")
        self.connect_action.setEnabled(False)
        self.connection.open(port, self.settings.default_baud, **options)

    def disconnect_board(self) -> None:
        self.connection.close()

    def _on_connected(self, port: str, greeting: bytes) -> None:
        self.prompt_watcher.mark_idle()  # connecting interrupted what ran and ends at the prompt
        self.settings.last_port = port
        self._set_connected_state(True)
        self.connection_label.setText(f"Connected: {port}")
        self.console.append_note(f"— connected to {port} —")
        for line in greeting.decode("utf-8", "replace").splitlines():
            if line.startswith("[rescued"):
                self.console.append_note(f"— {line.strip('[]')} —")
        self.console.feed(greeting.rsplit(b"\n", 1)[-1] or b">>> ")
        self.request_board_info()
        self.browser.set_connected(True)

    def _on_connect_failed(self, port: str, error: object) -> None:
        self._set_connected_state(False)
        self.connection_label.setText("Not connected")
        self.show_error(error, "Could not connect")

    def _on_disconnected(self, error: object) -> None:
        self._set_connected_state(False)
        self.connection_label.setText("Not connected")
        self.board_label.setText("")
        self.board_info = None
        self.browser.set_connected(False)
        for job_id in list(self._paused_jobs):
            self._paused_jobs.discard(job_id)
        self.console.set_input_enabled(True)
        self._show_job(None)
        if error is not None:
            self.console.append_note("— board disconnected —")
            self.show_error(error, "Board disconnected")
        else:
            self.console.append_note("— disconnected —")

    def _set_connected_state(self, connected: bool) -> None:
        self.connect_action.setEnabled(True)
        self.connect_action.setText("Disconnect" if connected else "Connect")
        self.port_combo.setEnabled(not connected)
        for action in (self.run_action, self.stop_action, self.reset_action, self.upload_action):
            action.setEnabled(connected)
        self._set_connect_icon()
        self._update_start_state()

    def _set_connect_icon(self) -> None:
        if self.icons.loaded:
            self.connect_action.setIcon(self.icons.icon("disconnect" if self.connection.connected else "connect"))

    def request_board_info(self) -> None:
        """Ask the board for its version, chip, free RAM and flash (shown in the status bar)."""
        self.run_board_job("Reading board info", lambda board, ctx: board.info(), self._show_board_info,
                           on_error=lambda error: None)

    def _show_board_info(self, info) -> None:
        self.board_info = info
        # Board files opened for editing are cached per user and per board (two boards' main.py never mix).
        from platformdirs import user_cache_dir
        board_id = "".join(ch for ch in (info.unique_id or "unknown") if ch.isalnum()) or "unknown"
        self.browser.cache_dir = Path(user_cache_dir("mipy-studio")) / "board-files" / \
            (("virtual-" if info.virtual else "") + board_id)
        self.tabs.set_board_port(info.platform)
        self.board_label.setText(
            f"MicroPython {info.version} · {info.platform}{' (virtual)' if info.virtual else ''} · "
            f"RAM {'≈' if info.ram_estimated else ''}{human_size(info.mem_free)} free · "
            f"flash {human_size(info.fs_free)} free")
        self.board_label.setToolTip(info.machine)
        self.sig_board_info.emit(info)

    # --- jobs ---

    def run_board_job(self, title: str, fn: Callable, on_done: Callable | None = None,
                      on_error: Callable | None = None, transfer: bool = False, note: str | None = None,
                      show_prompt: bool = False, pause_console: bool | None = None,
                      accepts_input: bool = False, purpose: str | None = None) -> BoardJob | None:
        """Queue ``fn(board, ctx)`` on the board thread. ``on_done(result)`` / ``on_error(exception)`` run on the
        UI thread (default for errors: explain them to the user). ``transfer`` pauses the console while it runs
        and writes ``note`` into it afterwards; ``accepts_input`` sends console keys to the job (a running
        program). A job that has to stop a running program says so in the console, "stopped main.py" and
        ``purpose`` ("to list the board's files"; default: "before " and the title). Returns the job, or None when
        no board is connected."""
        if not self.connection.connected:
            self.show_message("Not connected", "Connect to a board first (pick its port in the toolbar, then "
                              "press Connect).")
            return None
        purpose = purpose or f"before {title[:1].lower()}{title[1:]}"
        job = BoardJob(title, self._saying_what_it_stops(fn, purpose),
                       pause_console=transfer if pause_console is None else pause_console,
                       show_prompt=show_prompt, accepts_input=accepts_input)
        self._jobs[job.id] = (on_done, on_error, note)
        return self.connection.submit(job)

    def _saying_what_it_stops(self, fn: Callable, purpose: str) -> Callable:
        """``fn`` preceded, when the board is not at its prompt, by an interrupt that names what it stopped
        (:func:`ide.board.running_program.stop_running_program`), and followed by what it left running. Runs on
        the board thread, in job order."""
        watcher = self.prompt_watcher

        def run(board, ctx):
            if not watcher.at_prompt:
                stopped = stop_running_program(board)
                watcher.mark_idle()
                if stopped is not None:
                    self.sig_program_stopped.emit(stopped, purpose)
            try:
                return fn(board, ctx)
            finally:
                # A job that ended in the raw REPL ends at an idle prompt (the worker returns to the friendly one);
                # one that left it (a reset from the friendly REPL) may have started main.py.
                if board.repl.in_raw_repl:
                    watcher.mark_idle()
                else:
                    watcher.mark_busy()
        return run

    @property
    def board_at_prompt(self) -> bool:
        """True when the board waits at its prompt, so a board job stops nothing."""
        return self.prompt_watcher.at_prompt

    def _on_program_stopped(self, stopped: StoppedProgram, purpose: str) -> None:
        text = describe_stop(stopped, purpose)
        self.console.append_note(f"— {text} —")
        self.statusBar().showMessage(text[:1].upper() + text[1:], 10000)

    def _show_job(self, job: BoardJob | None) -> None:
        busy = job is not None
        self.job_label.setText(job.title + "…" if busy else "")
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # busy indicator until the first progress report

    def _on_job_started(self, job: BoardJob) -> None:
        self._show_job(job)
        if job.pause_console:
            self._paused_jobs.add(job.id)
            self.console.set_input_enabled(False, f"Console paused: {job.title}")

    def _on_job_progress(self, job: BoardJob, done: int, total: int) -> None:
        if total > 0:
            # QProgressBar takes ints: scale large byte counts into range.
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.progress.setFormat(f"{human_size(done)} / {human_size(total)}")

    def _job_ended(self, job: BoardJob) -> tuple[Callable | None, Callable | None, str | None]:
        callbacks = self._jobs.pop(job.id, (None, None, None))
        if job.id in self._paused_jobs:
            self._paused_jobs.discard(job.id)
            if not self._paused_jobs:
                self.console.set_input_enabled(True)
        self._show_job(self.connection.running[0] if self.connection.running else None)
        return callbacks

    def _on_job_finished(self, job: BoardJob, result: object) -> None:
        on_done, _on_error, note = self._job_ended(job)
        if note:
            self.console.append_note(f"— {note} —")
            self.console.feed(b">>> ")
        if on_done is not None:
            on_done(result)

    def _on_job_failed(self, job: BoardJob, error: object) -> None:
        _on_done, on_error, note = self._job_ended(job)
        if note:
            what = "cancelled" if isinstance(error, Cancelled) else "failed"
            self.console.append_note(f"— {job.title}: {what} —")
            self.console.feed(b">>> ")
        if isinstance(error, PortVanishedError) and not self.connection.connected:
            # The cable was pulled: the disconnect already said so once; every queued job failing with it
            # must not open a dialog of its own.
            self.statusBar().showMessage(f"{job.title}: the board is gone", 5000)
            return
        if on_error is not None:
            on_error(error)
        elif isinstance(error, Cancelled):
            self.statusBar().showMessage(explain(error), 5000)
        else:
            self.show_error(error)

    def _on_console_input(self, data: bytes) -> None:
        """Console keys: to the REPL, or to the running program (see ``BoardConnection.write``)."""
        if self.connection.input_job is None and (b"\r" in data or CTRL_D_SOFT_RESET in data):
            self.prompt_watcher.mark_busy()  # a command (or main.py after Ctrl-D) may run until the next prompt
        if self.connection.input_job is not None and data.startswith(PASTE_MODE_ENTER) \
                and data.endswith(PASTE_MODE_FINISH):
            # A multi-line paste is wrapped in the REPL's paste mode; a program's input() wants the lines only.
            data = data[len(PASTE_MODE_ENTER):-len(PASTE_MODE_FINISH)]
        self.connection.write(data)

    def _on_terminal_output(self, data: bytes) -> None:
        self.console.feed(data)
        self.plotter.feed(data)

    # --- run / stop / reset / upload ---

    def run_current_file(self) -> BoardJob | None:
        """Run the current editor's text on the board (F5); output streams into the console."""
        editor = self.tabs.current_editor()
        if editor is None:
            self.show_message("Nothing to run", "Open or create a file first.")
            return None
        editor.clear_error_marks()
        return self._run_code(editor.text(), editor.key, editor.display_name)

    def run_board_file(self, board_path: str) -> BoardJob | None:
        """Run a file stored on the board."""
        code = f"exec(open({board_path!r}).read(), {{'__name__': '__main__'}})\n"
        return self._run_code(code, None, board_path)

    def _run_code(self, code: str, local_key: str | None, name: str) -> BoardJob | None:
        if self._run_job is not None and self._run_job in self.connection.running:
            self.show_message("Board busy", "The board is still busy. Press Stop first, or wait for it to finish.")
            return None
        self._run_path = local_key
        self.console.append_note(f"— running {name} —")
        self.console_dock.raise_()
        # The console stays live: what is typed goes to the program (input(), sys.stdin), Ctrl-C stops it.
        self._run_job = self.run_board_job(
            f"Running {name}", lambda board, ctx: board.run(code, ctx.output, ctx.cancel, RUN_INPUT_POLL_S,
                                                            input_source=ctx.input),
            self._on_run_finished, self._on_run_failed, show_prompt=True, pause_console=False, accepts_input=True)
        if self._run_job is not None:
            self.statusBar().showMessage(RUN_INPUT_HINT)
        return self._run_job

    def _clear_run_hint(self) -> None:
        if self.statusBar().currentMessage() == RUN_INPUT_HINT:
            self.statusBar().clearMessage()

    def _on_run_finished(self, interrupted: bool) -> None:
        self._clear_run_hint()
        self.console.append_note("— program stopped —" if interrupted else "— program finished —")
        self.console.feed(b">>> ")
        self._refresh_board_files()  # a program may write files (logs, settings); nothing runs now
        self.sig_run_finished.emit(bool(interrupted))

    def _on_run_failed(self, error: BaseException) -> None:
        self._clear_run_hint()
        self._refresh_board_files()
        if isinstance(error, DeviceTraceback):
            self.console.feed(b"\r\n" + crlf(error.traceback.encode("utf-8", "replace")))
            self.console.feed(b">>> ")
            target = None
            if error.file in (STDIN_FILE, "<string>") and self._run_path:
                target = self._run_path
            elif error.file:
                target = self._local_for_board_file(error.file)
            if target and error.line:
                self.tabs.jump_to_error(target, error.line, f"{error.exc_type}: {error.message}")
            self.statusBar().showMessage(explain(error), 10000)
        else:
            self.show_error(error, "Run failed")
        self.sig_run_failed.emit(error)

    def _local_for_board_file(self, board_file: str) -> str | None:
        wanted = "/" + board_file.lstrip("/")
        for local, board_path in self._board_files.items():
            if board_path == wanted:
                return local
        for editor in self.tabs.editors():
            if editor.path and Path(editor.path).name == Path(board_file).name:
                return editor.path
        return None

    # --- start page and projects ---

    def _update_centre(self) -> None:
        """The start page when no file is open (or when asked for); else the editor tabs."""
        if self.tabs.count() == 0 or self._start_page_wanted:
            self.start_page.set_recent_projects(self.settings.recent_projects)
            if self.start_page.templates.count() == 0:
                from ide.project.templates import list_templates
                self.start_page.set_templates(list_templates())
            self.centre.setCurrentWidget(self.start_page)
        else:
            self.centre.setCurrentWidget(self._editors_page)

    def show_start_page(self) -> None:
        """View ▸ Start page (and Help ▸ Getting started); opening or switching a file goes back to the editor."""
        self._start_page_wanted = True
        self._update_centre()
        self._start_page_wanted = False  # the next tab change shows the editor again

    def _refresh_board_files(self) -> None:
        """List the board's files again after something changed them, unless that would stop a program."""
        if self.connection.connected:
            self.browser.refresh(automatic=True)

    def _show_run_changes(self, report) -> None:
        """Run project or Build and upload: the tree shows what the sync (and package install) wrote."""
        written, removed = list(report.sync.uploaded), list(report.sync.removed)
        packages = getattr(report, "packages", None)
        if packages is not None:
            written += list(packages.written)
            removed += list(packages.removed)
        self.browser.apply_changes(written, removed)

    def _update_start_state(self) -> None:
        controller = getattr(self, "project_controller", None)
        project = controller.project if controller is not None else None
        self.start_page.set_state(StartState(self.connection.connected, self.connection.port == "virtual",
                                             project.name if project is not None else None))

    def _project_available(self) -> bool:
        """A project is open, or the Project files folder holds one (what Run project would run)."""
        controller = getattr(self, "project_controller", None)
        if controller is None:
            return False
        if controller.project is not None:
            return True
        from ide.errors import MipyError
        from ide.project.project import load_project
        try:
            load_project(self.local_tree.root)
        except (MipyError, OSError):
            return False
        return True

    def _update_project_state(self) -> None:
        """Run project is enabled only when there is a project to run."""
        available = self._project_available()
        for action in (self.run_project_action, getattr(self.project_controller, "deploy_action", None)):
            if action is not None:
                action.setEnabled(available)
        self._update_start_state()

    def try_virtual_board(self) -> None:
        """"Try without a board": connect to the virtual board (MicroPython on this computer)."""
        if self.connection.connected and self.connection.port == "virtual":
            return
        if self.connection.connected:
            self.disconnect_board()
        self.connect_board("virtual")

    def new_project_from_template(self, template: str = "") -> None:
        """The New project wizard, with ``template`` picked when given."""
        controller = self.project_controller
        factory = controller.wizard_factory

        def preselected():
            wizard = factory()
            if template:
                wizard.template_page.select(template)
            return wizard

        controller.wizard_factory = preselected
        try:
            controller.new_project()
        finally:
            controller.wizard_factory = factory
        self._update_project_state()

    def default_projects_dir(self) -> Path:
        """Where projects made in one click go: "MiPy Studio" in the user's documents folder."""
        from platformdirs import user_documents_dir
        return Path(user_documents_dir()) / "MiPy Studio"

    def _first_files_folder(self) -> str:
        projects = self.default_projects_dir()
        return str(projects if projects.is_dir() else Path.home())

    def run_template_now(self, template: str = "blink") -> None:
        """Create ``template``'s project in the default folder (a fresh name if taken), open it and run it."""
        from ide.errors import MipyError
        from ide.project.new_project import ProjectSettings, create_project
        from ide.project.templates import list_templates
        chosen = next((t for t in list_templates() if t.name == template), None)
        if chosen is None:
            self.show_message("No such template", f"There is no template called {template}.")
            return
        base = self.default_projects_dir()
        folder = base / template
        number = 2
        while folder.exists():
            folder = base / f"{template}-{number}"
            number += 1
        board = getattr(self.board_info, "platform", "esp32")
        if board not in chosen.boards:
            board = chosen.boards[0]
        try:
            project = create_project(chosen, folder, ProjectSettings(name=folder.name.replace("-", "_"),
                                                                     board=board))
        except (MipyError, OSError) as error:
            self.show_error(error, "Could not create the project")
            return
        self.project_controller.open_project(project.root)
        self.open_file(project.root / "main.py")
        self._update_project_state()
        if self.connection.connected:
            self.run_project_action.trigger()

    def save_all(self) -> None:
        """Save every modified file (untitled ones ask for a name)."""
        for editor in self.tabs.editors():
            if editor.is_modified:
                try:
                    if not self.tabs.save(editor):
                        return  # the user cancelled a Save as
                except OSError as error:
                    self.show_message("Could not save", f"Could not save {editor.display_name}: "
                                      f"{error.strerror or error}")
                    return

    def close_current_tab(self) -> None:
        """Close the current tab (Ctrl+W), asking about unsaved changes."""
        try:
            self.tabs.close_editor(self.tabs.current_editor())
        except OSError as error:
            self.show_message("Could not save", f"Could not save: {error.strerror or error}")

    def run_project(self) -> None:
        """F6 until the project controller takes the action over (see ide.ui.project_wizard)."""
        self.show_message("No project open", "No project is open: use Project ▸ New project… or Open project….")

    def rescue_board(self) -> None:
        """Reconnect while interrupting the board across a reset; optionally move main.py aside."""
        port = self.port_combo.currentData()
        if not port:
            self.show_message("No port", "Pick the board's port first.")
            return
        move_main = self.rescue_prompt()
        if move_main is None:
            return
        if self.connection.connected:
            self.disconnect_board()
        self.console.append_note("— rescuing: interrupting the board across a reset (press its RESET button if "
                                 "nothing happens) —")
        self.connect_board(port, rescue=move_main)

    def open_many_boards(self) -> None:
        from ide.ui.many_boards import open_many_boards
        open_many_boards(self)

    def open_flasher(self) -> None:
        """The firmware wizard. The port must be free for esptool, so a connection to it is closed first."""
        from ide.ui.flasher_wizard import open_flasher_wizard
        port = self.port_combo.currentData()
        was_connected = self.connection.connected
        if was_connected:
            self.console.append_note("— disconnected: the firmware wizard needs the port; the REPL reconnects "
                                     "when it closes —")
            self.disconnect_board()
        wizard = open_flasher_wizard(self, None if port == "virtual" else port)
        reconnect = {"port": port} if was_connected else {}   # "Open REPL" picks the flashed port instead
        wizard.sig_open_repl.connect(lambda flashed_port: (reconnect.clear(), self.connect_board(flashed_port)))
        wizard.finished.connect(lambda _result: reconnect and self.connect_board(reconnect["port"]))
        wizard.sig_new_project.connect(lambda: self.project_controller.new_project())
        self.flasher_wizard = wizard

    def stop(self) -> None:
        """Stop the running job or program (Ctrl-C)."""
        self.connection.stop()

    def soft_reset(self) -> None:
        """Restart MicroPython (boot.py and main.py run again; main.py's output follows in the console)."""
        self.console.append_note("— soft reset —")
        # No board info afterwards: asking would stop the main.py the reset just started.
        self.run_board_job("Soft reset", lambda board, ctx: board.soft_reset(ctx.output, run_main=True,
                                                                             wait_for_prompt=False))

    def upload_current_file(self) -> None:
        """Save the current file and copy it to the board's root folder."""
        editor = self.tabs.current_editor()
        if editor is None:
            self.show_message("Nothing to upload", "Open a file first.")
            return
        try:
            if (editor.is_modified or editor.path is None) and not self.tabs.save(editor):
                return
        except OSError as error:
            self.show_message("Could not save", f"Could not save {editor.display_name}: {error.strerror or error}")
            return
        board_path = self._board_files.get(editor.path)
        if board_path:
            self.browser.save_to_board(editor.path, board_path)
        else:
            self.browser.upload([Path(editor.path)], "/")

    # --- files ---

    def open_file(self, path: str | os.PathLike) -> CodeEditor | None:
        try:
            editor = self.tabs.open_file(path)
        except OSError as error:
            self.show_message("Could not open", f"Could not open {path}: {error.strerror or error}")
            return None
        self.settings.add_recent_file(str(Path(path).resolve()))
        return editor

    def _may_replace_board_copy(self, local: str, board_path: str, data: bytes) -> bool:
        """Before a board file read for opening replaces its local copy: a tab with unsaved changes to that copy
        keeps them when the board's file has not changed since (nothing to replace), else ``board_copy_prompt``
        decides (True: show the board's file, losing the changes)."""
        editor = self.tabs.find_editor(local)
        if editor is None or not editor.is_modified:
            return True
        try:
            if Path(local).read_bytes() == data:
                return False
        except OSError:
            pass
        if self.board_copy_prompt(editor.display_name, board_path):
            self._reload_copies.add(str(Path(local).resolve()))
            return True
        return False

    def _open_board_file(self, local: str, board_path: str) -> None:
        self._board_files[str(Path(local).resolve())] = board_path
        self.settings.board_file_links = self._board_files
        existing = self.tabs.find_editor(local)
        reload = str(Path(local).resolve()) in self._reload_copies
        self._reload_copies.discard(str(Path(local).resolve()))
        if existing is not None and (reload or not existing.is_modified):
            # The read replaced the copy under the tab: show what the board has, where the cursor was.
            line, column = existing.cursor_line_column()
            existing.load(local)
            existing.goto_line(line, column)
        editor = self.tabs.open_file(local)
        index = self.tabs.indexOf(editor)
        self.tabs.setTabToolTip(index, f"On the board: {board_path}")

    def _on_file_saved(self, path: str) -> None:
        self.recovery.remove(path)
        board_path = self._board_files.get(str(Path(path).resolve())) or self._project_board_path(path)
        if board_path and self.connection.connected and (self.settings.upload_on_save or
                                                         str(Path(path).resolve()) in self._board_files):
            self.browser.save_to_board(path, board_path)  # its own path, without asking each time

    def _project_board_path(self, path: str) -> str | None:
        """Where a file of the open project lives on the board ("/" + its path in the project), else None."""
        project = getattr(getattr(self, "project_controller", None), "project", None)
        if project is None:
            return None
        resolved = Path(path).resolve()
        root = Path(project.root).resolve()
        if not resolved.is_relative_to(root) or resolved.is_relative_to(root / "build"):
            return None
        return "/" + resolved.relative_to(root).as_posix()

    def ask_open_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open", self.local_tree.root, "Python (*.py);;All files (*)")
        for path in paths:
            self.open_file(path)

    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.local_tree.root)
        if folder:
            self.local_tree.set_root(folder)
            self.settings.project_dir = folder
            self._update_project_state()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self.recent_menu.addAction(path).triggered.connect(lambda _c=False, p=path: self.open_file(p))

    def save_current(self) -> None:
        try:
            self.tabs.save()
        except OSError as error:
            self.show_message("Could not save", f"Could not save: {error.strerror or error}")

    def save_current_as(self) -> None:
        editor = self.tabs.current_editor()
        if editor is None:
            return
        path = self.tabs.save_as_prompt(editor)
        if path:
            try:
                self.tabs.save_as(path, editor)
            except OSError as error:
                self.show_message("Could not save", f"Could not save: {error.strerror or error}")

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.port_combo.currentData() or "", self)
        if dialog.exec():
            self.apply_settings()

    def apply_settings(self) -> None:
        """Apply the stored settings (theme, editor and console font) after the dialog changed them."""
        self.theme.set_mode(self.settings.theme)
        self._apply_fonts()

    def _apply_fonts(self) -> None:
        self.tabs.set_font(self.settings.font_family, self.settings.font_size)
        self.console.set_font(self.settings.font)

    # --- session and recovery ---

    def autosave_now(self) -> int:
        """Copy every modified buffer into the recovery folder; returns how many were written."""
        written = 0
        for editor in self.tabs.editors():
            if editor.is_modified:
                try:
                    self.recovery.save(editor.key, editor.path, editor.display_name, editor.text())
                    written += 1
                except OSError as error:
                    self.statusBar().showMessage(f"Could not write the recovery copy: {error}", 5000)
            else:
                self.recovery.remove(editor.key)
        return written

    def restore_session(self) -> None:
        """Window layout, open files and cursors from the last session; then offer unsaved work back."""
        geometry, state = self.settings.window_state()
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        dropped = self.tabs.restore_session(self.settings.open_files)
        if dropped:
            names = ", ".join(Path(p).name for p in dropped)
            self.statusBar().showMessage(f"Not reopened (missing or unreadable): {names}", 15000)
            self.console.append_note(f"— not reopened (missing or unreadable): {', '.join(dropped)} —")
        current = self.settings.current_file
        if current and self.tabs.find_editor(current):
            self.tabs.setCurrentWidget(self.tabs.find_editor(current))
        self.offer_recovery()

    def offer_recovery(self) -> int:
        """If unsaved buffers were left by a crash, ask (``recovery_prompt``) and restore them. Returns how many
        were restored."""
        pending = self.recovery.pending()
        if not pending:
            return 0
        restored = 0
        if self.recovery_prompt(pending):
            for buffer in pending:
                editor = None
                if buffer.path and Path(buffer.path).is_file():
                    editor = self.tabs.open_file(buffer.path)
                else:
                    editor = self.tabs.new_file()
                editor.setText(buffer.text)
                editor.setModified(True)
                restored += 1
        self.recovery.clear()
        self.autosave_now()
        return restored

    def save_session(self) -> None:
        self.settings.open_files = self.tabs.open_files()
        editor = self.tabs.current_editor()
        self.settings.current_file = editor.path if editor and editor.path else ""
        self.settings.project_dir = self.local_tree.root
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_session()
        try:
            closed = self.tabs.close_all()
        except OSError as error:  # "Save" chosen for a file that cannot be written: stay open, say why
            self.show_message("Could not save", f"Could not save: {error.strerror or error}. "
                              "MiPy Studio stays open so nothing is lost.")
            closed = False
        if not closed:
            event.ignore()
            return
        self._autosave.stop()
        self.port_watcher.stop()
        self.recovery.clear()  # a clean exit: nothing to recover next time
        self.connection.shutdown()
        self.browser.remove_drag_copies()
        event.accept()

    def shutdown(self) -> None:
        """Stop the board thread without the close dialogs (tests)."""
        self._autosave.stop()
        self.port_watcher.stop()
        self.connection.shutdown()
        self.browser.remove_drag_copies()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Process events until no board job is pending (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while self.connection.busy and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.005)
        return not self.connection.busy
