"""mpremote, a real peer, against `mipy-studio virtual-board`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board
BIN = Path(sys.executable).parent


def mpremote(device: str, *args: str) -> str:
    result = subprocess.run([str(BIN / "mpremote"), "connect", device, *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_mpremote_exec_ls_cp_and_soft_reset(standalone_board, tmp_path):
    device, board_dir = standalone_board
    assert mpremote(device, "exec", "print(6 * 7)").strip() == "42"
    local = tmp_path / "hello.py"
    local.write_bytes(b"print('hello from main')\n" + bytes(range(256)).hex().encode())
    mpremote(device, "fs", "cp", str(local), ":main.py")
    assert (board_dir / "main.py").read_bytes() == local.read_bytes()
    listing = mpremote(device, "fs", "ls")
    assert "main.py" in listing and str(local.stat().st_size) in listing
    back = tmp_path / "back.py"
    mpremote(device, "fs", "cp", ":main.py", str(back))
    assert back.read_bytes() == local.read_bytes()
    (board_dir / "main.py").write_text("print('main ran after reset')\n")
    mpremote(device, "soft-reset")
    assert mpremote(device, "exec", "print('still here')").strip() == "still here"
