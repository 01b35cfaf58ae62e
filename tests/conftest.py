"""Shared fixtures: virtual boards on the real MicroPython unix port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ide.board import virtual  # noqa: E402
from ide.board.board import Board  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

needs_virtual_board = pytest.mark.skipif(virtual.unavailable_reason() is not None,
                                         reason=f"virtual board: {virtual.unavailable_reason()}")


@pytest.fixture
def board_dir(tmp_path: Path) -> Path:
    path = tmp_path / "board"
    path.mkdir()
    return path


@pytest.fixture
def board_defaults() -> dict:
    """VirtualBoardConfig fields every board of a module gets unless a test says otherwise; a module overrides this
    fixture to run the same tests on another link or interpreter (tests/test_virtual_link.py)."""
    return {}


@pytest.fixture
def make_board(board_dir: Path, board_defaults: dict):
    """Factory: open a Board on a fresh virtual board (unlimited wire speed unless configured)."""
    opened: list[Board] = []

    def make(**config) -> Board:
        config = {"root_dir": board_dir, "baud": 0, **board_defaults, **config}
        board = Board.open("virtual", virtual_config=virtual.VirtualBoardConfig(**config), timeout=10)
        opened.append(board)
        return board

    yield make
    for board in opened:
        board.close()


@pytest.fixture
def board(make_board) -> Board:
    return make_board()


@pytest.fixture
def standalone_board(tmp_path: Path, board_defaults: dict):
    """`mipy-studio virtual-board` in its own process, as mpremote users start it: (device path, its folder)."""
    folder = tmp_path / "standalone-board"
    folder.mkdir()
    options = [f"--{name}={board_defaults[name]}" for name in ("link", "runtime") if name in board_defaults]
    process = subprocess.Popen([sys.executable, "-m", "ide", "virtual-board", "--dir", str(folder), "--baud", "0",
                                *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    device = process.stdout.readline().strip()
    expected = "socket://127.0.0.1:" if board_defaults.get("link") == "socket" else "/dev/"
    assert device.startswith(expected), process.stderr.read()
    yield device, folder
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def micropython_32bit() -> Path:
    """A 32-bit MicroPython unix port (a chip's object sizes), built once from ../shared/peers (tests/peers.py)."""
    import peers

    reason = peers.micropython_32bit_unavailable()
    if reason:
        pytest.skip(f"32-bit MicroPython: {reason}")
    return peers.micropython_32bit()
