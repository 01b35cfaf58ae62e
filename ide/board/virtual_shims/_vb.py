# The virtual board's link to its host (MicroPython code, runs inside the board).
#
# The host's bridge process owns the board's life cycle: a hardware reset or deep sleep cannot be done by the
# interpreter itself (the unix port would just exit, and `sys.exit` inside main.py is swallowed by `-i`), so the
# shims ask the host through a control file opened before the board's root file system was mounted.
#
# Paths: the board's own file system is mounted at "/"; this folder is mounted at SHIMS ("/__vb_shims__") and a
# per-board state folder at STATE ("/__vb_state__"). Neither shows up in os.listdir("/").
import time

SHIMS = "/__vb_shims__"
STATE = "/__vb_state__"

_control = None  # set by the start-up code: a file opened for writing on the host's control channel
BOOT_MS = time.ticks_ms()  # imported first thing at boot: the chip's "ms since boot" counts from here


def state_path(name):
    return STATE + "/" + name


def _request(message):
    if _control is None:
        # Not started by the bridge (e.g. plain `micropython` in a test): behave like an exit.
        raise SystemExit(message)
    # Unbuffered on the unix port; flush() would fsync the pipe and fail with EINVAL.
    _control.write(message + "\n")
    # The host kills this process and starts it anew; wait for that like a chip waits for its reset line.
    while True:
        time.sleep(1)


def hard_reset(cause="SW_CPU_RESET"):
    """machine.reset(): the chip restarts as if EN was pulsed; boot.py and main.py run again."""
    _request("reset " + cause)


def soft_reset():
    """SystemExit in main.py or machine.soft_reset(): the interpreter restarts, the chip does not."""
    _request("soft")


def deepsleep(ms=0):
    """machine.deepsleep(ms): the chip is off (serial line silent) for ms, then boots (0 = until reset)."""
    _request("deepsleep " + str(int(ms or 0)))


def read_config(name, default=None):
    """Settings the host wrote for the shims (network.json: scan list, known passwords...)."""
    try:
        import json
        with open(state_path(name)) as f:
            return json.load(f)
    except OSError:
        return default
    except ValueError:
        return default


def write_state(name, data):
    """State the host reads back (pins.json ...), in a single write(). Not write-then-rename: MicroPython's
    VfsPosix with a root folder builds both rename() paths in one shared buffer (extmod/vfs_posix.c), and the
    device tests mount the state folder that way; the host treats a JSON that fails to parse as not there yet."""
    import json
    s = json.dumps(data)
    with open(state_path(name), "w") as f:
        f.write(s)
