"""What runs at the board's friendly REPL, and stopping it with a word about what was stopped.

Every file operation, board query or upload needs the raw REPL, and reaching it means Ctrl-C: whatever runs at
the friendly REPL (main.py after a reset or a Run project, a loop typed into the console) stops. That must not
happen silently: a template's watchdog then resets the board a few seconds later, and the console fills with boot
text and nothing to say why.

- :class:`PromptWatcher` follows the board's output and knows whether the friendly prompt is showing. When it is,
  nothing runs and no extra round trip is spent.
- :func:`stop_running_program` interrupts first when the prompt is not showing, and names what it stopped from the
  traceback MicroPython prints (``File "main.py", line 12``), plus whether our device framework's watchdog is armed
  (``mipy.app.wdt``: once started, a ``machine.WDT`` cannot be stopped, so the board resets when it is not fed).
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ide.errors import MipyError, PortVanishedError

if TYPE_CHECKING:
    from ide.board.board import Board

log = logging.getLogger(__name__)

#: The friendly REPL's prompts: normal, continuation, paste mode. A line that starts with one is the REPL waiting
#: for the user (maybe with a half-typed line after it), not a program.
PROMPTS = (b">>> ", b"... ", b"=== ")
#: Lines the board prints around a prompt that are no program's output (the banner after main.py ends).
_BANNER_STARTS = ("MicroPython v", 'Type "help()"', "MPY: soft reboot", "raw REPL")
_FIRST_FRAME = re.compile(r'Traceback \(most recent call last\):\s*\n\s*File "([^"]+)"')
#: What a program typed into the console is called in its traceback.
STDIN_NAME = "<stdin>"
CONSOLE_PROGRAM = "the program started in the console"
RUNNING_PROGRAM = "the running program"
#: Asks our device framework (device_templates/framework/mipy/app.py) whether it started a watchdog, and its
#: period (config.watchdog_s). A stopped program keeps its modules, so both are still there after Ctrl-C.
_WATCHDOG_QUERY = ("_m = __import__('sys').modules\n"
                   "print((getattr(_m.get('mipy.app'), 'wdt', None) is not None)"
                   " and getattr(_m.get('config'), 'watchdog_s', 0) or 0)\n"
                   "del _m\n")


class PromptWatcher:
    """Whether the board's friendly prompt is showing, from the bytes it sent (fed in order, from one thread)
    and from what the host did (a job that ended at the raw prompt, Enter typed in the console)."""

    def __init__(self, at_prompt: bool = True):
        self.at_prompt = at_prompt
        self._line = PROMPTS[0] if at_prompt else b""  # the start of the board's current output line

    def feed(self, data: bytes) -> None:
        """Bytes the board printed (the terminal stream, or a job's output)."""
        if not data:
            return
        # Only the start of the last line matters: keep a few bytes of it, however long the line grows.
        line = (self._line + data).rsplit(b"\n", 1)[-1].lstrip(b"\r")
        self._line = line[:8]
        self.at_prompt = line.startswith(PROMPTS)

    def mark_idle(self) -> None:
        """The board is known to wait at a prompt (a command just ended there)."""
        self.at_prompt = True
        self._line = PROMPTS[0]

    def mark_busy(self) -> None:
        """Something may run now (Enter or Ctrl-D typed, a reset from the friendly REPL)."""
        self.at_prompt = False
        self._line = b""


@dataclass(frozen=True)
class StoppedProgram:
    """A program that Ctrl-C stopped: its name ("main.py", or :data:`CONSOLE_PROGRAM` /
    :data:`RUNNING_PROGRAM`), the seconds until its watchdog resets the board (0: none armed), and what the board
    printed while it stopped."""

    name: str
    watchdog_s: int = 0
    output: bytes = b""


def stopped_program_name(output: bytes) -> str | None:
    """What the output of an interrupt says was stopped: the file of the traceback's outermost frame, "the
    program started in the console" for ``<stdin>``, "the running program" when something other than prompts and
    the banner was printed (a program that caught KeyboardInterrupt), None when the board was idle."""
    text = output.decode("utf-8", "replace").replace("\r", "")
    first = _FIRST_FRAME.search(text)
    if first:
        name = first.group(1)
        return CONSOLE_PROGRAM if name == STDIN_NAME else posixpath.basename(name)
    for line in text.split("\n"):
        if line.strip() and not line.encode().startswith(PROMPTS) and line.strip() not in (">>>", "...") \
                and not line.startswith(_BANNER_STARTS):
            return RUNNING_PROGRAM
    return None


def stop_running_program(board: "Board", timeout: float = 5.0) -> StoppedProgram | None:
    """Interrupt whatever runs at the friendly REPL and say what it was (None: the board was idle). The board is
    left at a prompt; when a program was stopped, at the raw one (the watchdog question ran there)."""
    if board.repl.in_raw_repl:
        return None  # an idle raw REPL: nothing runs
    output = board.interrupt(timeout)
    name = stopped_program_name(output)
    if name is None:
        return None
    watchdog_s = 0
    try:
        watchdog_s = int(board.exec(_WATCHDOG_QUERY, timeout=timeout).decode("ascii", "replace").strip() or 0)
    except PortVanishedError:
        raise
    except (ValueError, MipyError) as error:  # the question failed; the program was stopped all the same
        log.info("could not ask the board about a watchdog: %s", error)
    return StoppedProgram(name, watchdog_s, output)


def describe_stop(stopped: StoppedProgram, purpose: str) -> str:
    """One line for the console: "stopped main.py to list the board's files; its watchdog restarts the board
    within 10 s"."""
    text = f"stopped {stopped.name} {purpose}".rstrip()
    if stopped.watchdog_s:
        text += f"; its watchdog restarts the board within {stopped.watchdog_s} s"
    return text
