# The virtual board's "hardware clock": one background thread standing in for the ESP32's timer peripherals.
#
# The unix port has no hardware timers or interrupts. A thread wakes every TICK_MS and, like the ESP32's soft
# timers and pin IRQs, hands the work to the main interpreter with micropython.schedule(): callbacks then run
# between two bytecodes of whatever the program is doing (busy loop, time.sleep, asyncio.sleep; the `time` and
# `select` shims slice long waits so that this happens promptly). The thread itself touches almost nothing, as
# the unix port's threads run without a GIL. The watchdog is the exception: it must bite even when the main
# thread is stuck inside a blocking call, so the thread checks it directly.
import _thread
import micropython
import utime

TICK_MS = 5

_handlers = []  # callables run in the main thread on each tick (Timer, Pin IRQ polling)
_pending = False
_started = False
wdt_deadline = None  # ticks_ms deadline set by machine.WDT.feed()


def active():
    """True while something needs the main thread woken regularly (then long waits are sliced)."""
    return bool(_handlers)


def add(fn):
    if fn not in _handlers:
        _handlers.append(fn)
    _start()


def remove(fn):
    if fn in _handlers:
        _handlers.remove(fn)


def _run_handlers(_):
    global _pending
    _pending = False
    for fn in tuple(_handlers):
        fn()


def _wdt_bite(_=None):
    import _vb
    _vb.hard_reset("WDT")


_flushers = []  # callables run on this thread itself (they must be thread-safe and allocate nothing)


def start_flusher(fn):
    """Run fn on every tick on the clock's own thread, even while the interpreter idles at the REPL prompt
    (where scheduled callbacks do not run on the unix port): the side channel's catch-up sends."""
    if fn not in _flushers:
        _flushers.append(fn)
    _start()


def _loop():
    global _pending, wdt_deadline
    while True:
        utime.sleep_ms(TICK_MS)
        for fn in _flushers:
            fn()
        d = wdt_deadline
        if d is not None and utime.ticks_diff(utime.ticks_ms(), d) > 0:
            wdt_deadline = None
            # The host kills the process; this works even if the main thread is blocked in a call.
            # (Without a host, _vb raises SystemExit, which only ends this thread: then nothing happens.)
            print("[vb] watchdog timeout")
            _wdt_bite()
        if _handlers and not _pending:
            _pending = True
            try:
                micropython.schedule(_run_handlers, None)
            except RuntimeError:  # schedule queue full: try again next tick
                _pending = False


def _start():
    global _started
    if not _started:
        _started = True
        _thread.start_new_thread(_loop, ())
