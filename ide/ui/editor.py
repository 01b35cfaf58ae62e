"""The code editor: :class:`CodeEditor` (one file), :class:`EditorTabs` (the open files), :class:`ProblemsList`
(lint findings of every open file) and the shared :class:`CompletionService` (jedi on a worker thread).

Public API in short::

    tabs = EditorTabs()
    editor = tabs.open_file("main.py")          # or tabs.new_file()
    tabs.set_board_port("esp8266")              # completion stubs follow the connected board
    tabs.jump_to_error(path, 12, "OSError: ...") # device traceback
    problems = ProblemsList(); tabs.sig_problems_changed.connect(problems.set_problems)
    problems.sig_problem_activated.connect(tabs.goto)
"""

from __future__ import annotations

import atexit
import enum
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QObject, QPoint, Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QColor, QFont, QFontDatabase, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QInputDialog,
    QMessageBox,
    QTabWidget,
    QToolTip,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)
from PyQt6.Qsci import (QsciLexerHTML, QsciLexerJSON, QsciLexerMarkdown, QsciLexerPython, QsciScintilla,
                         QsciScintillaBase)

from ide.lang import completion as lang_completion
from ide.lang.lint import Problem, Severity, lint
from ide.lang.stubs import DEFAULT_PORT, PORTS
from ide.ui import theme as theme_mod

B = QsciScintillaBase

#: Pause in typing before lint runs: long enough not to lint half-typed words, short enough to feel live.
LINT_DEBOUNCE_MS = 400
#: Identifier characters typed before completion pops up by itself (Ctrl+Space always works).
AUTO_COMPLETE_MIN_CHARS = 2
#: Hover delay before a problem's text shows as a tooltip.
DWELL_MS = 500
INDENT_WIDTH = 4
_DEDENT_RE = re.compile(r"^\s*(return|pass|break|continue|raise)\b")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
# The Python lexer styles in which typing must not pop up completion (comments and strings).
_NO_COMPLETE_STYLES = frozenset({
    QsciLexerPython.Comment, QsciLexerPython.CommentBlock, QsciLexerPython.DoubleQuotedString,
    QsciLexerPython.SingleQuotedString, QsciLexerPython.TripleSingleQuotedString,
    QsciLexerPython.TripleDoubleQuotedString, QsciLexerPython.UnclosedString,
    QsciLexerPython.DoubleQuotedFString, QsciLexerPython.SingleQuotedFString,
    QsciLexerPython.TripleSingleQuotedFString, QsciLexerPython.TripleDoubleQuotedFString,
})


#: File kinds by suffix: Python gets lint and completion; the others only their own highlighting.
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
_OTHER_LEXERS = {".md": QsciLexerMarkdown, ".markdown": QsciLexerMarkdown, ".json": QsciLexerJSON,
                 ".html": QsciLexerHTML, ".htm": QsciLexerHTML}
#: Bytes looked at to tell a binary file (.mpy, .bin, images) from text: a NUL byte means binary.
BINARY_SNIFF_BYTES = 8192
#: Keys that move inside the completion list: after one of them, Enter picks the entry; before, it is a newline.
_LIST_NAVIGATION_KEYS = frozenset({Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown})


def is_python_path(path: str | os.PathLike | None) -> bool:
    """Untitled files and .py/.pyi files are Python."""
    return path is None or Path(path).suffix.lower() in PYTHON_SUFFIXES


def looks_binary(data: bytes) -> bool:
    """A NUL byte near the start, or bytes that are not UTF-8: not a text file the editor may rewrite."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a crash or a full disk
    midway leaves the old file whole. Keeps the old file's permissions. Raises OSError."""
    import tempfile
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(13, "the file is read-only", str(path))
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


class Margin(enum.IntEnum):
    """Scintilla margin numbers."""

    LINE_NUMBERS = 0
    MARKERS = 1
    FOLD = 2


class Marker(enum.IntEnum):
    """Scintilla marker numbers (0-24 are free; 25-31 belong to folding)."""

    LINT_ERROR = 0
    LINT_WARNING = 1
    DEVICE_ERROR = 2
    DEVICE_ERROR_LINE = 3  # background colour of the whole line


class Indicator(enum.IntEnum):
    """Scintilla indicator numbers (0-7 are the lexer's; containers start at 8)."""

    LINT_ERROR = 8
    LINT_WARNING = 9
    FIND = 10


class UnsavedChoice(enum.Enum):
    """Answer of the unsaved-changes prompt when a tab closes."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


@dataclass(frozen=True)
class OpenFile:
    """A saved file open in a tab, for session restore. ``line``/``column`` are 1-based/0-based."""

    path: str
    line: int
    column: int


def monospace_font(point_size: int = 11) -> QFont:
    """The system's fixed-width font."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(point_size)
    return font


# --- completion off the UI thread ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    generation: int
    kind: str  # "complete" | "signatures" | "check" (attributes against the board's stubs)
    source: str
    line: int
    column: int
    path: str | None
    port: str


class _CompletionWorker(QObject):
    """Lives on the completion thread; runs jedi for the newest request only."""

    sig_done = pyqtSignal(int, str, object)
    """A request finished: (generation, kind, list of results or the exception)."""

    def __init__(self, service: "CompletionService"):
        super().__init__()
        self._service = service

    @pyqtSlot(object)
    def run(self, request: _Request) -> None:
        # Requests queue up while jedi works; only the newest one of each kind still matters (typing moved on).
        if request.generation != self._service.latest_generation.get(request.kind):
            return
        try:
            if request.kind == "complete":
                result = lang_completion.complete(request.source, request.line, request.column, request.path,
                                                  request.port)
            elif request.kind.startswith("check"):
                from ide.lang.stub_check import attribute_problems
                result = attribute_problems(request.source, request.path, request.port)
            else:
                result = lang_completion.call_signatures(request.source, request.line, request.column,
                                                         request.path, request.port)
        except Exception as exc:  # jedi errors on half-typed code must not kill the thread
            result = exc
        self.sig_done.emit(request.generation, request.kind, result)


class CompletionService(QObject):
    """One jedi worker thread shared by all editors (jedi is not thread-safe, so exactly one thread)."""

    sig_result = pyqtSignal(int, str, object)
    """Results for request ``generation`` of ``kind`` ("complete"/"signatures"): a list, or an exception."""

    _sig_request = pyqtSignal(object)

    _instance: "CompletionService | None" = None

    def __init__(self):
        super().__init__()
        self.latest_generation: dict[str, int] = {}  # kind -> newest request; read by the worker thread
        self._counter = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("jedi-completion")
        self._worker = _CompletionWorker(self)
        self._worker.moveToThread(self._thread)
        self._sig_request.connect(self._worker.run)
        self._worker.sig_done.connect(self.sig_result)
        self._thread.start()
        atexit.register(self.shutdown)

    @classmethod
    def instance(cls) -> "CompletionService":
        """The process-wide service (created on first use)."""
        if cls._instance is None:
            cls._instance = CompletionService()
        return cls._instance

    def request(self, kind: str, source: str, line: int, column: int, path: str | None, port: str) -> int:
        """Queue a request; returns its generation number. Older pending requests of the same kind are
        dropped."""
        generation = next(self._counter)
        self.latest_generation[kind] = generation
        self._sig_request.emit(_Request(generation, kind, source, line, column, path, port))
        return generation

    def shutdown(self) -> None:
        """Stop the worker thread (called at exit)."""
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait(3000)


# --- the editor ----------------------------------------------------------------------------------------------


class CodeEditor(QsciScintilla):
    """A Python editor for one file, with jedi completion, pyflakes lint and device-error marks."""

    sig_problems_changed = pyqtSignal(list)
    """Lint finished with a new list of :class:`ide.lang.lint.Problem` (possibly empty)."""

    sig_path_changed = pyqtSignal(str)
    """The file was saved under a new path."""

    _untitled_counter = itertools.count(1)

    def __init__(self, path: str | os.PathLike | None = None, parent: QWidget | None = None,
                 palette: theme_mod.Palette | None = None):
        super().__init__(parent)
        self._path = str(Path(path).resolve()) if path else None
        self._untitled_name = "" if path else f"untitled-{next(CodeEditor._untitled_counter)}"
        self._port = DEFAULT_PORT
        self._problems: list[Problem] = []
        self._device_errors: dict[int, str] = {}
        self._pending: dict[str, int] = {}  # kind -> generation we wait for
        self._revision = 0
        self._request_revision: dict[int, int] = {}
        self._palette = palette or theme_mod.LIGHT
        self._font = monospace_font()
        self._binary = False
        self._list_navigated = False
        # Per editor: the service runs only the newest request of a kind, and every tab needs its own check.
        self._check_kind = f"check:{id(self)}"
        #: The last results shown (for the main window's status bar, and for tests).
        self.last_completions: list[lang_completion.Completion] = []
        self.last_call_signatures: list[lang_completion.CallSignature] = []

        self.setUtf8(True)
        # Scintilla's scroll width starts at 2000 px and never shrinks: track the longest line instead, so a
        # short file shows no horizontal scroll bar.
        self.SendScintilla(QsciScintilla.SCI_SETSCROLLWIDTH, 1)
        self.SendScintilla(QsciScintilla.SCI_SETSCROLLWIDTHTRACKING, 1)
        self._lexer = None
        self._set_lexer_for(self._path)
        self.setEolMode(QsciScintilla.EolMode.EolUnix)

        # Indentation: 4 spaces, never tabs (mixing them is a TabError on the board as in CPython).
        self.setIndentationsUseTabs(False)
        self.setTabWidth(INDENT_WIDTH)
        self.setIndentationWidth(INDENT_WIDTH)
        self.setTabIndents(True)
        self.setBackspaceUnindents(True)
        self.setAutoIndent(True)
        self.setIndentationGuides(True)
        self.setBraceMatching(QsciScintilla.BraceMatch.SloppyBraceMatch)
        self.setCaretLineVisible(True)
        self.setEdgeMode(QsciScintilla.EdgeMode.EdgeNone)

        self.setMarginType(Margin.LINE_NUMBERS, QsciScintilla.MarginType.NumberMargin)
        self.setMarginLineNumbers(Margin.LINE_NUMBERS, True)
        self.setMarginType(Margin.MARKERS, QsciScintilla.MarginType.SymbolMargin)
        self.setMarginWidth(Margin.MARKERS, 14)
        self.setMarginSensitivity(Margin.MARKERS, True)
        self.setMarginMarkerMask(Margin.MARKERS, sum(1 << m for m in (Marker.LINT_ERROR, Marker.LINT_WARNING,
                                                                     Marker.DEVICE_ERROR)))
        self.setFolding(QsciScintilla.FoldStyle.BoxedTreeFoldStyle, Margin.FOLD)
        self.setMarginMarkerMask(Margin.LINE_NUMBERS, 0)
        self.markerDefine(QsciScintilla.MarkerSymbol.Circle, Marker.LINT_ERROR)
        self.markerDefine(QsciScintilla.MarkerSymbol.Circle, Marker.LINT_WARNING)
        self.markerDefine(QsciScintilla.MarkerSymbol.RightArrow, Marker.DEVICE_ERROR)
        self.markerDefine(QsciScintilla.MarkerSymbol.Background, Marker.DEVICE_ERROR_LINE)
        self.indicatorDefine(QsciScintilla.IndicatorStyle.SquiggleIndicator, Indicator.LINT_ERROR)
        self.indicatorDefine(QsciScintilla.IndicatorStyle.SquiggleIndicator, Indicator.LINT_WARNING)
        self.indicatorDefine(QsciScintilla.IndicatorStyle.FullBoxIndicator, Indicator.FIND)
        self.setAnnotationDisplay(QsciScintilla.AnnotationDisplay.AnnotationBoxed)

        # Completion lists come from jedi, not QScintilla's API files: disable its own sources.
        self.setAutoCompletionSource(QsciScintilla.AutoCompletionSource.AcsNone)
        self.SendScintilla(B.SCI_AUTOCSETIGNORECASE, 1)
        self.SendScintilla(B.SCI_AUTOCSETORDER, B.SC_ORDER_PERFORMSORT)
        self.SendScintilla(B.SCI_AUTOCSETMAXHEIGHT, 12)
        self.SendScintilla(B.SCI_SETMOUSEDWELLTIME, DWELL_MS)

        self._lint_timer = QTimer(self)
        self._lint_timer.setSingleShot(True)
        self._lint_timer.setInterval(LINT_DEBOUNCE_MS)
        self._lint_timer.timeout.connect(self.run_lint)

        self.textChanged.connect(self._on_text_changed)
        self.SCN_CHARADDED.connect(self._on_char_added)
        self.SCN_DWELLSTART.connect(self._on_dwell_start)
        self.SCN_DWELLEND.connect(lambda *_: QToolTip.hideText())
        self._service = CompletionService.instance()
        self._service.sig_result.connect(self._on_completion_result)

        # Comment, indent, go to line and zoom are the window's Edit menu (one shortcut, no ambiguity).
        for keys, slot in (("Ctrl+Space", self.request_completion), ("Ctrl+Shift+Space", self.request_call_tip)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(slot)
        self.set_theme(self._palette)

    def _set_lexer_for(self, path: str | None) -> None:
        """Python's lexer for Python files, Markdown/JSON/HTML lexers for those, none for other text."""
        suffix = Path(path).suffix.lower() if path else ".py"
        if is_python_path(path):
            kind = QsciLexerPython
        else:
            kind = _OTHER_LEXERS.get(suffix)
        if kind is None:
            self._lexer = None
            self.setLexer(None)
            return
        if isinstance(self._lexer, kind):
            return
        self._lexer = kind(self)
        if kind is QsciLexerPython:
            self._lexer.setFoldComments(True)
            self._lexer.setFoldQuotes(True)
            # QScintilla only keeps the previous line's indent for Python ("maintain"); the extra level after
            # ":" and the dedent after return/pass/... are added in _on_char_added.
            self._lexer.setAutoIndentStyle(QsciScintilla.AiMaintain)
        self.setLexer(self._lexer)
        if hasattr(self, "_lint_timer"):  # a file saved under a new kind after construction
            self.set_theme(self._palette)

    @property
    def is_python(self) -> bool:
        """Whether the file is Python (lint, completion and Run apply)."""
        return is_python_path(self._path)

    @property
    def is_binary(self) -> bool:
        """A binary file shown read-only (saving it is refused: it would corrupt it)."""
        return self._binary

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if self.completion_list_active():
            if key in _LIST_NAVIGATION_KEYS:
                self._list_navigated = True
            elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not self._list_navigated:
                # The list popped up by itself while typing: Enter ends the line, as if it were not there
                # ("import time" + Enter must not become "import timei").
                self.SendScintilla(B.SCI_AUTOCCANCEL)
        super().keyPressEvent(event)

    # --- properties ---

    @property
    def path(self) -> str | None:
        """Absolute path of the file, or None for an unsaved new file."""
        return self._path

    @property
    def display_name(self) -> str:
        """File name for tab titles ("untitled-N" for new files)."""
        return Path(self._path).name if self._path else self._untitled_name

    @property
    def key(self) -> str:
        """Stable identity for problem lists: the path, or "<untitled-N>"."""
        return self._path or f"<{self._untitled_name}>"

    @property
    def is_modified(self) -> bool:
        """True when the text differs from the last load or save."""
        return self.isModified()

    @property
    def port(self) -> str:
        """The MicroPython port whose stubs completion uses."""
        return self._port

    @property
    def problems(self) -> list[Problem]:
        """The current lint problems."""
        return list(self._problems)

    # --- files ---

    def load(self, path: str | os.PathLike) -> None:
        """Read ``path`` (UTF-8) into the editor and mark it unmodified. A binary file is shown read-only."""
        data = Path(path).read_bytes()
        self._binary = looks_binary(data)
        text = data.decode("utf-8", errors="replace")
        if self._binary:
            text = text.replace("\0", "\u2400")  # Scintilla would cut the text at a NUL; ␀ shows where it was
        self._path = str(Path(path).resolve())
        self._set_lexer_for(self._path if not self._binary else "binary")
        self.setReadOnly(self._binary)
        if "\r\n" in text:
            self.setEolMode(QsciScintilla.EolMode.EolWindows)
        self.setText(text)
        self.setModified(False)
        self.run_lint()

    def save(self, path: str | os.PathLike | None = None) -> str:
        """Write the text (UTF-8) to ``path`` or the current path; returns the path. Raises OSError."""
        target = Path(path).resolve() if path else (Path(self._path) if self._path else None)
        if target is None:
            raise ValueError("an untitled file needs a path to be saved")
        if self._binary:
            raise PermissionError(13, "it is a binary file, shown read-only (saving it would damage it)",
                                  str(target))
        write_atomically(target, self.text().encode("utf-8"))
        changed = str(target) != self._path
        self._path = str(target)
        if changed:
            self._set_lexer_for(self._path)
        self.setModified(False)
        if changed:
            self.sig_path_changed.emit(self._path)
        return self._path

    # --- navigation ---

    def goto_line(self, line: int, column: int = 0) -> None:
        """Put the cursor on 1-based ``line`` (clamped), unfold it and scroll it into view."""
        line0 = min(max(line, 1), max(self.lines(), 1)) - 1
        self.ensureLineVisible(line0)
        self.setCursorPosition(line0, column)
        self.setFocus()

    def ask_goto_line(self) -> None:
        """Ask for a line number (Ctrl+G) and go there."""
        line, _ = self.getCursorPosition()
        value, ok = QInputDialog.getInt(self, "Go to line", f"Line (1-{self.lines()}):", line + 1, 1,
                                        max(self.lines(), 1))
        if ok:
            self.goto_line(value)

    def cursor_line_column(self) -> tuple[int, int]:
        """Cursor as (1-based line, 0-based character column), the convention of jedi and lint."""
        pos = self.SendScintilla(B.SCI_GETCURRENTPOS)
        line0 = self.SendScintilla(B.SCI_LINEFROMPOSITION, pos)
        start = self.SendScintilla(B.SCI_POSITIONFROMLINE, line0)
        prefix = self.text(line0).encode("utf-8")[: pos - start].decode("utf-8", errors="ignore")
        return line0 + 1, len(prefix)

    def _byte_pos(self, line: int, column: int) -> int:
        """Scintilla byte position of 1-based line / character column (positions in Scintilla are bytes)."""
        line0 = line - 1
        start = self.SendScintilla(B.SCI_POSITIONFROMLINE, line0)
        return start + len(self.text(line0)[:column].encode("utf-8"))

    # --- editing commands ---

    def toggle_comment(self) -> None:
        """Comment the selected lines (or the cursor line) with "# ", or uncomment them if all are comments."""
        if self.hasSelectedText():
            first, _, last, last_index = self.getSelection()
            if last_index == 0 and last > first:
                last -= 1  # a selection ending at column 0 does not include that line
        else:
            first, _ = self.getCursorPosition()
            last = first
        lines = [self.text(i).rstrip("\r\n") for i in range(first, last + 1)]
        code = [ln for ln in lines if ln.strip()]
        if not code:
            return
        uncomment = all(ln.lstrip().startswith("#") for ln in code)
        indent = min(len(ln) - len(ln.lstrip()) for ln in code)
        self.beginUndoAction()
        try:
            for offset, text in enumerate(lines):
                line = first + offset
                if not text.strip():
                    continue
                if uncomment:
                    col = len(text) - len(text.lstrip())
                    width = 2 if text[col:col + 2] == "# " else 1
                    self.setSelection(line, col, line, col + width)
                    self.removeSelectedText()
                else:
                    self.insertAt("# ", line, indent)
        finally:
            self.endUndoAction()
        self.setSelection(first, 0, last, len(self.text(last).rstrip("\r\n")))

    def _selected_lines(self) -> tuple[int, int]:
        if self.hasSelectedText():
            first, _, last, last_index = self.getSelection()
            if last_index == 0 and last > first:
                last -= 1  # a selection ending at column 0 does not include that line
            return first, last
        line, _ = self.getCursorPosition()
        return line, line

    def indent_selection(self) -> None:
        """One indentation level more on the selected lines (or the cursor line)."""
        first, last = self._selected_lines()
        self.beginUndoAction()
        for line in range(first, last + 1):
            self.indent(line)
        self.endUndoAction()

    def unindent_selection(self) -> None:
        """One indentation level less on the selected lines (or the cursor line)."""
        first, last = self._selected_lines()
        self.beginUndoAction()
        for line in range(first, last + 1):
            self.unindent(line)
        self.endUndoAction()

    def zoom_in(self) -> None:
        """Bigger text (Ctrl+=)."""
        self.zoomIn()

    def zoom_out(self) -> None:
        """Smaller text (Ctrl+-)."""
        self.zoomOut()

    def zoom_reset(self) -> None:
        """Back to the theme's font size (Ctrl+0)."""
        self.zoomTo(0)

    # --- board, theme ---

    def set_board_port(self, port: str) -> None:
        """Use the stubs of ``port`` ("esp32" or "esp8266") for completion from now on."""
        self._port = port if port in PORTS else DEFAULT_PORT

    def set_font(self, family: str, size: int) -> None:
        """Use font ``family`` (empty: the system's fixed-width font) at ``size`` points for text and margins."""
        font = monospace_font(size)
        if family:
            font.setFamily(family)
        self._font = font
        self.set_theme(self._palette)  # the lexer styles carry the font

    @property
    def editor_font(self) -> QFont:
        """The font the text is drawn in (before zoom)."""
        return QFont(self._font)

    def set_theme(self, palette: theme_mod.Palette) -> None:
        """Apply a :class:`ide.ui.theme.Palette` to text, margins, markers and squiggles."""
        self._palette = p = palette
        if self._lexer is not None:
            theme_mod.style_lexer(self._lexer, p, self._font)
        else:
            self.setFont(self._font)
        c = QColor
        self.setPaper(c(p.editor_bg))
        self.setColor(c(p.editor_fg))
        self.setCaretForegroundColor(c(p.caret))
        self.setCaretLineBackgroundColor(c(p.caret_line))
        self.setSelectionBackgroundColor(c(p.selection))
        self.setMarginsBackgroundColor(c(p.margin_bg))
        self.setMarginsForegroundColor(c(p.margin_fg))
        self.setMarginsFont(self._font)
        self.setMarginWidth(Margin.LINE_NUMBERS, "00000")
        self.setFoldMarginColors(c(p.fold_bg), c(p.fold_bg))
        self.setMatchedBraceBackgroundColor(c(p.brace_match))
        self.setUnmatchedBraceBackgroundColor(c(p.brace_bad))
        self.setIndentationGuidesForegroundColor(c(p.indent_guide))
        self.setIndentationGuidesBackgroundColor(c(p.editor_bg))
        for marker, colour in ((Marker.LINT_ERROR, p.lint_error), (Marker.LINT_WARNING, p.lint_warning),
                               (Marker.DEVICE_ERROR, p.lint_error)):
            self.setMarkerBackgroundColor(c(colour), marker)
            self.setMarkerForegroundColor(c(colour), marker)
        self.setMarkerBackgroundColor(c(p.device_error_bg), Marker.DEVICE_ERROR_LINE)
        self.setIndicatorForegroundColor(c(p.lint_error), Indicator.LINT_ERROR)
        self.setIndicatorForegroundColor(c(p.lint_warning), Indicator.LINT_WARNING)
        find = c(p.find_highlight)
        find.setAlpha(160)
        self.setIndicatorForegroundColor(find, Indicator.FIND)

    # --- lint ---

    def _on_text_changed(self) -> None:
        self._revision += 1
        self._lint_timer.start()
        if self._device_errors:
            self.clear_error_marks()  # the run's error is about text that no longer exists

    def run_lint(self) -> list[Problem]:
        """Lint now (normally called by the debounce timer); updates marks and emits sig_problems_changed."""
        self._lint_timer.stop()
        self._problems = lint(self.text(), self.key) if self.is_python else []
        if self.is_python and not any(p.code == "SyntaxError" for p in self._problems):
            self._request(self._check_kind)  # attribute errors against the stubs follow from the jedi thread
        return self._show_problems()

    def _show_problems(self) -> list[Problem]:
        self.markerDeleteAll(Marker.LINT_ERROR)
        self.markerDeleteAll(Marker.LINT_WARNING)
        length = self.SendScintilla(B.SCI_GETLENGTH)
        for ind in (Indicator.LINT_ERROR, Indicator.LINT_WARNING):
            self.SendScintilla(B.SCI_SETINDICATORCURRENT, ind)
            self.SendScintilla(B.SCI_INDICATORCLEARRANGE, 0, length)
        for problem in self._problems:
            if problem.line > self.lines():
                continue
            is_error = problem.severity is Severity.ERROR
            self.markerAdd(problem.line - 1, Marker.LINT_ERROR if is_error else Marker.LINT_WARNING)
            start = self._byte_pos(problem.line, problem.column)
            if problem.end_column is not None:
                end = self._byte_pos(problem.line, problem.end_column)
            else:
                end = self.SendScintilla(B.SCI_WORDENDPOSITION, start, True)
                if end <= start:
                    end = self.SendScintilla(B.SCI_GETLINEENDPOSITION, problem.line - 1)
            if end > start:
                self.SendScintilla(B.SCI_SETINDICATORCURRENT,
                                   Indicator.LINT_ERROR if is_error else Indicator.LINT_WARNING)
                self.SendScintilla(B.SCI_INDICATORFILLRANGE, start, end - start)
        self.sig_problems_changed.emit(list(self._problems))
        return list(self._problems)

    def hover_text(self, line: int) -> str:
        """The tooltip for 1-based ``line``: its problems and device error, one per line ("" when none)."""
        texts = [p.message for p in self._problems if p.line == line]
        if line in self._device_errors:
            texts.append(self._device_errors[line])
        return "\n".join(texts)

    def _on_dwell_start(self, position: int, x: int, y: int) -> None:
        if position < 0:
            return
        text = self.hover_text(self.SendScintilla(B.SCI_LINEFROMPOSITION, position) + 1)
        if text:
            QToolTip.showText(self.mapToGlobal(QPoint(x, y)), text, self)

    # --- device errors ---

    def mark_error_line(self, line: int, message: str) -> None:
        """Mark 1-based ``line`` as where the board raised ``message``: arrow, tinted line, annotation, and
        the cursor goes there. Cleared by the next edit or :meth:`clear_error_marks`."""
        self.goto_line(line)
        line0 = min(max(line, 1), max(self.lines(), 1)) - 1
        self._device_errors[line0 + 1] = message
        self.markerAdd(line0, Marker.DEVICE_ERROR)
        self.markerAdd(line0, Marker.DEVICE_ERROR_LINE)
        self.annotate(line0, message, 0)

    def clear_error_marks(self) -> None:
        """Remove device-error marks."""
        self._device_errors.clear()
        self.markerDeleteAll(Marker.DEVICE_ERROR)
        self.markerDeleteAll(Marker.DEVICE_ERROR_LINE)
        self.clearAnnotations()

    @property
    def device_error_lines(self) -> list[int]:
        """1-based lines currently marked by :meth:`mark_error_line`."""
        return sorted(self._device_errors)

    # --- completion and call tips ---

    def _style_at_cursor(self) -> int:
        pos = self.SendScintilla(B.SCI_GETCURRENTPOS)
        return self.SendScintilla(B.SCI_GETSTYLEAT, max(pos - 1, 0))

    def _on_char_added(self, char: int) -> None:
        if not self.is_python:
            return  # no Python indentation rules or completion in Markdown, JSON, HTML, text
        ch = chr(char) if 0 <= char < 0x110000 else ""
        if ch in "\r\n":
            self._python_indent_after_newline()
        elif ch == "(" or (ch == "," and self.SendScintilla(B.SCI_CALLTIPACTIVE)):
            self.request_call_tip()
        elif ch == ")":
            self.SendScintilla(B.SCI_CALLTIPCANCEL)
        elif self.SendScintilla(B.SCI_AUTOCACTIVE):
            return  # Scintilla filters the open list itself as the user types
        elif ch == "." or (ch.isidentifier() or ch.isdigit()) and len(self._word_before_cursor()) >= \
                AUTO_COMPLETE_MIN_CHARS:
            if self._style_at_cursor() not in _NO_COMPLETE_STYLES and not self._word_before_cursor()[:1].isdigit():
                self.request_completion()

    def _python_indent_after_newline(self) -> None:
        line0, _ = self.getCursorPosition()
        if line0 == 0:
            return
        previous = self.text(line0 - 1).rstrip("\r\n")
        code = previous.split("#", 1)[0].rstrip() if "#" in previous and "'" not in previous and '"' not in \
            previous else previous.rstrip()
        current = self.indentation(line0)
        base = len(previous) - len(previous.lstrip())
        if code.endswith(":"):
            wanted = base + INDENT_WIDTH
        elif _DEDENT_RE.match(code):
            wanted = max(base - INDENT_WIDTH, 0)
        else:
            return
        if wanted != current and not self.text(line0).strip():
            self.setIndentation(line0, wanted)
            self.setCursorPosition(line0, wanted)

    def _word_before_cursor(self) -> str:
        line, col = self.cursor_line_column()
        match = _IDENT_RE.search(self.text(line - 1)[:col])
        return match.group(0) if match else ""

    def request_completion(self) -> int:
        """Ask the worker for completions at the cursor; the list pops up when they arrive (if still valid).
        Returns the request's generation."""
        return self._request("complete")

    def request_call_tip(self) -> int:
        """Ask the worker for the call signature around the cursor; shown as a call tip when it arrives."""
        return self._request("signatures")

    def _request(self, kind: str) -> int:
        line, col = self.cursor_line_column()
        generation = self._service.request(kind, self.text(), line, col, self._path, self._port)
        self._pending[kind] = generation
        self._request_revision[generation] = self._revision
        return generation

    def _on_completion_result(self, generation: int, kind: str, result: object) -> None:
        if self._pending.get(kind) != generation:
            return  # another editor's request, or superseded by a newer one from this editor
        del self._pending[kind]
        revision = self._request_revision.pop(generation, None)
        if kind == self._check_kind:
            if revision == self._revision and isinstance(result, list) and result:
                known = {(p.line, p.column) for p in self._problems}
                self._problems = sorted(self._problems + [p for p in result if (p.line, p.column) not in known],
                                        key=lambda p: (p.line, p.column))
                self._show_problems()
            return
        if revision != self._revision or isinstance(result, Exception) or not self.isVisible():
            return  # typed on since the request (stale: a newer one is coming), or the tab is hidden
        if kind == "complete":
            self._show_completions(result)
        else:
            self._show_call_tip(result)

    def _show_completions(self, items: list[lang_completion.Completion]) -> None:
        self.last_completions = items
        self._list_navigated = False
        if not items:
            return
        prefix = self._word_before_cursor()
        names = " ".join(dict.fromkeys(c.name for c in items if " " not in c.name))
        self.SendScintilla(B.SCI_AUTOCSHOW, len(prefix.encode("utf-8")), names.encode("utf-8"))

    def _show_call_tip(self, sigs: list[lang_completion.CallSignature]) -> None:
        self.last_call_signatures = sigs
        if not sigs:
            return
        sig = sigs[0]
        text = sig.text + (f"\n{sig.docstring}" if sig.docstring else "")
        pos = self.SendScintilla(B.SCI_GETCURRENTPOS)
        data = text.encode("utf-8")
        self.SendScintilla(B.SCI_CALLTIPSHOW, pos, data)
        if sig.index is not None and sig.index < len(sig.params):
            name = sig.params[sig.index].removeprefix("param ").split(":")[0].split("=")[0].strip()
            start = sig.text.find(name, len(sig.name))
            if start >= 0:
                b_start = len(sig.text[:start].encode("utf-8"))
                self.SendScintilla(B.SCI_CALLTIPSETHLT, b_start, b_start + len(name.encode("utf-8")))

    def completion_list_active(self) -> bool:
        """Whether the completion list is showing."""
        return bool(self.SendScintilla(B.SCI_AUTOCACTIVE))

    def call_tip_active(self) -> bool:
        """Whether a call tip is showing."""
        return bool(self.SendScintilla(B.SCI_CALLTIPACTIVE))

    def accept_completion(self) -> None:
        """Insert the selected completion (what Enter/Tab does in the list)."""
        self.SendScintilla(B.SCI_AUTOCCOMPLETE)


# --- tabs -------------------------------------------------------------------------------------------------------


def _ask_unsaved(editor: CodeEditor) -> UnsavedChoice:
    answer = QMessageBox.question(
        editor, "Unsaved changes", f"Save changes to {editor.display_name} before closing?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )
    return {QMessageBox.StandardButton.Save: UnsavedChoice.SAVE,
            QMessageBox.StandardButton.Discard: UnsavedChoice.DISCARD}.get(answer, UnsavedChoice.CANCEL)


class EditorTabs(QTabWidget):
    """The open files, one :class:`CodeEditor` per tab; "*" after the name marks unsaved changes.

    ``unsaved_prompt`` decides what happens to a modified tab being closed; replace it (tests, or a main window
    with its own dialog) with any callable ``(CodeEditor) -> UnsavedChoice``. ``save_as_prompt`` asks for a
    path for untitled files: ``(CodeEditor) -> str | None``."""

    sig_problems_changed = pyqtSignal(str, list)
    """Lint of the editor with key (path or "<untitled-N>") produced this list of problems."""

    sig_current_editor_changed = pyqtSignal(object)
    """The current tab changed; the new :class:`CodeEditor` or None when no tab is left."""

    sig_file_saved = pyqtSignal(str)
    """A file was written to this path."""

    sig_editor_closed = pyqtSignal(str)
    """The tab of the editor with this key was closed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTabsClosable(True)
        self.setMovable(True)
        self.setDocumentMode(True)
        self.tabCloseRequested.connect(lambda index: self.close_editor(self.widget(index)))
        self.currentChanged.connect(lambda _i: self.sig_current_editor_changed.emit(self.current_editor()))
        self.unsaved_prompt: Callable[[CodeEditor], UnsavedChoice] = _ask_unsaved
        self.save_as_prompt: Callable[[CodeEditor], str | None] = self._ask_save_path
        self._port = DEFAULT_PORT
        self._palette: theme_mod.Palette = theme_mod.LIGHT
        self._font_choice: tuple[str, int] | None = None  # (family, size) from set_font

    def _ask_save_path(self, editor: CodeEditor) -> str | None:
        from PyQt6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Save as", editor.display_name, "Python (*.py);;All files (*)")
        return path or None

    # --- access ---

    def editors(self) -> list[CodeEditor]:
        """All editors, in tab order."""
        return [self.widget(i) for i in range(self.count())]

    def current_editor(self) -> CodeEditor | None:
        """The editor of the current tab."""
        widget = self.currentWidget()
        return widget if isinstance(widget, CodeEditor) else None

    def find_editor(self, key: str | os.PathLike) -> CodeEditor | None:
        """The editor for a path (any spelling of it) or an untitled key, if open."""
        key = str(key)
        resolved = str(Path(key).resolve()) if not key.startswith("<") else key
        for editor in self.editors():
            if editor.key in (key, resolved):
                return editor
        return None

    def open_files(self) -> list[OpenFile]:
        """Saved files open, with cursor positions, in tab order (for session restore)."""
        result = []
        for editor in self.editors():
            if editor.path:
                line, col = editor.cursor_line_column()
                result.append(OpenFile(editor.path, line, col))
        return result

    def restore_session(self, files: list[OpenFile]) -> list[str]:
        """Reopen files from :meth:`open_files`; returns those that could not be (gone, unreadable), which
        are dropped from the session."""
        dropped = []
        for entry in files:
            try:
                self.open_file(entry.path).goto_line(entry.line, entry.column)
            except OSError:
                dropped.append(entry.path)
        return dropped

    # --- open / new / save / close ---

    def _add(self, editor: CodeEditor) -> CodeEditor:
        editor.set_board_port(self._port)
        editor.set_theme(self._palette)
        if self._font_choice is not None:
            editor.set_font(*self._font_choice)
        editor.modificationChanged.connect(lambda _m, e=editor: self._update_title(e))
        editor.sig_path_changed.connect(lambda _p, e=editor: self._update_title(e))
        editor.sig_problems_changed.connect(lambda problems, e=editor: self.sig_problems_changed.emit(e.key,
                                                                                                      problems))
        index = self.addTab(editor, editor.display_name)
        self._update_title(editor)
        self.setCurrentIndex(index)
        editor.run_lint()  # the problems list learns about the file at once, not after the first edit
        return editor

    def _update_title(self, editor: CodeEditor | None = None) -> None:
        """Every tab's title: the file name, with its folder when another tab has the same name
        ("main.py — blink"), "*" when modified, "(read-only)" for binary files."""
        editors = self.editors()
        names: dict[str, int] = {}
        for e in editors:
            names[e.display_name] = names.get(e.display_name, 0) + 1
        for e in editors:
            index = self.indexOf(e)
            title = e.display_name
            if names[title] > 1 and e.path:
                title += f" — {Path(e.path).parent.name}"
            if e.is_binary:
                title += " (read-only)"
            self.setTabText(index, title + (" *" if e.is_modified else ""))
            self.setTabToolTip(index, e.path or e.display_name)

    def tab_title(self, editor: CodeEditor) -> str:
        """The text of ``editor``'s tab."""
        return self.tabText(self.indexOf(editor))

    def new_file(self) -> CodeEditor:
        """A new untitled tab."""
        return self._add(CodeEditor(palette=self._palette))

    def open_file(self, path: str | os.PathLike) -> CodeEditor:
        """Open ``path`` in a tab (or switch to it if already open) and return its editor. Raises OSError."""
        existing = self.find_editor(path)
        if existing is not None:
            self.setCurrentWidget(existing)
            return existing
        editor = CodeEditor(palette=self._palette)
        editor.load(path)
        return self._add(editor)

    def save(self, editor: CodeEditor | None = None) -> bool:
        """Save ``editor`` (default: current); untitled files go through ``save_as_prompt``.
        False when cancelled. Raises OSError when writing fails."""
        editor = editor or self.current_editor()
        if editor is None:
            return False
        if editor.path is None:
            path = self.save_as_prompt(editor)
            if not path:
                return False
            return self.save_as(path, editor)
        editor.save()
        self.sig_file_saved.emit(editor.path)
        return True

    def save_as(self, path: str | os.PathLike, editor: CodeEditor | None = None) -> bool:
        """Save ``editor`` (default: current) under ``path``."""
        editor = editor or self.current_editor()
        if editor is None:
            return False
        old_key = editor.key
        editor.save(path)
        if old_key != editor.key:
            self.sig_editor_closed.emit(old_key)  # problems listed under the old name must go
            editor.run_lint()
        self.sig_file_saved.emit(editor.path)
        return True

    def close_editor(self, editor: CodeEditor | None, force: bool = False) -> bool:
        """Close a tab; a modified file asks ``unsaved_prompt`` unless ``force``. False when cancelled."""
        if editor is None or self.indexOf(editor) < 0:
            return False
        if editor.is_modified and not force:
            choice = self.unsaved_prompt(editor)
            if choice is UnsavedChoice.CANCEL:
                return False
            if choice is UnsavedChoice.SAVE and not self.save(editor):
                return False
        key = editor.key
        self.removeTab(self.indexOf(editor))
        editor.deleteLater()
        self._update_title()  # a name that was shared may be unique again
        self.sig_editor_closed.emit(key)
        return True

    def close_all(self, force: bool = False) -> bool:
        """Close every tab (app exit); False if the user cancelled one."""
        return all(self.close_editor(e, force) for e in list(self.editors()))

    # --- board / theme / errors ---

    def set_board_port(self, port: str) -> None:
        """Completion in every editor (and future ones) uses ``port``'s stubs."""
        self._port = port if port in PORTS else DEFAULT_PORT
        for editor in self.editors():
            editor.set_board_port(self._port)

    def set_font(self, family: str, size: int) -> None:
        """Use font ``family`` (empty: the system's fixed-width font) at ``size`` points in every editor (and
        future ones)."""
        self._font_choice = (family, size)
        for editor in self.editors():
            editor.set_font(family, size)

    def set_theme(self, palette: theme_mod.Palette) -> None:
        """Apply a palette to every editor (and future ones)."""
        self._palette = palette
        for editor in self.editors():
            editor.set_theme(palette)

    def goto(self, key: str, line: int) -> CodeEditor | None:
        """Show the editor for ``key`` (path or untitled key; opened if a file) at 1-based ``line``."""
        editor = self.find_editor(key)
        if editor is None and not key.startswith("<") and Path(key).is_file():
            editor = self.open_file(key)
        if editor is not None:
            self.setCurrentWidget(editor)
            editor.goto_line(line)
        return editor

    def jump_to_error(self, path: str | os.PathLike, line: int, message: str) -> CodeEditor | None:
        """A device traceback points at local ``path``:``line``: open it, go there, mark the line."""
        editor = self.goto(str(path), line)
        if editor is not None:
            editor.mark_error_line(line, message)
        return editor


# --- problems list ---------------------------------------------------------------------------------------------


class ProblemsList(QTreeWidget):
    """Lint problems of every open file, grouped by file; activating one emits ``sig_problem_activated``."""

    sig_problem_activated = pyqtSignal(str, int)
    """The user picked a problem: (editor key or path, 1-based line)."""

    _KEY_ROLE = Qt.ItemDataRole.UserRole
    _LINE_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderLabels(["Problem", "Line"])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self._files: dict[str, QTreeWidgetItem] = {}
        self.itemActivated.connect(self._on_item)
        self.itemClicked.connect(self._on_item)

    def set_problems(self, key: str, problems: list[Problem]) -> None:
        """Replace the problems listed for ``key`` (a file without problems is removed from the list)."""
        self.remove_file(key)
        if not problems:
            return
        name = key if key.startswith("<") else Path(key).name
        top = QTreeWidgetItem([f"{name} ({len(problems)})", ""])
        top.setData(0, self._KEY_ROLE, key)
        top.setToolTip(0, key)
        for problem in problems:
            prefix = "Error" if problem.severity is Severity.ERROR else "Warning"
            child = QTreeWidgetItem([f"{prefix}: {problem.message}", str(problem.line)])
            child.setData(0, self._KEY_ROLE, key)
            child.setData(0, self._LINE_ROLE, problem.line)
            top.addChild(child)
        self.addTopLevelItem(top)
        top.setExpanded(True)
        self._files[key] = top

    def remove_file(self, key: str) -> None:
        """Forget ``key``'s problems (its tab closed)."""
        item = self._files.pop(key, None)
        if item is not None:
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))

    def problem_count(self) -> int:
        """Problems listed across all files."""
        return sum(item.childCount() for item in self._files.values())

    def _on_item(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        line = item.data(0, self._LINE_ROLE)
        if line is not None:
            self.sig_problem_activated.emit(item.data(0, self._KEY_ROLE), int(line))
