# mipy.wifi: stored networks, scan, connect with a reason, access point.
#   provision(path="/wifi.json"): a dropped {"ssid": ..., "password": ...} (or a list of them, or
#       {"networks": [...]}) is stored (passwords obfuscated, see mipy.secret) and the file deleted
#   add(ssid, password) / forget(ssid) / known()
#   scan() -> [(ssid, rssi, authmode)] strongest first, one entry per name (names that are not UTF-8, which a
#       neighbour's router may send, are left out: they cannot be stored networks)
#   await connect(timeout=15) -> None when connected, else the reason as text (never contains the password)
#   isconnected() / ip() / ap_start(ssid, password) -> ip / ap_stop()
#   ap_password(configured): the access point's password: the configured one (8 to 63 characters), "" for an
#       open access point if chosen so, else (None, or too short) one derived from this chip's unique id
import asyncio
import network
import time
from mipy import log, secret

_P = "wifi:"
sta = network.WLAN(network.STA_IF)


def add(ssid, password):
    secret.put(_P + ssid, password or "")


def forget(ssid):
    secret.remove(_P + ssid)


def known():
    return [n[len(_P):] for n in secret.names() if n.startswith(_P)]


def provision(path="/wifi.json"):
    import json
    import os
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError:
        return 0
    except ValueError:
        d = []
    if isinstance(d, dict):
        d = d.get("networks", [d])
    n = 0
    for e in d if isinstance(d, list) else ():
        if isinstance(e, dict) and isinstance(e.get("ssid"), str) and e["ssid"]:
            add(e["ssid"], str(e.get("password") or ""))
            n += 1
    if not n:
        log.error("wifi: %s holds no network ({\"ssid\": ..., \"password\": ...})", path)
    os.remove(path)  # plain text never stays on the board
    log.info("wifi: %d network(s) provisioned", n)
    return n


def scan():
    sta.active(True)
    best = {}
    for r in sta.scan():
        try:
            s = r[0].decode()
        except ValueError:
            continue
        if s and (s not in best or r[3] > best[s][1]):
            best[s] = (s, r[3], r[4])
    return sorted(best.values(), key=lambda e: -e[1])


def _reason(st):
    if st == network.STAT_WRONG_PASSWORD:
        return "wrong password"
    if st == network.STAT_NO_AP_FOUND:
        return "network not found"
    return "no answer (status %d)" % st


async def connect(timeout=15):
    sta.active(True)
    if sta.isconnected():
        return None
    names = known()
    if not names:
        return "no network stored"
    try:
        cands = [s for s, _, _ in scan() if s in names] or names  # in range first; hidden ones may answer
    except OSError:  # the radio is busy: try them all
        cands = names
    reason = "no stored network in range"
    for ssid in cands:
        log.info("wifi: connecting to %s", ssid)
        try:
            sta.connect(ssid, secret.get(_P + ssid, ""))
        except OSError as e:
            reason = "%s: %r" % (ssid, e)
            continue
        t0 = time.ticks_ms()
        while sta.status() == network.STAT_CONNECTING:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout * 1000:
                break
            await asyncio.sleep_ms(100)
        if sta.isconnected():
            log.info("wifi: connected to %s, ip %s", ssid, ip())
            return None
        reason = "%s: %s" % (ssid, _reason(sta.status()))
        sta.disconnect()
        log.warn("wifi: %s", reason)
    return reason


def isconnected():
    return sta.isconnected()


def ip():
    return sta.ifconfig()[0]


def ap_password(configured=None):
    if configured == "":
        return ""
    if isinstance(configured, str) and 8 <= len(configured) <= 63:
        return configured
    import hashlib
    import machine
    from binascii import hexlify
    return hexlify(hashlib.sha256(b"mipy-ap" + machine.unique_id()).digest()[:5]).decode()


def ap_start(ssid, password):
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    if password:
        ap.config(essid=ssid, password=password, authmode=network.AUTH_WPA2_PSK)
        log.info("wifi: access point %s on %s, password %s", ssid, ap.ifconfig()[0], password)
    else:
        ap.config(essid=ssid, authmode=network.AUTH_OPEN)
        log.warn("wifi: OPEN access point %s on %s: anyone in range can set the network", ssid, ap.ifconfig()[0])
    return ap.ifconfig()[0]


def ap_stop():
    network.WLAN(network.AP_IF).active(False)
