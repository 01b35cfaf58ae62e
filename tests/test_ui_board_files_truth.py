"""Board files that tell the truth, against the real virtual board: the tree follows what changed the board, an
action that stops a running program says so, a drag out of the tree copies files only when and where it is
dropped, and reopening a board file never leaves a tab showing text the copy under it no longer holds."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from ide.ui.file_browser import BOARD_PATHS_MIME, BoardDragMime
from tests.conftest import needs_virtual_board
from tests.test_ui_app import make_window

pytestmark = needs_virtual_board

LOOPING_MAIN = "import time\nprint('main starts')\nwhile True:\n    time.sleep(0.05)\n"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # board-file copies stay in the test's folder
    w = make_window(qtbot, tmp_path)
    qtbot.waitUntil(lambda: "free" in w.browser.header_label.text() and not w.connection.busy, timeout=10000)
    yield w
    w.shutdown()


def idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.connection.busy, timeout=15000)


def start_main(qtbot, window):
    """main.py (written by the test beforehand) running at the friendly REPL, as after a reset or Run project."""
    window.soft_reset()
    qtbot.waitUntil(lambda: "main starts" in window.console.text(), timeout=10000)
    idle(qtbot, window)
    assert not window.board_at_prompt


def test_an_action_that_stops_main_says_so_and_an_idle_board_says_nothing(qtbot, window, tmp_path):
    board = tmp_path / "board"
    (board / "mipy").mkdir()
    # What our framework does (device_templates/framework/mipy/app.py): a real machine.WDT in mipy.app.wdt.
    (board / "mipy" / "__init__.py").write_text("")
    (board / "mipy" / "app.py").write_text("import machine\nwdt = machine.WDT(timeout=60000)\n")
    (board / "config.py").write_text("watchdog_s = 60\n")
    (board / "main.py").write_text("import config\nfrom mipy import app\n" + LOOPING_MAIN)
    start_main(qtbot, window)
    window.browser.refresh()
    qtbot.waitUntil(lambda: "stopped main.py to list the board's files" in window.console.text(), timeout=10000)
    idle(qtbot, window)
    assert "its watchdog restarts the board within 60 s" in window.console.text()
    assert "/config.py" in window.browser.listed_paths()
    assert window.board_at_prompt

    notes = window.console.text().count("— stopped")
    window.browser.refresh()  # nothing runs now: no interrupt worth a word
    idle(qtbot, window)
    window.run_board_job("Board info", lambda b, ctx: b.info())
    idle(qtbot, window)
    assert window.console.text().count("— stopped") == notes

    # A loop typed into the console is named as such.
    window.console.sig_input_bytes.emit(b"while True: pass\r\r\r")
    qtbot.waitUntil(lambda: not window.board_at_prompt, timeout=5000)
    time.sleep(0.2)
    window.browser.refresh()
    qtbot.waitUntil(lambda: "stopped the program started in the console to list" in window.console.text(),
                    timeout=10000)


def test_tree_follows_project_switches_and_runs_without_stopping_a_program(qtbot, window, tmp_path):
    from ide.project.new_project import ProjectSettings, create_project
    from ide.project.templates import list_templates
    blink = next(t for t in list_templates() if t.name == "blink")
    first = create_project(blink, tmp_path / "first", ProjectSettings(name="first", board="esp32"))
    second = create_project(blink, tmp_path / "second", ProjectSettings(name="second", board="esp32"))
    board = tmp_path / "board"
    (board / "main.py").write_text(LOOPING_MAIN)

    (board / "added.txt").write_text("x")  # changed behind the tree's back; the project switch lists it
    window.project_controller.open_project(first.root)
    qtbot.waitUntil(lambda: "/added.txt" in window.browser.listed_paths(), timeout=10000)

    # F5: a program that writes a file; the tree shows it once the program ends.
    window.tabs.new_file().setText("open('/log.txt', 'w').write('ran')\nprint('wrote')\n")
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000):
        window.run_current_file()
    qtbot.waitUntil(lambda: "/log.txt" in window.browser.listed_paths(), timeout=10000)

    # While main.py runs, switching projects does not stop it to list: the header says the list may be old.
    start_main(qtbot, window)
    (board / "later.txt").write_text("y")
    window.project_controller.open_project(second.root)
    idle(qtbot, window)
    assert "/later.txt" not in window.browser.listed_paths()
    assert "a program is running" in window.browser.header_label.text()
    assert "— stopped" not in window.console.text()
    assert not window.board_at_prompt
    window.browser.refresh()  # the user asks: listed, and the console says what it cost
    qtbot.waitUntil(lambda: "/later.txt" in window.browser.listed_paths(), timeout=10000)
    assert "stopped main.py to list the board's files" in window.console.text()
    assert "a program is running" not in window.browser.header_label.text()


def test_a_drag_copies_nothing_until_dropped_and_then_where_it_is_dropped(qtbot, window, tmp_path):
    board = tmp_path / "board"
    (board / "notes.txt").write_text("board text")
    (board / "lib").mkdir()
    (board / "lib" / "util.py").write_text("X = 1\n")
    browser = window.browser
    browser.drag_copies_dir = tmp_path / "drops"
    browser.refresh()
    qtbot.waitUntil(lambda: "/lib" in browser.listed_paths() and not window.connection.busy, timeout=10000)

    mime = BoardDragMime(browser, ["/notes.txt", "/lib", "/lib/util.py"])
    assert mime.hasUrls() and mime.hasFormat(BOARD_PATHS_MIME)  # what drop targets look at while hovering
    dest = tmp_path / "local"
    dest.mkdir()
    with qtbot.waitSignal(browser.sig_transfer_done, timeout=10000) as blocker:
        assert window.local_tree.handle_drop(mime, str(dest))  # dropped on the local tree: downloaded there
    assert blocker.args[0] == "download" and (dest / "lib" / "util.py").read_text() == "X = 1\n"
    assert not mime.fetched and not (tmp_path / "drops").exists()  # no copy for the URLs was made

    urls = mime.urls()  # a drop outside the app asks for the files: now they are copied, verified
    notes, lib = [Path(url.toLocalFile()) for url in urls]
    assert notes.read_text() == "board text" and (lib / "util.py").read_text() == "X = 1\n"
    folder = notes.parent
    assert folder.parent == tmp_path / "drops" and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert mime.urls() == urls and mime.fetch_error is None  # asked again: the same copies, no second download
    idle(qtbot, window)

    # A drop the board cannot serve in time is given up, and said so once the drag is over.
    browser.drop_fetch_timeout = 0.001
    late = BoardDragMime(browser, ["/notes.txt"])
    started = time.monotonic()
    assert late.urls() == []
    assert time.monotonic() - started < 1.0
    browser.drag_ended(late)
    assert any("for the drop" in m for m in window.messages)
    assert not folder.exists()  # the previous drop's copies went when this one began

    # While a program holds the board, a drop outside does not wait for it.
    browser.drop_fetch_timeout = 10
    window.tabs.new_file().setText("while True:\n    pass\n")
    window.run_current_file()
    qtbot.waitUntil(lambda: window.connection.input_job is not None, timeout=5000)
    started = time.monotonic()
    assert BoardDragMime(browser, ["/notes.txt"]).urls() == []
    assert time.monotonic() - started < 0.5
    assert "press Stop" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000):
        window.stop()


def test_reopening_a_board_file_never_leaves_a_stale_tab(qtbot, window, tmp_path):
    board = tmp_path / "board" / "config.py"
    board.write_text("SPEED = 1\n")
    asked = []
    window.board_copy_prompt = lambda name, path: asked.append(path) or answer[0]
    answer = [False]

    def reopen():
        window.browser.open_on_board("/config.py")
        idle(qtbot, window)
        return window.tabs.current_editor()

    editor = reopen()
    assert editor.text() == "SPEED = 1\n"
    local = Path(editor.path)

    board.write_text("SPEED = 2\n")  # changed on the board, the tab unmodified: it shows the new text
    assert reopen() is editor and editor.text() == "SPEED = 2\n" and not asked

    editor.setText("SPEED = 99\n")  # unsaved changes, the board unchanged: kept, nothing asked
    assert reopen() is editor and editor.text() == "SPEED = 99\n" and not asked

    board.write_text("SPEED = 3\n")  # both changed: asked; "keep" leaves the tab and the copy under it alone
    assert reopen() is editor and asked == ["/config.py"]
    assert editor.text() == "SPEED = 99\n" and editor.is_modified
    assert local.read_text() == "SPEED = 2\n"

    answer[0] = True  # "show the board's file": the copy and the tab both hold it
    assert reopen() is editor and len(asked) == 2
    assert editor.text() == "SPEED = 3\n" and not editor.is_modified and local.read_text() == "SPEED = 3\n"


def test_run_project_shows_what_it_uploaded_without_listing_the_board(qtbot, window, tmp_path):
    from ide.project.new_project import ProjectSettings, create_project
    from ide.project.templates import list_templates
    blink = next(t for t in list_templates() if t.name == "blink")
    project = create_project(blink, tmp_path / "blink", ProjectSettings(name="blink", board="esp32"))
    window.project_controller.open_project(project.root)
    idle(qtbot, window)
    with qtbot.waitSignal(window.project_controller.sig_run_done, timeout=30000):
        window.project_controller.run_project()
    listed = window.browser.listed_paths()
    assert {"/main.py", "/config.py", "/lib"} <= set(listed)  # /lib: a new folder, listed when opened
    assert not window.board_at_prompt  # main.py runs: nothing listed the board after the restart
    qtbot.wait(300)
    assert "to list" not in window.console.text() and not window.connection.busy
