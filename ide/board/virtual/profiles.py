"""What the virtual board plays: a chip (ESP32, ESP8266) and a firmware release, as data.

A chip profile holds what the board says about its hardware (banner, sys.platform, heap, file system size);
a firmware profile what a release of MicroPython does differently on the wire (raw-paste, modules it lacks).
Figures are a chip's, in a chip's bytes (32-bit objects); ``heap.py`` turns them into an interpreter heap size.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ChipProfile:
    name: str                 # "esp32"
    platform: str             # sys.platform on the chip
    machine: str              # the banner's board name, sys.implementation._machine
    build: str                # sys.implementation._build
    free_after_boot: int      # gc.mem_free() at the prompt after boot, in a chip's bytes
    fs_size: int              # the MicroPython file system partition
    flash_size: int
    mpy_arch: str             # native-code architecture of its .mpy files
    missing_modules: tuple[str, ...] = ()  # modules of the other chip's firmware that this one has not


ESP32 = ChipProfile(
    name="esp32", platform="esp32", machine="Generic ESP32 module with ESP32", build="ESP32_GENERIC",
    # A 4 MB ESP32 without PSRAM: about 110 KB free at the prompt (the heap is half the largest free block of
    # the IDF heap, ports/esp32/main.c), and a 2 MB "vfs" partition (ports/esp32/partitions-4MiB.csv).
    free_after_boot=110 * 1024, fs_size=2 * 1024 * 1024, flash_size=4 * 1024 * 1024, mpy_arch="xtensawin")

ESP8266 = ChipProfile(
    name="esp8266", platform="esp8266", machine="ESP module with ESP8266", build="ESP8266_GENERIC",
    # About 30 KB free at the prompt of a current ESP8266 build (its heap is a fixed 38 KB array,
    # ports/esp8266/main.c, of which the network stack's Python parts take the rest); on a 4 MB module the file
    # system is everything after the first 1 MB + 20 KB SDK area (ports/esp8266/modules/flashbdev.py).
    free_after_boot=30 * 1024, fs_size=4 * 1024 * 1024 - 0x100000 - 20 * 1024, flash_size=4 * 1024 * 1024,
    mpy_arch="xtensa", missing_modules=("esp32",))

CHIPS = {profile.name: profile for profile in (ESP32, ESP8266)}


@dataclasses.dataclass(frozen=True)
class FirmwareProfile:
    release: str              # "1.29.0"
    date: str                 # the banner's build date
    raw_paste: bool           # raw-paste mode exists from 1.14 (shared/runtime/pyexec.c)
    missing_modules: tuple[str, ...] = ()
    # Before 1.20 the ESP32 banner said "ESP32 module with ESP32", the ESP8266 one "ESP module with ESP8266".
    old_names: bool = False

    @property
    def version(self) -> tuple:
        parts = [int(part) for part in self.release.split(".")]
        return tuple(parts + [0] * (3 - len(parts)))[:3] + ("",)


FIRMWARE = {profile.release: profile for profile in (
    FirmwareProfile("1.29.0", "2026-07-05", raw_paste=True),
    FirmwareProfile("1.24.1", "2024-11-29", raw_paste=True),
    # deflate arrived in 1.21; before, only zlib.decompress.
    FirmwareProfile("1.19.1", "2022-06-18", raw_paste=True, missing_modules=("deflate",), old_names=True),
    FirmwareProfile("1.13", "2020-09-02", raw_paste=False, missing_modules=("deflate",), old_names=True),
    FirmwareProfile("1.12", "2019-12-20", raw_paste=False, missing_modules=("deflate",), old_names=True),
)}
DEFAULT_FIRMWARE = "1.29.0"


def firmware(release: str | None) -> FirmwareProfile:
    """The profile of a release; an unlisted one (e.g. read from a flashed image) behaves like the nearest
    older listed release and reports its own number."""
    release = release or DEFAULT_FIRMWARE
    if release in FIRMWARE:
        return FIRMWARE[release]
    wanted = _key(release)
    older = [profile for profile in FIRMWARE.values() if _key(profile.release) <= wanted]
    base = max(older, key=lambda profile: _key(profile.release)) if older else FIRMWARE["1.12"]
    return dataclasses.replace(base, release=release)


def _key(release: str) -> tuple[int, ...]:
    parts = []
    for part in release.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def banner(chip: ChipProfile, fw: FirmwareProfile) -> bytes:
    machine = chip.machine
    if fw.old_names:
        machine = machine.replace("Generic ESP32 module", "ESP32 module")
    return (f"MicroPython v{fw.release} on {fw.date}; {machine}\r\n"
            f'Type "help()" for more information.\r\n').encode()


def machine_name(chip: ChipProfile, fw: FirmwareProfile) -> str:
    return banner(chip, fw).split(b"; ", 1)[1].split(b"\r\n", 1)[0].decode()
