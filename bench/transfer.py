"""Transfer benchmark: our file transfers against mpremote's, side by side, on emulated ESP32 wires.

Each case runs on a fresh virtual board with wire emulation at 115200 baud (11,520 bytes/s), a 256-byte UART
receive buffer, 1 ms of latency each way and the ESP32-like flash model. Wire efficiency = payload bytes per
second / 11,520 (above 1.0: compression beat the wire). Both tools are timed around the transfer call only,
in-process, after the raw REPL is entered. Prints a table and writes it to bench/RESULTS.md.

Run: make bench   (or .venv/bin/python bench/transfer.py)
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

from mpremote.transport_serial import SerialTransport

from ide.board.board import Board
from ide.board.virtual import VirtualBoardConfig
from ide.filebrowser.board_fs import BoardFS

BAUD = 115200
WIRE_CAPACITY = BAUD / 10
SIZE = 50 * 1024
ROOT = Path(__file__).resolve().parent.parent


def config(root: Path) -> VirtualBoardConfig:
    return VirtualBoardConfig(root_dir=root, baud=BAUD, latency_s=0.001, rx_buffer=256, flash_model=True,
                              heap_size=256 * 1024)


def source_text(size: int) -> bytes:
    """Real Python source from this repository, repeated to ``size`` bytes."""
    corpus = b"".join(path.read_bytes() for path in sorted((ROOT / "ide").rglob("*.py")))
    return (corpus * (size // len(corpus) + 1))[:size]


def random_binary(size: int) -> bytes:
    return random.Random(1).randbytes(size)


def ours(case: str, payload: dict[str, bytes], direction: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if direction == "down":
            for name, data in payload.items():
                (root / name).write_bytes(data)
        board = Board.open("virtual", virtual_config=config(root), timeout=30)
        try:
            fs = BoardFS(board)
            fs.df()  # installs the helpers: a once-per-session cost, like mpremote's raw REPL entry
            started = time.perf_counter()
            for name, data in payload.items():
                if direction == "up":
                    fs.write("/" + name, data)
                else:
                    assert fs.read("/" + name) == data
            elapsed = time.perf_counter() - started
            if direction == "up":
                for name, data in payload.items():
                    assert (root / name).read_bytes() == data, f"{case}: {name} differs"
            return elapsed
        finally:
            board.close()


def theirs(case: str, payload: dict[str, bytes], direction: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if direction == "down":
            for name, data in payload.items():
                (root / name).write_bytes(data)
        from ide.board.virtual import VirtualBoard
        with VirtualBoard(config(root)) as virtual_board:
            transport = SerialTransport(virtual_board.device_path, BAUD)
            try:
                transport.enter_raw_repl(soft_reset=False)
                started = time.perf_counter()
                for name, data in payload.items():
                    if direction == "up":
                        transport.fs_writefile(name, data)
                    else:
                        assert transport.fs_readfile(name) == data
                elapsed = time.perf_counter() - started
                transport.exit_raw_repl()
            finally:
                transport.close()
            if direction == "up":
                for name, data in payload.items():
                    assert (root / name).read_bytes() == data, f"{case}: mpremote wrote {name} wrong"
            return elapsed


def main() -> int:
    folder_files = {f"file{i:02d}.py": source_text(2048 + i) [:2048] for i in range(20)}
    cases = [
        ("50 KB source text, upload", {"text.py": source_text(SIZE)}, "up", 1.5, 2.0),
        ("50 KB random binary, upload", {"random.bin": random_binary(SIZE)}, "up", 0.9, 2.5),
        ("50 KB random binary, download", {"random.bin": random_binary(SIZE)}, "down", 0.9, 2.5),
        ("50 KB source text, download", {"text.py": source_text(SIZE)}, "down", 0.9, None),
        ("20 x 2 KB files, upload", folder_files, "up", 0.8, None),
        ("20 x 2 KB files, download", folder_files, "down", 0.8, None),
    ]
    rows = []
    for name, payload, direction, target, ratio_target in cases:
        size = sum(len(data) for data in payload.values())
        our_time = ours(name, payload, direction)
        their_time = theirs(name, payload, direction)
        our_eff = size / our_time / WIRE_CAPACITY
        their_eff = size / their_time / WIRE_CAPACITY
        ratio = their_time / our_time
        met = our_eff >= target and (ratio_target is None or ratio >= ratio_target)
        goal = f">= {target}" + (f", >= {ratio_target}x" if ratio_target else "")
        rows.append((name, size, our_time, our_eff, their_time, their_eff, ratio, goal, "yes" if met else "NO"))
        print(f"{name:<32} {size:>7} B  ours {our_time:6.2f} s {our_eff:5.2f}   mpremote {their_time:6.2f} s "
              f"{their_eff:5.2f}   x{ratio:4.1f}  target {goal}: {'met' if met else 'MISSED'}", flush=True)
    lines = [
        "# Transfer benchmark",
        "",
        f"Virtual board, {BAUD} baud ({WIRE_CAPACITY:.0f} B/s), 256-byte UART buffer, 1 ms latency each way, "
        "ESP32 flash model. Wire efficiency = payload B/s / wire capacity. "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.",
        "",
        "| case | bytes | ours (s) | ours eff. | mpremote (s) | mpremote eff. | speed-up | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, size, our_time, our_eff, their_time, their_eff, ratio, goal, met in rows:
        lines.append(f"| {name} | {size} | {our_time:.2f} | {our_eff:.2f} | {their_time:.2f} | {their_eff:.2f} | "
                     f"{ratio:.1f}x | {goal} | {met} |")
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
