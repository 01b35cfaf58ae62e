"""A NOR flash chip: erased state is 0xFF, programming can only clear bits, erase works on 4 KB sectors.

Backed by a file (kept between runs, so a simulated board keeps its firmware) or by memory.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

SECTOR_SIZE = 0x1000
ERASED = 0xFF


class FlashAddressError(ValueError):
    """An access outside the chip or an erase not aligned to sectors; the protocol layer turns it into an
    error status, as the ROM does."""


class NorFlash:
    def __init__(self, size: int, path: Path | None = None):
        if size % SECTOR_SIZE:
            raise ValueError("flash size must be a multiple of the sector size")
        self.size = size
        self.path = path
        self._file = None
        if path is None:
            self._cells: bytearray | mmap.mmap = bytearray(b"\xff" * size)
            return
        path = Path(path)
        if not path.exists() or path.stat().st_size != size:
            existing = path.read_bytes()[:size] if path.exists() else b""
            path.write_bytes(existing + b"\xff" * (size - len(existing)))
        self._file = open(path, "r+b")
        self._cells = mmap.mmap(self._file.fileno(), size)

    def close(self) -> None:
        if self._file is not None:
            self._cells.flush()
            self._cells.close()
            self._file.close()
            self._file = None

    def _check(self, address: int, length: int) -> None:
        if address < 0 or length < 0 or address + length > self.size:
            raise FlashAddressError(f"0x{address:x}+0x{length:x} outside a {self.size} byte flash")

    def read(self, address: int, length: int) -> bytes:
        self._check(address, length)
        return bytes(self._cells[address:address + length])

    def program(self, address: int, data: bytes) -> None:
        """Programming ANDs the new bits into the cells: a 1 can only become 0 without an erase."""
        self._check(address, len(data))
        old = int.from_bytes(self._cells[address:address + len(data)], "little")
        new = old & int.from_bytes(data, "little")
        self._cells[address:address + len(data)] = new.to_bytes(len(data), "little")

    def erase(self, address: int, length: int) -> None:
        if address % SECTOR_SIZE or length % SECTOR_SIZE:
            raise FlashAddressError("erase must cover whole 4 KB sectors")
        self._check(address, length)
        self._cells[address:address + length] = b"\xff" * length

    def erase_covering(self, address: int, length: int) -> None:
        """Erase every sector that [address, address+length) touches, as the stub does before it writes."""
        start = address - address % SECTOR_SIZE
        end = min(self.size, -(-(address + length) // SECTOR_SIZE) * SECTOR_SIZE)
        if end > start:
            self.erase(start, end - start)

    def erase_all(self) -> None:
        self._cells[:] = b"\xff" * self.size

    def sync(self) -> None:
        if isinstance(self._cells, mmap.mmap):
            self._cells.flush()


def blank_flash_file(path: Path, size: int) -> None:
    """Create ``path`` as an erased flash image unless it exists (a simulated board keeps its contents)."""
    if not os.path.exists(path):
        Path(path).write_bytes(b"\xff" * size)
