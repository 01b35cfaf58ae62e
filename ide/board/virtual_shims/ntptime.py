# `ntptime` for the virtual board. There is no Internet: the host clock already is NTP time, so settime() just
# makes the board's clock follow it again (undoing any RTC.datetime), and time() reads it (2000 epoch, as the chip).
import time as _time

host = "pool.ntp.org"
timeout = 1


def time():
    return _time.time()


def settime():
    _time._set(None)
