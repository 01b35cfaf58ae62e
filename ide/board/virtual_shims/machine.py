# `machine` for the virtual board: the unix port's built-in module extended with the ESP32 peripherals.
#
# What the host sees and steers travels on the side channel (_vbside: a loopback socket, cheap on the heap) when
# the host opened one, as the virtual board always does. Without one (plain `micropython` in a shim test), it goes
# through the board's state folder (see _vb):
#   virtual.json (host -> board): {"board": "esp32"|"esp8266", "print_pins": bool, "unique_id": "a1b2c3d4e5f6",
#       "adc": {"34": 2048}, "i2c": [60], "spi": [], "freq": 160000000, "dht": {"temperature": 21.5, ...}}
#   inputs.json  (host -> board): levels of input pins, {"0": 0}; polled while a Pin IRQ is registered
#   boot.json    (host -> board): {"reset_cause": "PWRON_RESET" | "WDT" | 3 ...}, written before each boot
#   pins.json    (board -> host): {"2": {"mode": "OUT", "value": 1}, "4": {"mode": "PWM", "freq": 1000, ...}}
from umachine import *  # noqa: F401,F403  (extends the built-in module: idle, mem8/16/32, Signal ...)
import utime
import _vb
import _vbside
import _vbtick

_cfg = _vb.read_config("virtual.json", {}) or {}
_ESP8266 = _cfg.get("board") == "esp8266"
_print_pins = bool(_cfg.get("print_pins"))
_side = _vbside.active

# reset causes, with the numbering of the chip being imitated
if _ESP8266:
    PWRON_RESET, WDT_RESET, SOFT_RESET, DEEPSLEEP_RESET, HARD_RESET = 0, 1, 4, 5, 6
else:
    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
PIN_WAKE, EXT0_WAKE, EXT1_WAKE, TIMER_WAKE, TOUCHPAD_WAKE, ULP_WAKE = 2, 2, 3, 4, 5, 6
SLEEP, DEEPSLEEP = 2, 4

_pins = {}  # pin id -> state dict, mirrored to pins.json


def _record(pid, **state):
    st = _pins.setdefault(str(pid), {})
    st.update(state)
    if not _side:
        _vb.write_state("pins.json", _pins)
    if _print_pins:
        print("[pin %s] %s" % (pid, " ".join("%s=%s" % kv for kv in sorted(state.items()) if kv[0] != "mode_n")))


# ---- Pin ------------------------------------------------------------------------------------------------------
_inputs = {}  # host-driven input levels (inputs.json) plus levels set with vb_input()
_inputs_read = None


def _input_level(pid):
    global _inputs_read
    now = utime.ticks_ms()
    if _inputs_read is None or utime.ticks_diff(now, _inputs_read) >= 20:
        _inputs_read = now
        host = _vb.read_config("inputs.json")
        if host:
            _inputs.update(host)
    return _inputs.get(str(pid))


class Pin:
    IN, OUT, OPEN_DRAIN, ALT, ALT_OPEN_DRAIN, ANALOG = 1, 3, 7, 4, 5, 6
    PULL_DOWN, PULL_UP, PULL_HOLD = 1, 2, 4
    IRQ_RISING, IRQ_FALLING, IRQ_LOW_LEVEL, IRQ_HIGH_LEVEL = 1, 2, 4, 5
    WAKE_LOW, WAKE_HIGH = 4, 5
    DRIVE_0, DRIVE_1, DRIVE_2, DRIVE_3 = 0, 1, 2, 3
    _MODES = {1: "IN", 3: "OUT", 7: "OPEN_DRAIN", 4: "ALT", 5: "ALT_OPEN_DRAIN", 6: "ANALOG"}
    _irqs = {}  # pin id -> [pin, handler, trigger, last level]

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, alt=None):
        if isinstance(id, Pin):
            id = id._id
        self._id = id
        st = _pins.get(str(id))
        self._mode = st["mode_n"] if st and "mode_n" in st else None
        self._pull = None
        if _side:
            known = _vbside._level_of[id] if isinstance(id, int) and 0 <= id < 100 else 2
            self._out = 0 if known == 2 else known
        else:
            self._out = st.get("value", 0) if st else 0
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, alt=None):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            self._out = 1 if value else 0
        if mode != -1 or value is not None or pull != -1:
            self._save()

    def _save(self):
        st = {"mode": self._MODES.get(self._mode, "-"), "mode_n": self._mode}
        if self._pull:
            st["pull"] = "UP" if self._pull == 2 else "DOWN"
        out = self._mode in (self.OUT, self.OPEN_DRAIN)
        if out:
            st["value"] = self._out
        _record(self._id, **st)
        if _side:
            _vbside.mode(self._id, st["mode"], st.get("pull"), self._out if out else None)

    def value(self, x=None):
        if x is None:
            m = self._mode
            if m == 3 or m == 7:  # OUT, OPEN_DRAIN (a tuple here would be built, on the heap, at every read)
                return self._out
            if _side:
                _vbside.poll()
                v = _vbside.inputs.get(self._id)
            else:
                v = _input_level(self._id)
            if v is None:
                return 1 if self._pull == self.PULL_UP else 0
            return 1 if v else 0
        v = 1 if x else 0
        if _side:
            # The hot path of every blink loop: no dict, no string, nothing on the heap (see _vbside).
            self._out = v
            if self._mode == 3 or self._mode == 7:  # OUT, OPEN_DRAIN
                _vbside.level(self._id, v)
                if _print_pins:
                    _record(self._id, value=v)
            return
        if v != self._out or _pins.get(str(self._id), {}).get("value") != v:
            self._out = v
            if self._mode in (self.OUT, self.OPEN_DRAIN):
                _record(self._id, value=v)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    high, low = on, off

    def toggle(self):
        self.value(1 - self._out)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self.init(m)

    def pull(self, p=None):
        if p is None:
            return self._pull
        self.init(pull=p)

    def drive(self, d=None):
        return self.DRIVE_2 if d is None else None

    def irq(self, handler=None, trigger=3, *, priority=1, wake=None, hard=False):
        if handler is None:
            Pin._irqs.pop(self._id, None)
            if not Pin._irqs:
                _vbtick.remove(_poll_irqs)
        else:
            Pin._irqs[self._id] = [self, handler, trigger, self.value()]
            _vbtick.add(_poll_irqs)
        return self

    def __repr__(self):
        return "Pin(%s)" % self._id


def _poll_irqs():
    for e in tuple(Pin._irqs.values()):
        pin, handler, trigger, last = e
        v = pin.value()
        if v != last:
            e[3] = v
            if (v and trigger & Pin.IRQ_RISING) or (not v and trigger & Pin.IRQ_FALLING):
                handler(pin)


def vb_input(pin, level):
    """Drive an input pin from inside the board (tests, simulations): like a button wired to it."""
    _inputs[str(pin._id if isinstance(pin, Pin) else pin)] = 1 if level else 0
    if _side:
        _vbside.inputs[pin._id if isinstance(pin, Pin) else pin] = 1 if level else 0
    global _inputs_read
    _inputs_read = utime.ticks_ms()  # keep this level until the host's inputs.json is read again
    if Pin._irqs:
        _poll_irqs()


def _pid(p):
    return p._id if isinstance(p, Pin) else p


# ---- ADC, PWM -------------------------------------------------------------------------------------------------
class ADC:
    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3
    WIDTH_9BIT, WIDTH_10BIT, WIDTH_11BIT, WIDTH_12BIT = 0, 1, 2, 3

    def __init__(self, pin, *, atten=None):
        self._id = _pid(pin)
        self._atten = 3 if atten is None else atten
        _record(self._id, mode="ADC")
        if _side:
            _vbside.mode(self._id, "ADC")

    def init(self, *, atten=None):
        if atten is not None:
            self._atten = atten

    def atten(self, a):
        self._atten = a

    def width(self, w):
        pass

    def read_u16(self):
        if _side:
            _vbside.poll()
            v = _vbside.adc.get(self._id)
        else:
            v = (_vb.read_config("virtual.json", {}) or {}).get("adc", {}).get(str(self._id))
        if v is None:  # plausible: mid-scale with a slow drift and a little noise
            import math
            t = utime.ticks_ms() / 10000
            v = 0.5 + 0.2 * math.sin(t) + (utime.ticks_us() % 101 - 50) / 10000
            return int(v * 65535)
        return min(65535, int(v) << (6 if _ESP8266 else 4))  # configured as the raw read() value

    def read(self):
        return self.read_u16() >> (6 if _ESP8266 else 4)

    def read_uv(self):
        return self.read_u16() * 3300000 // 65535 if not _ESP8266 else self.read_u16() * 1000000 // 65535


class PWM:
    def __init__(self, dest, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        self._id = _pid(dest)
        self._freq = 5000
        self._duty = 0
        self._on = True
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self._freq = freq
        if duty is not None:
            self._duty = (duty * 65535 + 511) // 1023
        if duty_u16 is not None:
            self._duty = duty_u16
        if duty_ns is not None:
            self._duty = min(65535, duty_ns * self._freq * 65535 // 1000000000)
        self._on = True
        self._save()

    def _save(self):
        if _side:
            if self._on:
                _vbside.pwm(self._id, self._duty, self._freq)
            else:
                _vbside.mode(self._id, "-")
            if not _print_pins:
                return
        if self._on:
            _record(self._id, mode="PWM", freq=self._freq, duty_u16=self._duty)
        else:
            _record(self._id, mode="-", freq=0, duty_u16=0)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        self._save()

    def duty(self, d=None):
        if d is None:
            return (self._duty * 1023 + 32767) // 65535
        self.init(duty=d)

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self.init(duty_u16=d)

    def duty_ns(self, d=None):
        if d is None:
            return self._duty * 1000000000 // (self._freq * 65535)
        self.init(duty_ns=d)

    def deinit(self):
        self._on = False
        self._save()


# ---- buses: devices present are listed in virtual.json ("i2c": [60, 118]); reads return zeros ----------------
def _nodev():
    raise OSError(19)  # ENODEV, as the ESP32 port raises when no device acknowledges


class I2C:
    def __init__(self, id=-1, *, scl=None, sda=None, freq=400000, timeout=50000):
        self._devs = (_vb.read_config("virtual.json", {}) or {}).get("i2c", [])

    def init(self, *a, **k):
        pass

    def deinit(self):
        pass

    def scan(self):
        return list(self._devs)

    def _chk(self, addr):
        if addr not in self._devs:
            _nodev()

    def readfrom(self, addr, n, stop=True):
        self._chk(addr)
        return bytes(n)

    def readfrom_into(self, addr, buf, stop=True):
        self._chk(addr)
        for i in range(len(buf)):
            buf[i] = 0

    def writeto(self, addr, buf, stop=True):
        self._chk(addr)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        self._chk(addr)
        return sum(len(b) for b in vector)

    def readfrom_mem(self, addr, memaddr, n, *, addrsize=8):
        return self.readfrom(addr, n)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self.readfrom_into(addr, buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._chk(addr)

    # primitive operations (SoftI2C)
    def start(self):
        pass

    stop = start

    def readinto(self, buf, nack=True):
        for i in range(len(buf)):
            buf[i] = 0

    def write(self, buf):
        return len(buf)


SoftI2C = I2C


class SPI:
    MSB, LSB, CONTROLLER = 0, 1, 0

    def __init__(self, id=1, baudrate=1000000, *a, **k):
        self._baud = baudrate

    def init(self, baudrate=1000000, *a, **k):
        self._baud = baudrate

    def deinit(self):
        pass

    def read(self, n, write=0x00):
        return bytes(n)

    def readinto(self, buf, write=0x00):
        for i in range(len(buf)):
            buf[i] = 0

    def write(self, buf):
        return None

    def write_readinto(self, wbuf, rbuf):
        self.readinto(rbuf)


SoftSPI = SPI


class UART:
    INV_TX, INV_RX, RTS, CTS = 1, 2, 4, 8

    def __init__(self, id, baudrate=115200, **kw):
        self._id = id
        self._baud = baudrate
        self._rx = b""

    def init(self, baudrate=115200, **kw):
        self._baud = baudrate

    def deinit(self):
        pass

    def any(self):
        return len(self._rx)

    def read(self, n=-1):
        if not self._rx:
            return None
        n = len(self._rx) if n < 0 else n
        r, self._rx = self._rx[:n], self._rx[n:]
        return r

    def readline(self):
        i = self._rx.find(b"\n")
        return self.read(len(self._rx) if i < 0 else i + 1)

    def readinto(self, buf, n=-1):
        r = self.read(len(buf) if n < 0 else n)
        if r is None:
            return None
        buf[: len(r)] = r
        return len(r)

    def write(self, buf):
        return len(buf)

    def sendbreak(self):
        pass

    def flush(self):
        pass

    def txdone(self):
        return True

    def vb_receive(self, data):
        """Feed bytes to the receive buffer (simulating the far end of the line)."""
        self._rx += data


# ---- Timer ----------------------------------------------------------------------------------------------------
class Timer:
    ONE_SHOT, PERIODIC = 0, 1
    _active = []

    def __init__(self, id=-1, *, mode=1, period=-1, freq=-1, callback=None, **kw):
        self._id = id
        self._due = None
        if callback is not None:
            self.init(mode=mode, period=period, freq=freq, callback=callback)

    def init(self, *, mode=1, period=-1, freq=-1, callback=None, tick_hz=1000):
        if freq > 0:
            period = 1000 // freq
        elif tick_hz != 1000 and period > 0:
            period = period * 1000 // tick_hz
        self._mode = mode
        self._period = max(1, period if period > 0 else 1000)
        self._cb = callback
        self._due = utime.ticks_add(utime.ticks_ms(), self._period)
        if self not in Timer._active:
            Timer._active.append(self)
        _vbtick.add(_run_timers)

    def deinit(self):
        self._due = None
        if self in Timer._active:
            Timer._active.remove(self)
        if not Timer._active:
            _vbtick.remove(_run_timers)

    def value(self):
        return 0 if self._due is None else max(0, utime.ticks_diff(self._due, utime.ticks_ms()))


def _run_timers():
    now = utime.ticks_ms()
    for t in tuple(Timer._active):
        if t._due is not None and utime.ticks_diff(now, t._due) >= 0:
            if t._mode == Timer.PERIODIC:
                t._due = utime.ticks_add(t._due, t._period)
                if utime.ticks_diff(now, t._due) > 0:  # fell behind: skip, as a busy chip would
                    t._due = utime.ticks_add(now, t._period)
            else:
                t.deinit()
            if t._cb:
                t._cb(t)


# ---- RTC, WDT -------------------------------------------------------------------------------------------------
class RTC:
    def __init__(self, id=0):
        pass

    def init(self, dt=None):
        if dt is not None:
            self.datetime(dt)

    def datetime(self, dt=None):
        import time
        if dt is None:
            t = time.localtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        y, mo, d = dt[0], dt[1], dt[2]
        h, mi, s = (dt[4], dt[5], dt[6]) if len(dt) > 6 else (0, 0, 0)
        time._set(time.mktime((y, mo, d, h, mi, s, 0, 0)))

    def memory(self, data=None):
        """RTC memory survives deep sleep (kept in the host's state folder)."""
        p = _vb.state_path("rtc_memory.bin")
        if data is None:
            try:
                with open(p, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(p, "wb") as f:
            f.write(data)


class WDT:
    """Once started it cannot be stopped; if not fed within `timeout` ms the board is hard-reset (cause WDT)."""

    def __init__(self, id=0, timeout=5000):
        self._timeout = max(1, timeout)
        _vbtick._start()
        self.feed()

    def feed(self):
        _vbtick.wdt_deadline = utime.ticks_add(utime.ticks_ms(), self._timeout)


# ---- the chip -------------------------------------------------------------------------------------------------
def reset():
    _vb.hard_reset("SOFT_RESET")


def soft_reset():
    _vb.soft_reset()


def deepsleep(ms=0):
    _vb.deepsleep(ms)


def lightsleep(ms=None):
    if ms is None:
        while True:  # until an interrupt; Timer and Pin callbacks still run
            utime.sleep_ms(10)
            idle()  # noqa: F405
    import time
    time.sleep_ms(ms)


def reset_cause():
    c = (_vb.read_config("boot.json", {}) or {}).get("reset_cause", PWRON_RESET)
    if isinstance(c, int):
        return c
    c = str(c).upper()
    for key, val in (("WDT", WDT_RESET), ("DEEP", DEEPSLEEP_RESET), ("PWR", PWRON_RESET),
                     ("POWER", PWRON_RESET), ("SOFT", SOFT_RESET), ("SW", SOFT_RESET)):
        if key in c:
            return val
    return HARD_RESET


def wake_reason():
    return TIMER_WAKE if reset_cause() == DEEPSLEEP_RESET else 0


_uid = None


def unique_id():
    """6 bytes, stable per board: from virtual.json "unique_id", else generated once and kept in uid.json."""
    global _uid
    if _uid is None:
        h = _cfg.get("unique_id") or (_vb.read_config("uid.json", {}) or {}).get("unique_id")
        if not h:
            import os, binascii
            h = binascii.hexlify(os.urandom(6)).decode()
            _vb.write_state("uid.json", {"unique_id": h})
        import binascii
        _uid = binascii.unhexlify(h)[:6]
    return _uid


_freq = _cfg.get("freq", 80000000 if _ESP8266 else 160000000)


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def disable_irq():
    return 1


def enable_irq(state=1):
    pass


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    """No pulses arrive on the virtual board: -2 (no pulse started) unless the pin already sits at the level."""
    utime.sleep_us(min(timeout_us, 100000))
    return -1 if pin.value() == pulse_level else -2


def bitstream(pin, encoding, timing, data):
    pass
