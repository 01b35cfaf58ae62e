"""Leaving and losing the board, against the real virtual board: Quit with a job running interrupts it and waits
a bounded time (also when the board no longer answers), and a pulled cable opens one dialog, not one per job."""

from __future__ import annotations

import time

from ide.errors import PortVanishedError
from ide.ui import board_worker
from ide.ui.board_worker import SHUTDOWN_TIMEOUT_MS
from tests.conftest import needs_virtual_board
from tests.test_ui_app import make_window

pytestmark = needs_virtual_board


def run_forever(qtbot, window, tmp_path):
    path = tmp_path / "forever.py"
    path.write_text("while True:\n    pass\n")
    window.open_file(path)
    window.run_current_file()
    qtbot.waitUntil(lambda: window.job_label.text().startswith("Running forever.py"), timeout=10000)


def test_quit_with_a_program_running_interrupts_it_at_once(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    run_forever(qtbot, window, tmp_path)
    thread = window.connection._thread
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 2.0  # Ctrl-C stopped the loop; nothing waited for the deadline
    assert not thread.isRunning() and not window.isVisible()


def test_quit_with_a_board_that_stopped_answering_waits_a_bounded_time(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    run_forever(qtbot, window, tmp_path)
    virtual_board = window.connection._worker.board.virtual_board
    virtual_board.freeze()  # the chip hangs: Ctrl-C gets no answer, the job cannot end
    thread = window.connection._thread
    started = time.monotonic()
    window.close()
    waited = time.monotonic() - started
    assert SHUTDOWN_TIMEOUT_MS / 1000 - 0.5 < waited < SHUTDOWN_TIMEOUT_MS / 1000 + 1.5
    assert not window.isVisible()
    assert any(t is thread for t, _worker in board_worker._ORPHANED_THREADS)  # kept, never destroyed running
    virtual_board.stop()  # unplugged: the left-over job ends and the thread with it
    assert thread.wait(15000)


def test_a_pulled_cable_opens_one_dialog_however_many_jobs_were_queued(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.messages.clear()
    window.connection._worker.board.virtual_board.disconnect_after(20)  # during the first job
    failures = []
    window.connection.sig_job_failed.connect(lambda job, error: failures.append(error))
    for number in range(4):
        window.run_board_job(f"Job {number}", lambda board, ctx: board.exec("print('x' * 300)"))
    window.browser.refresh()
    qtbot.waitUntil(lambda: not window.connection.connected and not window.connection.busy, timeout=15000)
    qtbot.wait(200)  # anything still queued for the UI thread arrives
    assert len(failures) >= 5 and all(isinstance(e, PortVanishedError) for e in failures)
    assert len(window.messages) == 1, window.messages
    assert "— board disconnected —" in window.console.text()
    window.shutdown()
