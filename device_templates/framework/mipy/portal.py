# mipy.portal: captive provisioning portal, used when no stored network answers.
#   await run(ssid, password, http_port=80, dns_port=53, timeout=15, give_up=None) -> True once connected
# password: the access point's (WPA2; "" or None: open). timeout: for each network tried. give_up: seconds
# without a request after which run() returns False, so that the caller can retry the stored networks.
# Starts an access point, answers every DNS query with its own address (so phones open the page), and serves a
# form listing the networks scanned *before* the server starts (no JavaScript). A submitted network is stored
# obfuscated (mipy.wifi.add) and tried; the page reports the outcome; run() returns once connected.
# Nothing else is served: no files, no configuration.
# Its own small HTTP handling, not mipy.http: this runs while Wi-Fi is down on boards with about 30 KB free, and
# mipy.http (static files, JSON, tokens) would take about a third of that. The same limits as mipy.http: the
# head at most 1 KB, a strict Content-Length up to 512, each request within 5 s (408), at most 4 connections
# (a new one drops the oldest). One request per connection; the page is written in pieces, never built whole.
import asyncio
import socket
import time
from mipy import log, wifi


def _esc(s):
    return "".join("&#%d;" % ord(c) if c in "&<>\"'" else c for c in s)


def _unquote(s):
    """A url-encoded form value as str ("+" and %xx); UnicodeError (a ValueError) if not UTF-8."""
    b = s.replace("+", " ").encode()
    out = bytearray()
    i = 0
    while i < len(b):
        c = b[i]
        if c == 37 and i + 3 <= len(b):  # "%xx"
            try:
                c = int(b[i + 1:i + 3], 16)
                i += 2
            except ValueError:
                pass
        out.append(c)
        i += 1
    return out.decode()


async def _request(r):
    """(method, path, form dict) of one request, or raises ValueError with the status line to answer."""
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) > 1024:
            raise ValueError("431 Headers Too Large")
        c = await r.read(256)
        if not c:
            raise ValueError("400 Bad Request")
        head += c
    head, _, body = head.partition(b"\r\n\r\n")
    head = head.decode().lower()  # only the method, the path and Content-Length are used
    method, path = head.split(" ", 2)[:2]
    n = 0
    for h in head.split("\r\n")[1:]:
        k, _, v = h.partition(":")
        if k == "content-length":
            v = v.strip()
            if not v.isdigit() or len(v) > 3 or n:  # no sign: "-1" would read to the end; one only
                raise ValueError("400 Bad Request")
            n = int(v)
            if n > 512:
                raise ValueError("413 Payload Too Large")
    if n > len(body):
        body += await r.readexactly(n - len(body))
    form = {}
    for part in body[:n].decode().split("&"):
        k, _, v = part.partition("=")
        form[_unquote(k)] = _unquote(v)
    return method, path, form


def _start(w, status, extra=""):
    w.write(("HTTP/1.0 %s\r\nContent-Type: text/html\r\nConnection: close\r\n%s\r\n" % (status, extra)).encode())


async def _page(w, status, nets, note):
    _start(w, status)
    w.write(b"<!DOCTYPE html><html><head><meta name=viewport content='width=device-width'><title>Wi-Fi setup"
            b"</title></head><body><h2>Wi-Fi setup</h2><p>")
    w.write(_esc(note).encode())
    w.write(b"</p><form method=post action=/save>")
    for i, (s, rssi, _) in enumerate(nets):
        await w.drain()
        w.write(("<label><input type=radio name=ssid value='%s'%s> %s (%d dBm)</label><br>" % (
            _esc(s), " checked" if i == 0 else "", _esc(s), rssi)).encode())
    w.write(b"" if nets else b"No network found.<br>")
    w.write(b"Other network: <input name=other><br>Password: <input type=password name=password><br>"
            b"<button>Save and connect</button></form></body></html>")


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
    st = {"note": "Choose your network.", "try": None, "seen": time.ticks_ms()}
    done = asyncio.Event()
    conns = []  # tasks of the open connections, oldest first

    async def serve(r, w):
        try:
            method, path, form = await _request(r)
            st["seen"] = time.ticks_ms()  # someone is at the form: no giving up on them
            if method == "get" and path == "/":
                await _page(w, "200 OK", nets, st["note"])
            elif method != "post" or path != "/save":  # captive-portal probes land here
                _start(w, "302 Found", "Location: http://%s/\r\n" % ip)
            else:
                name = form.get("other") or form.get("ssid")
                pw = form.get("password", "")
                if not name or len(name.encode()) > 32 or len(pw) > 64:
                    await _page(w, "400 Bad Request", nets,
                                "Choose a network (a name of up to 32 bytes, a password of up to 64).")
                else:
                    wifi.add(name, pw)
                    st["try"] = name
                    st["note"] = "Connecting to %s..." % name
                    done.set()
                    # answer first: the phone gets its page while the device tries the network
                    _start(w, "200 OK")
                    w.write(("<p>Saved. Connecting to %s. <a href=/>Back</a> (reload in a few seconds for the "
                             "result)</p>" % _esc(name)).encode())
        except ValueError as e:  # a bad head or length (the status in args), bytes that are not UTF-8
            _start(w, e.args[0] if e.args and str(e.args[0])[:1] == "4" else "400 Bad Request")
        await w.drain()

    async def handle(r, w):
        me = asyncio.current_task()
        if len(conns) >= 4:
            conns.pop(0).cancel()  # the oldest: a slow client must not hold every socket
        conns.append(me)
        try:
            await asyncio.wait_for(serve(r, w), 5)
        except asyncio.TimeoutError:
            _start(w, "408 Request Timeout")
        except Exception as e:  # CancelledError (dropped for a newer one) is a BaseException: it goes past here
            log.debug("portal: %r", e)
        finally:
            if me in conns:
                conns.remove(me)
            try:
                await w.wait_closed()  # MicroPython's close() does nothing; this closes the socket
            except Exception:
                pass

    srv = await asyncio.start_server(handle, "0.0.0.0", http_port)
    log.info("http: serving on port %d", http_port)
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
        for t in conns:
            t.cancel()
        srv.close()
        await srv.wait_closed()  # the port is free again when this returns (the app may serve on it next)
        wifi.ap_stop()
