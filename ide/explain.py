"""Turn errors into words a beginner can act on. Used only by the UI and the command line.

Each error class gets an explainer through ``@explains(ErrorClass)``; the most specific class wins. Areas keep
their explainers next to their code in a ``messages`` module (``ide/flasher/messages.py``...), imported here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable

from ide import errors

_EXPLAINERS: dict[type, Callable] = {}

AREA_MESSAGE_MODULES = ("ide.filebrowser.messages", "ide.flasher.messages", "ide.project.messages",
                        "ide.packages.messages", "ide.filebrowser.backup_messages", "ide.fleet.messages")


def explains(error_class: type) -> Callable:
    def register(function: Callable) -> Callable:
        _EXPLAINERS[error_class] = function
        return function
    return register


def explain(error: BaseException) -> str:
    """One or a few sentences saying what happened and what to do about it."""
    for cls in type(error).__mro__:
        explainer = _EXPLAINERS.get(cls)
        if explainer is not None:
            return explainer(error)
    return str(error) or type(error).__name__


@explains(errors.PortNotFoundError)
def _port_not_found(error: errors.PortNotFoundError) -> str:
    return (f"There is no serial port {error.port}. Is the board plugged in with a data (not charge-only) USB "
            "cable? 'mipy-studio ports' lists the ports found.")


@explains(errors.PortBusyError)
def _port_busy(error: errors.PortBusyError) -> str:
    if error.holders:
        who = ", ".join(f"{name} (pid {pid})" for pid, name in error.holders)
        return f"{error.port} is in use by {who}. Close that program (or its serial monitor) and try again."
    return (f"{error.port} is in use by another program (a serial monitor, Thonny, another MiPy Studio window?). "
            "Close it and try again.")


@explains(errors.PortPermissionError)
def _port_permission(error: errors.PortPermissionError) -> str:
    text = f"Permission denied opening {error.port}."
    if sys.platform.startswith("linux"):
        group = error.group or "dialout"
        user = error.user or "$USER"
        text += (f" Your account is not in the '{group}' group: run  sudo usermod -aG {group} {user}  then log out "
                 "and back in.")
        if error.brltty_installed:
            text += (" brltty (a braille display service) is installed and often grabs CH340/CP210x adapters: "
                     "run  sudo apt remove brltty  if you do not use a braille display.")
    return text


@explains(errors.PortVanishedError)
def _port_vanished(error: errors.PortVanishedError) -> str:
    return (f"The board on {error.port} disconnected. Check the USB cable; if the board keeps disconnecting, it "
            "may be resetting itself (power supply too weak, or a brown-out in your code).")


@explains(errors.PortError)
def _port_other(error: errors.PortError) -> str:
    return f"Could not use {error.port}: {error.detail}"


@explains(errors.NoReplError)
def _no_repl(error: errors.NoReplError) -> str:
    rescue = ("If it ran MicroPython before, its main.py may have taken over the serial line: use Board ▸ Rescue "
              "('mipy-studio rescue').")
    if not error.seen:
        return (f"The board on {error.port} does not answer. It may not run MicroPython yet: install it with the "
                f"firmware flasher (Board ▸ Install MicroPython). {rescue}")
    sample = error.seen[:40].decode("utf-8", "replace")
    return (f"Something answered on {error.port}, but not a MicroPython prompt (it sent {sample!r}). Check the baud "
            "rate (MicroPython uses 115200), or install MicroPython with the firmware flasher (Board ▸ Install "
            f"MicroPython). {rescue}")


@explains(errors.BoardTimeoutError)
def _timeout(error: errors.BoardTimeoutError) -> str:
    return (f"The board did not finish '{error.operation}' within {error.timeout:g} s. If your program is "
            "still running, press Stop (Ctrl-C) and try again.")


@explains(errors.ReplProtocolError)
def _protocol(error: errors.ReplProtocolError) -> str:
    return (f"The board answered in an unexpected way (expected {error.expected}). Press Stop and try again; "
            "if it keeps happening, soft-reset the board.")


@explains(errors.DeviceTraceback)
def _traceback(error: errors.DeviceTraceback) -> str:
    where = f" in {error.file}, line {error.line}" if error.file else ""
    return f"The board raised {error.exc_type}{where}: {error.message}"


@explains(errors.RescueFailedError)
def _rescue(error: errors.RescueFailedError) -> str:
    return (f"Could not get a prompt from {error.port} after {error.attempts} tries. Press the board's RESET "
            "button while rescue runs, or reflash MicroPython with the firmware flasher (erase first).")


@explains(errors.VirtualBoardUnavailable)
def _virtual_unavailable(error: errors.VirtualBoardUnavailable) -> str:
    return f"The virtual board is not available here: {error.reason}"


@explains(errors.VirtualBoardNotRunning)
def _virtual_not_running(error: errors.VirtualBoardNotRunning) -> str:
    return (f"No virtual board is running for {error.where}. Start one with 'mipy-studio virtual-board' (or "
            "connect to the virtual board in the window), then try again.")


@explains(errors.Cancelled)
def _cancelled(error: errors.Cancelled) -> str:
    return f"{error.operation or 'The operation'} was cancelled."


for _module in AREA_MESSAGE_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as _missing:
        if _missing.name != _module:
            raise
