"""Other people's tools through the virtual board, as through a chip.

- MicroPython's own test runner (``run-tests.py -t DEVICE``, how MicroPython's CI tests firmware on a real ESP32),
  unmodified, on a representative part of ``basics`` at the emulated 115200 wire and at unlimited speed: every
  test that passes on the bare interpreter (the baseline) passes on the board. The whole of ``basics`` runs in
  bench/virtual_board.py.
- mpremote: fs cp of 300 KB both ways several times on one board, mount, soft-reset; pyboard.py; also right after
  our own CLI used the same board.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import peers
import pytest

from ide.board.virtual import VirtualBoard, VirtualBoardConfig
from tests.conftest import needs_virtual_board

pytestmark = [needs_virtual_board, pytest.mark.skipif(peers.peers_dir() is None,
                                                      reason="no copy of ../shared/peers on this machine")]
BIN = Path(sys.executable).parent

# A cross-section of basics: output with newlines and tracebacks (line endings), sys and its std streams
# (what the board's sys wrapper must get right), imports and builtin modules, unittest-based tests (need
# unittest in /lib, as `mpremote mip install unittest` puts it on a chip), big test files (several raw-paste
# windows), heap-hungry ones (a chip's heap), exceptions and generators.
REPRESENTATIVE = [
    "basics/string_cr_conversion.py", "basics/exception1.py", "basics/exceptpoly.py", "basics/try_finally1.py",
    "basics/sys1.py", "basics/sys_stdio.py", "basics/sys_stdio_buffer.py", "basics/sys_exit.py",
    "basics/module1.py", "basics/module2.py", "basics/module_dict.py", "basics/op_error.py",
    "basics/array_int_repr.py", "basics/string_format.py", "basics/string_split.py",
    "basics/class_setname_hazard_rand.py", "basics/dict1.py", "basics/gen_yield_from.py",
    "basics/int_big_mul.py", "basics/bytearray1.py", "basics/array_limits_intbig.py", "basics/generator1.py",
    "basics/async_def.py", "basics/fun_error.py", "basics/builtin_help.py",
]


def board_with_unittest(tmp_path: Path, **config) -> VirtualBoard:
    root = tmp_path / "board"
    (root / "lib").mkdir(parents=True)
    unittest = peers.unittest_package()
    if unittest is not None:
        shutil.copytree(unittest, root / "lib" / "unittest")
    return VirtualBoard(VirtualBoardConfig(root_dir=root, **config))


@pytest.fixture(scope="module")
def baseline() -> dict[str, str]:
    from ide.board.virtual import micropython_command

    wrapper = Path(os.environ.get("MIPY_BASELINE_MICROPYTHON", BIN / "micropython"))
    assert wrapper.exists(), micropython_command()
    return peers.run_tests(interpreter=wrapper, files=REPRESENTATIVE, timeout=600)


@pytest.mark.parametrize("baud", [0, 115200], ids=["unlimited", "115200"])
def test_micropython_test_runner_passes_what_the_interpreter_passes(tmp_path, baseline, baud):
    board = board_with_unittest(tmp_path, baud=baud)
    device = board.start()
    try:
        on_board = peers.run_tests(device=device, files=REPRESENTATIVE, timeout=900)
    finally:
        board.stop()
    passing = {name for name, result in baseline.items() if result == "pass"}
    assert len(passing) >= len(REPRESENTATIVE) - 3, baseline  # the selection means something on the baseline
    lost = sorted(name for name in passing if on_board.get(name) != "pass")
    assert not lost, {name: on_board.get(name) for name in lost}
    assert board.overruns == 0


def mpremote(device: str, *args: str, timeout: float = 120) -> str:
    result = subprocess.run([str(BIN / "mpremote"), "connect", device, *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@pytest.mark.slow
def test_mpremote_copies_300_kb_both_ways_again_and_again_at_unlimited_speed(tmp_path):
    # The stall reported at --baud 0: a raw-paste window of 256 bytes plus its end byte overran a 256-byte UART
    # buffer; the chip's is 260 bytes.
    board = VirtualBoard(VirtualBoardConfig(root_dir=tmp_path / "board", baud=0))
    device = board.start()
    try:
        local = tmp_path / "big.bin"
        # Our own CLI first, on the same board: it must leave the board as a tool finds a chip.
        ours = subprocess.run([sys.executable, "-m", "ide", "--port", device, "exec", "print(6 * 7)"],
                              capture_output=True, text=True, timeout=60)
        assert ours.returncode == 0 and ours.stdout.strip() == "42", ours.stderr
        for attempt in range(3):
            # New bytes each time: mpremote skips a copy whose hash the board already has.
            data = random.Random(attempt).randbytes(300 * 1024)
            local.write_bytes(data)
            mpremote(device, "fs", "cp", str(local), ":big.bin")
            assert (tmp_path / "board" / "big.bin").read_bytes() == data, attempt
            back = tmp_path / f"back{attempt}.bin"
            mpremote(device, "fs", "cp", ":big.bin", str(back))
            assert back.read_bytes() == data, attempt
        assert board.overruns == 0
    finally:
        board.stop()


def test_mpremote_mount_soft_reset_and_pyboard_at_115200(tmp_path):
    board = VirtualBoard(VirtualBoardConfig(root_dir=tmp_path / "board", baud=115200))
    device = board.start()
    try:
        shared = tmp_path / "shared"
        shared.mkdir()
        (shared / "hello_mount.py").write_text("print('from the host, ' + str(6 * 7))\n")
        out = mpremote(device, "mount", str(shared), "exec", "import hello_mount")
        assert "from the host, 42" in out
        (tmp_path / "board" / "main.py").write_text("print('main ran')\n")
        mpremote(device, "soft-reset")
        assert mpremote(device, "exec", "import sys; print(sys.platform)").strip() == "esp32"
        local = tmp_path / "small.bin"
        local.write_bytes(random.Random(3).randbytes(20 * 1024))
        mpremote(device, "fs", "cp", str(local), ":small.bin")
        assert (tmp_path / "board" / "small.bin").read_bytes() == local.read_bytes()
        pyboard = peers.peers_dir() / "micropython" / "tools" / "pyboard.py"
        result = subprocess.run([sys.executable, str(pyboard), "-d", device, "-c",
                                 "print('a\\nb'); import sys; sys.stdout.buffer.write(b'x\\ny')"],
                                capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        # A chip's wire: text cooked to \r\n, sys.stdout.buffer bytes untouched.
        assert result.stdout == b"a\r\nb\r\nx\ny", result.stdout
        assert board.overruns == 0
    finally:
        board.stop()
