# mipy.sched: jobs as asyncio tasks. A job is a function or an async function; its errors are logged and the
# schedule goes on. Each call returns the asyncio Task (cancel() it to stop the job).
#   every(seconds, fn, first=None)   fn every `seconds` (first run after `first` s, default one period)
#   after(seconds, fn)               fn once
#   daily(hour, minute, fn)          fn each day at hour:minute (device clock, UTC unless the clock is shifted)
import asyncio
import time
from mipy import log


async def _call(fn):
    try:
        r = fn()
        if r is not None and hasattr(r, "send"):  # a coroutine (generator in MicroPython)
            await r
    except Exception as e:  # a failing job must not stop the device
        log.exc(e, "job %s" % getattr(fn, "__name__", "?"))


async def _every(s, fn, first):
    await asyncio.sleep(s if first is None else first)
    while True:
        t0 = time.ticks_ms()
        await _call(fn)
        await asyncio.sleep_ms(max(0, int(s * 1000) - time.ticks_diff(time.ticks_ms(), t0)))


async def _after(s, fn):
    await asyncio.sleep(s)
    await _call(fn)


def seconds_until(hour, minute, now=None):
    """Seconds from `now` (time.localtime() tuple) to the next hour:minute, in 1..86400."""
    t = now or time.localtime()
    d = ((hour * 60 + minute) * 60) - ((t[3] * 60 + t[4]) * 60 + t[5])
    return d if d > 0 else d + 86400


async def _daily(h, m, fn):
    while True:
        await asyncio.sleep(seconds_until(h, m))
        await _call(fn)
        await asyncio.sleep(1)


def every(seconds, fn, first=None):
    return asyncio.create_task(_every(seconds, fn, first))


def after(seconds, fn):
    return asyncio.create_task(_after(seconds, fn))


def daily(hour, minute, fn):
    return asyncio.create_task(_daily(hour, minute, fn))
