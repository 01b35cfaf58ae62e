"""The virtual board against other people's tools, and how fast it starts. Writes bench/VIRTUAL_BOARD_RESULTS.md.

1. MicroPython's own test runner, unmodified (`run-tests.py -t DEVICE -d basics`, how MicroPython's CI tests a
   real ESP32), through the virtual board at the emulated 115200 wire and at unlimited speed, against its
   baseline: the same tests on the bare interpreter.
2. mpremote `fs cp` of 300 KB both ways, N times in a row on one board, after our own CLI used it, at several wire
   speeds and UART buffer sizes: time of each copy, and whether any stalled (a copy that takes over 10x the
   median, or that times out, counts as a stall).
3. Power-on to the first `>>>`, and soft reset (Ctrl-D) to the next `>>>`, as a tool sees them on the wire.

    .venv/bin/python bench/virtual_board.py [--quick] [--skip-runner] [--skip-mpremote]
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import peers  # noqa: E402
import serial  # noqa: E402

from ide.board.virtual import VirtualBoard, VirtualBoardConfig  # noqa: E402

BIN = Path(sys.executable).parent


def runner(lines: list[str]) -> None:
    baseline = peers.run_tests(interpreter=BIN / "micropython", timeout=3600)
    passing = {name for name, result in baseline.items() if result == "pass"}
    lines += ["## MicroPython's test runner, `basics`", "",
              f"Baseline (bare interpreter, `MICROPY_MICROPYTHON={BIN / 'micropython'}`): "
              f"{dict(collections.Counter(baseline.values()))}", "",
              "| wire | pass | fail | skip | baseline passes that fail here | baseline passes the runner skips on a device "
              "(as on a chip) | time |", "|---|---|---|---|---|---|---|"]
    for baud in (115200, 0):
        with tempfile.TemporaryDirectory() as temp:
            root = Path(temp) / "board"
            (root / "lib").mkdir(parents=True)
            shutil.copytree(peers.unittest_package(), root / "lib" / "unittest")
            board = VirtualBoard(VirtualBoardConfig(root_dir=root, baud=baud))
            device = board.start()
            started = time.monotonic()
            try:
                results = peers.run_tests(device=device, timeout=7200)
            finally:
                board.stop()
            seconds = time.monotonic() - started
        counts = collections.Counter(results.values())
        lost = sorted(name for name in passing if results.get(name) not in ("pass", "skip"))
        skipped = sorted(name for name in passing if results.get(name) == "skip")
        lines.append(f"| {baud or 'unlimited'} | {counts['pass']} | {counts['fail']} | {counts['skip']} | "
                     f"{len(lost)}: {', '.join(lost) or '-'} | {len(skipped)}: {', '.join(skipped) or '-'} | "
                     f"{seconds:.0f} s |")
    lines.append("")


def mpremote_copy(device: str, *args: str, timeout: float) -> float:
    started = time.monotonic()
    subprocess.run([str(BIN / "mpremote"), "connect", device, "fs", "cp", *args], check=True,
                   capture_output=True, timeout=timeout)
    return time.monotonic() - started


def mpremote(lines: list[str], quick: bool) -> None:
    lines += ["## mpremote `fs cp`, 300 KB both ways, on one board after `mipy-studio exec`", "",
              "| wire | UART buffer | copies | up, median | down, median | slowest | stalls |",
              "|---|---|---|---|---|---|---|"]
    cases = [(0, 260, 5), (0, 0, 5), (921600, 260, 5), (115200, 260, 1 if quick else 2)]
    for baud, rx_buffer, repeats in cases:
        with tempfile.TemporaryDirectory() as temp:
            local = Path(temp) / "big.bin"
            board = VirtualBoard(VirtualBoardConfig(root_dir=Path(temp) / "board", baud=baud, rx_buffer=rx_buffer))
            device = board.start()
            up, down, stalls = [], [], 0
            # mpremote moves about 3 KB/s at 115200 (0.3 of the wire): allow 4x its time before calling it a stall.
            limit = 600 if baud == 115200 else 120
            try:
                subprocess.run([sys.executable, "-m", "ide", "--port", device, "exec", "print(1)"], check=True,
                               capture_output=True, timeout=60)
                for attempt in range(repeats):
                    # New bytes each time: mpremote skips a copy whose hash the board already has.
                    data = random.Random(attempt).randbytes(300 * 1024)
                    local.write_bytes(data)
                    try:
                        up.append(mpremote_copy(device, str(local), ":big.bin", timeout=limit))
                        back = Path(temp) / f"back{attempt}.bin"
                        down.append(mpremote_copy(device, ":big.bin", str(back), timeout=limit))
                        if back.read_bytes() != data or (Path(temp) / "board" / "big.bin").read_bytes() != data:
                            stalls += 1
                    except subprocess.TimeoutExpired:
                        stalls += 1
            finally:
                board.stop()
        slowest = max(up + down) if up else float("nan")
        lines.append(f"| {baud or 'unlimited'} | {rx_buffer or 'unbounded'} | {repeats} | "
                     f"{statistics.median(up):.2f} s | {statistics.median(down) if down else float('nan'):.2f} s | "
                     f"{slowest:.2f} s | {stalls} |")
    lines.append("")


def wait_for(port: serial.Serial, ending: bytes, timeout: float = 20) -> None:
    data = bytearray()
    deadline = time.monotonic() + timeout
    while not data.endswith(ending):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ending!r} not seen: {bytes(data[-200:])!r}")
        data += port.read(256)


def startup(lines: list[str]) -> None:
    lines += ["## Power-on and soft reset, to the prompt, as a tool sees them", "",
              "| wire | power-on to `>>>` (median of 5) | soft reset to `>>>` (median of 10) |", "|---|---|---|"]
    for baud in (115200, 0):
        power_on, soft = [], []
        for _ in range(5):
            with tempfile.TemporaryDirectory() as temp:
                started = time.monotonic()
                board = VirtualBoard(VirtualBoardConfig(root_dir=Path(temp) / "board", baud=baud))
                port = serial.Serial(board.start(), 115200, timeout=0.01)
                try:
                    port.write(b"\r")
                    wait_for(port, b">>> ")
                    power_on.append(time.monotonic() - started)
                    for _ in range(2):
                        started = time.monotonic()
                        port.write(b"\x04")
                        wait_for(port, b"information.\r\n>>> ")
                        soft.append(time.monotonic() - started)
                finally:
                    port.close()
                    board.stop()
        lines.append(f"| {baud or 'unlimited'} | {statistics.median(power_on) * 1000:.0f} ms | "
                     f"{statistics.median(soft) * 1000:.0f} ms |")
    lines.append("")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-runner", action="store_true")
    parser.add_argument("--skip-mpremote", action="store_true")
    args = parser.parse_args()
    lines = ["# The virtual board against other people's tools", "",
             f"`bench/virtual_board.py`, {time.strftime('%Y-%m-%d')}, on this machine (2 cores, shared).", ""]
    startup(lines)
    if not args.skip_runner:
        runner(lines)
    if not args.skip_mpremote:
        mpremote(lines, args.quick)
    (ROOT / "bench" / "VIRTUAL_BOARD_RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
