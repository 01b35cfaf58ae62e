"""Benchmark: flash the same 1.5 MB image with our core and with the esptool command line, same settings
(stub, compressed, 460800 baud, verify, hard reset), alternately in the same run, against the simulated ESP32.

    .venv/bin/python bench/flash.py [--rounds N]

Prints the median times and their ratio (target: ours / esptool <= 1.05) and writes bench/FLASH_RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ide.flasher import flash  # noqa: E402
from ide.flasher.chips import CHIPS  # noqa: E402
from ide.flasher.esp_sim import EspSimulator  # noqa: E402
from ide.flasher.images import build_test_image  # noqa: E402

IMAGE_SIZE = 1_500_000
BAUD = 460800
ESPTOOL = str(Path(sys.executable).with_name("esptool"))


def time_ours(port: str, image: bytes) -> float:
    started = time.perf_counter()
    flash.flash_firmware(port, image, baud=BAUD)
    return time.perf_counter() - started


def time_esptool(port: str, image_path: Path, offset: int) -> float:
    started = time.perf_counter()
    result = subprocess.run([ESPTOOL, "--port", port, "-b", str(BAUD), "write-flash", f"0x{offset:x}",
                             str(image_path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"esptool failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chip", default="esp32", choices=["esp32", "esp8266"])
    args = parser.parse_args()
    chip = CHIPS[args.chip]
    image = build_test_image(chip, IMAGE_SIZE, seed=42)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as scratch, EspSimulator(args.chip) as simulator:
        image_path = Path(scratch) / "firmware.bin"
        image_path.write_bytes(image)
        for round_number in range(args.rounds):
            # Alternate the order so neither side always runs on a warmer cache.
            pair = [("ours", lambda: time_ours(simulator.device, image)),
                    ("esptool", lambda: time_esptool(simulator.device, image_path, chip.micropython_offset))]
            for name, run in (pair if round_number % 2 == 0 else pair[::-1]):
                (ours if name == "ours" else theirs).append(run())
            assert simulator.flash.read(chip.micropython_offset, len(image)) == image
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    ratio = ours_median / theirs_median
    print(f"ours     median {ours_median:.3f} s  ({', '.join(f'{t:.3f}' for t in ours)})")
    print(f"esptool  median {theirs_median:.3f} s  ({', '.join(f'{t:.3f}' for t in theirs)})")
    print(f"ours / esptool = {ratio:.3f}  (target <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'})")
    table = "\n".join([
        "# Flash benchmark",
        "",
        f"{IMAGE_SIZE} byte random (incompressible) image, {chip.display_name} simulator on a pty, stub, "
        f"compressed write, {BAUD} baud, MD5 verify, hard reset; {args.rounds} alternating rounds, "
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}.",
        "",
        "| tool | median (s) | runs (s) |",
        "|---|---|---|",
        f"| MiPy Studio core (`ide.flasher.flash.flash_firmware`) | {ours_median:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in ours)} |",
        f"| esptool CLI (`esptool -b {BAUD} write-flash`) | {theirs_median:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in theirs)} |",
        "",
        f"**ours / esptool = {ratio:.3f}** (target <= 1.05). The esptool figure includes starting its Python "
        "process; ours runs in an already started process.",
        "",
    ])
    (ROOT / "bench" / "FLASH_RESULTS.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
