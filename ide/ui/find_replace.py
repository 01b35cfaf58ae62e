"""The find/replace bar shown under the editor tabs (Ctrl+F / Ctrl+H in the main window)."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QToolButton, QWidget

from ide.ui.editor import CodeEditor


class FindReplaceBar(QWidget):
    """Find and replace in one :class:`CodeEditor` (set with :meth:`set_editor`).

    Options: regular expression (C++11 ECMAScript syntax, so ``\\d``, groups and ``\\1`` in the replacement
    work), case sensitive, whole word, in selection. Searches wrap around the end of the file, except in
    selection."""

    sig_closed = pyqtSignal()
    """The user closed the bar (Escape or the close button)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._editor: CodeEditor | None = None
        self.find_edit = QLineEdit(placeholderText="Find")
        self.replace_edit = QLineEdit(placeholderText="Replace with")
        self.regex_box = QCheckBox("Regex")
        self.case_box = QCheckBox("Match case")
        self.word_box = QCheckBox("Whole word")
        self.selection_box = QCheckBox("In selection")
        self.status = QLabel()
        buttons = []
        for text, slot in (("Next", self.find_next), ("Previous", self.find_previous),
                           ("Replace", self.replace_one), ("Replace all", self.replace_all)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.append(button)
        close = QToolButton(text="✕")
        close.clicked.connect(self.close_bar)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for w in (self.find_edit, self.replace_edit, *buttons, self.regex_box, self.case_box, self.word_box,
                  self.selection_box, self.status, close):
            layout.addWidget(w)
        self.find_edit.returnPressed.connect(self.find_next)
        self.replace_edit.returnPressed.connect(self.replace_one)

    def set_editor(self, editor: CodeEditor | None) -> None:
        """Search in ``editor`` from now on (connect to EditorTabs.sig_current_editor_changed)."""
        self._editor = editor

    def open_bar(self, replace: bool = False) -> None:
        """Show the bar with the editor's selected text (single line) as the search text."""
        if self._editor is not None and self._editor.hasSelectedText():
            selected = self._editor.selectedText()
            if "\n" not in selected and "\r" not in selected:
                self.find_edit.setText(selected)
        self.replace_edit.setVisible(True)
        self.show()
        (self.replace_edit if replace and self.find_edit.text() else self.find_edit).setFocus()
        self.find_edit.selectAll()

    def close_bar(self) -> None:
        """Hide the bar and give the focus back to the editor."""
        self.hide()
        if self._editor is not None:
            self._editor.setFocus()
        self.sig_closed.emit()

    def keyPressEvent(self, event):  # noqa: N802 (Qt override)
        from PyQt6.QtCore import Qt

        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
        else:
            super().keyPressEvent(event)

    # --- operations ---

    def _first(self, forward: bool) -> bool:
        ed = self._editor
        text = self.find_edit.text()
        if ed is None or not text:
            return False
        re_, cs, wo = self.regex_box.isChecked(), self.case_box.isChecked(), self.word_box.isChecked()
        if self.selection_box.isChecked():
            return ed.findFirstInSelection(text, re_, cs, wo, forward, True, False, re_)
        if not forward and ed.hasSelectedText():
            # Searching backwards starts at the cursor, which sits at the end of the current match.
            line, index, _l2, _i2 = ed.getSelection()
            return ed.findFirst(text, re_, cs, wo, True, False, line, index, True, False, re_)
        return ed.findFirst(text, re_, cs, wo, True, forward, -1, -1, True, False, re_)

    def _report(self, found: bool) -> bool:
        self.status.setText("" if found else "Not found")
        return found

    def find_next(self) -> bool:
        """Select the next match; False when there is none."""
        return self._report(self._first(True))

    def find_previous(self) -> bool:
        """Select the previous match; False when there is none."""
        return self._report(self._first(False))

    def replace_one(self) -> bool:
        """Replace the selected match (if the selection is one) and select the next match."""
        ed = self._editor
        if ed is None:
            return False
        if ed.hasSelectedText() and not self.selection_box.isChecked() and self._selection_matches():
            ed.replace(self.replace_edit.text())
        return self.find_next()

    def _selection_matches(self) -> bool:
        ed = self._editor
        line, index, _l, _i = ed.getSelection()
        re_, cs, wo = self.regex_box.isChecked(), self.case_box.isChecked(), self.word_box.isChecked()
        found = ed.findFirst(self.find_edit.text(), re_, cs, wo, False, True, line, index, False, False, re_)
        return found and ed.getSelection()[:2] == (line, index)

    def replace_all(self) -> int:
        """Replace every match (in the selection when "In selection" is on) as one undo step; returns the
        number of replacements."""
        ed = self._editor
        text = self.find_edit.text()
        if ed is None or not text:
            return 0
        re_, cs, wo = self.regex_box.isChecked(), self.case_box.isChecked(), self.word_box.isChecked()
        replacement = self.replace_edit.text()
        count = 0
        ed.beginUndoAction()
        try:
            if self.selection_box.isChecked():
                found = ed.findFirstInSelection(text, re_, cs, wo, True, False, False, re_)
            else:
                found = ed.findFirst(text, re_, cs, wo, False, True, 0, 0, False, False, re_)
            previous = None
            while found:
                position = ed.getSelection()
                if position == previous:  # an empty regex match at the same place: stop, or loop forever
                    break
                ed.replace(replacement)
                count += 1
                previous = ed.getSelection()
                found = ed.findNext()
        finally:
            ed.endUndoAction()
        self.status.setText(f"{count} replaced")
        return count
