"""The device framework under attack, driven from the host against the real framework on MicroPython.

A hostile HTTP client (raw sockets), a hostile MQTT broker (a small server here that speaks just enough MQTT to
be believed, then misbehaves on cue), a neighbour's router with names that are not UTF-8, a router that boots
a while after the board, and power cuts (the interpreter killed) while a secret is written. After every attack
the device must still serve or publish within seconds, and must not have rebooted: one "starting" line in its
log, the process alive, no reset request to the host.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from device_helpers import Board

NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}],
        "connect_delay_ms": 100}


@pytest.fixture
def board(tmp_path):
    b = Board(tmp_path)
    b.config("network.json", NETS)
    yield b
    b.stop()


def provision(b: Board, ssid="HomeWiFi", password="secret123") -> None:
    (b.root / "wifi.json").write_text(json.dumps({"ssid": ssid, "password": password}))


def not_rebooted(b: Board) -> None:
    assert b.proc.poll() is None, "the interpreter ended:\n" + b.output[-3000:]
    assert b.output.count(" starting (reset cause") == 1, "rebooted:\n" + b.output[-3000:]
    assert not (b.control.exists() and b.control.read_text().strip()), "asked for a reset:\n" + b.output[-3000:]
    assert "MemoryError" not in b.output, b.output[-3000:]


# ---- a hostile HTTP client -----------------------------------------------------------------------------------


def raw(port: int, data: bytes, timeout: float = 8, chunks=None) -> bytes:
    """Send data (or chunks with pauses) on a fresh connection; everything the board answered until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            if chunks:
                for chunk, pause in chunks:
                    s.sendall(chunk)
                    time.sleep(pause)
            else:
                s.sendall(data)
        except OSError:
            pass  # the board hung up on us mid-send: what we want to see, the answer is read below
        out = b""
        try:
            while True:
                piece = s.recv(4096)
                if not piece:
                    break
                out += piece
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def status(answer: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(m.group(1)) if m else 0


def get(port: int, path: str) -> tuple[int, bytes]:
    answer = raw(port, f"GET {path} HTTP/1.1\r\nHost: board\r\n\r\n".encode())
    return status(answer), answer.partition(b"\r\n\r\n")[2]


def serves(b: Board, port: int) -> None:
    """The dashboard answers its API at once, and the board is the same one (no reboot)."""
    t0 = time.monotonic()
    st, body = get(port, "/api")
    assert st == 200 and "uptime_s" in json.loads(body), (st, body)
    assert time.monotonic() - t0 < 3
    not_rebooted(b)


@pytest.fixture
def dashboard(board):
    board.install_template("web_dashboard")
    provision(board)
    board.start(heap="256K")
    board.wait_for("http: serving on port 80")
    return board, board.read_state("ports.json")["80"]


def test_hostile_http_client(dashboard):
    b, port = dashboard
    serves(b, port)
    # An endless header line: cut off at the head limit, never held in RAM whole.
    answer = raw(port, b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 200_000)
    assert status(answer) == 431, answer[:200]
    serves(b, port)
    # Content-Length: negative (readexactly(-1) would read to the end), huge, not a number, twice.
    for length, expect in ((b"-1", 400), (b"99999999999", 400), (b"50000", 413), (b"0x10", 400), (b"+5", 400), (b"5 5", 400)):
        answer = raw(port, b"POST /api/led HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\nhello")
        assert status(answer) == expect, (length, answer[:200])
    answer = raw(port, b"POST /api/led HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nhello")
    assert status(answer) == 400
    assert status(raw(port, b"POST /api/led HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")) == 400
    serves(b, port)
    # Binary junk, and bytes that are not UTF-8 in the request line and in a header.
    for junk in (bytes(range(256)) * 4 + b"\r\n\r\n", b"\xff\xfe\xfd / HTTP/1.1\r\n\r\n",
                 b"GET /\xc3( HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n", b"GET /%ff HTTP/1.1\r\n\r\n",
                 b"\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"):
        st = status(raw(port, junk))
        assert st in (400, 431), (junk[:40], st)
    # Too many header lines.
    assert status(raw(port, b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 40 + b"\r\n")) == 431
    serves(b, port)
    # Traversal: only www/ is ever served.
    for path in ("/../main.py", "/%2e%2e/config.py", "/..%2fconfig.py", "//config.py", "/www/../config.py",
                 "http://board/config.py", "/%2fconfig.py", "/./config.py", "/.salt", "/secrets.dat", "/main.py",
                 "/lib/mipy/app.mpy", "/%00", "/www%5c..%5cconfig.py", "config.py", "/index.html/../../main.py"):
        st, body = get(port, path)
        assert st in (400, 404), (path, st)
        assert b"device_name" not in body
    assert get(port, "/index.html")[0] == 200
    serves(b, port)


def test_cross_site_post_is_refused(dashboard):
    b, port = dashboard
    # What a page on another site can make the user's browser send: a form post, with its Origin, no token.
    form = b"POST /api/led HTTP/1.1\r\nHost: 192.168.1.50\r\nOrigin: http://evil.example\r\n" \
           b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
    for body in (b"", b"token=", b"token=0123456789abcdef01234567", b"x=1"):
        answer = raw(port, form % (len(body), body))
        assert status(answer) == 403, answer[:200]
    assert status(raw(port, b"POST /api/led?token=bad HTTP/1.1\r\n\r\n")) == 403
    assert (b.read_state("pins.json") or {}).get("2", {}).get("value", 0) == 0  # the LED never switched
    b.wait_for("without the token: refused")
    # The page carries the token; with it, the same request works (form field, query and header).
    st, page = get(port, "/")
    token = re.search(rb'name="token" value="([0-9a-f]{24})"', page).group(1)
    assert b"{{token}}" not in page and page.count(token) == 2
    assert status(raw(port, form % (6 + len(token), b"token=" + token))) == 200
    b.wait_state("pins.json", lambda p: p["2"]["value"] == 1)
    assert status(raw(port, b"POST /api/led HTTP/1.1\r\nX-Token: " + token + b"\r\n\r\n")) == 200
    b.wait_state("pins.json", lambda p: p["2"]["value"] == 0)
    serves(b, port)


def test_slow_loris_and_idle_connections_do_not_starve_the_board(dashboard):
    b, port = dashboard
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"GET /api HTTP/1.1\r\n")
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
    try:
        time.sleep(0.5)
        serves(b, port)  # a new client is served: the oldest idle connections were dropped for it
        # The slow client, dribbling a header byte at a time, is cut off by the request deadline (5 s).
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 9:
            try:
                slow.sendall(b"X")
                slow.settimeout(0.3)
                if slow.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        assert closed, "the slow client kept its connection"
        serves(b, port)
    finally:
        slow.close()
        for s in idle:
            s.close()
    serves(b, port)


# ---- a hostile MQTT broker ------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: bytes, payload: bytes, retain=False) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + payload
    return bytes([0x30 | (1 if retain else 0)]) + varint(len(body)) + body


class HostileBroker:
    """Speaks enough MQTT 3.1.1 to be a broker (CONNACK, SUBACK, PUBACK, PINGRESP; remembers what the client
    publishes), one client at a time; `send` injects any bytes, `hang_up` closes the client's connection."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.client: socket.socket | None = None
        self.connections = 0
        self.subscribed = threading.Event()
        self.published: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self.cond:
                self.client = conn
                self.connections += 1
                self.subscribed.clear()
                self.cond.notify_all()
            threading.Thread(target=self._talk_then_close, args=(conn,), daemon=True).start()

    def _talk_then_close(self, conn):
        try:
            self._talk(conn)
        except OSError:
            pass
        conn.close()

    def _read(self, conn, n):
        data = b""
        while len(data) < n:
            piece = conn.recv(n - len(data))
            if not piece:
                raise OSError("closed")
            data += piece
        return data

    def _talk(self, conn):
        while True:
            head = self._read(conn, 1)[0]
            n = shift = 0
            while True:
                x = self._read(conn, 1)[0]
                n |= (x & 0x7F) << shift
                shift += 7
                if not x & 0x80:
                    break
            body = self._read(conn, n)
            kind = head & 0xF0
            if kind == 0x10:
                conn.sendall(b"\x20\x02\x00\x00")
            elif kind == 0x80:
                conn.sendall(b"\x90\x03" + body[:2] + b"\x01")
                self.subscribed.set()
            elif kind == 0xC0:
                conn.sendall(b"\xd0\x00")
            elif kind == 0x30:
                tl = int.from_bytes(body[:2], "big")
                i = 2 + tl
                if head & 0x06:
                    conn.sendall(b"\x40\x02" + body[i:i + 2])
                    i += 2
                with self.cond:
                    self.published.append((body[2:2 + tl].decode(), body[i:]))
                    self.cond.notify_all()

    def send(self, data: bytes) -> None:
        self.client.sendall(data)

    def hang_up(self) -> None:
        self.client.shutdown(socket.SHUT_RDWR)

    def wait_connections(self, n: int, timeout: float = 10) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.connections >= n and self.client is not None, timeout), \
                f"{self.connections} connections"
        assert self.subscribed.wait(timeout), "no SUBSCRIBE"

    def wait_published(self, pred, timeout: float = 5):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.published:
                    if pred(m):
                        return m
                left = end - time.monotonic()
                assert left > 0, f"nothing matching was published; got {self.published[-5:]!r}"
                self.cond.wait(left)

    def close(self):
        self.running = False
        self.server.close()
        if self.client:
            self.client.close()


SET, STATE = b"home/relay1/relay/set", "home/relay1/relay/state"


def relay_pin(b: Board) -> int:
    return (b.read_state("pins.json") or {}).get("26", {}).get("value", 0)


def test_hostile_mqtt_broker(board):
    broker = HostileBroker()
    try:
        board.install_template("mqtt_relay")
        board.set_config(mqtt_server="127.0.0.1", mqtt_port=broker.port, ota=False)  # one MQTT client: the relay's
        provision(board)
        board.start(heap="256K")
        broker.wait_connections(1)
        expected = [0]

        def still_publishes(connections: int) -> None:
            """The relay obeys a command and publishes its new state within seconds, on the expected connection."""
            broker.wait_connections(connections)
            broker.published.clear()
            expected[0] ^= 1
            broker.send(publish_packet(SET, b"toggle"))
            want = b"on" if expected[0] else b"off"
            try:
                broker.wait_published(lambda m: m == (STATE, want))
            except AssertionError as e:
                raise AssertionError(f"{e}\n{board.output[-3000:]}") from None
            assert relay_pin(board) == expected[0]
            assert broker.connections == connections, "reconnected when it need not have"
            not_rebooted(board)

        still_publishes(1)
        # A remaining length of 5 bytes (MQTT allows 4): the connection goes, the client comes back.
        broker.send(b"\x30\xff\xff\xff\xff\x7f")
        still_publishes(2)
        # 1 MB PUBLISH on the subscribed topic: read past in small pieces, the connection stays.
        broker.send(publish_packet(SET, b"x" * 1_000_000))
        board.wait_for("message too large, skipped")
        still_publishes(2)
        # Huge lengths on packets that are a few bytes by the protocol: no 1 MB buffer, the connection goes.
        broker.send(b"\x90" + varint(1_000_000))
        still_publishes(3)
        broker.send(b"\xd0" + varint(200_000))
        still_publishes(4)
        # Closed in the middle of a packet, and in the middle of skipping a large one.
        broker.send(b"\x30" + varint(40) + b"\x00\x15home/relay1/re")
        broker.hang_up()
        still_publishes(5)
        broker.send(b"\x30" + varint(500_000) + b"\x00\x01x" + b"y" * 1000)
        broker.hang_up()
        still_publishes(6)
        # Topics that are not UTF-8, and a topic length past the end of the packet: that message only is lost.
        broker.send(publish_packet(b"home/\xff\xfe/set", b"on"))
        broker.send(b"\x30\x06\x00\xf0abcd")
        broker.send(b"\x32" + varint(9) + b"\x00\x05\xc3(abc\x00\x07")  # QoS 1, still acknowledged
        board.wait_for("malformed message skipped")
        still_publishes(6)
        assert board.output.count("malformed message skipped") >= 3
        # A retained command (the broker replays it at every connect): ignored, the relay stays as it is.
        before = relay_pin(board)
        broker.send(publish_packet(SET, b"toggle", retain=True))
        board.wait_for("retained command ignored")
        time.sleep(0.3)
        assert relay_pin(board) == before
        still_publishes(6)
    finally:
        broker.close()


def test_relay_acts_on_retained_commands_when_configured(board):
    broker = HostileBroker()
    try:
        board.install_template("mqtt_relay")
        board.set_config(mqtt_server="127.0.0.1", mqtt_port=broker.port, act_on_retained=True, ota=False)
        provision(board)
        board.start(heap="256K")
        broker.wait_connections(1)
        broker.send(publish_packet(SET, b"on", retain=True))
        broker.wait_published(lambda m: m == (STATE, b"on"))
        assert relay_pin(board) == 1
    finally:
        broker.close()


# ---- Wi-Fi and power cuts ---------------------------------------------------------------------------------------

# A neighbour's routers: names that are not UTF-8 (Latin-1, cut-off UTF-8), a hidden one, all stronger than ours.
HOSTILE_SCAN = """
import network
_sta = network.WLAN(network.STA_IF)
_real_scan = _sta.scan
def _scan():
    return [(b"Caf\\xe9-Gast", b"\\x02\\x00\\x00\\x00\\x00\\x01", 1, -30, 3, False),
            (b"\\xe6\\x97", b"\\x02\\x00\\x00\\x00\\x00\\x02", 6, -35, 3, False),
            (b"", b"\\x02\\x00\\x00\\x00\\x00\\x03", 11, -40, 3, True)] + _real_scan()
_sta.scan = _scan
import main
"""


def test_non_utf8_ssids_in_the_scan(board):
    board.install_template("wifi_portal")
    board.set_config(wifi_timeout=2)
    board.start(HOSTILE_SCAN)  # nothing stored: the portal, which lists the scan
    board.wait_for("http: serving on port 80")
    port = board.read_state("ports.json")["80"]
    st, page = get(port, "/")
    assert st == 200 and b"HomeWiFi" in page and b"Caf" not in page
    not_rebooted(board)
    # And with a stored network: connect() scans too, and joins it.
    board.stop()
    provision(board)
    board.start(HOSTILE_SCAN)
    board.wait_for("online as 127.0.0.1")
    not_rebooted(board)


def test_router_that_comes_up_later_is_joined_and_the_ap_has_a_password(board):
    board.install_template("wifi_portal")
    board.set_config(wifi_timeout=1, portal_timeout_s=1, wifi_retry_max_s=2, ap_password="letmein-2024")
    board.config("network.json", {"networks": [], "connect_delay_ms": 100})  # the router is still booting
    provision(board)
    board.start()
    board.wait_for("access point mipy-setup on 127.0.4.1, password letmein-2024")
    assert board.read_state("network_state.json")["ap"]["authmode"] == 3  # WPA2, not open
    board.wait_for("trying the stored networks again")
    n = board.wait_for("starting the set-up portal", start=board.wait_for("trying the stored networks again"))
    board.config("network.json", NETS)  # the router is up
    board.wait_for("online as 127.0.0.1", start=n, timeout=15)
    assert board.read_state("network_state.json")["ap"]["active"] is False
    not_rebooted(board)


def test_ap_password_derived_when_not_configured_and_open_only_when_chosen(board):
    board.install_template("wifi_portal")
    board.set_config(ap_password=None)
    board.start()
    line = board.lines[board.wait_for("access point mipy-setup")]
    derived = re.search(r"password ([0-9a-f]{10})$", line).group(1)
    board.stop()
    board.start()  # the same chip: the same password
    assert board.lines[board.wait_for("access point mipy-setup")].endswith(derived)
    board.stop()
    board.set_config(ap_password="")
    board.start()
    board.wait_for("OPEN access point mipy-setup")
    assert board.read_state("network_state.json")["ap"]["authmode"] == 0


PUT_LOOP = """
import time
from mipy import secret
print("value", secret.get("counter"))
i = 0
while True:
    i += 1
    secret.put("counter", "%06d" % i)
    secret.put("filler%d" % (i % 8), "x" * 200)
    print("put", i)
"""

CUT_AT_RENAME = """
import os, time
from mipy import secret
class _CutAtRename:  # the os module as secret.py sees it, with a rename that waits for the power cut
    def __getattr__(self, name):
        return getattr(os, name)
    def rename(self, a, b):
        if a.endswith("secrets.dat.tmp"):
            print("CUT NOW"); time.sleep(30)  # the host kills the board here, as a power cut would
        os.rename(a, b)
secret.os = _CutAtRename()
secret.put("wifi:HomeWiFi", "changed-password")
"""


def test_power_cuts_during_secret_writes_lose_nothing(board):
    board.install_template("wifi_portal")
    provision(board)
    board.set_config(wifi_timeout=2)
    board.start()
    board.wait_for("online as 127.0.0.1")  # provisioned: the store holds the network
    board.stop()
    last = 0
    for cut in range(6):
        board.start(PUT_LOOP)
        board.wait_for("value ")
        value = board.lines[board.wait_for("value ")].split()[1]
        assert value == "None" if cut == 0 else int(value) >= 1, (cut, value)
        board.wait_for("put %d" % (3 + cut * 7))
        time.sleep(0.013 * cut)
        board.stop()  # the power cut: SIGKILL, at whatever point of a write it came
        last = cut
    assert last == 5
    board.start(CUT_AT_RENAME)
    board.wait_for("CUT NOW")
    board.stop()  # the new store written in full beside the old one, not yet renamed over it
    assert (board.root / "secrets.dat.tmp").exists()
    board.start()
    board.wait_for("online as 127.0.0.1", timeout=15)  # the old store, whole: the network is still there
    assert "corrupt" not in board.output
    not_rebooted(board)


def test_corrupt_or_wrongly_shaped_store_sends_the_board_to_the_portal(board):
    board.install_template("wifi_portal")
    board.set_config(wifi_timeout=1)
    (board.root / "secrets.dat").write_text('{"wifi:HomeWiFi": "abc')  # cut off
    (board.root / "secrets.json").write_text('["not", "an", "object"]')
    (board.root / "wifi.json").write_text('"HomeWiFi"')
    board.start()
    board.wait_for("secret: /secrets.dat is corrupt")
    board.wait_for("is not a JSON object")
    board.wait_for("holds no network")
    board.wait_for("http: serving on port 80")  # the portal, not a boot loop
    assert (board.root / "secrets.dat.bad").exists()
    assert not (board.root / "secrets.json").exists() and not (board.root / "wifi.json").exists()
    port = board.read_state("ports.json")["80"]
    assert get(port, "/")[0] == 200
    not_rebooted(board)
    board.stop()
    (board.root / "secrets.dat").write_text("[1, 2, 3]")  # valid JSON, wrong shape
    board.start()
    board.wait_for("secret: /secrets.dat is corrupt")
    board.wait_for("http: serving on port 80")
    not_rebooted(board)
