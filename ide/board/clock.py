"""Set the board's clock (its RTC) from this computer's, as ``mpremote rtc --set`` and Thonny do when they
connect, so that the board's file times, logs and ``time.localtime()`` are right.

A board has no time zone: it keeps whatever it is given. Local time is the default (what the person at the
computer reads on a clock, and what mpremote and Thonny set); ``utc=True`` gives it UTC instead.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import logging

from ide.board.board import Board

log = logging.getLogger(__name__)

# machine.RTC().datetime() takes (year, month, day, weekday, hours, minutes, seconds, subseconds). The weekday
# is ignored when setting on ESP32 and ESP8266 (they compute it), 0 = Monday as mpremote sends it. The last field
# is microseconds on ESP32 but MILLISECONDS on ESP8266 (ports/esp8266/machine_rtc.c multiplies it by 1000):
# mpremote sends microseconds everywhere, which sets an ESP8266 up to 16 minutes fast. Ports with RTC.init() but
# no datetime() take (year, month, day, hours, minutes, seconds, microseconds, tzinfo).
_SET_CODE = """
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

_READ_CODE = """
def _mipy_clock():
    import time
    t = time.localtime()
    return tuple(t[:6])
print(repr(_mipy_clock()))
del _mipy_clock
"""


@dataclasses.dataclass(frozen=True)
class ClockResult:
    set: bool                          # False: the board has no RTC to set (nothing was changed)
    sent: datetime.datetime            # the time sent


def set_board_clock(board: Board, now: datetime.datetime | None = None, utc: bool = False,
                    timeout: float | None = None) -> ClockResult:
    """Set the board's RTC to ``now`` (default: this computer's time, local or ``utc``), in one short exec."""
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc) if utc else datetime.datetime.now()
    code = _SET_CODE.format(y=now.year, mo=now.month, d=now.day, wd=now.weekday(), h=now.hour, mi=now.minute,
                            s=now.second, us=now.microsecond, ms=now.microsecond // 1000)
    answer = board.exec(code, timeout=timeout).decode("utf-8", "replace").strip()
    if answer != "set":
        log.info("the board on %s has no RTC to set", board.port_name)
    return ClockResult(answer == "set", now.replace(tzinfo=None))


def read_board_clock(board: Board, timeout: float | None = None) -> datetime.datetime:
    """The board's idea of now (``time.localtime()``), to the second."""
    fields = ast.literal_eval(board.exec(_READ_CODE, timeout=timeout).decode("utf-8", "replace").strip())
    return datetime.datetime(*fields)
