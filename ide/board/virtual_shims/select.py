# `select` for the virtual board: the built-in poll, with two additions.
# - Sockets made by the `socket` shim are a Python subclass of the native socket, which the native poll does not
#   see through (it never reports them ready). They are registered by file descriptor and reported as the object.
# - While Timers or Pin IRQs are active (see _vbtick), long waits are sliced so that their callbacks run while
#   asyncio waits for I/O (asyncio sleeps inside poll.ipoll), as they would on the chip.
from uselect import *  # noqa: F401,F403  (extends the built-in module)
import uselect as _sel
import utime as _t
import _vbtick

_SLICE_MS = 10


class poll:
    def __init__(self):
        self._p = _sel.poll()
        self._fd = {}  # fd -> socket shim object

    def _key(self, obj):
        if getattr(obj, "_vb_sock", False):
            fd = obj.fileno()
            self._fd[fd] = obj
            return fd
        return obj

    def register(self, obj, mask=POLLIN | POLLOUT):  # noqa: F405
        self._p.register(self._key(obj), mask)

    def unregister(self, obj):
        k = self._key(obj)
        self._p.unregister(k)
        if k is not obj:
            self._fd.pop(k, None)

    def modify(self, obj, mask):
        self._p.modify(self._key(obj), mask)

    def _poll(self, timeout):
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

    def poll(self, timeout=-1):
        r = self._poll(timeout)
        if self._fd:
            fd = self._fd
            r = [(fd.get(e[0], e[0]) if isinstance(e[0], int) else e[0],) + tuple(e[1:]) for e in r]
        return r

    def ipoll(self, timeout=-1, flags=0):
        return iter(self.poll(timeout))
