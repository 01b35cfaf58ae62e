"""Benchmark: put the same 1.5 MB MicroPython-like firmware on a simulated ESP32 whose serial line is paced to the
baud rate in use (10 bits a byte, both directions, like a real UART), with three tools at their default options:

- ours: the wizard's core (``flash_firmware`` then ``confirm_micropython``) in a fresh Python process;
- the esptool command line: ``esptool write-flash 0x1000 firmware.bin`` (115200 baud, its default);
- mpflash 1.29.0 (``mpflash flash --custom``; 921600 baud for the ESP32 by default).

Each is timed from the start of its process to the end of its job; ours and mpflash wait for the board's first
MicroPython prompt, esptool does not (it exits after the hard reset), so esptool's figure is a lower bound for
"flashed and running". The flash is erased before every run, so nobody skips anything. Rounds alternate the order.

    .venv/bin/python bench/flash.py [--rounds N] [--skip-mpflash]

mpflash is not a dependency of MiPy Studio: set-up installs it (pinned, with esptool 5.6.0, the version we pin)
into its own virtual environment in the user cache folder, so the project's environment stays as it is. mpflash
only flashes ports that pyserial lists, which a pty is not: as root the bench links ``/dev/ttyUSB-mipy-bench`` to
the simulator's pty for the mpflash runs and removes the link afterwards; otherwise the mpflash row is skipped.
Writes bench/FLASH_RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import platformdirs  # noqa: E402

from ide.board.virtual import VirtualBoardConfig, unavailable_reason  # noqa: E402
from ide.flasher import flash  # noqa: E402
from ide.flasher.esp_sim import EspSimulator  # noqa: E402
from ide.flasher.esp_sim.micropython_boot import MicroPythonBoot, build_micropython_test_firmware  # noqa: E402

IMAGE_SIZE = 1_500_000
# A real MicroPython firmware.bin deflates to about two thirds of its size; so does this one.
COMPRESSIBLE = 0.35
VERSION = "1.24.1"
ESPTOOL = str(Path(sys.executable).with_name("esptool"))
MPFLASH_VERSION = "1.29.0"
ESPTOOL_VERSION = "5.6.0"
MPFLASH_VENV = Path(platformdirs.user_cache_dir("mipy-studio")) / "bench-mpflash-venv"
LISTED_PORT = "/dev/ttyUSB-mipy-bench"

OURS_SCRIPT = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {root!r})
from ide.flasher import flash
with tempfile.TemporaryDirectory() as cache:
    flash.flash_firmware({port!r}, Path({firmware!r}), flashed_cache_dir=Path(cache))
flash.confirm_micropython({port!r})
"""


def mpflash_command() -> Path | None:
    """mpflash in its own environment, installed there on first use (pinned). None when pip cannot get it."""
    executable = MPFLASH_VENV / "bin" / "mpflash"
    if executable.exists():
        return executable
    print(f"Installing mpflash {MPFLASH_VERSION} into {MPFLASH_VENV} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MPFLASH_VENV)], check=True)
    result = subprocess.run([str(MPFLASH_VENV / "bin" / "pip"), "install", "-q", f"mpflash=={MPFLASH_VERSION}",
                             f"esptool=={ESPTOOL_VERSION}"], capture_output=True, text=True)
    if result.returncode:
        print(f"mpflash could not be installed:\n{result.stderr[-2000:]}")
        return None
    return executable


def prepare_mpflash_firmware(mpflash: Path, scratch: Path, firmware: bytes) -> dict:
    """mpflash flashes from its own firmware folder: add ours as a custom build. It names custom builds after the
    build folder (ports/esp32/build-ESP32_GENERIC) and the git tag of the tree, so the file sits in such a tree."""
    build = scratch / "micropython" / "ports" / "esp32" / "build-ESP32_GENERIC"
    build.mkdir(parents=True)
    (build / "firmware.bin").write_bytes(firmware)
    git = ["git", "-c", "user.email=bench@localhost", "-c", "user.name=bench"]
    for command in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "bench"], ["tag", f"v{VERSION}"]):
        subprocess.run(git + command, cwd=build, check=True)
    env = dict(os.environ, MPFLASH_FIRMWARE=str(scratch / "mpflash-firmware"))
    subprocess.run([str(mpflash), "add", "--path", str(build / "firmware.bin"), "--force"], env=env,
                   capture_output=True, check=True)
    return env


def run_timed(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-mpflash", action="store_true")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"The simulated chip cannot boot MicroPython here: {reason}")
    firmware = build_micropython_test_firmware("esp32", app_size=IMAGE_SIZE - 0xF000, version=VERSION,
                                               compressible=COMPRESSIBLE)
    mpflash = None if args.skip_mpflash else mpflash_command()
    if mpflash is not None and os.geteuid() != 0:
        print("Not root: mpflash cannot be shown the simulator's pty; its row is left out.")
        mpflash = None
    times: dict[str, list[float]] = {"ours": [], "esptool": [], "mpflash": []}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        firmware_path = scratch / "ESP32_GENERIC-20241129-v1.24.1.bin"
        firmware_path.write_bytes(firmware)
        mpflash_env = prepare_mpflash_firmware(mpflash, scratch, firmware) if mpflash else None
        boot = MicroPythonBoot(scratch / "files", VirtualBoardConfig())
        simulator = EspSimulator("esp32", on_boot_firmware=boot, paced=True)
        boot.attach(simulator)
        device = simulator.start()
        if mpflash:
            if os.path.lexists(LISTED_PORT):
                os.unlink(LISTED_PORT)
            os.symlink(device, LISTED_PORT)
        tools = {
            "ours": lambda: run_timed([sys.executable, "-c", OURS_SCRIPT.format(
                root=str(ROOT), port=device, firmware=str(firmware_path))]),
            "esptool": lambda: run_timed([ESPTOOL, "--port", device, "write-flash", "0x1000", str(firmware_path)]),
        }
        if mpflash:
            tools["mpflash"] = lambda: run_timed([str(mpflash), "flash", "--serial", LISTED_PORT, "--board",
                                                  "ESP32_GENERIC", "--version", VERSION, "--cpu", "esp32",
                                                  "--custom"], env=mpflash_env)
        try:
            order = list(tools)
            for round_number in range(args.rounds):
                for name in order[round_number % len(order):] + order[:round_number % len(order)]:
                    simulator.hard_reset()
                    simulator.flash.erase_all()     # nobody skips sectors that are already there
                    elapsed = tools[name]()
                    assert simulator.flash.read(0x1000, len(firmware)) == firmware, name
                    times[name].append(elapsed)
                    print(f"round {round_number + 1}: {name:8} {elapsed:6.2f} s", flush=True)
        finally:
            if mpflash and os.path.lexists(LISTED_PORT):
                os.unlink(LISTED_PORT)
            boot.stop()
            simulator.stop()
    medians = {name: statistics.median(runs) for name, runs in times.items() if runs}
    fastest_other = min(value for name, value in medians.items() if name != "ours")
    ratio = medians["ours"] / fastest_other
    rows = {
        "ours": f"MiPy Studio core (`flash_firmware` + `confirm_micropython`, {flash.DEFAULT_FLASH_BAUD} baud)",
        "esptool": "esptool CLI (`esptool write-flash 0x1000`, its default 115200 baud; exits without waiting for the prompt)",
        "mpflash": f"mpflash {MPFLASH_VERSION} (`mpflash flash --custom`, 921600 baud)",
    }
    compressed = len(__import__("zlib").compress(firmware, 9))
    lines = [
        "# Flash benchmark",
        "",
        f"The same {len(firmware):,} byte MicroPython-like ESP32 firmware.bin (deflates to {compressed:,} bytes), "
        "on the simulated ESP32 with its serial line paced to the baud rate in use (10 bits a byte, both "
        "directions), each tool with its default options, timed from process start to the end of its job "
        "(ours and mpflash: the board's first MicroPython prompt). Flash erased before every run; "
        f"{args.rounds} rounds in rotating order, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"esptool {ESPTOOL_VERSION}.",
        "",
        "| tool | median (s) | runs (s) |",
        "|---|---|---|",
    ]
    for name, runs in times.items():
        if runs:
            lines.append(f"| {rows[name]} | {medians[name]:.2f} | {', '.join(f'{t:.2f}' for t in runs)} |")
    lines += ["", f"**ours / fastest other = {ratio:.2f}** (target <= 1.00): "
              f"{'met' if ratio <= 1 else 'NOT met'}, by {abs(1 - ratio) * 100:.0f}%.", ""]
    if "mpflash" not in medians:
        lines += ["mpflash was not measured in this run (see bench/flash.py).", ""]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "FLASH_RESULTS.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
