"""Portable by construction, proven on Linux: the Windows and macOS forms of what we can run here.

- Windows has no fcntl, pty, termios, tty or grp. A subprocess makes them unimportable (a meta-path finder that
  raises ModuleNotFoundError, as Windows does) and imports every module, then runs the command line. Third-party
  libraries that pick their own backend by ``os.name`` (pyserial's serialposix/serialwin32, esp_pylib's reset
  code) are imported before the block: on Windows they would load their Windows flavour, which we cannot load
  here. Everything of ours is imported under the block.
- pyserial's Windows open errors are fed exactly as ``serial/serialwin32.py`` builds them: one string with the
  repr of ``ctypes.WinError()`` inside, ``errno`` None.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from serial.tools.list_ports_common import ListPortInfo

from ide.board import ports
from ide.board.serial_link import preferred_device, translate_open_error, windows_error_code
from ide.errors import PortBusyError, PortError, PortNotFoundError, PortPermissionError
from ide.explain import explain

ROOT = Path(__file__).resolve().parent.parent
POSIX_ONLY = ("fcntl", "pty", "termios", "tty", "grp")

AS_ON_WINDOWS = f"""
import sys
for name in {POSIX_ONLY!r}:
    sys.modules.pop(name, None)
# Third-party backends chosen by os.name (see the module docstring), loaded before the block.
import serial, serial.tools.list_ports, serial.rfc2217, serial.urlhandler.protocol_socket
import esp_pylib.serial_reset, esptool
for name in {POSIX_ONLY!r}:
    sys.modules.pop(name, None)

class NoPosix:
    def find_spec(self, name, path=None, target=None):
        if name in {POSIX_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NoPosix())
"""

IMPORT_EVERYTHING = AS_ON_WINDOWS + """
import importlib, json, pkgutil
import ide
failed, imported = {}, []
for module in pkgutil.walk_packages(ide.__path__, "ide."):
    if module.name.endswith("__main__"):
        continue  # runs the command line when imported
    try:
        importlib.import_module(module.name)
        imported.append(module.name)
    except Exception as error:
        failed[module.name] = f"{type(error).__name__}: {error}"
print(json.dumps({"failed": failed, "imported": imported}))
"""

RUN_CLI = AS_ON_WINDOWS + """
from ide.cli import main
raise SystemExit(main(sys.argv[1:]))
"""

def _environment(tmp_path: Path) -> dict:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data"),
            "PYTHONPATH": str(ROOT)}


def _import_everything(tmp_path: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True,
                            timeout=120, env=_environment(tmp_path), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cli(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True, text=True,
                          timeout=timeout, env=_environment(tmp_path), cwd=ROOT)


def test_the_block_is_real(tmp_path):
    probe = AS_ON_WINDOWS + "import termios\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "ModuleNotFoundError: No module named 'termios'" in result.stderr


def test_modules_import_without_posix_only_modules(tmp_path):
    # Every module of the package, the simulated ESP chip on its pty included (its pty calls import termios and
    # tty where they run, so that the flasher imports on Windows).
    walk = _import_everything(tmp_path)
    assert walk["failed"] == {}
    # The walk reached the board connection, the transports, the file system, the command line and the flasher.
    for name in ("ide.board.board", "ide.board.transport_serial", "ide.board.transport_virtual", "ide.board.ports",
                 "ide.filebrowser.board_fs", "ide.cli.board_commands", "ide.cli.file_commands",
                 "ide.flasher.esp_sim.server"):
        assert name in walk["imported"]


def test_version_help_and_ports_run_without_posix_only_modules(tmp_path):
    from ide import __version__

    version = _cli(tmp_path, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"mipy-studio {__version__}"
    help_text = _cli(tmp_path, "--help")
    assert help_text.returncode == 0, help_text.stderr
    for command in ("ports", "exec", "put", "get", "repl"):
        assert command in help_text.stdout
    listed = _cli(tmp_path, "ports")
    assert listed.returncode == 0, listed.stderr
    assert "virtual" in listed.stdout.splitlines()[-1]


def test_virtual_board_exec_without_posix_only_modules(tmp_path):
    from tests.conftest import needs_virtual_board

    if needs_virtual_board.args[0]:
        pytest.skip(needs_virtual_board.kwargs["reason"])
    # No pty here: the virtual board comes up on its socket link (socket://127.0.0.1:PORT, pipes to MicroPython).
    result = _cli(tmp_path, "--port", "virtual", "exec", "print(6 * 7)", timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


# --- pyserial's Windows errors ----------------------------------------------------------------------------------
# serialwin32.Serial.open(): SerialException("could not open port {!r}: {!r}".format(self.portstr,
# ctypes.WinError())); WinError(code) is OSError(None, text, None, code), which Windows turns into the subclass
# and errno below. _reconfigure_port(): 'Cannot configure port, something went wrong. Original message: {!r}'.

def _windows_open_error(winerror_repr: str, port: str = "COM3") -> serial.SerialException:
    return serial.SerialException("could not open port {!r}: {}".format(port, winerror_repr))


def test_windows_busy_port_is_busy_not_missing():
    # The reported bug: a COM port held by another program was "there is no serial port COM3".
    error = translate_open_error("COM3", _windows_open_error("PermissionError(13, 'Access is denied.', None, 5)"))
    assert isinstance(error, PortBusyError) and error.port == "COM3"
    assert "in use" in explain(error)


def test_windows_missing_port_is_not_found():
    error = translate_open_error("COM9", _windows_open_error(
        "FileNotFoundError(2, 'The system cannot find the file specified.', None, 2)", "COM9"))
    assert isinstance(error, PortNotFoundError)
    assert "plugged in" in explain(error)


def test_windows_high_com_number_and_sharing_violation():
    # COM10 and up are opened as \\.\COM10; the message keeps the name the user gave.
    error = translate_open_error("COM12", _windows_open_error(
        "PermissionError(13, 'The process cannot access the file because it is being used by another process.', "
        "None, 32)", "COM12"))
    assert isinstance(error, PortBusyError)


def test_windows_driver_failure_says_so():
    error = translate_open_error("COM4", _windows_open_error(
        "OSError(22, 'A device attached to the system is not functioning.', None, 31)", "COM4"))
    assert type(error) is PortError and "not working" in error.detail and "31" in error.detail


def test_windows_error_while_configuring_the_port():
    failure = serial.SerialException("Cannot configure port, something went wrong. Original message: "
                                     "PermissionError(13, 'Access is denied.', None, 5)")
    assert windows_error_code(failure) == 5
    assert isinstance(translate_open_error("COM3", failure), PortBusyError)


def test_winerror_attribute_is_read_first():
    failure = OSError(13, "Access is denied.")
    failure.winerror = 2  # as Windows sets it on an OSError from the system
    assert isinstance(translate_open_error("COM3", failure), PortNotFoundError)


def test_com_names_are_not_paths():
    # An error pyserial gives without any code must not turn into "no such port" just because "COM3" is not a
    # file on this computer.
    error = translate_open_error("COM3", serial.SerialException("something else went wrong"))
    assert type(error) is PortError


def test_posix_errors_still_translate():
    assert isinstance(translate_open_error("/dev/ttyUSB0", serial.SerialException(13, "Permission denied")),
                      PortPermissionError)
    assert isinstance(translate_open_error("/dev/ttyUSB0", serial.SerialException(16, "busy")), PortBusyError)
    assert isinstance(translate_open_error("/dev/ttyUSB7", serial.SerialException(2, "gone")), PortNotFoundError)


def test_a_socket_url_with_nothing_listening_is_not_found():
    from ide.board.board import Board

    with pytest.raises(PortNotFoundError):
        Board.open("socket://127.0.0.1:9", timeout=2)


def test_a_socket_url_sends_without_nagle_delay():
    # The virtual board's socket link (and any socket:// board) is many small REPL writes: with Nagle's algorithm
    # on, each waits for the previous one's delayed ACK (bench/transfer.py's 20 x 2 KB took twice as long).
    import socket

    from ide.board.serial_link import open_serial

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = open_serial(f"socket://127.0.0.1:{server.getsockname()[1]}")
        try:
            # A second descriptor on pyserial's own socket (not the code's wrapper), asked directly.
            with socket.fromfd(port.fileno(), socket.AF_INET, socket.SOCK_STREAM) as view:
                assert view.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            port.write(b"\x03")  # the descriptor is still pyserial's and open
            accepted, _ = server.accept()
            with accepted:
                accepted.settimeout(5)
                assert accepted.recv(1) == b"\x03"
        finally:
            port.close()


# --- ports on Windows and macOS ---------------------------------------------------------------------------------

def test_windows_port_names_keep_their_usb_description():
    unknown = ListPortInfo("COM5", skip_link_detection=True)
    unknown.description = "USB Serial Device (COM5)"
    unknown.vid, unknown.pid = 0x1234, 0x5678
    assert ports.describe(unknown).description == "USB Serial Device on COM5"
    ch340 = ListPortInfo("COM3", skip_link_detection=True)
    ch340.description = "USB-SERIAL CH340 (COM3)"
    ch340.vid, ch340.pid = 0x1A86, 0x7523
    assert ports.describe(ch340).description == "ESP32/ESP8266 board (CH340) on COM3"


def test_a_board_without_a_driver_is_pointed_to_the_driver():
    # pnputil /enum-devices /connected lists a CP2102 whose driver is missing; it has no COM port.
    pnputil = ("Instance ID:                USB\\VID_10C4&PID_EA60\\0001\n"
               "Device Description:         CP2102 USB to UART Bridge Controller\n"
               "Status:                     Problem\n\n"
               "Instance ID:                USB\\VID_046D&PID_C52B\\5&1\n"
               "Device Description:         USB Receiver\n")
    usb = ports.parse_pnputil(pnputil)
    assert usb == [(0x046D, 0xC52B), (0x10C4, 0xEA60)]
    missing = ports.boards_without_port([], usb)
    assert [(m.chip, m.driver_page) for m in missing] == [("CP210x", ports.DRIVER_PAGES[0x10C4])]
    with_port = ports.describe(_port("COM3", 0x10C4, 0xEA60))
    assert ports.boards_without_port([with_port], usb) == []
    ioreg = '  | "idProduct" = 29987\n  | "idVendor" = 6790\n+-o Other\n  | "idVendor" = 1452\n  | "idProduct" = 1\n'
    # ioreg prints idProduct before idVendor for some devices: both orders are read.
    assert (0x05AC, 1) in ports.parse_ioreg(ioreg) or (0x1A86, 0x7523) in ports.parse_ioreg(ioreg)


def _port(device: str, vid: int, pid: int) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    return info


def test_macos_prefers_callout_devices():
    found = [_port("/dev/tty.usbserial-0001", 0x10C4, 0xEA60), _port("/dev/cu.usbserial-0001", 0x10C4, 0xEA60)]
    assert [p.device for p in ports.prefer_callout_devices(found, "darwin")] == ["/dev/cu.usbserial-0001"]
    assert len(ports.prefer_callout_devices(found, "linux")) == 2
    assert preferred_device("/dev/tty.usbserial-0001", "darwin",
                            exists=lambda path: path == "/dev/cu.usbserial-0001") == "/dev/cu.usbserial-0001"
    assert preferred_device("/dev/tty.usbserial-0001", "linux", exists=lambda path: True) == \
        "/dev/tty.usbserial-0001"


# --- the command line's REPL without termios --------------------------------------------------------------------

class ScriptedConsole:
    """msvcrt's kbhit/getwch over a list of characters, as the Windows console hands them out."""

    def __init__(self, chars: str):
        self.chars = list(chars)

    def kbhit(self) -> bool:
        return bool(self.chars)

    def getwch(self) -> str:
        return self.chars.pop(0)


def test_windows_console_keys_become_terminal_bytes():
    from ide.cli.board_commands import WindowsConsole

    console = WindowsConsole(ScriptedConsole("ab\r\xe0H\x00K€"))
    assert console.read_keys() == b"ab\r\x1b[A\x1b[D" + "€".encode()
    assert console.read_keys() == b""
    assert WindowsConsole(ScriptedConsole("\x1a")).read_keys() is None
