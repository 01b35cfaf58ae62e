"""Deploy and Run project on the virtual board (the real interpreter): hash-compared sync, the manifest, syntax
errors stopping the run before upload, Stop."""

from __future__ import annotations

import threading

import pytest

from conftest import needs_virtual_board
from ide.filebrowser.board_fs import BoardFS
from ide.project.errors import BuildSyntaxError
from ide.project.run_project import deploy, follow_output, run_project
from ide.project.sync import MANIFEST_PATH, read_manifest
from test_project_helpers import Output, follow_until, new_project, pin, vb_board, wait_for  # noqa: F401

pytestmark = needs_virtual_board


def test_second_run_uploads_only_the_changed_file(tmp_path, vb_board):
    project = new_project(tmp_path, "blink", wifi_ssid="", wifi_password="", extra={"interval_ms": 100})
    board = vb_board()
    root = board.virtual_board.root_dir
    (root / "notes.txt").write_text("mine, not the project's")  # put there by hand: must survive every sync
    out = Output()
    first = run_project(board, project, out)
    assert sorted(first.sync.uploaded) == sorted(f.board_path for f in first.build.files)
    assert (root / "lib" / "mipy" / "app.mpy").is_file() and not (root / "lib" / "mipy" / "app.py").exists()
    follow_until(board, out, "ready")
    wait_for(lambda: pin(board, 2) == 1, 5, "LED on")

    text = (project.root / "main.py").read_text()
    (project.root / "main.py").write_text(text + "\n# changed\n")
    second = run_project(board, project, Output())
    assert second.sync.uploaded == ["/main.py"] and second.sync.removed == []
    assert second.build.compiled == 1
    assert (root / "main.py").read_text().endswith("# changed\n")
    fs = BoardFS(board)
    manifest = read_manifest(fs)
    assert manifest["project"] == project.name and "/main.py" in manifest["files"]
    assert "/notes.txt" not in manifest["files"]

    third = deploy(board, project)
    assert third.sync.uploaded == [] and not third.sync.manifest_written

    # a module added, deployed, then deleted from the project is removed from the board, with its folder
    extra = project.root / "lib" / "tools" / "util.py"
    extra.parent.mkdir()
    extra.write_text("def f():\n    return 1\n")
    assert deploy(board, project).sync.uploaded == ["/lib/tools/util.mpy"]
    assert board.exec("import sys; sys.path.append('/lib'); from tools import util; print(util.f())").strip() == b"1"
    extra.unlink()
    extra.parent.rmdir()
    fourth = deploy(board, project)
    assert fourth.sync.removed == ["/lib/tools/util.mpy"] and fourth.sync.uploaded == []
    assert not (root / "lib" / "tools").exists() and (root / "lib" / "mipy").is_dir()
    assert (root / "notes.txt").read_text() == "mine, not the project's"


def test_syntax_error_stops_the_run_before_anything_is_uploaded(tmp_path, vb_board):
    project = new_project(tmp_path, "blink", wifi_ssid="", wifi_password="")
    board = vb_board()
    deploy(board, project)
    root = board.virtual_board.root_dir
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    (project.root / "config.py").write_text((project.root / "config.py").read_text() + "\nled_pin = 2 +\n")
    (project.root / "main.py").write_text((project.root / "main.py").read_text() + "\n# also changed\n")
    with pytest.raises(BuildSyntaxError) as error:
        run_project(board, project, Output())
    assert error.value.file == "config.py" and error.value.line is not None
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before  # main.py's change did not go either
    assert board.eval("1 + 1") == 2  # the board is at its prompt, usable


def test_provisioning_files_go_once_and_stop_interrupts(tmp_path, vb_board):
    project = new_project(tmp_path, "mqtt_sensor", mqtt_server="127.0.0.1", mqtt_port=1)  # no broker: fine
    board = vb_board()
    out = Output()
    first = run_project(board, project, out)
    assert "/wifi.json" in first.sync.uploaded
    follow_until(board, out, "connected to HomeWiFi")
    root = board.virtual_board.root_dir
    assert not (root / "wifi.json").exists()  # consumed on first boot, stored obfuscated
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    follow_output(board, out, cancel)  # Stop: Ctrl-C, back at the prompt
    assert board.eval("2 * 21") == 42
    second = deploy(board, project)
    assert second.sync.uploaded == []  # not sent again: the board deleted it on purpose
    assert MANIFEST_PATH.lstrip("/") in [p.name for p in root.iterdir()]
