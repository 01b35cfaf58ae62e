"""Shared fixtures: virtual boards on the real MicroPython unix port."""

from __future__ import annotations

import os
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
def make_board(board_dir: Path):
    """Factory: open a Board on a fresh virtual board (unlimited wire speed unless configured)."""
    opened: list[Board] = []

    def make(**config) -> Board:
        config.setdefault("root_dir", board_dir)
        config.setdefault("baud", 0)
        board = Board.open("virtual", virtual_config=virtual.VirtualBoardConfig(**config), timeout=10)
        opened.append(board)
        return board

    yield make
    for board in opened:
        board.close()


@pytest.fixture
def board(make_board) -> Board:
    return make_board()


@pytest.fixture(scope="session")
def micropython_32bit() -> Path:
    """A 32-bit MicroPython unix port (a chip's object sizes), built once from ../shared/peers (tests/peers.py)."""
    import peers

    reason = peers.micropython_32bit_unavailable()
    if reason:
        pytest.skip(f"32-bit MicroPython: {reason}")
    return peers.micropython_32bit()
