# `network` for the virtual board: Wi-Fi as an ESP32 (or ESP8266) reports it, over the host's loopback.
#
# The radio environment comes from the state file network.json written by the host:
#   {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3, "channel": 6}],
#    "connect_delay_ms": 800}
# connect() succeeds (after the delay, like a real association + DHCP) only with the right password; an open
# network (authmode 0) takes any. The board's addresses are loopback ones, so the host reaches its servers.
# The interface state goes to network_state.json for the host (passwords are never written there), and the
# side channel tells the host to look (the Board view shows it).
#
# What a chip prints: MicroPython's ESP32 event handler (ports/esp32/network_wlan.c) logs "STA_START",
# "CONNECTED", "GOT_IP" and "STA_DISCONNECTED, reason:201:no AP found" / "reason:202:authentication failed"
# with ESP_LOGI, which the firmware's default log level (ERROR) hides until esp.osdebug(0): so by default a
# wrong network name or password prints nothing and shows only in status(), 201 (STAT_NO_AP_FOUND) or
# 202 (STAT_WRONG_PASSWORD), as on the chip. The ESP8266 port has its own codes (STAT_NO_AP_FOUND = 3 ...).
import utime
import _vb
import _vbside

_ESP8266 = (_vb.read_config("virtual.json", {}) or {}).get("board") == "esp8266"

STA_IF, AP_IF = 0, 1
AUTH_OPEN, AUTH_WEP, AUTH_WPA_PSK, AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK = 0, 1, 2, 3, 4
AUTH_WPA2_ENTERPRISE, AUTH_WPA3_PSK, AUTH_WPA2_WPA3_PSK = 5, 6, 7
MODE_11B, MODE_11G, MODE_11N = 1, 2, 4
PHY_LAN8720 = 0
if _ESP8266:
    STAT_IDLE, STAT_CONNECTING, STAT_WRONG_PASSWORD, STAT_NO_AP_FOUND, STAT_CONNECT_FAIL, STAT_GOT_IP = 0, 1, 2, 3, 4, 5
    STAT_BEACON_TIMEOUT = STAT_HANDSHAKE_TIMEOUT = STAT_ASSOC_FAIL = STAT_CONNECT_FAIL
else:
    STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
    STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD, STAT_ASSOC_FAIL = 200, 201, 202, 203
    STAT_HANDSHAKE_TIMEOUT, STAT_CONNECT_FAIL = 204, 203

# The reason texts of ports/esp32/network_wlan.c's STA_DISCONNECTED log line.
_REASONS = {200: "beacon timeout", 201: "no AP found", 202: "authentication failed"}


def _log(tag, text):
    import esp
    esp.idf_log("I", esp.LOG_INFO, tag, text)


STA_ADDR = ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
AP_ADDR = ("127.0.4.1", "255.0.0.0", "127.0.4.1", "127.0.4.1")
_hostname = "mpy-esp32" if not _ESP8266 else "mpy-esp8266"


def _env():
    return _vb.read_config("network.json", {}) or {}


def _mac(iface):
    import machine
    m = bytearray(machine.unique_id())
    m[0] = 0x24 if not _ESP8266 else 0x5C  # Espressif-looking OUI, stable per board
    m[5] = (m[5] + iface) & 0xFF
    return bytes(m)


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


def country(cc=None):
    return "XX" if cc is None else None


def phy_mode(mode=None):
    return MODE_11N if mode is None else None


def ipconfig(**kw):
    if "prefer" in kw or "dns" in kw:
        return None
    return "127.0.0.1"


_ifaces = {}


def WLAN(interface_id=STA_IF):
    # the same object for the same interface, as on the chip
    w = _ifaces.get(interface_id)
    if w is None:
        w = _ifaces[interface_id] = _WLAN(interface_id)
    return w


class _WLAN:
    IF_STA, IF_AP = STA_IF, AP_IF
    PM_NONE, PM_PERFORMANCE, PM_POWERSAVE = 0, 1, 2
    SEC_OPEN, SEC_WPA2 = AUTH_OPEN, AUTH_WPA2_PSK

    def __init__(self, iface):
        self._if = iface
        self._active = False
        self._status = STAT_IDLE
        self._ssid = None
        self._ok = None  # outcome of the pending connect: None (pending), STAT_GOT_IP or a failure status
        self._due = None
        self._ap = {"essid": _hostname.upper().replace("-", "_") if iface else "", "password": "",
                    "authmode": AUTH_OPEN, "channel": 1, "max_clients": 4, "hidden": False}
        self._pm = self.PM_PERFORMANCE

    def __repr__(self):
        return "<WLAN %s>" % ("AP" if self._if else "STA")

    def _publish(self):
        st = _vb.read_config("network_state.json", {}) or {}
        if self._if == STA_IF:
            st["sta"] = {"active": self._active, "status": self.status(), "ssid": self._ssid,
                         "connected": self.isconnected()}
        else:
            st["ap"] = {"active": self._active, "ssid": self._ap["essid"], "authmode": self._ap["authmode"]}
        _vb.write_state("network_state.json", st)
        _vbside.nudge()

    def active(self, on=None):
        if on is None:
            return self._active
        on = bool(on)
        if on != self._active:
            self._active = on
            if on and self._if == STA_IF:
                _log("wifi", "STA_START")
            if not on:
                self._status, self._ssid, self._due = STAT_IDLE, None, None
            self._publish()
        return None

    def _need_active(self):
        if not self._active:
            raise OSError("Wifi Not Started" if not _ESP8266 else "STA must be active")

    def scan(self):
        self._need_active()
        utime.sleep_ms(100)
        out = []
        for i, n in enumerate(_env().get("networks", [])):
            bssid = bytes((0x02, 0x11, 0x22, 0x33, 0x44, i & 0xFF))
            out.append((n["ssid"].encode(), bssid, n.get("channel", 1 + 5 * (i % 3)), n.get("rssi", -60 - 5 * i),
                        n.get("authmode", AUTH_WPA2_PSK), n.get("hidden", False)))
        return out

    def connect(self, ssid=None, key=None, *, bssid=None):
        self._need_active()
        if self._if != STA_IF:
            raise OSError("AP can't connect")
        env = _env()
        self._ssid = ssid
        self._status = STAT_CONNECTING
        self._due = utime.ticks_add(utime.ticks_ms(), env.get("connect_delay_ms", 800))
        self._ok = STAT_NO_AP_FOUND
        for n in env.get("networks", []):
            if n["ssid"] == ssid:
                if n.get("authmode", AUTH_WPA2_PSK) == AUTH_OPEN or n.get("password") == (key or ""):
                    self._ok = STAT_GOT_IP
                else:
                    self._ok = STAT_WRONG_PASSWORD
        self._publish()

    def disconnect(self):
        self._status, self._due = STAT_IDLE, None
        self._publish()

    def status(self, param=None):
        if param == "rssi":
            for n in _env().get("networks", []):
                if n["ssid"] == self._ssid:
                    return n.get("rssi", -60)
            return 0
        if param == "stations":
            return []
        if self._if == AP_IF:
            return STAT_GOT_IP if self._active else STAT_IDLE
        if self._due is not None and utime.ticks_diff(utime.ticks_ms(), self._due) >= 0:
            self._due = None
            self._status = self._ok
            if self._ok == STAT_GOT_IP:
                _log("network", "CONNECTED")
                _log("network", "GOT_IP")
            elif not _ESP8266:
                _log("wifi", "STA_DISCONNECTED, reason:%d:%s" % (self._ok, _REASONS.get(self._ok, "")))
            self._publish()
        return self._status

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        return self._active and self.status() == STAT_GOT_IP

    def ifconfig(self, cfg=None):
        if cfg is not None:
            return None
        if self._if == AP_IF:
            return AP_ADDR if self._active else ("0.0.0.0",) * 4
        return STA_ADDR if self.isconnected() else ("0.0.0.0",) * 4

    def ipconfig(self, key=None, **kw):
        a = self.ifconfig()
        if key == "addr4":
            return (a[0], a[1])
        if key == "gw4":
            return a[2]
        if key in ("dhcp4", "has_dhcp4"):
            return True
        return None

    def config(self, *args, **kw):
        if kw:
            for k, v in kw.items():
                if k in ("ssid", "essid"):
                    self._ap["essid"] = v
                elif k in ("key", "password"):
                    self._ap["password"] = v
                elif k in ("security", "authmode"):
                    self._ap["authmode"] = v
                elif k in ("hostname", "dhcp_hostname"):
                    hostname(v)
                elif k == "pm":
                    self._pm = v
                else:
                    self._ap[k] = v
            if self._if == AP_IF and self._active:
                self._publish()
            return None
        p = args[0]
        if p == "mac":
            return _mac(self._if)
        if p in ("essid", "ssid"):
            return self._ap["essid"] if self._if == AP_IF else (self._ssid or "")
        if p in ("hostname", "dhcp_hostname"):
            return _hostname
        if p in ("security", "authmode"):
            return self._ap["authmode"]
        if p == "pm":
            return self._pm
        if p == "txpower":
            return 20
        if p == "reconnects":
            return -1
        if p in ("password", "key"):
            raise ValueError("unknown config param")  # the chip does not return it either
        if p in self._ap:
            return self._ap[p]
        raise ValueError("unknown config param")
