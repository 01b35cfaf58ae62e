"""Qt-free language services against real jedi, real pyflakes and the installed MicroPython stubs."""

import math

import pytest

from ide.lang import completion, plotdata, stubs
from ide.lang.lint import Severity, lint
from ide.lang.traceback import find_traceback

needs_stubs = pytest.mark.skipif(stubs.stub_dir("esp32") is None or stubs.stub_dir("esp8266") is None,
                                 reason="MicroPython stubs not installed (make venv installs them)")


@needs_stubs
def test_machine_completion_offers_pin():
    names = [c.name for c in completion.complete("import machine\nmachine.", 2, 8)]
    assert "Pin" in names and "I2C" in names
    pin = next(c for c in completion.complete("import machine\nmachine.Pi", 2, 10) if c.name == "Pin")
    assert pin.complete == "n" and pin.type == "class" and pin.signature.startswith("Pin(")


@needs_stubs
def test_pin_call_signature():
    sigs = completion.call_signatures("import machine\nmachine.Pin(", 2, 12)
    assert sigs and sigs[0].name == "Pin" and sigs[0].index == 0
    assert "mode" in sigs[0].text


@needs_stubs
def test_stubs_override_cpython_stdlib_time():
    # time.sleep_ms exists only in MicroPython: found only if the stubs win over jedi's typeshed.
    names = [c.name for c in completion.complete("import time\ntime.sleep", 2, 10)]
    assert "sleep_ms" in names


@needs_stubs
def test_port_selects_stubs():
    # esp32 has the esp32 module (and machine.DAC); esp8266 has neither.
    src = "import esp32\nesp32."
    assert completion.complete(src, 2, 6, port="esp32")
    assert not completion.complete(src, 2, 6, port="esp8266")
    assert "DAC" not in [c.name for c in completion.complete("import machine\nmachine.", 2, 8, port="esp8266")]


def test_completion_positions_out_of_range_are_clamped():
    assert isinstance(completion.complete("x = 1\n", 99, 99), list)


def test_lint_unused_import_and_undefined_name():
    problems = lint("import os\n\ndef f():\n    return undefined_thing\n")
    assert [(p.line, p.code) for p in problems] == [(1, "UnusedImport"), (4, "UndefinedName")]
    unused, undefined = problems
    assert unused.severity is Severity.WARNING and undefined.severity is Severity.ERROR
    assert (undefined.column, undefined.end_column) == (11, 11 + len("undefined_thing"))


def test_lint_syntax_error_and_micropython_const():
    [problem] = lint("x = 1\nif x\n    pass\n")
    assert problem.line == 2 and problem.severity is Severity.ERROR and "SyntaxError" in problem.message
    assert lint("LED = const(2)\nprint(LED)\n") == []


@pytest.mark.parametrize("line, expected", [
    ("1 2 3", (1, 2, 3)), ("1,2,3", (1, 2, 3)), ("(21.5, 40)", (21.5, 40)), ("[1, 2]", (1, 2)),
    ("temp: 21.5 hum: 40", (21.5, 40)), ("temp=21.5, hum=-4e1", (21.5, -40)), ("  -3.25\r", (-3.25,)),
    ("Hello world", None), ("Got 3 items", None), (">>> 1", None), ("1.2.3", None), ("", None), ("()", None),
    ("Traceback (most recent call last):", None), ("temp: 21.5 and more", None),
])
def test_parse_numbers(line, expected):
    assert plotdata.parse_numbers(line) == expected


def test_parse_labels_and_nan():
    assert plotdata.parse_line("temp: 21.5 hum: 40").labels == ("temp", "hum")
    values = plotdata.parse_numbers("(nan, 3)")
    assert math.isnan(values[0]) and values[1] == 3


def test_parse_traceback():
    text = ("Traceback (most recent call last):\r\n  File \"main.py\", line 12, in <module>\r\n"
            "  File \"lib/sensor.py\", line 4, in read\r\nOSError: [Errno 19] ENODEV\r\n>>> ")
    tb = find_traceback(text)
    assert tb.file == "lib/sensor.py" and tb.line == 4
    assert tb.exc_type == "OSError" and tb.errno == 19 and "main.py" in tb.traceback
    assert find_traceback("hello\r\n") is None
