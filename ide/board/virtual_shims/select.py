# `select` with long poll timeouts sliced while Timers or Pin IRQs are active, so that their callbacks run
# while asyncio waits for I/O (asyncio sleeps inside poll.ipoll). Otherwise it is the built-in poll unchanged.
from uselect import *  # noqa: F401,F403  (extends the built-in module)
import uselect as _sel
import utime as _t
import _vbtick

_SLICE_MS = 10


class poll:
    def __init__(self):
        self._p = _sel.poll()

    def register(self, obj, mask=POLLIN | POLLOUT):  # noqa: F405
        self._p.register(obj, mask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def modify(self, obj, mask):
        self._p.modify(obj, mask)

    def poll(self, timeout=-1):
        if not _vbtick.active():
            return self._p.poll(timeout)
        end = _t.ticks_add(_t.ticks_ms(), timeout) if timeout >= 0 else None
        while True:
            s = _SLICE_MS
            if end is not None:
                d = _t.ticks_diff(end, _t.ticks_ms())
                if d < s:
                    s = d if d > 0 else 0
            r = self._p.poll(s)
            if r or s < _SLICE_MS:
                return r

    def ipoll(self, timeout=-1, flags=0):
        if not _vbtick.active():
            return self._p.ipoll(timeout, flags)
        return iter(self.poll(timeout))
