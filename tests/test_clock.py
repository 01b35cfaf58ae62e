"""Setting the board's clock from this computer's, on the virtual board (its machine.RTC moves time.localtime()),
and at connect in the window, with the setting that turns it off."""

from __future__ import annotations

import datetime

import pytest
from PyQt6.QtCore import QSettings

from ide.board.clock import read_board_clock, set_board_clock
from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board


def test_a_wrong_clock_is_set_right(board):
    wrong = datetime.datetime(2001, 2, 3, 4, 5, 6)
    assert set_board_clock(board, wrong).set
    assert abs((read_board_clock(board) - wrong).total_seconds()) <= 1
    result = set_board_clock(board)
    assert result.set
    now = datetime.datetime.now()
    assert abs((read_board_clock(board) - now).total_seconds()) <= 2
    utc = set_board_clock(board, utc=True)
    assert abs((read_board_clock(board) - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
               .total_seconds()) <= 2 and utc.sent.tzinfo is None


def test_a_board_without_rtc_is_left_alone(board):
    board.exec("import machine\nmachine._saved_rtc = machine.RTC\ndel machine.RTC")
    before = read_board_clock(board)
    assert not set_board_clock(board, datetime.datetime(2001, 1, 1)).set
    assert abs((read_board_clock(board) - before).total_seconds()) <= 2
    board.exec("import machine\nmachine.RTC = machine._saved_rtc")


@pytest.mark.parametrize("enabled", [True, False])
def test_connect_sets_the_clock_unless_turned_off(qtbot, tmp_path, enabled):
    from tests.test_ui_app import make_window
    from ide.ui.settings import Settings

    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert settings.set_clock_on_connect  # on by default, as in Thonny
    settings.set_clock_on_connect = enabled
    settings.sync()
    window = make_window(qtbot, tmp_path)  # reads the same settings file
    try:
        assert window.settings.set_clock_on_connect is enabled
        result = window.connection._worker.clock_result
        assert (result is not None and result.set) is enabled
    finally:
        window.shutdown()


def test_the_settings_dialog_turns_it_off(qtbot, tmp_path):
    from ide.ui.settings import Settings, SettingsDialog

    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.set_clock.isChecked()
    dialog.set_clock.setChecked(False)
    dialog.apply()
    assert Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)).set_clock_on_connect is False
