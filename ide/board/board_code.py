"""MicroPython code that runs on the board, never on this computer: what ``Board.info()`` and the clock setting
(``clock.py``) send. Its ``print`` is the board's answer on the serial line, read back by the host.
(The file system's helpers are in ide/filebrowser/board_code.py.)"""

# 1.12-1.18 name the .mpy version sys.implementation.mpy and have no _machine (both came in 1.19, as _mpy and
# _machine: micropython#8588); os.uname().machine says the same there.
INFO = """
def _mipy_info():
    import sys, gc, os
    gc.collect()
    uid = ''
    try:
        import machine
        uid = ''.join('%02x' % b for b in machine.unique_id())
    except Exception:
        pass
    fs = (0, 0)
    try:
        s = os.statvfs('/')
        fs = (s[0] * s[2], s[0] * s[3])
    except Exception:
        pass
    i = sys.implementation
    vb = 0
    if '/__vb_shims__' in sys.path:
        vb = 1
        try:
            import json
            with open('/__vb_state__/virtual.json') as f:
                vb = json.load(f)['chip']['heap_scale']
        except Exception:
            pass
    m = getattr(i, '_machine', '')
    if not m:
        try:
            m = os.uname().machine
        except Exception:
            pass
    print(repr((tuple(i.version), sys.platform, m, getattr(i, '_mpy', getattr(i, 'mpy', 0)),
                gc.mem_free(), gc.mem_alloc(), fs, uid, vb)))
_mipy_info()
del _mipy_info
"""


# machine.RTC().datetime() takes (year, month, day, weekday, hours, minutes, seconds, subseconds). The weekday
# is ignored when setting on ESP32 and ESP8266 (they compute it), 0 = Monday as mpremote sends it. The last field
# is microseconds on ESP32 but MILLISECONDS on ESP8266 (ports/esp8266/machine_rtc.c multiplies it by 1000):
# mpremote sends microseconds everywhere, which sets an ESP8266 up to 16 minutes fast. Ports with RTC.init() but
# no datetime() take (year, month, day, hours, minutes, seconds, microseconds, tzinfo).
CLOCK_SET = """
def _mipy_clock():
    import sys
    try:
        import machine
        rtc = machine.RTC()
    except (ImportError, AttributeError):
        return 'none'
    sub = {ms} if sys.platform == 'esp8266' else {us}
    if hasattr(rtc, 'datetime'):
        rtc.datetime(({y}, {mo}, {d}, {wd}, {h}, {mi}, {s}, sub))
    elif hasattr(rtc, 'init'):
        rtc.init(({y}, {mo}, {d}, {h}, {mi}, {s}, {us}, 0))
    else:
        return 'none'
    return 'set'
print(_mipy_clock())
del _mipy_clock
"""

CLOCK_READ = """
def _mipy_clock():
    import time
    t = time.localtime()
    return tuple(t[:6])
print(repr(_mipy_clock()))
del _mipy_clock
"""
