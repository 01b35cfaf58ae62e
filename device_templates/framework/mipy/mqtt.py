# mipy.mqtt: a compact asyncio MQTT 3.1.1 client (written for this project; sized for an ESP8266).
#   c = MQTT(client_id, server, port=1883, user=None, password=None, keepalive=60, status_topic=None,
#            on_message=None, on_connect=None, outbox=8, max_msg=1024, backoff=(1, 60))
#   asyncio.create_task(c.run())     connects, reconnects with exponential backoff, forever
#   c.subscribe(topic, qos=0)        remembered, (re)sent on every connection
#   c.publish(topic, msg, retain=False, qos=0) -> False if the outbox was full (the oldest message was dropped)
#   c.connected, c.dropped
# on_message(topic: str, msg: bytes, retained: bool), on_connect(); both may be async.
# status_topic: last will "offline" (retained, QoS 1) and "online" (retained) after each connect.
# Messages published while offline wait in the bounded outbox and are sent in order on reconnect; a QoS 1
# message leaves the outbox only when its PUBACK arrived (resent with DUP after a reconnect). Incoming messages
# larger than max_msg are skipped, as is one with a malformed topic; a packet the protocol does not allow (a
# length over 4 bytes, an ack or ping of more than 64 bytes) ends the connection, which is then retried: bad
# input costs a message or a connection, never the device. Every wait for the broker is bounded (CONNACK 10 s,
# PUBACK and silence: the keepalive). No TLS.
import asyncio
import time
from mipy import log


class MQTTError(Exception):
    pass


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return len(s).to_bytes(2, "big") + s


def _packet(kind, body):
    n = len(body)
    rl = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        rl.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes((kind,)) + rl + body


class MQTT:
    def __init__(self, client_id, server, port=1883, user=None, password=None, keepalive=60,
                 status_topic=None, on_message=None, on_connect=None, outbox=8, max_msg=1024, backoff=(1, 60)):
        self.client_id, self.server, self.port = client_id, server, port
        self.user, self.password, self.keepalive = user, password, keepalive
        self.status_topic = status_topic
        self.on_message, self.on_connect = on_message, on_connect
        self.max_out, self.max_msg, self.backoff = outbox, max_msg, backoff
        self.connected = False
        self.dropped = 0
        self._subs = {}
        self._out = []  # [topic, msg, retain, qos, sent_once]
        self._pid = 0
        self._w = None
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._ack_pid = 0
        self._rx = 0
        self._why = ""

    # ---- public -------------------------------------------------------------------------------------------
    def publish(self, topic, msg, retain=False, qos=0):
        if isinstance(msg, str):
            msg = msg.encode()
        ok = True
        if len(self._out) >= self.max_out:
            self._out.pop(0)
            self.dropped += 1
            ok = False
        self._out.append([topic, msg, retain, qos, False])
        self._wake.set()
        return ok

    def subscribe(self, topic, qos=0):
        self._subs[topic] = qos
        if self.connected:
            self._send_subs({topic: qos})

    async def run(self):
        delay = self.backoff[0]
        while True:
            try:
                await self._session()
            except Exception as e:  # network errors of every kind end the session; the loop reconnects
                log.warn("mqtt: %s", repr(e))
            if self.connected:
                delay = self.backoff[0]
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    # ---- wire ---------------------------------------------------------------------------------------------
    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _send(self, data):
        self._w.write(data)

    def _send_subs(self, subs):
        body = self._next_pid().to_bytes(2, "big")
        for t, q in subs.items():
            body += _str(t) + bytes((q,))
        self._send(_packet(0x82, body))

    async def _close(self):
        self.connected = False
        if self._w:
            try:
                await self._w.wait_closed()  # MicroPython's close() does nothing: without this, a socket per retry
            except Exception:
                pass
            self._w = None

    async def _session(self):
        log.info("mqtt: connecting to %s:%d", self.server, self.port)
        r, self._w = await asyncio.wait_for(asyncio.open_connection(self.server, self.port), 10)
        flags = 0x02  # clean session
        pl = _str(self.client_id)
        if self.status_topic:
            flags |= 0x04 | 0x08 | 0x20  # will, QoS 1, retained
            pl += _str(self.status_topic) + _str(b"offline")
        if self.user:
            flags |= 0x80
            pl += _str(self.user)
            if self.password:
                flags |= 0x40
                pl += _str(self.password)
        self._send(_packet(0x10, _str(b"MQTT") + bytes((4, flags)) + self.keepalive.to_bytes(2, "big") + pl))
        await self._w.drain()
        ack = await asyncio.wait_for(r.readexactly(4), 10)
        if ack[:2] != b"\x20\x02" or ack[3] != 0:
            raise MQTTError("connect refused, code %d" % ack[3])
        self.connected = True
        self._rx = time.ticks_ms()
        log.info("mqtt: connected")
        if self.status_topic:
            self._send(_packet(0x31, _str(self.status_topic) + b"online"))
        if self._subs:
            self._send_subs(self._subs)
        await self._w.drain()
        if self.on_connect:
            from mipy.sched import _call
            await _call(self.on_connect)
        dead = asyncio.Event()
        tasks = [asyncio.create_task(self._guard(c, dead)) for c in (self._reader(r), self._sender(), self._pinger())]
        try:
            await dead.wait()
        finally:
            for t in tasks:
                t.cancel()
        raise MQTTError(self._why)

    async def _guard(self, coro, dead):
        try:
            await coro
            self._why = "closed"
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._why = repr(e)
        dead.set()

    async def _reader(self, r):
        while True:
            b = (await r.readexactly(1))[0]
            n = sh = 0
            while True:
                x = (await r.readexactly(1))[0]
                n |= (x & 0x7F) << sh
                sh += 7
                if not x & 0x80:
                    break
                if sh >= 28:  # MQTT allows 4 length bytes: a 5th is a broken or hostile peer
                    raise MQTTError("bad packet length")
            self._rx = time.ticks_ms()
            kind = b & 0xF0
            if kind != 0x30:
                if n > 64:  # acks and pings are a few bytes (SUBACK: one per topic): never buffer a huge one
                    raise MQTTError("packet 0x%02x of %d bytes" % (b, n))
                data = await r.readexactly(n) if n else b""
                if kind == 0x40 and int.from_bytes(data[:2], "big") == self._ack_pid:
                    self._acked.set()
                elif kind == 0x90 and 0x80 in data[2:]:
                    log.warn("mqtt: subscription refused")
                continue
            if n > self.max_msg + 256:
                while n:  # too large for this device: read past it in small pieces
                    k = len(await r.read(min(n, 128)))
                    if not k:
                        raise MQTTError("closed")
                    n -= k
                log.warn("mqtt: message too large, skipped")
                continue
            data = await r.readexactly(n)
            tl = int.from_bytes(data[:2], "big")
            i = 2 + tl
            if b & 0x06:  # QoS 1 (QoS 2 is not requested, answered like 1)
                if i + 2 <= n:
                    self._send(_packet(0x40, data[i:i + 2]))
                    await self._w.drain()
                i += 2
            try:
                if i > n:
                    raise ValueError
                topic = data[2:2 + tl].decode()
            except ValueError:  # a topic longer than the packet, or not UTF-8: this message only is lost
                log.warn("mqtt: malformed message skipped")
                continue
            if self.on_message:
                from mipy.sched import _call
                await _call(lambda: self.on_message(topic, data[i:], bool(b & 1)))

    async def _sender(self):
        while True:
            if not self._out:
                self._wake.clear()
                await self._wake.wait()
                continue
            m = self._out[0]
            topic, msg, retain, qos, dup = m
            body = _str(topic)
            if qos:
                self._ack_pid = self._next_pid()
                self._acked.clear()
                body += self._ack_pid.to_bytes(2, "big")
            m[4] = True
            self._send(_packet(0x30 | (8 if dup and qos else 0) | (qos and 2) | (1 if retain else 0), body + msg))
            await self._w.drain()
            if qos:
                await asyncio.wait_for(self._acked.wait(), self.keepalive)
            if self._out and self._out[0] is m:
                self._out.pop(0)

    async def _pinger(self):
        half = self.keepalive * 500
        while True:
            await asyncio.sleep_ms(half)
            if time.ticks_diff(time.ticks_ms(), self._rx) > 3 * half:
                raise MQTTError("keepalive timeout")
            self._send(b"\xc0\x00")
            await self._w.drain()
