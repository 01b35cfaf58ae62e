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

from ide.board import board_code
from ide.board.board import Board

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class ClockResult:
    set: bool                          # False: the board has no RTC to set (nothing was changed)
    sent: datetime.datetime            # the time sent


def set_board_clock(board: Board, now: datetime.datetime | None = None, utc: bool = False,
                    timeout: float | None = None) -> ClockResult:
    """Set the board's RTC to ``now`` (default: this computer's time, local or ``utc``), in one short exec."""
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc) if utc else datetime.datetime.now()
    code = board_code.CLOCK_SET.format(y=now.year, mo=now.month, d=now.day, wd=now.weekday(), h=now.hour, mi=now.minute,
                            s=now.second, us=now.microsecond, ms=now.microsecond // 1000)
    answer = board.exec(code, timeout=timeout).decode("utf-8", "replace").strip()
    if answer != "set":
        log.info("the board on %s has no RTC to set", board.port_name)
    return ClockResult(answer == "set", now.replace(tzinfo=None))


def read_board_clock(board: Board, timeout: float | None = None) -> datetime.datetime:
    """The board's idea of now (``time.localtime()``), to the second."""
    fields = ast.literal_eval(board.exec(board_code.CLOCK_READ, timeout=timeout).decode("utf-8", "replace").strip())
    return datetime.datetime(*fields)
