"""The board connection and REPL protocol, against the real MicroPython interpreter on a virtual board."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
import sys
import threading
import time
import tty

import pytest
import serial

from ide.board.board import Board
from ide.board.serial_link import _translate_open_error
from ide.board.virtual import VirtualBoard, VirtualBoardConfig
from ide.errors import (BoardTimeoutError, DeviceTraceback, NoReplError, PortBusyError, PortNotFoundError,
                        PortPermissionError, PortVanishedError)
from ide.explain import explain
from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board


def test_info_describes_the_board(board):
    info = board.info()
    assert info.version.startswith("1.")
    assert info.platform == "esp32" and info.virtual
    assert info.mpy_version == 6
    assert info.fs_total == 2 * 1024 * 1024 and 0 < info.fs_free <= info.fs_total
    assert info.mem_free > 10_000
    assert len(info.unique_id) == 12


def test_exec_streams_output_while_the_code_runs(board):
    arrivals = []
    code = "import time\nfor i in range(4):\n    print('tick', i)\n    time.sleep(0.25)\n"
    started = time.monotonic()
    output = board.exec(code, on_output=lambda data: arrivals.append((time.monotonic() - started, data)))
    assert output.replace(b"\r", b"") == b"tick 0\ntick 1\ntick 2\ntick 3\n"
    assert b"".join(data for _, data in arrivals) == output
    # The first line arrived long before the program ended: streamed, not collected.
    assert arrivals[0][0] < 0.5 and arrivals[-1][0] > 0.7


def test_device_traceback_is_structured(board):
    with pytest.raises(DeviceTraceback) as caught:
        board.exec("def divide(a):\n    return a / 0\n\ndivide(1)\n")
    error = caught.value
    assert error.exc_type == "ZeroDivisionError"
    assert error.line == 2 and error.file == "<stdin>"
    assert "divide by zero" in error.message
    with pytest.raises(DeviceTraceback) as caught:
        board.exec("import os\nos.stat('/no/such/file')\n")
    assert caught.value.exc_type == "OSError" and caught.value.errno == errno.ENOENT
    assert caught.value.line == 2  # the virtual board's own frames are not the user's
    assert board.eval("1 + 1") == 2  # still usable afterwards


def test_syntax_error_is_reported_with_its_line(board):
    with pytest.raises(DeviceTraceback) as caught:
        board.exec("x = 1\nif x\n    pass\n")
    assert caught.value.exc_type == "SyntaxError" and caught.value.line == 2


def test_eval_returns_values(board):
    assert board.eval("[1, 'two', (3.5, None)]") == [1, "two", (3.5, None)]


def test_run_is_interrupted_by_cancel(board):
    cancel = threading.Event()
    output = bytearray()
    timer = threading.Timer(0.6, cancel.set)
    timer.start()
    interrupted = board.run("n = 0\nwhile True:\n    n += 1\n", output.extend, cancel)
    assert interrupted
    assert board.eval("n") > 1000


def test_interrupt_stops_a_tight_loop_started_from_the_friendly_repl(board):
    board.to_friendly_repl()
    board.terminal_write(b"while True: pass\r\r")
    time.sleep(0.3)
    seen = board.interrupt(timeout=5)
    assert b"KeyboardInterrupt" in seen
    assert board.eval("'alive'") == "alive"


def test_interrupt_stops_asyncio(board):
    cancel = threading.Event()
    threading.Timer(0.6, cancel.set).start()
    code = ("import asyncio\nasync def blink():\n    while True:\n        await asyncio.sleep_ms(10)\n"
            "asyncio.run(blink())\n")
    assert board.run(code, lambda data: None, cancel)


def test_operation_timeout_raises_and_board_recovers(board):
    with pytest.raises(BoardTimeoutError) as caught:
        board.exec("while True:\n    pass\n", timeout=1.0)
    assert caught.value.timeout == 1.0
    board.repl.forget_state()
    assert board.eval("2 * 21") == 42


def test_soft_reset_runs_boot_and_main(board_dir, make_board):
    (board_dir / "boot.py").write_text("print('boot ran')\n")
    (board_dir / "main.py").write_text("print('main ran')\ncounter = 7\n")
    board = make_board()
    output = board.soft_reset()
    assert b"boot ran" in output and b"main ran" in output
    assert board.eval("counter") == 7  # main.py ran in the REPL's globals, as on a chip


def test_soft_reset_from_raw_repl_stays_raw_and_skips_main(board_dir, make_board):
    (board_dir / "main.py").write_text("print('main ran')\n")
    board = make_board()
    output = board.soft_reset(run_main=False)
    assert b"main ran" not in output
    assert board.repl.in_raw_repl
    assert board.eval("'still raw'") == "still raw"


def test_ctrl_d_at_the_friendly_prompt_soft_reboots_like_an_esp32(board_dir, make_board):
    (board_dir / "main.py").write_text("print('main ran')\n")
    board = make_board()
    board.to_friendly_repl()
    board.terminal_write(b"\x04")
    seen = board.link.read_until(b">>> ", 10, "soft reboot")
    assert b"MPY: soft reboot" in seen and b"main ran" in seen
    assert b"Generic ESP32 module with ESP32" in seen and b"linux" not in seen


def test_hard_reset_reboots_the_chip(board):
    board.exec("import machine")
    output = board.hard_reset()
    assert b"rst:" in output and b"ets " in output
    assert board.virtual_board.resets == 2
    assert board.eval("'back'") == "back"


def test_file_system_is_confined_to_the_board_folder(board_dir, board):
    (board_dir / "inside.txt").write_text("mine")
    listing = board.eval("__import__('os').listdir('/')")
    assert listing == ["inside.txt"]
    assert board.eval("open('/../../../inside.txt').read()") == "mine"  # ".." stops at the board's root
    with pytest.raises(DeviceTraceback) as caught:
        board.exec("open('/../../../etc/hostname').read()")
    assert caught.value.exc_type == "OSError"


def test_ctrl_c_is_data_when_keyboard_interrupt_is_disabled(board):
    # A binary protocol turns Ctrl-C off with kbd_intr(-1); then 0x03 must arrive as a byte, not a signal.
    board.repl.enter_raw()
    board.repl.send_code("import micropython, sys\nmicropython.kbd_intr(-1)\n"
                         "data = sys.stdin.buffer.read(4)\nmicropython.kbd_intr(3)\nprint(list(data))\n", 5)
    time.sleep(0.3)
    board.link.write(b"\x03\x04\x01\xff")
    assert board.repl.read_result(None, 5).strip() == b"[3, 4, 1, 255]"


def test_rescue_a_main_that_disables_ctrl_c_and_loops(board_dir, make_board):
    board = make_board()
    (board_dir / "main.py").write_text(
        "import micropython\nprint('taking over')\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n")
    # An ordinary interrupt cannot stop it: Ctrl-C is now plain data.
    board.soft_reset(wait_for_prompt=False)
    time.sleep(0.5)
    with pytest.raises((BoardTimeoutError, NoReplError)):
        board.interrupt(timeout=1.5)
    moved = board.rescue(move_main_aside=True, timeout=10)
    assert moved == "/main.py.disabled"
    assert not (board_dir / "main.py").exists() and (board_dir / "main.py.disabled").exists()
    output = board.soft_reset()
    assert b"taking over" not in output


def test_rescue_a_board_that_deep_sleeps(board_dir, make_board):
    board = make_board()
    (board_dir / "main.py").write_text("import machine\nprint('sleeping')\nmachine.deepsleep(300)\n")
    board.soft_reset(wait_for_prompt=False)
    time.sleep(0.5)
    assert board.rescue(move_main_aside=True, timeout=10) == "/main.py.disabled"
    assert board.eval("'awake'") == "awake"


def test_wire_emulation_paces_bytes_to_the_baud_rate(make_board):
    board = make_board(baud=115200)
    started = time.monotonic()
    output = board.exec("print('x' * 6000)")
    elapsed = time.monotonic() - started
    assert len(output.strip()) == 6000
    # 6,000 bytes cannot cross a 115200-baud line (11,520 bytes/s) in less than about half a second.
    assert elapsed > 6000 / 11520


def test_uart_buffer_overrun_loses_bytes_while_the_board_is_busy(make_board):
    board = make_board(baud=0, rx_buffer=256)
    board.repl.enter_raw()
    board.repl.send_code("import time, sys, micropython\nmicropython.kbd_intr(-1)\ntime.sleep(0.5)\n"
                         "n = 0\nwhile True:\n    c = sys.stdin.buffer.read(1)\n    if c == b'!':\n"
                         "        break\n    n += 1\nmicropython.kbd_intr(3)\nprint(n)\n", 5)
    board.link.write(b"a" * 1000)
    time.sleep(0.8)
    board.link.write(b"!")
    received = int(board.repl.read_result(None, 5).strip())
    assert received == 256
    assert board.virtual_board.overruns == 1000 - 256


def test_disconnect_fault_raises_port_vanished(board):
    board.virtual_board.disconnect_after(10)
    with pytest.raises(PortVanishedError):
        board.exec("print('x' * 100)", timeout=3)


def test_frozen_board_times_out(board):
    board.virtual_board.freeze()
    with pytest.raises(BoardTimeoutError):
        board.exec("print(1)", timeout=1.5)


def test_corrupted_byte_reaches_the_board(board):
    board.repl.enter_raw()
    board.virtual_board.corrupt_byte(20)
    with pytest.raises(DeviceTraceback):
        board.exec("x = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'\nassert x == 'a' * 35, x\n")


def test_wrong_port_is_a_clear_error():
    with pytest.raises(PortNotFoundError) as caught:
        Board.open("/dev/ttyUSB-does-not-exist")
    assert "plugged in" in explain(caught.value)


def test_busy_port_names_the_holder(tmp_path):
    with VirtualBoard(VirtualBoardConfig(root_dir=tmp_path, baud=0)) as vb:
        holder = subprocess.Popen(
            [sys.executable, "-c", "import serial, sys, time\n"
             f"s = serial.Serial({vb.device_path!r}, exclusive=True)\nprint('open', flush=True)\ntime.sleep(30)"],
            stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(PortBusyError) as caught:
                Board.open(vb.device_path)
            assert holder.pid in [pid for pid, _ in caught.value.holders]
            assert str(holder.pid) in explain(caught.value)
        finally:
            holder.kill()
            holder.wait()


def _fake_device(answer: bytes | None):
    """A pty that answers every write with ``answer`` (None: silence), like a board without MicroPython."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data = os.read(master, 1024)
            except OSError:
                return
            if data and answer:
                os.write(master, answer)

    threading.Thread(target=serve, daemon=True).start()
    return os.ttyname(slave), (master, slave, stop)


def test_port_answering_garbage_is_not_micropython():
    device, (master, slave, stop) = _fake_device(b"\xf0\x0f\x1c garbage at the wrong baud \x99")
    with pytest.raises(NoReplError) as caught:
        Board.open(device, timeout=2)
    assert caught.value.seen and b"garbage" in caught.value.seen
    assert "flash" in explain(caught.value).lower()
    stop.set()
    os.close(slave)
    os.close(master)


def test_silent_port_is_not_micropython():
    device, (master, slave, stop) = _fake_device(None)
    with pytest.raises(NoReplError) as caught:
        Board.open(device, timeout=1.5)
    assert caught.value.seen == b""
    stop.set()
    os.close(slave)
    os.close(master)


def test_permission_denied_explains_the_dialout_group():
    error = _translate_open_error("/dev/ttyUSB0", serial.SerialException(errno.EACCES, "Permission denied"))
    assert isinstance(error, PortPermissionError)
    if sys.platform.startswith("linux"):
        assert "usermod -aG" in explain(error)


def test_port_list_names_esp_bridges_and_always_has_the_virtual_board():
    from serial.tools.list_ports_common import ListPortInfo
    from ide.board import ports

    cp2102 = ListPortInfo("/dev/ttyUSB0")
    cp2102.vid, cp2102.pid = 0x10C4, 0xEA60
    native = ListPortInfo("/dev/ttyACM0")
    native.vid, native.pid = 0x303A, 0x1001
    unknown = ListPortInfo("/dev/ttyS0")
    described = [ports.describe(p) for p in (unknown, cp2102, native)]
    assert described[1].description == "ESP32/ESP8266 board (CP210x) on /dev/ttyUSB0"
    assert "native USB" in described[2].description
    assert described[1].likelihood > described[0].likelihood
    listed = ports.list_board_ports()
    assert listed[-1].is_virtual and listed[-1].available


def test_virtual_board_reports_remapped_privileged_ports(board):
    board.exec("import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
               "s.bind(('0.0.0.0', 80))\ns.listen(1)\n")
    remapped = board.virtual_board.port_remaps
    assert "80" in remapped and int(remapped["80"]) >= 1024
    board.exec("s.close()")


def test_ctrl_c_detection_without_proc_uses_ps(board, monkeypatch):
    # macOS has no /proc: the bridge asks ps for the interpreter's caught signals instead.
    from ide.board import virtual
    monkeypatch.setattr(virtual.process, "PROC_STATUS", virtual.Path("/no-proc-here"))
    cancel = threading.Event()
    threading.Timer(0.6, cancel.set).start()
    assert board.run("while True:\n    pass\n", lambda data: None, cancel)
    assert board.eval("'after'") == "after"
