"""The Wi-Fi networks the virtual board "sees", as data: what ``network.WLAN.scan()`` lists and which password
``connect()`` accepts (the ``network`` shim reads them from the state file network.json).

They are shown in the Board view, offered by the new-project wizard when it targets the virtual board, and
listed in docs/virtual-board.md; keep the three in step by taking them from here.
"""

from __future__ import annotations

import dataclasses

# network.AUTH_* values of the ESP32 port (ports/esp32/modnetwork.h), as scan() reports them.
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3
AUTH_NAMES = {0: "open", 1: "WEP", 2: "WPA", 3: "WPA2", 4: "WPA/WPA2", 5: "WPA2-Enterprise", 6: "WPA3",
              7: "WPA2/WPA3"}


@dataclasses.dataclass(frozen=True)
class VirtualNetwork:
    """One access point in range of the virtual board."""

    ssid: str
    password: str  # "" for an open network
    authmode: int
    rssi: int      # dBm, as scan() and status("rssi") report it
    channel: int
    note: str = ""

    @property
    def security(self) -> str:
        return AUTH_NAMES.get(self.authmode, str(self.authmode))

    @property
    def is_open(self) -> bool:
        return self.authmode == AUTH_OPEN

    def as_config(self) -> dict:
        return {"ssid": self.ssid, "password": self.password, "authmode": self.authmode, "rssi": self.rssi,
                "channel": self.channel}


#: The networks every virtual board offers unless its configuration names others. The first is the one to use.
NETWORKS = (
    VirtualNetwork("VirtualWiFi", "micropython", AUTH_WPA2_PSK, -48, 6, "WPA2; use this one"),
    VirtualNetwork("VirtualCafe", "", AUTH_OPEN, -67, 1, "open, no password"),
    VirtualNetwork("Neighbours", "not-yours", AUTH_WPA2_PSK, -80, 11,
                   "WPA2, weak signal; its password is not yours to know (try it: the board logs a wrong password)"),
)

#: Until an association (and DHCP) completes, the board reports STAT_CONNECTING for this long.
CONNECT_DELAY_MS = 800


def network_config(networks: tuple[VirtualNetwork, ...] = NETWORKS) -> dict:
    """The content of the board's network.json."""
    return {"networks": [n.as_config() for n in networks], "connect_delay_ms": CONNECT_DELAY_MS}


def networks_from_config(config: dict | None) -> list[VirtualNetwork]:
    """The networks a network.json (or a ``VirtualBoardConfig.network``) describes."""
    found = []
    for entry in (config or {}).get("networks", []):
        found.append(VirtualNetwork(ssid=str(entry.get("ssid", "")), password=str(entry.get("password", "")),
                                    authmode=int(entry.get("authmode", AUTH_WPA2_PSK)),
                                    rssi=int(entry.get("rssi", -60)), channel=int(entry.get("channel", 1))))
    return found


def recommended() -> VirtualNetwork:
    """The network a new project for the virtual board should use."""
    return NETWORKS[0]


#: network.WLAN.status() codes of the ESP32 port (ports/esp32/modnetwork.h and ESP-IDF's wifi_err_reason_t).
STATION_STATUS = {1000: "idle", 1001: "connecting", 1010: "got IP", 200: "beacon timeout", 201: "no AP found",
                  202: "wrong password", 203: "association failed", 204: "handshake timeout"}


def station_status(code) -> str:
    return STATION_STATUS.get(code, f"status {code}")


def portal_url(ports: dict | None) -> str | None:
    """Where a browser on this computer reaches the board's port 80 (the captive portal), once it is mapped."""
    port = (ports or {}).get("80")
    return f"http://127.0.0.1:{port}/" if port else None


def describe_state(network: dict | None, ports: dict | None) -> str:
    """One line on the board's Wi-Fi (its network_state.json), for the Board view and ``mipy-studio pins``."""
    network = network or {}
    station, access_point = network.get("sta") or {}, network.get("ap") or {}
    parts = []
    if station.get("connected"):
        parts.append(f"connected to {station.get('ssid')}")
    elif station.get("active"):
        parts.append(f"station on, {station_status(station.get('status'))}" +
                     (f" ({station.get('ssid')})" if station.get("ssid") else ""))
    if access_point.get("active"):
        url = portal_url(ports)
        parts.append(f"access point {access_point.get('ssid')} on" + (f", portal at {url}" if url else ""))
    return "; ".join(parts) or "off"
