"""Firmware commands: flash, chip-info, backup, erase-fs, esp-sim. Progress bars go to stderr."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ide.cli import require_port
from ide.cli.progress import ProgressBar


def _flash(args: argparse.Namespace) -> int:
    from ide.flasher.flash import flash_firmware
    port = require_port(args)
    result = flash_firmware(port, Path(args.firmware), chip=args.chip, erase=args.erase, baud=args.flash_baud,
                            progress=ProgressBar("Writing"))
    print(f"Wrote {result.size} bytes to {result.chip.chip.display_name} at 0x{result.offset:x} "
          f"in {result.seconds:.1f} s (md5 {result.md5}); board reset.")
    return 0


def _chip_info(args: argparse.Namespace) -> int:
    from ide.flasher.flash import detect
    details = detect(require_port(args))
    rows = [
        ("Chip", details.chip.display_name),
        ("Model", details.description),
        ("Features", ", ".join(details.features)),
        ("Crystal", f"{details.crystal_mhz} MHz" if details.crystal_mhz else "unknown"),
        ("MAC", details.mac or "unknown"),
        ("Flash", f"{details.flash_size // (1024 * 1024)} MB" if details.flash_size else "unknown"),
        ("USB", details.usb_mode or "external USB-UART bridge"),
        ("Firmware offset", f"0x{details.chip.micropython_offset:x}"),
    ]
    for name, value in rows:
        print(f"{name + ':':17}{value}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from ide.flasher.flash import backup_flash
    path = backup_flash(require_port(args), Path(args.file), baud=args.flash_baud, progress=ProgressBar("Reading"))
    print(f"Saved the flash to {path} ({path.stat().st_size} bytes).")
    return 0


def _erase_fs(args: argparse.Namespace) -> int:
    from ide.flasher.flash import erase_filesystem
    offset, size = erase_filesystem(require_port(args))
    print(f"Erased the file system: {size} bytes at 0x{offset:x}.")
    return 0


def _esp_sim(args: argparse.Namespace) -> int:
    from ide.flasher.esp_sim import EspSimulator
    from ide.flasher.esp_sim.flash import blank_flash_file
    size = args.flash_size * 1024 * 1024
    if args.flash:
        blank_flash_file(Path(args.flash), size)
    simulator = EspSimulator(chip=args.chip, flash_path=args.flash, flash_size=size)
    boot = None
    if not args.no_micropython:
        from ide.board.virtual import unavailable_reason
        from ide.flasher.esp_sim.micropython_boot import MicroPythonBoot
        reason = unavailable_reason()
        if reason:
            print(f"MicroPython images will not boot: the virtual board is unavailable ({reason}).", file=sys.stderr)
        else:
            files = args.files or (args.flash + ".files" if args.flash else None)
            boot = MicroPythonBoot(files).attach(simulator)
    device = simulator.start()
    print(device, flush=True)
    after = (f"; a flashed MicroPython image boots to the REPL (files in {boot.files_dir})" if boot else "")
    print(f"Simulated {simulator.chip.info.display_name} on {device}{after}; Ctrl-C to stop.", file=sys.stderr)
    stopped = threading.Event()
    try:
        while not stopped.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if boot is not None:
            boot.stop()
        simulator.stop()
    return 0


def _firmware_list(args) -> int:
    from ide.flasher.catalog import load_catalog, refresh_catalog
    catalog = refresh_catalog() if args.refresh else load_catalog()
    print(f"MicroPython {catalog.version}")
    for entry in catalog.entries:
        print(f"  {entry.chip:<9} {entry.name:<32} {entry.url}")
    return 0


def add_commands(subparsers) -> None:
    from ide.flasher.chips import CHIPS
    from ide.flasher.esp_sim.chips import SIM_CHIPS
    from ide.flasher.flash import DEFAULT_FLASH_BAUD

    flash = subparsers.add_parser("flash", help="write MicroPython firmware to the board on --port")
    flash.add_argument("firmware", help="firmware .bin file (written at the chip's offset)")
    flash.add_argument("--chip", default="auto", choices=["auto", *CHIPS], help="expected chip (default: auto)")
    flash.add_argument("--erase", action="store_true", help="erase the whole flash first (files are lost)")
    flash.add_argument("--baud", dest="flash_baud", type=int, default=DEFAULT_FLASH_BAUD,
                       help=f"transfer speed (default {DEFAULT_FLASH_BAUD}; falls back to 115200)")
    flash.set_defaults(handler=_flash)

    firmware = subparsers.add_parser("firmware-list", help="the official MicroPython builds per chip")
    firmware.add_argument("--refresh", action="store_true",
                          help="look up the newest releases on micropython.org first")
    firmware.set_defaults(handler=_firmware_list)

    info = subparsers.add_parser("chip-info", help="show the chip, flash size and MAC of the board on --port")
    info.set_defaults(handler=_chip_info)

    backup = subparsers.add_parser("backup", help="save the board's whole flash to a file")
    backup.add_argument("file")
    backup.add_argument("--baud", dest="flash_baud", type=int, default=DEFAULT_FLASH_BAUD)
    backup.set_defaults(handler=_backup)

    erase_fs = subparsers.add_parser("erase-fs", help="erase only the board's file system (keeps MicroPython)")
    erase_fs.set_defaults(handler=_erase_fs)

    sim = subparsers.add_parser("esp-sim", help="run a simulated ESP chip on a pseudo-terminal")
    sim.add_argument("--chip", default="esp32", choices=list(SIM_CHIPS))
    sim.add_argument("--flash", help="flash contents file (created blank when missing, kept between runs)")
    sim.add_argument("--flash-size", type=int, default=4, help="flash size in MB (default 4)")
    sim.add_argument("--files", help="folder for the booted MicroPython's files (default: FLASH.files next to "
                                     "--flash, else a temporary folder)")
    sim.add_argument("--no-micropython", action="store_true",
                     help="do not boot flashed MicroPython images into the virtual board's REPL")
    sim.set_defaults(handler=_esp_sim)
