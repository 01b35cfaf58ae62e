"""What flasher errors mean for a beginner, and what to do next (see :mod:`ide.explain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ide.explain import explains
from ide.flasher import errors

if TYPE_CHECKING:
    from ide.flasher.flash import FlashResult


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


@explains(errors.ChipNotInBootMode)
def _not_in_boot_mode(error: errors.ChipNotInBootMode) -> str:
    return (f"The board on {error.port} did not answer the firmware loader. Put it into download mode: hold the "
            "BOOT (IO0/FLASH) button, press and release EN/RESET, then release BOOT, and try again. If the board has "
            "no buttons, check the USB cable carries data and that no serial monitor holds the port.")


def _file(path: str | None) -> str:
    return f"'{path}'" if path else "The firmware file"


@explains(errors.NotAnEspImage)
def _not_an_image(error: errors.NotAnEspImage) -> str:
    return (f"{_file(error.path)} is not an ESP firmware image (it does not start with one). You probably want the "
            "'.bin' file for your board from micropython.org/download, not the .elf, .uf2, .hex or .zip.")


@explains(errors.ImageChipMismatch)
def _wrong_chip(error: errors.ImageChipMismatch) -> str:
    return (f"{_file(error.path)} is built for {error.image_chip}, but your board has an {error.detected_chip}; "
            f"it would not start. Download the MicroPython firmware for {error.detected_chip} instead.")


@explains(errors.ImageTooLarge)
def _too_large(error: errors.ImageTooLarge) -> str:
    return (f"{_file(error.path)} ({_size(error.image_size)}, written at 0x{error.offset:x}) does not fit in this "
            f"board's {_size(error.flash_size)} flash. Choose the firmware variant for boards with less flash "
            "(for an ESP8266 with 1 MB, the FLASH_1M build).")


@explains(errors.TruncatedImage)
def _truncated(error: errors.TruncatedImage) -> str:
    size = f" (it has {error.actual_size:,} bytes, the image needs {error.expected_size:,})" \
        if error.expected_size else f" (it has {error.actual_size:,} bytes)"
    return (f"{_file(error.path)} is incomplete: its {error.what} is cut short{size}; the download was probably "
            "interrupted. Download it again.")


@explains(errors.DamagedImage)
def _damaged(error: errors.DamagedImage) -> str:
    return (f"{_file(error.path)} is damaged: the {error.check} of its {error.what} does not match its contents, "
            "so the board would refuse to start it. Download the file again (or rebuild it); if you changed the "
            "file yourself, rebuild it rather than editing the .bin.")


@explains(errors.ImageRevisionMismatch)
def _revision(error: errors.ImageRevisionMismatch) -> str:
    def revision(value: int) -> str:
        return f"v{value // 100}.{value % 100}"
    if error.min_revision is not None and error.max_revision is not None:
        needs = f"revisions {revision(error.min_revision)} to {revision(error.max_revision)}"
    elif error.min_revision is not None:
        needs = f"revision {revision(error.min_revision)} or newer"
    else:
        needs = f"revision {revision(error.max_revision)} or older"
    return (f"{_file(error.path)} is built for {error.chip} {needs}, but your chip is revision "
            f"{revision(error.chip_revision)}; it would not start. Download the generic MicroPython build for "
            f"{error.chip} from micropython.org/download, which runs on every revision.")


@explains(errors.ApplicationAtBootloaderOffset)
def _application_only(error: errors.ApplicationAtBootloaderOffset) -> str:
    return (f"{_file(error.path)} is the application only, without the bootloader and partition table: written at "
            f"0x{error.bootloader_offset:x} it would replace the {error.chip}'s bootloader and the board would no "
            "longer start. MicroPython's download page offers the full .bin for this board (the one named like "
            "ESP32_GENERIC-20241129-v1.24.1.bin, not micropython.bin or an .app-bin): use that one.")


@explains(errors.MergedImageAtAppOffset)
def _merged_at_app(error: errors.MergedImageAtAppOffset) -> str:
    return (f"{_file(error.path)} is a full firmware (it starts with a bootloader), so it belongs at "
            f"0x{error.bootloader_offset:x} on the {error.chip}, not at 0x{error.offset:x}. Flash it without "
            "choosing an address; MiPy Studio puts it at the right place.")


@explains(errors.BackupMismatch)
def _backup_mismatch(error: errors.BackupMismatch) -> str:
    return (f"The backup '{error.path}' was taken from a board whose {error.field} is {error.expected}, but this "
            f"board's is {error.actual}. Restoring it here could leave the board unable to start; connect the board "
            "the backup came from, or flash MicroPython instead.")


@explains(errors.BackupUnreadable)
def _backup_unreadable(error: errors.BackupUnreadable) -> str:
    return (f"The backup '{error.path}' cannot be restored: {error.detail}. A backup is the .bin file that "
            "'backup' wrote together with its .json description; keep both side by side.")


@explains(errors.ChipNotSupported)
def _chip_not_supported(error: errors.ChipNotSupported) -> str:
    return (f"The board is an {error.chip}, for which MicroPython publishes no firmware, so MiPy Studio cannot "
            "install it. esptool can still be used directly for this chip.")


@explains(errors.FlashWriteFailed)
def _write_failed(error: errors.FlashWriteFailed) -> str:
    return (f"Writing the firmware failed on {error.port} at 0x{error.offset:x} (at 115200 baud too, when a faster "
            "speed failed first). Try a shorter USB cable or another USB port; if it keeps failing at the same place, the board's flash chip "
            "may be damaged. Flash again before unplugging the board: it still enters download mode.")


@explains(errors.ChipCommunicationError)
def _communication(error: errors.ChipCommunicationError) -> str:
    return (f"The board on {error.port} stopped answering while {error.operation}. Unplug it, plug it back in, "
            "and try again with --baud 115200.")


@explains(errors.VerifyFailed)
def _verify(error: errors.VerifyFailed) -> str:
    return ("The firmware was written but reads back differently. Flash again with 'erase' selected; if it "
            "fails again, the flash chip may be worn out.")


@explains(errors.FirmwareDidNotStart)
def _did_not_start(error: errors.FirmwareDidNotStart) -> str:
    text = (f"The firmware was written and checked, but MicroPython did not answer on {error.port} afterwards. "
            "Press the board's EN/RESET button once (some boards cannot reset themselves) and open the REPL. ")
    if error.seen:
        sample = error.seen[-60:].decode("utf-8", "replace").strip()
        text += (f"The board printed {sample!r}: if that repeats, flash again with 'erase all' selected and check "
                 "that the firmware matches your board (for example a SPIRAM build needs a board with PSRAM).")
    else:
        text += ("If it stays silent, the file may not be MicroPython, or may be for another board variant: "
                 "choose the firmware from the list.")
    return text


@explains(errors.ChipMismatch)
def _chip_mismatch(error: errors.ChipMismatch) -> str:
    return (f"You chose {error.requested_chip}, but the board is an {error.detected_chip}. "
            "Pick 'auto' or the right chip.")


@explains(errors.NoFileSystemRegion)
def _no_fs(error: errors.NoFileSystemRegion) -> str:
    return f"Could not find the board's file system ({error.reason}). Flash MicroPython first."


@explains(errors.CatalogError)
def _catalog(error: errors.CatalogError) -> str:
    return f"The firmware list {error.path} is damaged ({error.detail}). Reinstall MiPy Studio."


@explains(errors.FirmwareNotInCatalog)
def _not_in_catalog(error: errors.FirmwareNotInCatalog) -> str:
    return (f"No MicroPython firmware is listed for {error.chip}. Download a .bin from micropython.org/download "
            "and flash that file.")


@explains(errors.DownloadFailed)
def _download(error: errors.DownloadFailed) -> str:
    return (f"Could not download the firmware ({error.detail or error.status}). Check your internet connection, "
            "or download it in a browser and flash the file.")


@explains(errors.DownloadChecksumMismatch)
def _checksum(error: errors.DownloadChecksumMismatch) -> str:
    return "The downloaded firmware is damaged (its checksum is wrong). It was deleted; download it again."


def describe_write(result: FlashResult) -> str:
    """What a write did, in sentences for the window and the command line: all of it, only the changed sectors, or
    nothing; a fallback to 115200; the files kept."""
    if result.unchanged:
        text = f"The board already held this firmware at 0x{result.offset:x}: nothing was written, only verified."
    elif result.sectors_written < result.sectors_total:
        text = (f"Only what changed was written: {result.sectors_written} of {result.sectors_total} sectors at "
                f"0x{result.offset:x}, verified.")
    else:
        text = f"Wrote and verified {result.size:,} bytes at 0x{result.offset:x}."
    if result.fell_back_from:
        text += (f" The connection failed at {result.fell_back_from} baud, so the write finished at "
                 f"{result.baud} baud.")
    if result.files_kept:
        text += " Your files were saved first and put back."
    return text
