"""The board file browser against a real virtual board: drag-and-drop upload, download, rename, delete, open."""

from __future__ import annotations


import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QDropEvent

from ide.ui.file_browser import OverwriteQuestion, board_paths_mime, file_urls_mime
from tests.conftest import needs_virtual_board
from tests.test_ui_app import make_window

pytestmark = needs_virtual_board


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    qtbot.waitUntil(lambda: w.browser.header_label.text().startswith("Board:") and "free" in
                    w.browser.header_label.text(), timeout=10000)
    yield w
    w.shutdown()


def wait_listed(qtbot, window, path, present=True):
    qtbot.waitUntil(lambda: (path in window.browser.listed_paths()) == present and not window.connection.busy,
                    timeout=15000)


def test_drop_event_uploads_files_and_folders(qtbot, window, tmp_path):
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "main.py").write_text("print('main')\n")
    (src / "lib" / "util.py").write_text("X = 1\n")
    tree = window.browser.tree
    mime = file_urls_mime([src / "main.py", src / "lib"])  # kept referenced: QDropEvent does not own it
    event = QDropEvent(QPointF(5, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    tree.dropEvent(event)
    assert event.isAccepted()
    wait_listed(qtbot, window, "/main.py")
    wait_listed(qtbot, window, "/lib")
    window.browser.item_for("/lib").setExpanded(True)  # folders are listed when opened
    wait_listed(qtbot, window, "/lib/util.py")
    assert (tmp_path / "board" / "lib" / "util.py").read_text() == "X = 1\n"
    assert "uploaded main.py, lib" in window.console.text()


def test_overwrite_prompt_shows_both_sides(qtbot, window, tmp_path):
    (tmp_path / "board" / "data.txt").write_text("old board text")
    local = tmp_path / "data.txt"
    local.write_text("new local text, longer")
    asked: list[OverwriteQuestion] = []
    window.browser.overwrite_prompt = lambda q: asked.append(q) or False
    window.browser.handle_drop(file_urls_mime([local]), "/")
    qtbot.waitUntil(lambda: bool(asked) and not window.connection.busy, timeout=10000)
    assert asked[0].target == "/data.txt" and asked[0].target_size == 14 and asked[0].source_size == 22
    assert "14 B" in asked[0].text() and "22 B" in asked[0].text()
    assert (tmp_path / "board" / "data.txt").read_text() == "old board text"  # declined
    window.browser.overwrite_prompt = lambda q: True
    with qtbot.waitSignal(window.browser.sig_transfer_done, timeout=10000):
        window.browser.handle_drop(file_urls_mime([local]), "/")
    assert (tmp_path / "board" / "data.txt").read_text() == "new local text, longer"


def test_download_by_drop_on_local_tree(qtbot, window, tmp_path):
    (tmp_path / "board" / "sensor.py").write_text("VALUE = 42\n")
    window.browser.refresh()
    wait_listed(qtbot, window, "/sensor.py")
    dest = tmp_path / "local"
    dest.mkdir()
    with qtbot.waitSignal(window.browser.sig_transfer_done, timeout=10000) as blocker:
        assert window.local_tree.handle_drop(board_paths_mime(["/sensor.py"]), str(dest))
    assert blocker.args[0] == "download"
    assert (dest / "sensor.py").read_text() == "VALUE = 42\n"


def test_icons_on_the_refresh_button_and_on_tree_entries(qtbot, window, tmp_path):
    (tmp_path / "board" / "main.py").write_text("pass\n")
    (tmp_path / "board" / "data").mkdir()
    window.browser.refresh()
    wait_listed(qtbot, window, "/data")
    assert window.browser.refresh_button.text() == "Refresh"  # no glyph standing in for an icon
    window.icons.load()  # what the window does after its first frame
    assert not window.browser.refresh_button.icon().isNull()
    folder, main = window.browser.item_for("/data"), window.browser.item_for("/main.py")
    assert not folder.icon(0).isNull() and not main.icon(0).isNull()
    assert folder.icon(0).cacheKey() != main.icon(0).cacheKey()
    window.browser.refresh()  # items made after the icons loaded get them too
    wait_listed(qtbot, window, "/main.py")
    assert not window.browser.item_for("/main.py").icon(0).isNull()
    menu = window.browser.context_menu(window.browser.item_for("/main.py"))
    assert all(not a.icon().isNull() for a in menu.actions() if a.text())
    (tmp_path / "local.py").write_text("pass\n")
    model = window.local_tree.fs_model
    window.local_tree.set_root(tmp_path)
    qtbot.waitUntil(lambda: model.index(str(tmp_path / "local.py")).isValid(), timeout=5000)
    icon = model.data(model.index(str(tmp_path / "local.py")), Qt.ItemDataRole.DecorationRole)
    assert icon.cacheKey() == window.local_tree.fs_model.entry_icons["python"].cacheKey()


def test_rename_and_delete(qtbot, window, tmp_path):
    (tmp_path / "board" / "old.py").write_text("pass\n")
    (tmp_path / "board" / "folder").mkdir()
    (tmp_path / "board" / "folder" / "inner.py").write_text("pass\n")
    window.browser.refresh()
    wait_listed(qtbot, window, "/old.py")
    window.browser.text_prompt = lambda title, label, default: "new.py"
    window.browser.rename("/old.py")
    wait_listed(qtbot, window, "/new.py")
    assert "/old.py" not in window.browser.listed_paths()

    window.browser.confirm_prompt = lambda title, text: False
    window.browser.delete(["/folder"])
    assert (tmp_path / "board" / "folder").exists()  # declined: nothing sent
    questions = []
    window.browser.confirm_prompt = lambda title, text: questions.append(text) or True
    window.browser.delete(["/folder", "/new.py"])
    wait_listed(qtbot, window, "/new.py", present=False)
    assert "/folder" not in window.browser.listed_paths()
    assert "cannot be undone" in questions[0]
    assert not (tmp_path / "board" / "folder").exists()


def test_new_folder_and_context_menu(qtbot, window):
    window.browser.text_prompt = lambda title, label, default: "data"
    menu = window.browser.context_menu(None)
    [action] = [a for a in menu.actions() if a.text() == "New folder…"]
    action.trigger()
    wait_listed(qtbot, window, "/data")
    item = window.browser.item_for("/data")
    texts = [a.text() for a in window.browser.context_menu(item).actions() if a.text()]
    assert {"Open", "Run this file", "Download…", "Rename…", "Delete", "Upload files here…"} <= set(texts)


def test_open_board_file_edit_saves_back(qtbot, window, tmp_path):
    (tmp_path / "board" / "config.py").write_text("SPEED = 1\n")
    window.browser.refresh()
    wait_listed(qtbot, window, "/config.py")
    window.browser.open_on_board("/config.py")
    qtbot.waitUntil(lambda: window.tabs.current_editor() is not None
                    and window.tabs.current_editor().text() == "SPEED = 1\n", timeout=10000)
    editor = window.tabs.current_editor()
    editor.setText("SPEED = 2\n")
    with qtbot.waitSignal(window.browser.sig_transfer_done, timeout=10000):
        window.tabs.save(editor)
    assert (tmp_path / "board" / "config.py").read_text() == "SPEED = 2\n"


def test_run_board_file(qtbot, window, tmp_path):
    (tmp_path / "board" / "blink.py").write_text("print('blink', 3 * 11)\n")
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000):
        window.browser.sig_run_file.emit("/blink.py")
    qtbot.waitUntil(lambda: "blink 33" in window.console.text())


def test_compile_to_mpy_on_upload(qtbot, window, tmp_path):
    board = tmp_path / "board"
    (board / "sensor.py").write_text("VALUE = 'old source'\n")  # a stale source copy would shadow the module
    local = tmp_path / "sensor.py"
    local.write_text("VALUE = 'compiled'\n")
    main = tmp_path / "main.py"
    main.write_text("print('main stays source')\n")
    window.settings.compile_mpy = True
    window.browser.overwrite_prompt = lambda question: True
    window.browser.handle_drop(file_urls_mime([local, main]), "/")
    wait_listed(qtbot, window, "/sensor.mpy")
    qtbot.waitUntil(lambda: not (board / "sensor.py").exists(), timeout=10000)
    assert (board / "sensor.mpy").read_bytes()[:1] == b"M"  # the .mpy header
    assert (board / "main.py").read_text() == "print('main stays source')\n"
    # The module is real bytecode for this board: the same interpreter imports it.
    import subprocess
    import sys
    from ide.board.virtual import micropython_command
    loaded = subprocess.run(micropython_command() + ["-c", f"import sys; sys.path.insert(0, {str(board)!r}); "
                                                     "import sensor; print(sensor.VALUE)"],
                            capture_output=True, text=True, timeout=30)
    assert loaded.stdout.strip() == "compiled", loaded.stderr


def test_connect_removes_a_temporary_file_left_by_a_cut_transfer(qtbot, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    (board / "lib").mkdir()
    (board / "lib" / ".sensor.py.mipy-tmp").write_bytes(b"half a file")
    (board / "lib" / "sensor.py").write_text("kept\n")
    window = make_window(qtbot, tmp_path)
    qtbot.waitUntil(lambda: not (board / "lib" / ".sensor.py.mipy-tmp").exists(), timeout=10000)
    assert (board / "lib" / "sensor.py").read_text() == "kept\n"
    window.shutdown()
