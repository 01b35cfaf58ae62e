"""What flasher errors mean for a beginner, and what to do next (see :mod:`ide.explain`)."""

from __future__ import annotations

from ide.explain import explains
from ide.flasher import errors


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


@explains(errors.ChipNotInBootMode)
def _not_in_boot_mode(error: errors.ChipNotInBootMode) -> str:
    return (f"The board on {error.port} did not answer the firmware loader. Put it into download mode: hold the "
            "BOOT (IO0/FLASH) button, press and release EN/RESET, then release BOOT, and try again. If the board has "
            "no buttons, check the USB cable carries data and that no serial monitor holds the port.")


@explains(errors.NotAnEspImage)
def _not_an_image(error: errors.NotAnEspImage) -> str:
    name = f"{error.path} is" if error.path else "This file is"
    return (f"{name} not an ESP firmware image. Download the '.bin' file for your board from "
            "micropython.org/download (not the .elf, .uf2 or .zip).")


@explains(errors.ImageChipMismatch)
def _wrong_chip(error: errors.ImageChipMismatch) -> str:
    return (f"This firmware is built for {error.image_chip}, but your board has an {error.detected_chip}. "
            f"Download the MicroPython firmware for {error.detected_chip} instead.")


@explains(errors.ImageTooLarge)
def _too_large(error: errors.ImageTooLarge) -> str:
    return (f"The firmware ({_size(error.image_size)}) does not fit in this board's {_size(error.flash_size)} "
            "flash. Choose the firmware variant for boards with less flash.")


@explains(errors.TruncatedImage)
def _truncated(error: errors.TruncatedImage) -> str:
    return ("The firmware file is incomplete (the download was probably interrupted). Download it again.")


@explains(errors.FlashWriteFailed)
def _write_failed(error: errors.FlashWriteFailed) -> str:
    return (f"Writing the firmware failed on {error.port}. Try again with a lower speed (--baud 115200) and a "
            "shorter USB cable; if it keeps failing at the same place, the board's flash chip may be damaged.")


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
