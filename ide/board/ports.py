"""Serial port discovery: which ports are likely ESP boards, named in words, likely boards first.

USB bridges and native-USB chips are data: a table of USB vendor/product ids, not if-chains.
"""

from __future__ import annotations

import dataclasses
import logging

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
        text = f"{product} on {port.device}" if product else port.device
        likelihood = 1 if port.vid is not None else 0
    return PortInfo(port.device, text, likelihood, port.vid, port.pid, port.serial_number)


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
    found = [describe(port) for port in list_ports.comports()]
    if not include_unlikely:
        found = [port for port in found if port.likelihood > 0]
    found.sort(key=lambda port: (-port.likelihood, port.device))
    return found + [virtual_port_info()]
