"""Free heap the file browser's board helpers need, per operation, on a 32-bit MicroPython (a chip's object sizes).

Each trial is a fresh virtual board on the 32-bit unix port (tests/peers.py builds it once) playing an ESP8266 or
an ESP32 (the chip profile's heap: 30 KB or 110 KB free at the prompt, the qstr-pool room kept aside as the board
keeps it). Before the operation, a ballast bytearray held in the REPL's globals leaves a chosen free heap
(gc.mem_free() after gc.collect(), what a chip reports); the operation then runs from a fresh BoardFS, helpers
installed as the job needs them. "Needs" is the smallest free heap with which it succeeds, found by bisection in
1 KB steps, and is the free heap measured at that point. Operations:

- list: install and list "/" (the first thing the file browser does)
- upload text / upload binary: a 50 KB file (Python source, sent deflated; random bytes, sent as they are)
- download: a 50 KB file
- hashes: the hash of a 50 KB file (what Run project compares before uploading)
- round trip: install, 50 KB text up, then down (the target: fits in about 20 KB)
- all at once: every helper in one exec, deflated (what a board with ALL_AT_ONCE_FREE or more gets)

The ballast is one block, so the free heap is the chip's holes plus what follows the ballast: fragmentation as
a chip's after boot, roughly. Above the profile's free heap a figure cannot be measured: "> N".

Run: .venv/bin/python bench/helpers_heap.py [operation ...]   Prints a table (Markdown).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from peers import micropython_32bit  # noqa: E402

from ide.board import virtual  # noqa: E402
from ide.board.board import Board  # noqa: E402
from ide.filebrowser import board_code  # noqa: E402
from ide.filebrowser.board_fs import BoardFS, _packed_helpers  # noqa: E402

SIZE = 50 * 1024
STEP = 1024


def source_text(size: int) -> bytes:
    corpus = b"".join(path.read_bytes() for path in sorted((ROOT / "ide").rglob("*.py")))
    return (corpus * (size // len(corpus) + 1))[:size]


TEXT = source_text(SIZE)
BINARY = random.Random(1).randbytes(SIZE)


def op_list(fs: BoardFS, root: Path) -> None:
    fs.listdir("/")


def op_upload_text(fs: BoardFS, root: Path) -> None:
    fs.write("/up.py", TEXT)
    assert (root / "up.py").read_bytes() == TEXT


def op_upload_binary(fs: BoardFS, root: Path) -> None:
    fs.write("/up.bin", BINARY)
    assert (root / "up.bin").read_bytes() == BINARY


def op_download(fs: BoardFS, root: Path) -> None:
    assert fs.read("/have.bin") == BINARY


def op_hashes(fs: BoardFS, root: Path) -> None:
    assert fs.hashes(["/have.bin"]) == {"/have.bin": fs.host_hash(BINARY)}


def op_round_trip(fs: BoardFS, root: Path) -> None:
    fs.write("/up.py", TEXT)
    assert fs.read("/up.py") == TEXT


def op_all_at_once(fs: BoardFS, root: Path) -> None:
    fs.board.exec(board_code.probe_code())  # the namespace, as BoardFS's probe defines it first
    fs.board.exec(_packed_helpers())


OPERATIONS: dict[str, Callable[[BoardFS, Path], None]] = {
    "list": op_list, "upload text": op_upload_text, "upload binary": op_upload_binary, "download": op_download,
    "hashes": op_hashes, "round trip": op_round_trip, "all at once": op_all_at_once,
}


def trial(chip: str, interpreter: Path, operation: Callable[[BoardFS, Path], None], free: int) -> tuple[bool, int]:
    """(succeeded, the free heap measured before the operation) with a ballast leaving about ``free`` bytes."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "have.bin").write_bytes(BINARY)
        config = virtual.VirtualBoardConfig(root_dir=root, baud=0, chip=chip, interpreter=interpreter)
        board = Board.open("virtual", virtual_config=config, timeout=10)
        try:
            # The ballast's own header and this code's compilation take a little: the measured figure is kept.
            measured = int(board.exec(
                "import gc\ngc.collect()\n_ballast = bytearray(max(0, gc.mem_free() - %d - 64))\ngc.collect()\n"
                "print(gc.mem_free())" % free))
            try:
                operation(BoardFS(board), root)
                return True, measured
            except Exception:  # noqa: BLE001 - any failure (MemoryError as a traceback or in-band) is "does not fit"
                return False, measured
        finally:
            board.close()


def available(chip: str, interpreter: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        config = virtual.VirtualBoardConfig(root_dir=Path(folder), baud=0, chip=chip, interpreter=interpreter)
        board = Board.open("virtual", virtual_config=config, timeout=10)
        try:
            return int(board.exec("import gc\ngc.collect()\nprint(gc.mem_free())"))
        finally:
            board.close()


def needs(chip: str, interpreter: Path, operation: Callable[[BoardFS, Path], None]) -> tuple[int | None, int]:
    """(smallest free heap that works, or None when even the whole heap does not; the profile's free heap)."""
    top = available(chip, interpreter)
    ok, _ = trial(chip, interpreter, operation, top + STEP)  # no ballast
    if not ok:
        return None, top
    low, high, best = 0, top // STEP, top
    while low < high:  # invariant: high * STEP works
        middle = (low + high) // 2
        ok, measured = trial(chip, interpreter, operation, middle * STEP)
        if ok:
            high, best = middle, measured
        else:
            low = middle + 1
    return best, top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operations", nargs="*", help=f"any of {', '.join(OPERATIONS)} (default: all)")
    parser.add_argument("--chips", default="esp8266,esp32")
    args = parser.parse_args()
    interpreter = micropython_32bit()
    chips = args.chips.split(",")
    names = args.operations or list(OPERATIONS)
    unknown = [name for name in names if name not in OPERATIONS]
    if unknown:
        parser.error(f"unknown operation {unknown[0]!r}")
    started = time.monotonic()
    lines = ["| operation | " + " | ".join(f"{chip} needs free (KB)" for chip in chips) + " |",
             "|---|" + "---|" * len(chips)]
    for name in names:
        cells = []
        for chip in chips:
            need, top = needs(chip, interpreter, OPERATIONS[name])
            cells.append(f"> {top / 1024:.1f} (does not fit)" if need is None
                         else f"{need / 1024:.1f} (of {top / 1024:.1f})")
            print(f"{name:<14} {chip:<8} {cells[-1]}", file=sys.stderr, flush=True)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
