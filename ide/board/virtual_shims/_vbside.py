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
_dirty = False
_levels = {}   # pin -> output level, what the host was (or is to be) told
_pwm = {}      # pin -> (duty_u16, freq)
_level_msg = bytearray(b"V000")  # V, pin (2 digits), level
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
            _flush()


def _send(buf):
    global _last_send, _dirty
    now = utime.ticks_us()
    if utime.ticks_diff(now, _last_send) < MIN_GAP_US:
        if not _dirty:
            _dirty = True
            import _vbtick
            _vbtick.add(_flush)
        return
    _last_send = now
    try:
        _sock.send(buf)
    except OSError:
        pass  # the host is gone (the board is being stopped): a chip's LED does not care either


def _flush():
    # Runs on the hardware clock's tick (see _vbtick) once sends were held back: the latest state of each pin.
    global _dirty, _last_send
    if utime.ticks_diff(utime.ticks_us(), _last_send) < MIN_GAP_US:
        return
    _dirty = False
    import _vbtick
    _vbtick.remove(_flush)
    _last_send = utime.ticks_us()
    try:
        for pid, v in _levels.items():
            _put_level(pid, v)
            _sock.send(_level_msg)
        for pid, (duty, freq) in _pwm.items():
            _put_pwm(pid, duty, freq)
            _sock.send(_pwm_msg)
    except OSError:
        pass


def _put_level(pid, v):
    _digits(_level_msg, 1, pid, 2)
    _level_msg[3] = 49 if v else 48


def _put_pwm(pid, duty, freq):
    _digits(_pwm_msg, 1, pid, 2)
    _digits(_pwm_msg, 3, duty, 5)
    _digits(_pwm_msg, 8, freq, 8)


def level(pid, v):
    """An output pin's level changed (Pin.value(), on(), off(), toggle())."""
    if _levels.get(pid) == v or not isinstance(pid, int) or not 0 <= pid < 100:
        return
    _levels[pid] = v
    _pwm.pop(pid, None)
    _put_level(pid, v)
    _send(_level_msg)


def pwm(pid, duty_u16, freq):
    """A PWM output's duty (0..65535) or frequency changed; freq 0 means the PWM was stopped."""
    if not isinstance(pid, int) or not 0 <= pid < 100:
        return
    _levels.pop(pid, None)
    _pwm[pid] = (duty_u16, freq)
    _put_pwm(pid, duty_u16, min(freq, 99999999))
    _send(_pwm_msg)


def mode(pid, name, pull=None, value=None):
    """A pin was (re)configured: "IN", "OUT", "OPEN_DRAIN", "ADC", "PWM", "-"... Rare, so plain text."""
    if _sock is None:
        return
    _levels.pop(pid, None)
    _pwm.pop(pid, None)
    msg = "M%s %s %s %s" % (pid, name, pull or "-", "-" if value is None else value)
    try:
        _sock.send(msg)
    except OSError:
        pass
    if value is not None and isinstance(pid, int):
        _levels[pid] = value


def pixels(pid, buf, bpp):
    """A NeoPixel strip was written: the raw buffer as the LEDs get it (GRB or GRBW byte order)."""
    if _sock is None:
        return
    try:
        _sock.send(b"N%d %d " % (pid, bpp) + buf)
    except OSError:
        pass


def nudge():
    """Something the host reads from the state folder changed (the Wi-Fi state, a port mapping)."""
    if _sock is not None:
        try:
            _sock.send(b"n")
        except OSError:
            pass


_open()
