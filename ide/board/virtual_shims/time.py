# `time` as on an ESP32: the epoch is 2000-01-01 (the unix port counts from 1970), time() is an int, there is
# no time zone (localtime == gmtime), the clock can be set (machine.RTC, ntptime), and sleeps are sliced so that
# Timer and Pin IRQ callbacks (see _vbtick) run while the program sleeps, as they would on the chip.
from utime import *  # noqa: F401,F403  (extends the built-in module)
import utime as _t

EPOCH_OFFSET = 946684800  # seconds from 1970-01-01 to 2000-01-01
_offset = 0  # seconds added to the host clock by RTC.datetime(...)
_SLICE_MS = 10


def time():
    return int(_t.time()) - EPOCH_OFFSET + _offset


def time_ns():
    return _t.time_ns() + (_offset - EPOCH_OFFSET) * 1000000000


def gmtime(secs=None):
    return _t.gmtime((time() if secs is None else int(secs)) + EPOCH_OFFSET)


localtime = gmtime


def mktime(t):
    return _t.mktime(t) - EPOCH_OFFSET


def _set(secs):
    """Set the clock to `secs` (2000 epoch); used by machine.RTC. _set(None) returns to the host clock."""
    global _offset
    _offset = 0 if secs is None else int(secs) - (int(_t.time()) - EPOCH_OFFSET)


def sleep_ms(ms):
    end = _t.ticks_add(_t.ticks_ms(), int(ms))
    while True:
        d = _t.ticks_diff(end, _t.ticks_ms())
        if d <= 0:
            return
        _t.sleep_ms(d if d < _SLICE_MS else _SLICE_MS)


def sleep(s):
    sleep_ms(int(s * 1000))
