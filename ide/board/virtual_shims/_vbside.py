# The virtual board's side channel (MicroPython code, runs inside the board): pin states out to the host, the
# user's inputs (buttons, input levels, ADC voltages, the DHT sensor) in, on a loopback UDP socket beside the
# serial line. Host half: ide/board/virtual/side_channel.py (it has the message table).
#
# Why a socket and not the state files: a file write per Pin.value() costs an open(), a JSON dump and a close(),
# a few hundred bytes of heap each time, and reading a file for every input read costs as much again. Here an
# output change is one send() of a preallocated buffer (no heap at all: measured 0 B per call) and an input read
# is at most one poll(0) per millisecond (0 B; a non-blocking recv() that finds nothing would allocate an
# OSError, 160 B, every time). The board's heap is a chip's, so this matters.
#
# Without a host channel (side_channel.json absent: plain `micropython` in a test) `active` is False and the
# shims fall back to the state files.
import usocket
import uselect
import utime
import _vb

CONFIG = "side_channel.json"
# At most one datagram per this many microseconds; a tighter loop (while True: led.toggle()) would overrun the
# host's socket buffer and lose the last state, so changes in between are sent once the loop pauses.
MIN_GAP_US = 500

active = False
inputs = {}  # pin (int) -> level 0/1, driven by the host (the BOOT button, an input pin)
adc = {}     # pin (int) -> raw reading, as ADC.read() returns it
dht = None   # (temperature, humidity) or None for the shim's own plausible values

_sock = None
_poller = None
_last_poll = 0
_last_send = 0
# Output levels by pin number (2 = not an output), and which levels the host has not been told yet. Bytearrays,
# not dicts: the hardware clock's thread reads them while the program runs (the unix port has no GIL, and a
# byte store is safe where a dict insert is not), and setting a byte allocates nothing.
_level_of = bytearray(b"\x02" * 100)
_unsent = bytearray(100)
_flags = bytearray(1)  # [0]: some level is unsent
_level_msg = bytearray(b"V000")  # V, pin (2 digits), level
_flush_msg = bytearray(b"V000")  # the same, for the clock thread (never shared between threads)
_pwm_msg = bytearray(b"W" + b"0" * 15)  # W, pin (2 digits), duty_u16 (5), freq (8)


def _digits(buf, at, n, width):
    # Write n as `width` decimal digits into buf, without allocating (no str formatting).
    i = at + width - 1
    while i >= at:
        buf[i] = 48 + n % 10
        n //= 10
        i -= 1


def _open():
    global active, _sock, _poller
    cfg = _vb.read_config(CONFIG)
    if not cfg:
        return
    try:
        s = usocket.socket(usocket.AF_INET, usocket.SOCK_DGRAM)
        s.bind(usocket.getaddrinfo("127.0.0.1", 0)[0][-1])
        s.connect(usocket.getaddrinfo("127.0.0.1", cfg["port"])[0][-1])
        s.setblocking(False)
        s.send(b"H" + cfg["token"].encode())
    except OSError:
        return
    _sock = s
    _poller = uselect.poll()
    _poller.register(s, uselect.POLLIN)
    active = True
    # The inputs as they are now: the host's answer to the hello may come after the program's first read.
    _take(cfg)


def _take(msg):
    global dht
    new = {}
    for k, v in (msg.get("in") or {}).items():
        new[int(k)] = v
    inputs.clear()
    inputs.update(new)
    new = {}
    for k, v in (msg.get("adc") or {}).items():
        new[int(k)] = v
    adc.clear()
    adc.update(new)
    d = msg.get("dht")
    dht = tuple(d) if d else None


def poll():
    """Take what the host sent (at most once per millisecond; costs one poll(0) and nothing on the heap)."""
    global _last_poll
    if _sock is None:
        return
    now = utime.ticks_ms()
    if now == _last_poll:
        return
    _last_poll = now
    for _ in _poller.ipoll(0):
        _receive()
        break


def _receive():
    import json
    while True:
        try:
            data = _sock.recv(1024)
        except OSError:
            return
        if data[:1] == b"{":
            try:
                _take(json.loads(data))
            except ValueError:
                pass
        elif data[:1] == b"S":  # the host lost track (it restarted its view): tell it everything again
            _resend_all()


def _send(buf):
    try:
        _sock.send(buf)
    except OSError:
        pass  # the host is gone (the board is being stopped): a chip's LED does not care either


def level(pid, v):
    """An output pin's level changed (Pin.value(), on(), off(), toggle()). Allocates nothing."""
    global _last_send
    if not 0 <= pid < 100 or _level_of[pid] == v:
        return
    _level_of[pid] = v
    now = utime.ticks_us()
    if utime.ticks_diff(now, _last_send) < MIN_GAP_US:
        # Too fast for the host to follow: the clock thread sends the latest level when the burst pauses.
        _unsent[pid] = 1
        if not _flags[0]:
            _flags[0] = 1
            import _vbtick
            _vbtick.start_flusher(flush_unsent)
        return
    _last_send = now
    _unsent[pid] = 0
    _digits(_level_msg, 1, pid, 2)
    _level_msg[3] = 48 + v
    _send(_level_msg)


def flush_unsent():
    # Called on the hardware clock's own thread (see _vbtick), so that it also works while the interpreter
    # sits at the REPL prompt and runs nothing. Touches only bytearrays and its own buffer.
    if not _flags[0] or utime.ticks_diff(utime.ticks_us(), _last_send) < MIN_GAP_US:
        return
    _flags[0] = 0
    pid = 0
    while pid < 100:
        if _unsent[pid]:
            _unsent[pid] = 0
            _digits(_flush_msg, 1, pid, 2)
            _flush_msg[3] = 48 + _level_of[pid]
            _send(_flush_msg)
        pid += 1


def _resend_all():
    pid = 0
    while pid < 100:
        if _level_of[pid] != 2:
            _unsent[pid] = 1
            _flags[0] = 1
        pid += 1
    flush_unsent()


def pwm(pid, duty_u16, freq):
    """A PWM output's duty (0..65535) or frequency changed. Sent every time (a fade is a few hundred per
    second at most); allocates nothing."""
    if not 0 <= pid < 100:
        return
    _level_of[pid] = 2
    _digits(_pwm_msg, 1, pid, 2)
    _digits(_pwm_msg, 3, duty_u16, 5)
    _digits(_pwm_msg, 8, min(freq, 99999999), 8)
    _send(_pwm_msg)


def mode(pid, name, pull=None, value=None):
    """A pin was (re)configured: "IN", "OUT", "OPEN_DRAIN", "ADC", "PWM", "-"... Rare, so plain text."""
    if _sock is None:
        return
    if isinstance(pid, int) and 0 <= pid < 100:
        _level_of[pid] = 2 if value is None else value
        _unsent[pid] = 0
    _send("M%s %s %s %s" % (pid, name, pull or "-", "-" if value is None else value))


def pixels(pid, buf, bpp):
    """A NeoPixel strip was written: the raw buffer as the LEDs get it (GRB or GRBW byte order)."""
    if _sock is None:
        return
    _send(b"N%d %d " % (pid, bpp) + buf)


def nudge():
    """Something the host reads from the state folder changed (the Wi-Fi state, a port mapping)."""
    if _sock is not None:
        _send(b"n")


_open()
