"""Which port to pick for the user, and what changed since the last look (the window and the CLI share it).

A beginner should not have to know that their board is ``/dev/ttyUSB0`` and that ``/dev/ttyS0`` is a legacy
serial port with nothing behind it. The rule, in order:

1. the port the user picked, while it is still there;
2. the one port that looks like an ESP board (a known USB bridge or Espressif's native USB), when exactly one
   does: two such boards is a real choice, so it falls through to the next rules;
3. the port last connected to, when it is plugged in again;
4. the virtual board (always listed; it needs no hardware), when it can run here;
5. else the first port listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ports imports pyserial and the virtual board: not needed to choose among listed ports
    from ide.board.ports import PortInfo

#: USB ids this likely (see ``ports.USB_BRIDGES``) or more count as "an ESP board is plugged in".
ESP_LIKELIHOOD = 3


def esp_looking(ports: list["PortInfo"]) -> list["PortInfo"]:
    """The real ports that look like an ESP board."""
    return [p for p in ports if not p.is_virtual and p.likelihood >= ESP_LIKELIHOOD and p.available]


def choose_port(ports: list["PortInfo"], picked: str | None = None, last_used: str | None = None) -> str | None:
    """The device to preselect among ``ports`` (see the module doc); None when the list is empty."""
    by_device = {p.device: p for p in ports}
    if picked and picked in by_device and by_device[picked].available:
        return picked
    boards = esp_looking(ports)
    if len(boards) == 1:
        return boards[0].device
    if last_used and last_used in by_device and by_device[last_used].available:
        return last_used
    virtual = next((p for p in ports if p.is_virtual and p.available), None)
    if virtual is not None:
        return virtual.device
    available = [p for p in ports if p.available]
    if available:
        return available[0].device
    return ports[0].device if ports else None


@dataclass(frozen=True)
class PortChange:
    """What a new look at the ports found: devices that appeared and devices that went away."""

    appeared: tuple[str, ...]
    vanished: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.appeared or self.vanished)


def port_change(before: list["PortInfo"], after: list["PortInfo"]) -> PortChange:
    """The difference between two listings (by device name, in listing order)."""
    old = [p.device for p in before]
    new = [p.device for p in after]
    return PortChange(tuple(d for d in new if d not in old), tuple(d for d in old if d not in new))
