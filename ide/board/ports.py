"""Serial port discovery: which ports are likely ESP boards, named in words, likely boards first.

USB bridges and native-USB chips are data: a table of USB vendor/product ids, not if-chains.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import sys
from pathlib import Path

from serial.tools import list_ports

from ide.board.transport_virtual import VIRTUAL_PORT_NAME

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class UsbBridge:
    chip: str            # the USB chip, as printed on it: "CP2102", "CH340"
    board_hint: str      # what is usually behind it
    likelihood: int      # 3 = almost surely an ESP board, 2 = often, 1 = sometimes


# Vendor/product ids of the USB-serial bridges and native USB peripherals found on ESP8266/ESP32 boards.
USB_BRIDGES: dict[tuple[int, int], UsbBridge] = {
    (0x10C4, 0xEA60): UsbBridge("CP210x", "ESP32/ESP8266 board", 3),   # CP2102/CP2102N/CP2104: DevKitC, NodeMCU
    (0x10C4, 0xEA70): UsbBridge("CP2105", "ESP32 board", 3),
    (0x1A86, 0x7523): UsbBridge("CH340", "ESP32/ESP8266 board", 3),     # NodeMCU v3, Wemos D1 mini, ESP32 clones
    (0x1A86, 0x7522): UsbBridge("CH340K", "ESP32/ESP8266 board", 3),
    (0x1A86, 0x55D4): UsbBridge("CH9102", "ESP32 board", 3),            # newer DevKitC and LOLIN boards
    (0x1A86, 0x55D3): UsbBridge("CH343", "ESP32 board", 3),
    (0x1A86, 0x55D2): UsbBridge("CH342", "ESP32 board", 3),
    (0x0403, 0x6001): UsbBridge("FT232R", "ESP board or other serial device", 2),
    (0x0403, 0x6010): UsbBridge("FT2232", "ESP-Prog / ESP-WROVER-KIT", 2),
    (0x0403, 0x6014): UsbBridge("FT232H", "ESP board or other serial device", 2),
    (0x0403, 0x6015): UsbBridge("FT231X", "ESP board or other serial device", 2),
    (0x303A, 0x1001): UsbBridge("USB-JTAG/serial", "ESP32-C3/C6/S3 (native USB)", 3),
    (0x303A, 0x0002): UsbBridge("USB CDC", "ESP32-S2 (native USB)", 3),
    (0x303A, 0x4001): UsbBridge("USB CDC", "ESP32-S2/S3 running MicroPython", 3),
    (0x303A, 0x1002): UsbBridge("USB-JTAG/serial", "ESP32-S3 (native USB)", 3),
    (0x067B, 0x2303): UsbBridge("PL2303", "serial adapter (ESP-01 programmer?)", 1),
}

ESPRESSIF_VID = 0x303A

# Modules Windows lacks; a virtual board that still needs one is "unavailable", not a crash of the port list.
POSIX_ONLY_MODULES = {"fcntl", "pty", "termios", "tty", "grp"}


@dataclasses.dataclass(frozen=True)
class PortInfo:
    device: str           # what to pass to --port: "/dev/ttyUSB0", "COM3", "virtual"
    description: str      # in words: "ESP32/ESP8266 board (CP210x) on /dev/ttyUSB0"
    likelihood: int       # 0 = unknown device; higher = more likely an ESP board
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    available: bool = True
    unavailable_reason: str = ""

    @property
    def is_virtual(self) -> bool:
        return self.device == VIRTUAL_PORT_NAME


def describe(port) -> PortInfo:
    """A pyserial ListPortInfo in words."""
    bridge = USB_BRIDGES.get((port.vid, port.pid)) if port.vid is not None else None
    if bridge is None and port.vid == ESPRESSIF_VID:
        bridge = UsbBridge("USB", "Espressif board (native USB)", 3)
    if bridge is not None:
        text = f"{bridge.board_hint} ({bridge.chip}) on {port.device}"
        likelihood = bridge.likelihood
    else:
        product = port.product or (port.description if port.description not in (None, "n/a") else "")
        # Windows names a port "USB Serial Device (COM5)": the COM name follows in our own words.
        product = _COM_SUFFIX.sub("", product) if product else product
        text = f"{product} on {port.device}" if product and product != port.device else port.device
        likelihood = 1 if port.vid is not None else 0
    return PortInfo(port.device, text, likelihood, port.vid, port.pid, port.serial_number)


_COM_SUFFIX = re.compile(r"\s*\(COM\d+\)$")


def prefer_callout_devices(found: list, platform: str = sys.platform) -> list:
    """macOS lists a USB serial port as /dev/cu.X and /dev/tty.X; opening tty.X waits for carrier detect, which
    a board never asserts. Keep cu.X and drop its tty. twin."""
    if platform != "darwin":
        return found
    devices = {port.device for port in found}
    return [port for port in found
            if not (port.device.startswith("/dev/tty.") and "/dev/cu." + port.device[9:] in devices)]


# Where the driver for each USB-serial vendor is (Windows installs most by itself, through Windows Update).
DRIVER_PAGES = {
    0x10C4: "https://www.silabs.com/developers/usb-to-uart-bridge-vcp-drivers",
    0x1A86: "https://www.wch-ic.com/downloads/CH341SER_EXE.html",
    0x0403: "https://ftdichip.com/drivers/vcp-drivers/",
    0x067B: "https://www.prolific.com.tw/US/ShowProduct.aspx?p_id=225&pcid=41",
}


@dataclasses.dataclass(frozen=True)
class BoardWithoutPort:
    """A USB-serial bridge of an ESP board that is plugged in but has no serial port: its driver is missing."""

    vid: int
    pid: int
    chip: str
    driver_page: str


_PNPUTIL_ID = re.compile(r"USB\\VID_([0-9A-Fa-f]{4})&PID_([0-9A-Fa-f]{4})")
_IOREG_ID = re.compile(r'"id(Vendor|Product)" = (\d+)')


def parse_pnputil(text: str) -> list[tuple[int, int]]:
    """USB ids in the output of Windows' ``pnputil /enum-devices /connected`` ("Instance ID: USB\\VID_..")."""
    return sorted({(int(v, 16), int(p, 16)) for v, p in _PNPUTIL_ID.findall(text)})


def parse_ioreg(text: str) -> list[tuple[int, int]]:
    """USB ids in the output of macOS' ``ioreg -p IOUSB -l -w 0`` (idVendor then idProduct per device)."""
    ids, vendor = set(), None
    for kind, number in _IOREG_ID.findall(text):
        if kind == "Vendor":
            vendor = int(number)
        elif vendor is not None:
            ids.add((vendor, int(number)))
            vendor = None
    return sorted(ids)


def usb_device_ids(platform: str = sys.platform) -> list[tuple[int, int]]:
    """(vid, pid) of every USB device plugged in, whatever its driver; [] where the OS does not say."""
    try:
        if platform == "win32":
            text = subprocess.run(["pnputil", "/enum-devices", "/connected"], capture_output=True, text=True,
                                  timeout=10, errors="replace").stdout
            return parse_pnputil(text)
        if platform == "darwin":
            text = subprocess.run(["ioreg", "-p", "IOUSB", "-l", "-w", "0"], capture_output=True, text=True,
                                  timeout=10, errors="replace").stdout
            return parse_ioreg(text)
        ids = set()
        for device in Path("/sys/bus/usb/devices").glob("*"):
            try:
                ids.add((int((device / "idVendor").read_text(), 16), int((device / "idProduct").read_text(), 16)))
            except (OSError, ValueError):
                continue
        return sorted(ids)
    except (OSError, subprocess.SubprocessError):
        return []


def boards_without_port(found: list[PortInfo], usb_ids: list[tuple[int, int]]) -> list[BoardWithoutPort]:
    """ESP USB-serial bridges plugged in (``usb_ids``) that no serial port in ``found`` belongs to: on Windows
    this is the CP210x/CH340 board whose driver is not installed."""
    with_port = {(port.vid, port.pid) for port in found if port.vid is not None}
    missing = []
    for vid, pid in usb_ids:
        bridge = USB_BRIDGES.get((vid, pid))
        if bridge is None or (vid, pid) in with_port or vid not in DRIVER_PAGES:
            continue
        missing.append(BoardWithoutPort(vid, pid, bridge.chip, DRIVER_PAGES[vid]))
    return missing


def virtual_unavailable_reason() -> str | None:
    """Why the virtual board cannot run here (None when it can). Imported late: the virtual board's machinery
    is not needed to list ports."""
    try:
        from ide.board import virtual
    except ImportError as missing:
        if missing.name not in POSIX_ONLY_MODULES:
            raise
        return f"its pty bridge needs a POSIX system (this one has no '{missing.name}' module)"
    return virtual.unavailable_reason()


def virtual_port_info() -> PortInfo:
    reason = virtual_unavailable_reason()
    description = "Virtual board (MicroPython on this computer, no hardware needed)"
    if reason:
        description = "Virtual board (unavailable: " + reason + ")"
    return PortInfo(VIRTUAL_PORT_NAME, description, 0, available=reason is None,
                    unavailable_reason=reason or "")


def list_board_ports(include_unlikely: bool = True) -> list[PortInfo]:
    """Serial ports, likely ESP boards first, then the virtual board, which is always listed."""
    found = [describe(port) for port in prefer_callout_devices(list_ports.comports())]
    if not include_unlikely:
        found = [port for port in found if port.likelihood > 0]
    found.sort(key=lambda port: (-port.likelihood, port.device))
    return found + [virtual_port_info()]
