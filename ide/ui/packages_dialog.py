"""Board ▸ Packages…: mip packages from micropython-lib (or another index, or GitHub) listed, searched, installed,
updated and removed. The work (fetching, writing to the board) is ``ide.packages``, run as board jobs on the
board thread through the window's ``run_board_job``; this dialog only shows and asks.

:func:`install_package_actions` adds Packages… and Back up / Restore board files to the Board menu.
"""

from __future__ import annotations

from typing import Callable

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu,
                             QMessageBox, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ide.explain import explain
from ide.packages.index import DEFAULT_INDEX, URL_PREFIXES

_NAME_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Package", "Installed", "Latest", "Description")


def _refresh_job(index_url: str):
    def job(board, ctx):
        from ide.filebrowser.board_fs import BoardFS
        from ide.packages.errors import PackageError
        from ide.packages.index import PackageIndex
        from ide.packages.install import list_installed

        index = PackageIndex(index_url)
        try:
            entries, problem = index.entries(), None
        except PackageError as error:  # no network and nothing cached: the board's packages still show
            entries, problem = [], error
        return entries, problem, list_installed(BoardFS(board))
    return job


class PackagesDialog(QDialog):
    """The packages of the connected board and of the index. ``window`` is the main window (its
    ``run_board_job``, ``show_error``)."""

    sig_refreshed = pyqtSignal()
    """Both lists (the index's and the board's) were read again."""

    sig_changed = pyqtSignal(object)
    """An install (its InstallReport) or a removal (the list of paths removed) finished."""

    def __init__(self, window, index_url: str = DEFAULT_INDEX, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Packages")
        self.resize(760, 480)
        self.window = window
        self.entries: list = []
        self.installed: list = []
        self.confirm_prompt: Callable[[str, str], bool] = lambda title, text: QMessageBox.question(
            self, title, text) == QMessageBox.StandardButton.Yes

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search, or a package to install (name, name@version, github:org/repo, URL)")
        self.search.textChanged.connect(self._fill)
        self.search.returnPressed.connect(self.install)
        self.index_edit = QLineEdit(index_url)
        self.index_edit.setToolTip("The package index (micropython-lib's by default)")
        self.index_edit.editingFinished.connect(self.refresh)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(
            lambda point: self._context_menu().exec(self.tree.viewport().mapToGlobal(point)))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.install_button = QPushButton("Install")
        self.install_button.clicked.connect(lambda: self.install())
        self.update_button = QPushButton("Update")
        self.update_button.clicked.connect(lambda: self.update_selected())
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.remove())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        index_row = QHBoxLayout()
        index_row.addWidget(QLabel("Index"))
        index_row.addWidget(self.index_edit, 1)
        buttons = QHBoxLayout()
        for button in (self.install_button, self.update_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addLayout(index_row)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._update_buttons()

    # --- reading ---

    @property
    def index_url(self) -> str:
        return self.index_edit.text().strip() or DEFAULT_INDEX

    def refresh(self) -> None:
        """Read the index and the board's installed packages again (a board job)."""
        self.status.setText("Reading the package index and the board's packages…")
        self.window.run_board_job("Listing packages", _refresh_job(self.index_url), self._show, self._failed)

    def _show(self, result) -> None:
        self.entries, problem, self.installed = result
        self.status.setText(explain(problem) if problem else
                            f"{len(self.entries)} packages in the index, {len(self.installed)} on the board.")
        self._fill()
        self.sig_refreshed.emit()

    def _failed(self, error: BaseException) -> None:
        self.status.setText(explain(error))
        self.window.show_error(error, "Packages")

    def _fill(self) -> None:
        text = self.search.text().strip().lower()
        installed = {package.name.lower(): package for package in self.installed}
        latest = {entry.name.lower(): entry for entry in self.entries}
        self.tree.clear()
        for key in sorted(set(installed) | set(latest)):
            entry, package = latest.get(key), installed.get(key)
            name = package.name if package else entry.name
            description = (entry.description if entry else "") or (package.summary if package else "")
            if text and text not in name.lower() and text not in description.lower():
                continue
            item = QTreeWidgetItem([name, package.version if package else "", entry.version if entry else "",
                                    description])
            item.setData(0, _NAME_ROLE, name)
            if package and entry and entry.version and package.version != entry.version:
                item.setToolTip(2, f"Update available: {package.version} → {entry.version}")
            self.tree.addTopLevelItem(item)
        self._update_buttons()

    def row_names(self) -> list[str]:
        return [self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())]

    def selected_names(self) -> list[str]:
        return [item.data(0, _NAME_ROLE) for item in self.tree.selectedItems()]

    def select(self, names: list[str]) -> None:
        self.tree.clearSelection()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(0) in names:
                item.setSelected(True)

    def _installed_names(self) -> set[str]:
        return {package.name.lower() for package in self.installed}

    def _updatable(self) -> list[str]:
        latest = {entry.name.lower(): entry.version for entry in self.entries}
        return [package.name for package in self.installed
                if latest.get(package.name.lower()) and latest[package.name.lower()] != package.version]

    def _update_buttons(self) -> None:
        selected = self.selected_names()
        installed = self._installed_names()
        typed = self.search.text().strip()
        self.install_button.setEnabled(bool(selected) or typed.startswith(URL_PREFIXES) or "@" in typed)
        self.remove_button.setEnabled(any(name.lower() in installed for name in selected))
        self.update_button.setEnabled(bool(set(map(str.lower, selected or self._updatable()))
                                           & {n.lower() for n in self._updatable()}))

    def _context_menu(self) -> QMenu:
        menu = QMenu(self)
        for button in (self.install_button, self.update_button, self.remove_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        return menu

    # --- changing ---

    def install(self, specs: list[str] | None = None) -> None:
        """Install ``specs``, else the selected packages, else what is typed in the search field."""
        if specs is None:
            specs = self.selected_names() or ([self.search.text().strip()] if self.search.text().strip() else [])
        if not specs:
            return
        index_url = self.index_url

        def job(board, ctx):
            from ide.filebrowser.board_fs import BoardFS
            from ide.packages.index import PackageIndex
            from ide.packages.install import install, list_installed
            fs = BoardFS(board)
            report = install(fs, specs, PackageIndex(index_url), progress=ctx.progress, cancel=ctx.cancel)
            return report, list_installed(fs, report.target)

        self.status.setText(f"Installing {', '.join(specs)}…")
        self.window.run_board_job(f"Installing {', '.join(specs)}", job, self._installed, self._failed,
                                  transfer=True)

    def update_selected(self) -> None:
        """Install the newest version of the selected packages (or of every package that has one)."""
        updatable = {name.lower(): name for name in self._updatable()}
        names = [updatable[n.lower()] for n in self.selected_names() if n.lower() in updatable] or list(
            updatable.values())
        if names:
            self.install(names)

    def _installed(self, result) -> None:
        report, self.installed = result
        names = ", ".join(f"{p.name} {p.version}".strip() for p in report.packages)
        self.status.setText(f"Installed {names} into {report.target}: {len(report.written)} files written, "
                            f"{len(report.unchanged)} already there.")
        self._fill()
        self.window.browser.refresh()
        self.sig_changed.emit(report)

    def remove(self, names: list[str] | None = None) -> None:
        installed = self._installed_names()
        names = [name for name in (names or self.selected_names()) if name.lower() in installed]
        if not names or not self.confirm_prompt(
                "Remove packages", f"Remove {', '.join(names)} from the board? (Packages they need stay.)"):
            return

        def job(board, ctx):
            from ide.filebrowser.board_fs import BoardFS
            from ide.packages.install import list_installed, remove
            fs = BoardFS(board)
            removed = [path for name in names for path in remove(fs, name)]
            return removed, list_installed(fs)

        self.window.run_board_job(f"Removing {', '.join(names)}", job, self._removed, self._failed, transfer=True)

    def _removed(self, result) -> None:
        removed, self.installed = result
        self.status.setText(f"Removed {len(removed)} files.")
        self._fill()
        self.window.browser.refresh()
        self.sig_changed.emit(removed)


def open_packages_dialog(window, index_url: str | None = None) -> PackagesDialog | None:
    """Board ▸ Packages… (one dialog per window; it lists again each time it is opened)."""
    if not window.connection.connected:
        window.show_message("Not connected", "Connect to a board first: packages are installed onto it.")
        return None
    dialog = getattr(window, "packages_dialog", None)
    if dialog is None:
        dialog = window.packages_dialog = PackagesDialog(window, index_url or DEFAULT_INDEX)
    elif index_url:
        dialog.index_edit.setText(index_url)
    dialog.show()
    dialog.raise_()
    dialog.refresh()
    return dialog


def install_package_actions(window, board_menu: QMenu) -> None:
    """Board ▸ Packages…, Back up board files…, Restore board files…"""
    window.packages_action = window._action("Packages…", lambda: open_packages_dialog(window),
                                            tip="Install drivers and libraries from micropython-lib or GitHub")
    window.backup_files_action = window._action("Back up board files…", lambda: window.browser.backup_files(),
                                                tip="Copy every file on the board into a zip on this computer")
    window.restore_files_action = window._action("Restore board files…", lambda: window.browser.restore_files(),
                                                 tip="Put the files of a backup back on the board")
    board_menu.addSeparator()
    for action in (window.packages_action, window.backup_files_action, window.restore_files_action):
        board_menu.addAction(action)
