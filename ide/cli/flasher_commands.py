"""Firmware commands: flash, chip-info, backup, restore, erase-fs, esp-sim. Progress bars go to stderr."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ide.cli import require_port
from ide.cli.progress import ProgressBar


def _offset(text: str | None) -> int | None:
    if text is None:
        return None
    from ide.errors import UsageError
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError("offset", f"{text!r} is not a number (write it like 0x10000)") from None


def _flash(args: argparse.Namespace) -> int:
    from ide.flasher.flash import flash_firmware
    from ide.flasher.messages import describe_write
    port = require_port(args)
    result = flash_firmware(port, Path(args.firmware), chip=args.chip, erase=args.erase, baud=args.flash_baud,
                            offset=_offset(args.offset), keep_files=args.keep_files,
                            stay_in_bootloader=args.stay_in_bootloader, only_changes=not args.write_all,
                            progress=ProgressBar("Writing"))
    after = "board left in its bootloader" if args.stay_in_bootloader else "board reset"
    print(f"{result.chip.chip.display_name}: {describe_write(result)} MD5 {result.md5}, {result.seconds:.1f} s; "
          f"{after}.")
    return 0


def _chip_info(args: argparse.Namespace) -> int:
    from ide.flasher.flash import detect
    details = detect(require_port(args), stay_in_bootloader=args.stay_in_bootloader)
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
    from ide.flasher.flash import backup_flash, sidecar_path
    info = backup_flash(require_port(args), Path(args.file), baud=args.flash_baud, progress=ProgressBar("Reading"),
                        stay_in_bootloader=args.stay_in_bootloader)
    held = f", MicroPython {info.micropython}" if info.micropython else ""
    print(f"Saved the whole flash ({info.flash_size} bytes, {info.chip}{held}) to {info.path}, described in "
          f"{sidecar_path(info.path)}.")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from ide.flasher.flash import restore_backup
    result = restore_backup(require_port(args), Path(args.file), baud=args.flash_baud, other_board=args.other_board,
                            progress=ProgressBar("Writing"), stay_in_bootloader=args.stay_in_bootloader)
    print(f"Restored {args.file} onto the {result.chip.chip.display_name}: {result.sectors_written} of "
          f"{result.sectors_total} sectors differed and were written, in {result.seconds:.1f} s.")
    return 0


def _erase_fs(args: argparse.Namespace) -> int:
    from ide.flasher.flash import erase_filesystem
    offset, size = erase_filesystem(require_port(args), stay_in_bootloader=args.stay_in_bootloader)
    print(f"Erased the file system: {size} bytes at 0x{offset:x}.")
    return 0


def _esp_sim(args: argparse.Namespace) -> int:
    from ide.flasher.esp_sim import EspSimulator
    from ide.flasher.esp_sim.flash import blank_flash_file
    size = args.flash_size * 1024 * 1024
    if args.flash:
        blank_flash_file(Path(args.flash), size)
    simulator = EspSimulator(chip=args.chip, flash_path=args.flash, flash_size=size, paced=not args.unpaced)
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

    def bootloader_option(parser) -> None:
        parser.add_argument("--stay-in-bootloader", action="store_true",
                            help="leave the board in its download mode afterwards (default: reset it to run)")

    flash = subparsers.add_parser("flash", help="write MicroPython firmware to the board on --port")
    flash.add_argument("firmware", help="firmware .bin file (a full firmware goes at the chip's bootloader offset)")
    flash.add_argument("--chip", default="auto", choices=["auto", *CHIPS], help="expected chip (default: auto)")
    flash.add_argument("--erase", action="store_true", help="erase the whole flash first (files are lost)")
    flash.add_argument("--keep-files", action="store_true",
                       help="save the file system partition first and write it back afterwards")
    flash.add_argument("--offset", help="where an application image alone goes (its partition, e.g. 0x10000)")
    flash.add_argument("--write-all", action="store_true",
                       help="write every sector, even when the board already holds the same firmware")
    flash.add_argument("--baud", dest="flash_baud", type=int, default=DEFAULT_FLASH_BAUD,
                       help=f"transfer speed (default {DEFAULT_FLASH_BAUD}; falls back to 115200)")
    bootloader_option(flash)
    flash.set_defaults(handler=_flash)

    firmware = subparsers.add_parser("firmware-list", help="the official MicroPython builds per chip")
    firmware.add_argument("--refresh", action="store_true",
                          help="look up the newest releases on micropython.org first")
    firmware.set_defaults(handler=_firmware_list)

    info = subparsers.add_parser("chip-info", help="show the chip, flash size and MAC of the board on --port")
    bootloader_option(info)
    info.set_defaults(handler=_chip_info)

    backup = subparsers.add_parser("backup", help="save the board's whole flash to a file (and FILE.json)")
    backup.add_argument("file")
    backup.add_argument("--baud", dest="flash_baud", type=int, default=DEFAULT_FLASH_BAUD)
    bootloader_option(backup)
    backup.set_defaults(handler=_backup)

    restore = subparsers.add_parser("restore", help="write a backup back onto the board it came from")
    restore.add_argument("file")
    restore.add_argument("--baud", dest="flash_baud", type=int, default=DEFAULT_FLASH_BAUD)
    restore.add_argument("--other-board", action="store_true",
                         help="allow a board with another MAC (same chip and flash size), e.g. to clone a board")
    bootloader_option(restore)
    restore.set_defaults(handler=_restore)

    erase_fs = subparsers.add_parser("erase-fs", help="erase only the board's file system (keeps MicroPython)")
    bootloader_option(erase_fs)
    erase_fs.set_defaults(handler=_erase_fs)

    sim = subparsers.add_parser("esp-sim", help="run a simulated ESP chip on a pseudo-terminal")
    sim.add_argument("--chip", default="esp32", choices=list(SIM_CHIPS))
    sim.add_argument("--flash", help="flash contents file (created blank when missing, kept between runs)")
    sim.add_argument("--flash-size", type=int, default=4, help="flash size in MB (default 4)")
    sim.add_argument("--files", help="folder for the booted MicroPython's files (default: FLASH.files next to "
                                     "--flash, else a temporary folder)")
    sim.add_argument("--unpaced", action="store_true",
                     help="move bytes as fast as the pty can (default: at the baud rate the host set)")
    sim.add_argument("--no-micropython", action="store_true",
                     help="do not boot flashed MicroPython images into the virtual board's REPL")
    sim.set_defaults(handler=_esp_sim)
