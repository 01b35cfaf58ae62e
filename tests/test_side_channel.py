"""The virtual board's side channel (ide/board/virtual/side_channel.py and virtual_shims/_vbside.py), against
the real MicroPython unix port: pin states reach the host, the user's inputs reach a running program, the board
pays nothing on its heap per pin change, and another process (`mipy-studio pins`) finds the board."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import needs_virtual_board
from ide.board import virtual
from ide.board.board import Board
from ide.board.virtual import side_channel, wifi
from ide.errors import UsageError, VirtualBoardNotRunning

pytestmark = needs_virtual_board


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    b = Board.open("virtual", virtual_config=virtual.VirtualBoardConfig(
        root_dir=tmp_path_factory.mktemp("board"), baud=0), timeout=10)
    yield b
    b.close()


def wait_for(channel, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    generation = -1
    while time.monotonic() < deadline:
        state = channel.snapshot()
        if predicate(state):
            return state
        generation = channel.wait_changed(state["generation"], 0.2)
    raise AssertionError(f"never matched; last state: {channel.snapshot()} (generation {generation})")


def test_outputs_reach_the_host(board):
    channel = board.virtual_board.side_channel
    board.exec("import machine, neopixel\n"
               "led = machine.Pin(2, machine.Pin.OUT); led.on()\n"
               "pwm = machine.PWM(machine.Pin(5), freq=1000, duty_u16=16384)\n"
               "np = neopixel.NeoPixel(machine.Pin(13), 2); np[0] = (255, 0, 0); np[1] = (0, 0, 9); np.write()\n")
    # Messages may arrive in any order on a loaded machine: wait for all three outputs, not just the last.
    state = wait_for(channel, lambda s: "13" in s["neopixels"] and "2" in s["pins"] and "5" in s["pins"])
    assert state["pins"]["2"] == {"mode": "OUT", "value": 1}
    assert state["pins"]["5"] == {"mode": "PWM", "duty_u16": 16384, "freq": 1000}
    assert state["neopixels"]["13"] == [[255, 0, 0], [0, 0, 9]]
    # The state folder still says the same, for VirtualBoard.pin_states() readers.
    deadline = time.monotonic() + 5
    while "2" not in board.virtual_board.pin_states() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert board.virtual_board.pin_states()["2"]["value"] == 1


def test_a_running_program_follows_the_inputs(board):
    """BOOT button, ADC voltage and DHT reading change while the program runs and the REPL is busy."""
    channel = board.virtual_board.side_channel
    program = ("import machine, dht, time\n"
               "led = machine.Pin(2, machine.Pin.OUT); button = machine.Pin(0, machine.Pin.IN)\n"
               "adc = machine.ADC(machine.Pin(34)); sensor = dht.DHT22(machine.Pin(4))\n"
               "while True:\n"
               "    led.value(1 - button.value())\n"
               "    sensor.measure()\n"
               "    if adc.read() > 4000 and sensor.temperature() == 30.5:\n"
               "        print('seen', sensor.humidity()); break\n"
               "    time.sleep_ms(5)\n")
    out = bytearray()
    cancel = threading.Event()
    runner = threading.Thread(target=lambda: board.run(program, out.extend, cancel), daemon=True)
    runner.start()
    try:
        wait_for(channel, lambda s: s["pins"].get("2", {}).get("value") == 0)
        channel.press_boot(True)
        wait_for(channel, lambda s: s["pins"]["2"]["value"] == 1)
        channel.press_boot(False)
        wait_for(channel, lambda s: s["pins"]["2"]["value"] == 0)
        channel.update(adc={34: 3.3}, dht={"temperature": 30.5, "humidity": 61})
        runner.join(5)
        assert not runner.is_alive()
    finally:
        cancel.set()
        runner.join(5)
    assert b"seen 61.0" in bytes(out)
    channel.update(adc={34: None}, dht=None)


def test_board_heap_cost_of_pin_changes(board):
    """An output change and an input read allocate nothing on the board's heap (the state files cost ~640 B per
    change); a tight loop still leaves the host with the final level."""
    out = board.exec(
        "import gc, machine, time\n"
        "p = machine.Pin(2, machine.Pin.OUT); i = machine.Pin(0, machine.Pin.IN)\n"
        "time.sleep_ms(5); i.value()  # take what the host sent before (that message is decoded once)\n"
        "def cost(fn, n=2000):\n"
        "    gc.collect(); gc.disable(); a = gc.mem_alloc()\n"
        "    for k in range(n):\n"
        "        fn(k)\n"
        "    b = gc.mem_alloc(); gc.enable(); return (b - a) / n\n"
        "print(cost(lambda k: None), cost(lambda k: p.value(k & 1)), cost(lambda k: i.value()))\n"
        "p.value(1)\n").decode().split()
    baseline, per_change, per_read = map(float, out)
    assert per_change - baseline < 1 and per_read - baseline < 1, out
    wait_for(board.virtual_board.side_channel, lambda s: s["pins"]["2"]["value"] == 1)


def test_bad_inputs_are_refused_and_change_nothing(board):
    channel = board.virtual_board.side_channel
    before = channel.snapshot()["inputs"]
    with pytest.raises(UsageError):
        channel.update(inputs={0: 0, 50: 1})   # no GPIO50 on an ESP32: GPIO0 is not pressed either
    with pytest.raises(UsageError):
        channel.set_adc(34, 5.0)
    with pytest.raises(UsageError):
        channel.set_adc(2 + 3, 1.0)            # GPIO5 has no ADC
    with pytest.raises(UsageError):
        channel.set_dht(150, 40)
    assert channel.snapshot()["inputs"] == before


def test_wifi_networks_and_what_a_chip_logs(board):
    state = board.virtual_board.side_channel.snapshot()
    securities = {n["ssid"]: (n["security"], n["password"]) for n in state["networks"]}
    assert securities["VirtualWiFi"] == ("WPA2", "micropython") and securities["VirtualCafe"] == ("open", "")
    out = board.exec(
        "import network, time, esp\n"
        "w = network.WLAN(network.STA_IF); w.active(True)\n"
        "w.connect('HomeWiFi', 'secret123'); time.sleep_ms(900); print('status', w.status())\n"
        "esp.osdebug(0)\n"
        "w.connect('VirtualWiFi', 'wrong-pass'); time.sleep_ms(900); print('status', w.status())\n"
        "w.connect('VirtualWiFi', 'micropython'); time.sleep_ms(900); print('status', w.status())\n"
        "esp.osdebug(None)\n", timeout=15).decode()
    lines = [line for line in out.splitlines() if line.strip()]
    # A chip's firmware logs at ERROR level by default: the failed connect prints nothing, status() tells.
    assert lines[0] == "status 201"
    assert lines[1].startswith("I (") and lines[1].endswith(") wifi: STA_DISCONNECTED, reason:202:authentication failed")
    assert lines[2] == "status 202"
    assert lines[3].endswith("network: CONNECTED") and lines[4].endswith("network: GOT_IP") and lines[5] == "status 1010"
    state = wait_for(board.virtual_board.side_channel, lambda s: (s["network"].get("sta") or {}).get("connected"))
    assert wifi.describe_state(state["network"], state["ports"]) == "connected to VirtualWiFi"


def test_cli_finds_a_board_in_another_process(tmp_path):
    """`mipy-studio virtual-board` in one process, `mipy-studio --port virtual pins` in others."""
    folder = tmp_path / "board"
    server = subprocess.Popen([sys.executable, "-m", "ide.cli", "virtual-board", "--dir", str(folder), "--baud", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        device = server.stdout.readline().strip()

        def cli(*args):
            return subprocess.run([sys.executable, "-m", "ide.cli", "--timeout", "5", "--port", "virtual", "pins",
                                   "--dir", str(folder), *args], capture_output=True, text=True, timeout=30)

        pressed = cli("--boot", "press", "--json")
        assert pressed.returncode == 0, pressed.stderr
        assert json.loads(pressed.stdout)["inputs"]["0"] == 0
        with Board.open(device, timeout=10) as other:
            other.exec("import machine\nb = machine.Pin(0, machine.Pin.IN)\n"
                       "machine.Pin(2, machine.Pin.OUT).value(1 - b.value())\n")
        shown = cli("--wait", "2=1")
        assert shown.returncode == 0, shown.stderr
        assert "on-board LED lit" in shown.stdout and "GPIO0=0" in shown.stdout
        wrong = cli("--input", "50=1")
        assert wrong.returncode == 2 and "no input pin 50" in wrong.stderr
    finally:
        server.terminate()
        server.wait(10)
    with pytest.raises(VirtualBoardNotRunning):
        side_channel.find_board(board_dir=folder)
