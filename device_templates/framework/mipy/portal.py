# mipy.portal: captive provisioning portal, used when no stored network answers.
#   await run(ssid, password, http_port=80, dns_port=53, timeout=15, give_up=None) -> True once connected
# password: the access point's (WPA2; "" or None: open). timeout: for each network tried. give_up: seconds
# without a request after which run() returns False, so that the caller can retry the stored networks.
# Starts an access point, answers every DNS query with its own address (so phones open the page), and serves a
# form listing the networks scanned *before* the server starts (no JavaScript). A submitted network is stored
# obfuscated (mipy.wifi.add) and tried; the page reports the outcome; run() returns once connected.
# Nothing else is served: no files, no configuration.
import asyncio
import socket
import time
from mipy import http, log, wifi

_HEAD = ("<!DOCTYPE html><html><head><meta name=viewport content='width=device-width'>"
         "<title>Wi-Fi setup</title></head><body><h2>Wi-Fi setup</h2>")


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")


def _form(nets, note=""):
    rows = "".join("<label><input type=radio name=ssid value='%s'%s> %s (%d dBm)</label><br>" % (
        _esc(s), " checked" if i == 0 else "", _esc(s), rssi) for i, (s, rssi, _) in enumerate(nets))
    return (_HEAD + "<p>%s</p><form method=post action=/save>%s"
            "Other network: <input name=other><br>Password: <input type=password name=password><br>"
            "<button>Save and connect</button></form></body></html>") % (_esc(note), rows or "No network found.<br>")


async def _dns(ip, port):
    """Answer every A query with our address (a catch-all DNS, enough for captive-portal detection)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
    answer = bytes(int(x) for x in ip.split("."))
    try:
        while True:
            try:
                q, addr = s.recvfrom(256)
            except OSError:
                await asyncio.sleep_ms(50)
                continue
            i = 12
            while i < len(q) and q[i]:
                i += q[i] + 1
            i += 5  # end of the first question (name, type, class)
            if len(q) < i or q[2] & 0x80:  # cut short, or an answer (never answer answers: no loops)
                continue
            try:
                s.sendto(q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:i] +
                         b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + answer, addr)
            except OSError:
                pass
    finally:
        s.close()


async def run(ssid, password, http_port=80, dns_port=53, timeout=15, give_up=None):
    nets = wifi.scan()  # before serving, so the first page already lists them
    ip = wifi.ap_start(ssid, password)
    srv = http.Server(http_port, www=None, max_body=512)
    st = {"note": "Choose your network.", "try": None, "seen": time.ticks_ms()}
    done = asyncio.Event()

    @srv.route("/")
    def index(req):
        st["seen"] = time.ticks_ms()  # someone is at the form: no giving up on them
        return _form(nets, st["note"])

    @srv.route("/save", "POST")
    def save(req):
        st["seen"] = time.ticks_ms()
        f = req.form()
        name = f.get("other") or f.get("ssid")
        pw = f.get("password", "")
        if not name or len(name.encode()) > 32 or len(pw) > 64:
            return 400, _form(nets, "Choose a network (a name of up to 32 bytes, a password of up to 64).")
        wifi.add(name, pw)
        st["try"] = name
        st["note"] = "Connecting to %s..." % name
        done.set()
        # answer first: the phone gets its page while the device tries the network
        return (_HEAD + "<p>Saved. Connecting to %s. <a href=/>Back</a> (reload in a few seconds "
                "for the result)</p></body></html>") % _esc(name)

    srv.fallback = lambda req: (302, "", {"Location": "http://%s/" % ip})  # captive-portal probes land here
    await srv.start()
    dns = asyncio.create_task(_dns(ip, dns_port))
    try:
        while True:
            if give_up is not None:
                try:
                    await asyncio.wait_for(done.wait(), 5)
                except asyncio.TimeoutError:
                    if time.ticks_diff(time.ticks_ms(), st["seen"]) > give_up * 1000:
                        log.info("portal: no one for %d s; trying the stored networks again", give_up)
                        return False
                    continue
            else:
                await done.wait()
            done.clear()
            await asyncio.sleep_ms(300)  # let the response go out
            reason = await wifi.connect(timeout)
            if reason is None:
                st["note"] = "Connected to %s." % st["try"]
                await asyncio.sleep(2)
                return True
            st["note"] = "Could not connect: %s" % reason
            log.warn("portal: %s", reason)
    finally:
        dns.cancel()
        await srv.stop()
        wifi.ap_stop()
