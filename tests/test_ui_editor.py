"""CodeEditor, EditorTabs, FindReplaceBar and ProblemsList against real QScintilla, jedi and pyflakes."""

import pytest
from PyQt6.QtCore import Qt

from ide.lang import stubs
from ide.lang.lint import Severity
from ide.ui.editor import (
    LINT_DEBOUNCE_MS,
    CodeEditor,
    EditorTabs,
    Indicator,
    Marker,
    OpenFile,
    ProblemsList,
    UnsavedChoice,
)
from ide.ui.find_replace import FindReplaceBar

needs_stubs = pytest.mark.skipif(stubs.stub_dir("esp32") is None, reason="MicroPython stubs not installed")


@pytest.fixture
def editor(qtbot):
    ed = CodeEditor()
    qtbot.addWidget(ed)
    ed.resize(600, 400)
    ed.show()
    qtbot.waitExposed(ed)
    ed.setFocus()
    return ed


def type_text(qtbot, editor, text):
    for ch in text:
        if ch == "\n":
            qtbot.keyClick(editor, Qt.Key.Key_Return)
        else:
            qtbot.keyClicks(editor, ch)


def test_auto_indent_and_spaces(qtbot, editor):
    type_text(qtbot, editor, "if True:\n")
    assert editor.text() == "if True:\n    "  # indent after ":" with 4 spaces
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.text().endswith("        ") and "\t" not in editor.text()


@needs_stubs
def test_completion_popup_from_worker(qtbot, editor):
    editor.setText("import machine\n")
    editor.setCursorPosition(1, 0)
    type_text(qtbot, editor, "machine.Pi")
    qtbot.waitUntil(editor.completion_list_active, timeout=10000)
    assert "Pin" in [c.name for c in editor.last_completions]
    editor.accept_completion()
    assert editor.text(1).startswith("machine.Pin")


@needs_stubs
def test_call_tip_on_open_paren(qtbot, editor):
    editor.setText("import machine\n")
    editor.setCursorPosition(1, 0)
    type_text(qtbot, editor, "machine.Pin(")
    qtbot.waitUntil(editor.call_tip_active, timeout=10000)
    assert editor.last_call_signatures[0].name == "Pin"


@needs_stubs
def test_stale_completion_is_dropped(qtbot, editor):
    editor.setText("import machine\nmachine.")
    editor.setCursorPosition(1, 8)
    with qtbot.waitSignal(editor._service.sig_result, timeout=10000):
        editor.request_completion()
        editor.insert("X")  # text changed before the result arrived
    qtbot.wait(50)
    assert not editor.completion_list_active()


@needs_stubs
def test_board_port_changes_completion(qtbot, editor):
    editor.set_board_port("esp8266")
    editor.setText("import esp32\nesp32.")
    editor.setCursorPosition(1, 6)
    with qtbot.waitSignal(editor._service.sig_result, timeout=10000):
        editor.request_completion()
    assert editor.last_completions == []
    editor.set_board_port("esp32")
    with qtbot.waitSignal(editor._service.sig_result, timeout=10000):
        editor.request_completion()
    assert editor.last_completions


def test_lint_is_debounced_and_marks(qtbot, editor):
    editor.setText("import os\nprint(nothing_here)\n")
    with qtbot.waitSignal(editor.sig_problems_changed, timeout=LINT_DEBOUNCE_MS * 5) as blocker:
        pass
    problems = blocker.args[0]
    assert [(p.line, p.severity) for p in problems] == [(1, Severity.WARNING), (2, Severity.ERROR)]
    assert editor.markersAtLine(0) & (1 << Marker.LINT_WARNING)
    assert editor.markersAtLine(1) & (1 << Marker.LINT_ERROR)
    start = editor.positionFromLineIndex(1, 6)
    assert editor.SendScintilla(editor.SCI_INDICATORVALUEAT, Indicator.LINT_ERROR, start) == 1
    assert editor.SendScintilla(editor.SCI_INDICATORVALUEAT, Indicator.LINT_ERROR, start - 1) == 0
    assert "undefined name 'nothing_here'" in editor.hover_text(2)
    editor.setText("print(1)\n")
    with qtbot.waitSignal(editor.sig_problems_changed, timeout=LINT_DEBOUNCE_MS * 5) as blocker:
        pass
    assert blocker.args[0] == [] and editor.markersAtLine(1) == 0


def test_toggle_comment_and_zoom(editor):
    editor.setText("def f():\n    a = 1\n    b = 2\n")
    editor.setSelection(1, 0, 2, 9)
    editor.toggle_comment()
    assert editor.text() == "def f():\n    # a = 1\n    # b = 2\n"
    editor.toggle_comment()
    assert editor.text() == "def f():\n    a = 1\n    b = 2\n"
    editor.zoom_in()
    assert editor.SendScintilla(editor.SCI_GETZOOM) == 1
    editor.zoom_reset()
    assert editor.SendScintilla(editor.SCI_GETZOOM) == 0


def test_goto_and_device_error_mark(editor):
    editor.setText("a = 1\nb = 2\nc = 3\n")
    editor.mark_error_line(2, "NameError: name 'x' isn't defined")
    assert editor.getCursorPosition() == (1, 0)
    assert editor.markersAtLine(1) & (1 << Marker.DEVICE_ERROR)
    assert "NameError" in editor.hover_text(2) and editor.device_error_lines == [2]
    editor.insert("#")
    assert editor.device_error_lines == [] and editor.markersAtLine(1) == 0


def test_tabs_open_modify_save_close(qtbot, tmp_path):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    f = tmp_path / "main.py"
    f.write_text("print('hi')\n")
    ed = tabs.open_file(f)
    assert tabs.open_file(str(f)) is ed and tabs.count() == 1
    assert tabs.tab_title(ed) == "main.py" and not ed.is_modified
    ed.setCursorPosition(0, 0)
    ed.insert("x = 1\n")
    assert tabs.tab_title(ed) == "main.py *"
    assert tabs.save()
    assert f.read_text() == "x = 1\nprint('hi')\n" and tabs.tab_title(ed) == "main.py"
    ed.setCursorPosition(1, 3)
    assert tabs.open_files() == [OpenFile(str(f.resolve()), 2, 3)]

    ed.insert("y")
    asked = []
    tabs.unsaved_prompt = lambda e: asked.append(e) or UnsavedChoice.CANCEL
    assert not tabs.close_editor(ed) and tabs.count() == 1 and asked == [ed]
    tabs.unsaved_prompt = lambda e: UnsavedChoice.DISCARD
    assert tabs.close_editor(ed) and tabs.count() == 0
    assert f.read_text() == "x = 1\nprint('hi')\n"

    restored = EditorTabs()
    qtbot.addWidget(restored)
    restored.restore_session([OpenFile(str(f), 2, 3), OpenFile(str(tmp_path / "gone.py"), 1, 0)])
    assert restored.count() == 1 and restored.current_editor().cursor_line_column() == (2, 3)


def test_untitled_save_as_and_prompt_save(qtbot, tmp_path):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    ed = tabs.new_file()
    assert ed.path is None and tabs.tab_title(ed).startswith("untitled-")
    ed.setText("a = 1\n")
    target = tmp_path / "new.py"
    tabs.save_as_prompt = lambda e: str(target)
    tabs.unsaved_prompt = lambda e: UnsavedChoice.SAVE
    assert tabs.close_editor(ed)
    assert target.read_text() == "a = 1\n"


def test_problems_list_and_jump_to_error(qtbot, tmp_path):
    tabs = EditorTabs()
    problems = ProblemsList()
    qtbot.addWidget(tabs)
    qtbot.addWidget(problems)
    tabs.sig_problems_changed.connect(problems.set_problems)
    tabs.sig_editor_closed.connect(problems.remove_file)
    problems.sig_problem_activated.connect(tabs.goto)
    f = tmp_path / "app.py"
    f.write_text("import os\n\n\nprint(zzz)\n")
    ed = tabs.open_file(f)  # loading lints at once
    assert problems.problem_count() == 2
    top = problems.topLevelItem(0)
    with qtbot.waitSignal(problems.sig_problem_activated) as blocker:
        problems.itemActivated.emit(top.child(1), 0)
    assert blocker.args == [str(f.resolve()), 4]
    assert ed.getCursorPosition()[0] == 3

    other = tmp_path / "lib.py"
    other.write_text("def read():\n    return 1 / 0\n")
    ed2 = tabs.jump_to_error(other, 2, "ZeroDivisionError: divide by zero")
    assert tabs.current_editor() is ed2 and ed2.device_error_lines == [2]
    tabs.close_editor(ed, force=True)
    assert problems.problem_count() == 0


def test_find_replace(qtbot, editor):
    bar = FindReplaceBar()
    qtbot.addWidget(bar)
    bar.set_editor(editor)
    editor.setText("led = 1\nled2 = led + 10\nLED = 3\n")
    bar.find_edit.setText("led")
    bar.word_box.setChecked(True)
    bar.case_box.setChecked(True)
    assert bar.find_next() and editor.getSelection() == (0, 0, 0, 3)
    assert bar.find_next() and editor.getSelection() == (1, 7, 1, 10)  # "led2" is not a whole word
    bar.replace_edit.setText("pin")
    assert bar.replace_all() == 2
    assert editor.text() == "pin = 1\nled2 = pin + 10\nLED = 3\n"
    editor.undo()
    assert editor.text() == "led = 1\nled2 = led + 10\nLED = 3\n"  # one undo step

    bar.word_box.setChecked(False)
    bar.regex_box.setChecked(True)
    bar.find_edit.setText(r"(\d+)")
    bar.replace_edit.setText(r"<\1>")
    editor.setSelection(1, 0, 2, 0)
    bar.selection_box.setChecked(True)
    assert bar.replace_all() == 2
    assert editor.text() == "led = 1\nled<2> = led + <10>\nLED = 3\n"
    bar.selection_box.setChecked(False)
    bar.find_edit.setText("nomatch")
    assert not bar.find_next() and bar.status.text() == "Not found"


def test_themes_colour_editor_and_app(qtbot, editor):
    from PyQt6.QtWidgets import QApplication

    from ide.ui.theme import DARK, LIGHT, ThemeManager, ThemeMode

    manager = ThemeManager(QApplication.instance(), ThemeMode.LIGHT)
    manager.sig_theme_changed.connect(editor.set_theme)
    with qtbot.waitSignal(manager.sig_theme_changed):
        manager.set_mode(ThemeMode.DARK)
    assert editor.lexer().paper(editor.lexer().Default).name() == DARK.editor_bg
    assert editor.lexer().color(editor.lexer().Keyword).name() == DARK.syntax[editor.lexer().Keyword]
    assert QApplication.instance().palette().window().color().name() == DARK.window
    manager.set_mode(ThemeMode.SYSTEM)
    assert manager.palette in (LIGHT, DARK)
    manager.set_mode(ThemeMode.LIGHT)
    assert editor.lexer().paper(editor.lexer().Comment).name() == LIGHT.editor_bg
