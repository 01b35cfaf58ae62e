"""``mipy-studio --port virtual pins``: read and drive a running virtual board's pins over its side channel (the
same state the Board view shows), without touching its serial line, so it works while a program runs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ide.board.virtual import side_channel, wifi
from ide.cli import require_port
from ide.errors import UsageError

LEVEL_WORDS = {"0": 0, "1": 1, "low": 0, "high": 1, "float": None, "none": None}
#: How often --wait looks at the board again.
WAIT_POLL_S = 0.02


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pins", help="a running virtual board's pins: show them, drive inputs (buttons, ADC, DHT), wait for a level",
        description="Talks to a virtual board running in the window or in 'mipy-studio virtual-board' (--port "
                    "virtual, or its device path). Changes apply at once, also while a program runs.")
    parser.add_argument("--dir", type=Path, help="the board folder, when several virtual boards run")
    parser.add_argument("--json", action="store_true", help="print the whole state as JSON")
    parser.add_argument("--input", action="append", default=[], metavar="PIN=LEVEL",
                        help="drive an input pin: 0/low, 1/high, or float (repeatable)")
    parser.add_argument("--boot", choices=("press", "release"), help="the BOOT button (GPIO0)")
    parser.add_argument("--adc", action="append", default=[], metavar="PIN=VOLTS",
                        help="the voltage on an ADC pin, or 'none' for the board's own values (repeatable)")
    parser.add_argument("--dht", metavar="TEMP,HUMIDITY",
                        help="what the DHT sensor measures, in °C and %% (or 'none')")
    parser.add_argument("--wait", metavar="PIN=LEVEL",
                        help="wait (up to --timeout seconds) until an output pin is at LEVEL, then print the pins")
    parser.set_defaults(handler=cmd_pins)


def _pair(text: str, what: str) -> tuple[str, str]:
    pin, sep, value = text.partition("=")
    if not sep or not pin.strip() or not value.strip():
        raise UsageError(f"--{what}", f"write PIN=VALUE, not {text!r}")
    return pin.strip(), value.strip().lower()


def _level(text: str, option: str) -> int | None:
    if text not in LEVEL_WORDS:
        raise UsageError(option, f"a level is 0, 1, low, high or float, not {text!r}")
    return LEVEL_WORDS[text]


def _dht(text: str):
    if text.lower() == "none":
        return None
    temperature, _, humidity = text.partition(",")
    try:
        return {"temperature": float(temperature), "humidity": float(humidity) if humidity else 45.0}
    except ValueError:
        raise UsageError("--dht", f"write TEMP,HUMIDITY (e.g. 21.5,40), not {text!r}") from None


def _client(args: argparse.Namespace) -> side_channel.SideChannelClient:
    port = require_port(args)
    if port == "virtual":
        from ide.board.virtual import default_board_dir
        return side_channel.find_board(board_dir=args.dir, default_dir=default_board_dir())
    return side_channel.find_board(device=port)


def cmd_pins(args: argparse.Namespace) -> int:
    inputs: dict = {}
    release = []
    for text in args.input:
        pin, value = _pair(text, "input")
        level = _level(value, "--input")
        if level is None:
            release.append(pin)
        else:
            inputs[pin] = level
    if args.boot:
        inputs["0"] = 0 if args.boot == "press" else 1
    adc: dict = {}
    for text in args.adc:
        pin, value = _pair(text, "adc")
        adc[pin] = None if value == "none" else value
    wait = None
    if args.wait:
        pin, value = _pair(args.wait, "wait")
        wait = (pin.upper().removeprefix("GPIO"), _level(value, "--wait"))
    client = _client(args)
    if inputs or release or adc or args.dht is not None:
        state = client.update(inputs=inputs, adc=adc, release=release,
                              dht=_dht(args.dht) if args.dht is not None else False)
    else:
        state = client.snapshot()
    if wait is not None:
        state = _wait_for(client, state, wait, args.timeout)
    print(json.dumps(state, indent=1) if args.json else describe(state))
    return 0


def _wait_for(client: side_channel.SideChannelClient, state: dict, wait: tuple[str, int | None],
              timeout: float) -> dict:
    pin, level = wait
    deadline = time.monotonic() + timeout
    while state["pins"].get(pin, {}).get("value") != level:
        if time.monotonic() > deadline:
            seen = state["pins"].get(pin, {}).get("value")
            raise UsageError("--wait", f"GPIO{pin} did not reach {level} within {timeout:g} s (it is {seen})")
        time.sleep(WAIT_POLL_S)
        state = client.snapshot()
    return state


def describe(state: dict) -> str:
    """The state as a short table for people (the Board view shows the same)."""
    lines = [f"virtual board {state['board_dir']}" + (f" ({state['device']})" if state.get("device") else "") +
             f", {state['chip']}"]
    pins = state["pins"]
    if not pins and not state["neopixels"]:
        lines.append("no pin is set up yet (the program has not configured any)")
    else:
        lines.append(f"{'pin':>4}  {'mode':<10} {'level':<5}  note")
    led = "2"
    for pin, entry in sorted(pins.items(), key=lambda item: int(item[0])):
        mode = entry.get("mode", "-")
        if mode == "PWM":
            level, note = "~", f"duty {entry['duty_u16'] / 655.35:.1f} % at {entry['freq']} Hz"
        elif mode in ("IN", "ADC"):
            value = state["inputs"].get(pin)
            level = "-" if value is None else str(value)
            note = f"{state['adc'][pin]:.3f} V" if mode == "ADC" and pin in state["adc"] else ""
        else:
            level, note = str(entry.get("value", "-")), ""
        if pin == led and mode in ("OUT", "OPEN_DRAIN", "PWM"):
            note = ("on-board LED " + ("lit" if entry.get("value") or entry.get("duty_u16") else "off") +
                    ("; " + note if note else ""))
        if "pull" in entry:
            note = (note + "; " if note else "") + f"pull-{entry['pull'].lower()}"
        lines.append(f"{pin:>4}  {mode:<10} {level:<5}  {note}".rstrip())
    for pin, pixels in state["neopixels"].items():
        colours = " ".join("#" + "".join(f"{c:02x}" for c in p[:3]) for p in pixels)
        lines.append(f"{pin:>4}  {'NeoPixel':<10} {len(pixels):<5}  {colours}")
    inputs = " ".join(f"GPIO{k}={v}" for k, v in state["inputs"].items()) or "-"
    adc = " ".join(f"GPIO{k}={v:.3f} V" for k, v in state["adc"].items()) or "board's own"
    dht = state["dht"]
    dht_text = f"{dht['temperature']:g} °C, {dht['humidity']:g} %" if dht else "board's own"
    lines.append(f"inputs: {inputs}   ADC: {adc}   DHT: {dht_text}")
    lines.append("Wi-Fi: " + wifi.describe_state(state.get("network"), state.get("ports")))
    return "\n".join(lines)
