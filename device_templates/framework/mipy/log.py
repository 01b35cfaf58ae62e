# mipy.log: levelled logging to the console and a size-capped file.
#   setup(level=INFO, file="log.txt", max_size=4096)   file=None: console only
#   debug/info/warn/error(fmt, *args)                   lazy "%" formatting
#   exc(e, msg)                                         an exception with its traceback
# The file is rotated to <file>.1 when it would exceed max_size, so at most 2 * max_size bytes are used.
# Never pass passwords or keys to these functions.
import sys
import time

DEBUG, INFO, WARN, ERROR = 10, 20, 30, 40
_TAG = {10: "D", 20: "I", 30: "W", 40: "E"}
level = INFO
file = None
max_size = 4096


def setup(lvl=INFO, path="log.txt", size=4096):
    global level, file, max_size
    level, file, max_size = lvl, path, size


def _write(line):
    print(line)
    if file:
        try:
            import os
            try:
                if os.stat(file)[6] + len(line) > max_size:
                    try:
                        os.remove(file + ".1")
                    except OSError:
                        pass
                    os.rename(file, file + ".1")
            except OSError:
                pass
            with open(file, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass  # a full or read-only file system must not stop the device


def log(lvl, msg, *args):
    if lvl >= level:
        if args:
            msg = msg % args
        t = time.localtime()
        _write("%02d:%02d:%02d %s %s" % (t[3], t[4], t[5], _TAG.get(lvl, "?"), msg))


def debug(msg, *args):
    log(DEBUG, msg, *args)


def info(msg, *args):
    log(INFO, msg, *args)


def warn(msg, *args):
    log(WARN, msg, *args)


def error(msg, *args):
    log(ERROR, msg, *args)


def exc(e, msg="error"):
    import io
    s = io.StringIO()
    sys.print_exception(e, s)
    log(ERROR, "%s: %s", msg, s.getvalue().rstrip())
